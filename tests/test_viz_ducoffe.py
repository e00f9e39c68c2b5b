"""The seed-001 Part I pictures and widget callbacks (alkit/viz/ducoffe.py)."""

from __future__ import annotations

import functools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from conftest import cached_dataset, make_context  # noqa: E402

from alkit.kernels.deepfool import deepfool  # noqa: E402
from alkit.models import MLP  # noqa: E402
from alkit.strategies import get_strategy  # noqa: E402
from alkit.train import Learner, TrainConfig  # noqa: E402
from alkit.viz.ducoffe import (  # noqa: E402
    balnet_scatter,
    committee_maps,
    deepfool_paths,
    gallery_order,
    padded_extent,
    plot_balnet_scatter,
    plot_committee,
    plot_deepfool_gallery,
    plot_deepfool_paths,
    plot_norm_histograms,
)


@functools.cache
def moons_learner():
    ds = cached_dataset("moons")
    X, y = ds.X_train[:200].astype(np.float32), ds.y_train[:200]
    torch.manual_seed(0)
    model = MLP((2,), 2, hidden=(16, 16), dropout=0.0)
    learner = Learner(model, TrainConfig(epochs=40, min_steps=0), device="cpu", progress=False)
    return learner.fit(X, y), X, y


def test_committee_maps_members_differ_and_p_zero_agrees():
    learner, X, y = moons_learner()
    extent = padded_extent(X)
    maps = committee_maps(learner, X[:30], y[:30], 4, 0.5, extent, resolution=30)
    assert maps.pred_K_R_R.shape == (4, 30, 30) and maps.margin_R_R.shape == (30, 30)
    assert (maps.margin_R_R >= 0).all() and maps.margin_R_R.max() > 0
    assert any((maps.pred_K_R_R[0] != m).any() for m in maps.pred_K_R_R[1:])
    same = committee_maps(learner, X[:30], y[:30], 3, 0.0, extent, resolution=20)
    assert (same.margin_R_R == 0).all()
    plot_committee(maps, X[:30], y[:30], ax=plt.figure().gca())
    plt.close("all")


def test_deepfool_paths_end_at_the_adversarial_point():
    learner, X, _ = moons_learner()
    model = learner.model
    paths = deepfool_paths(model, X[:6], max_iter=6)
    full = deepfool(model, X[:6], max_iter=6)
    for b, path in enumerate(paths):
        assert len(path) == full.iters_B[b] + 1
        np.testing.assert_allclose(path[0], X[b])
        np.testing.assert_allclose(path[-1], full.x_adv_B[b].numpy(), rtol=1e-5, atol=1e-6)
    plot_deepfool_paths(model, X[:6], paths, padded_extent(X), ax=plt.figure().gca(), resolution=30)
    plt.close("all")


def test_gallery_ranks_by_norm_and_draws_three_rows():
    ctx = make_context()
    X = ctx.pool.X[:20]
    result = deepfool(ctx.learner.model, X)
    order = gallery_order(result)
    assert (np.diff(result.norm_B[order]) >= 0).all()
    fig = plot_deepfool_gallery(X, result, start=2, n_show=4)
    assert len(fig.axes) == 12
    assert fig.axes[0].get_title().startswith("#3:")
    ax = plot_norm_histograms({1: result.norm_B, 2: result.norm_B[:10]}, ax=plt.figure().gca())
    assert len(ax.get_legend().get_texts()) == 2
    plt.close("all")


def test_balnet_scatter_matches_the_strategy_and_damping_changes_it():
    data = balnet_scatter(make_context(), 5, damping=1e-3, max_candidates=150)
    query = get_strategy("balnet", damping=1e-3, max_candidates=150).query(make_context(), 5)
    np.testing.assert_array_equal(data["query"].indices, query.indices)
    np.testing.assert_allclose(data["phi"], query.info["phi"].sum(1))
    assert data["entropy"].shape == data["t"].shape == (150,)
    strong = balnet_scatter(make_context(), 5, damping=1.0, max_candidates=150)
    assert strong["phi"].sum() < data["phi"].sum()
    plot_balnet_scatter(data, ax=plt.figure().gca())
    plt.close("all")
