"""The Fisher-kernel notebook's plots and widget callback (alkit.viz.fisher)."""

from __future__ import annotations

import functools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import requires_fashion  # noqa: E402

from alkit.errors import AlkitError  # noqa: E402
from alkit.loop import ExperimentConfig, run_experiment  # noqa: E402
from alkit.train import TrainConfig  # noqa: E402
from alkit.viz.fisher import (  # noqa: E402
    fisher_explorer,
    plot_class_histograms,
    plot_confusions_at_round,
    plot_descriptors,
    plot_test_embedding,
    snapshot_recorder,
)


@functools.cache
def _tiny_run():
    config = ExperimentConfig(
        dataset="fashion_mnist",
        imbalance=100,
        val_per_class=5,
        pool_size=500,
        test_size=100,
        initial=20,
        query=10,
        rounds=1,
        seeds=(0,),
        strategies=("random", "pfk"),
        train=TrainConfig(epochs=2, min_steps=20),
        device="cpu",
    )
    snaps: dict = {}
    rows = run_experiment(config, progress=False, on_round=snapshot_recorder(snaps, 100, "pfk"))
    return rows, snaps


@requires_fashion
def test_fisher_explorer_redraws_the_heatmap_from_the_selection_it_made():
    rows, snaps = _tiny_run()
    assert set(snaps) == {(100, 0), (100, 1)}
    fig, summary = fisher_explorer(snaps, "phat", 80, 100, 1, n_centres=3, n_matches=4)
    heat = fig.subfigs[0].axes[0].images[0].get_array()
    # row i of the heat map holds centre i's top-4 matches, best first, in its own columns
    for i in range(heat.shape[0]):
        own = np.asarray(heat[i, 4 * i : 4 * i + 4])
        assert (np.diff(own) <= 1e-4 * np.abs(own).max()).all()
        assert own[0] >= np.asarray(heat[i]).max() - 1e-4 * np.abs(own).max()
    assert 0 <= summary["rare_share_of_pick"] <= 1
    assert 0 <= summary["pseudo_label_accuracy"] <= 1
    fig_l20, _ = fisher_explorer(snaps, "yhat", 20, 100, 0, n_centres=2, n_matches=3)
    assert "L=20" in fig_l20.subfigs[0].axes[0].get_title()
    with pytest.raises(AlkitError, match="no snapshot"):
        fisher_explorer(snaps, "phat", 80, 10, 1)
    plt.close("all")


@requires_fashion
def test_round_plots_draw_every_strategy_and_mark_errors():
    rows, snaps = _tiny_run()
    axes = plot_confusions_at_round(rows, 1, ["random", "pfk"])
    assert [a.get_title() for a in axes] == ["random, round 1", "pfk, round 1"]
    with pytest.raises(AlkitError, match="no results"):
        plot_confusions_at_round(rows, 7, ["random"])
    snap = snaps[(100, 1)]
    ax = plot_test_embedding(snap.model, snap.splits.X_test, snap.splits.y_test, method="pca")
    n_wrong = (snap.model(__import__("torch").as_tensor(snap.splits.X_test)).argmax(1).numpy()
               != snap.splits.y_test).sum()  # fmt: skip
    assert len(ax.collections[1].get_offsets()) == n_wrong
    ax = plot_class_histograms(snap.splits.y_pool, snap.splits.y_val)
    heights = [p.get_height() for p in ax.patches]
    assert np.isclose(sum(heights[:10]), 1) and np.isclose(sum(heights[10:]), 1)
    axes = plot_descriptors(np.ones((2, 5)), np.zeros((2, 5)), (2, 3))
    assert len(axes) == 2
    plt.close("all")
