"""alkit.viz.asal: the notebook's widget callbacks (toy trajectories, snapshots, timing plot)."""

from __future__ import annotations

import functools
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from alkit.errors import AlkitError  # noqa: E402
from alkit.models.generative import MLPGenerator  # noqa: E402
from alkit.viz.asal import (  # noqa: E402
    ToyAscentExplorer,
    ascent_snapshots,
    plot_asal_timing,
    plot_synthetic_matches,
    plot_toy_ascent,
    toy_ascent,
)


@functools.cache
def moons_setup():
    from alkit.data import load_dataset
    from alkit.models import build_model
    from alkit.train import Learner, TrainConfig, seed_everything

    ds = load_dataset("moons")
    X, y = ds.X_train, ds.y_train
    labeled = np.zeros(len(X), bool)
    labeled[np.random.default_rng(0).choice(len(X), 20, replace=False)] = True
    seed_everything(0)
    model = build_model("mlp", (2,), 2, hidden=(16,), dropout=0.0)
    Learner(model, TrainConfig(epochs=50, min_steps=300), device="cpu").fit(X[labeled], y[labeled])
    return X, labeled, model


def test_toy_ascent_climbs_to_the_boundary_and_matches_free_points():
    X, labeled, model = moons_setup()
    res = toy_ascent(X, model, labeled, n_latents=10, steps=150, lr=0.05)
    assert res.path_T_S_2.shape == (151, 10, 2) and res.entropy_T_S.shape == (151, 10)
    assert res.entropy_T_S[-1].mean() > res.entropy_T_S[0].mean()
    assert np.median(res.entropy_T_S[-1]) > 0.9 * math.log(2)
    assert len(np.unique(res.matched_S)) == 10 and not labeled[res.matched_S].any()
    d = np.linalg.norm(X[res.matched_S] - res.path_T_S_2[-1], axis=1)
    np.testing.assert_allclose(res.distance_S, d, rtol=1e-5)
    assert res.grid_R_R.shape == (80, 80) and res.grid_R_R.max() <= math.log(2) + 1e-6
    ax = plot_toy_ascent(res, X, labeled, ax=plt.figure().gca())
    assert len(ax.lines) == 2 * 10  # one trajectory and one match line per latent
    plt.close("all")
    with pytest.raises(AlkitError, match="2-D pool"):
        toy_ascent(np.zeros((5, 3)), model, np.zeros(5, bool))


def test_explorer_redraws_on_slider_changes():
    X, labeled, model = moons_setup()
    explorer = ToyAscentExplorer(X, model, labeled)
    assert explorer.result.path_T_S_2.shape == (101, 12, 2)
    explorer.steps.value = 20
    explorer.n_latents.value = 5
    assert explorer.result.path_T_S_2.shape == (21, 5, 2)
    explorer.z_project.value = "sphere"
    np.testing.assert_allclose(
        np.linalg.norm(explorer.result.path_T_S_2[-1], axis=1), math.sqrt(2), rtol=1e-5
    )


def test_snapshots_and_match_grid():
    torch.manual_seed(0)
    gen = MLPGenerator((1, 8, 8), latent_dim=16, hidden=(32,))
    clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))
    z0 = np.random.default_rng(0).normal(size=(5, 16)).astype(np.float32)
    snaps = ascent_snapshots(gen, clf, z0, steps=20, lr=0.05, at=(0, 10, 20))
    assert sorted(snaps) == [0, 10, 20]
    with torch.no_grad():
        np.testing.assert_allclose(snaps[0][0], gen(torch.as_tensor(z0)).numpy(), rtol=1e-6)
    assert snaps[20][1].mean() > snaps[0][1].mean()
    fig = plot_synthetic_matches(snaps, {"gray": snaps[20]}, max_cols=4)
    assert len(fig.axes) == 4 * 4
    plt.close("all")
    with pytest.raises(AlkitError, match="snapshot steps"):
        ascent_snapshots(gen, clf, z0, steps=5, at=(0, 10))


def test_timing_plot_draws_every_measured_backend():
    rows = [
        {
            "n": n,
            "entropy_s": n * 1e-4,
            "ascent_s": 2.0,
            "select_s_brute": 2 + n * 1e-6,
            "select_s_kdtree": 2 + n * 2e-6,
        }  # fmt: skip
        for n in (60_000, 240_000)
    ] + [{"n": 1_000_000, "skipped": "time guard"}]
    ax = plot_asal_timing({"rows": rows, "picks": 50}, ax=plt.figure().gca())
    assert len(ax.lines) == 4  # entropy, two backends, ascent alone
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [60_000, 240_000])
    plt.close("all")
    with pytest.raises(AlkitError, match="no measured rows"):
        plot_asal_timing({"rows": rows[2:]})
