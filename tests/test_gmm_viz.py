"""alkit.viz.gmm: the notebook's widget callbacks (likelihood maps, metric maps, class entropy)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from alkit.kernels.gmm import log_likelihood
from alkit.strategies import Query
from alkit.viz.gmm import (
    class_entropy_table,
    plot_class_entropy,
    plot_likelihood_maps,
    plot_metric_on_embedding,
    round_metrics,
    toy_likelihood_maps,
)


def _toy():
    from alkit.data import load_dataset

    ds = load_dataset("blobs")
    X, y = ds.X_train.astype(np.float32), ds.y_train
    labeled = np.flatnonzero(y != 3)[:40]  # class 3 never labelled
    rest = np.setdiff1d(np.arange(len(y)), labeled)
    return X, y, labeled, rest


def test_toy_maps_are_exact_likelihoods_and_i_like_flags_the_unlabelled_class():
    X, y, labeled, rest = _toy()
    maps = toy_likelihood_maps(X[labeled], y[labeled], X[rest], 4, em_iters=10, resolution=40)
    grid = maps.grids["log p(z; ψ_L)"]
    x0, x1, y0, y1 = maps.extent
    corner = np.array([[x0, y0]], np.float32)
    assert grid[0, 0] == pytest.approx(float(log_likelihood(corner, maps.psi_L)[0]), rel=1e-5)
    # I_Like at the centre of the never-labelled class is positive, at a labelled class negative
    c3 = X[y == 3].mean(0, keepdims=True)
    c0 = X[labeled][y[labeled] == 0].mean(0, keepdims=True)
    gap = lambda p: float(log_likelihood(p, maps.psi_UL)[0] - log_likelihood(p, maps.psi_L)[0])  # noqa: E731
    assert gap(c3) > 0 > gap(c0)
    fewer = toy_likelihood_maps(X[labeled], y[labeled], X[rest], 4, em_iters=0, resolution=40)
    assert not np.allclose(fewer.grids["I_Like"], maps.grids["I_Like"])
    axes = plot_likelihood_maps(maps, X[labeled], X[rest])
    assert [a.get_title() for a in axes] == ["log p(z; ψ_L)", "log p(z; ψ_UL)", "I_Like"]


def test_round_metrics_total_is_the_rank_sum_and_plots():
    rng = np.random.default_rng(0)
    cands = np.arange(5, 50)
    info = {"I_Like": rng.normal(size=45), "I_Ent": rng.random(45)}
    info["I_Like"][3] = np.nan
    q = Query(np.array([7, 9]), cands, np.zeros(45), info)
    # unscored candidates are NaN in every metric
    info["I_Ent"][3] = np.nan
    labeled = np.zeros(50, bool)
    labeled[:5] = True
    rec = round_metrics(q, 50, labeled, rng.normal(size=(50, 2)), np.arange(50) % 3, rnd=2)
    ok = np.isfinite(rec.values["I_Total"])
    assert ok.sum() == 44 and not ok[:5].any()
    expected = rankdata(rec.values["I_Like"][ok]) + rankdata(rec.values["I_Ent"][ok])
    np.testing.assert_allclose(rec.values["I_Total"][ok], expected)
    ax = plot_metric_on_embedding(rec, "I_Total")
    assert "I_Total" in ax.get_title()
    with pytest.raises(KeyError, match="choose from"):
        plot_metric_on_embedding(rec, "I_Dis")


def test_class_entropy_table_matches_metrics():
    rows = [
        {"strategy": "a", "seed": s, "round": r, "n_labeled": 10 * (r + 1), "class_counts": c}
        for s, cs in enumerate([[[5, 5], [10, 10]], [[10, 0], [10, 10]]])
        for r, c in enumerate(cs)
    ]
    table = class_entropy_table(pd.DataFrame(rows))
    r0 = table[table["round"] == 0].iloc[0]
    assert r0["mean"] == pytest.approx(np.log(2) / 2)
    assert table[table["round"] == 1].iloc[0]["mean"] == pytest.approx(np.log(2))
    assert r0["n_seeds"] == 2
    plot_class_entropy(pd.DataFrame(rows))


def test_pool_likelihoods_on_points_equal_the_grid_definition():
    from alkit.viz.gmm import pool_likelihoods

    X, y, labeled, rest = _toy()
    mask = np.zeros(len(y), bool)
    mask[labeled] = True
    vals = pool_likelihoods(X, mask, y[labeled], 4, em_iters=10)
    maps = toy_likelihood_maps(X[labeled], y[labeled], X[rest], 4, em_iters=10, resolution=4)
    np.testing.assert_allclose(
        vals["I_Like"],
        (log_likelihood(X, maps.psi_UL) - log_likelihood(X, maps.psi_L)).double().numpy(),
        rtol=1e-5,
        atol=1e-4,
    )
    assert np.mean(vals["I_Like"][y == 3] > 0) > 0.9  # the never-labelled class stands out
