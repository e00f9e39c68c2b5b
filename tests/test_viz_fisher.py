"""The Fisher-kernel notebook's plots and widget callback (alkit.viz.fisher)."""

from __future__ import annotations

import functools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import requires_fashion  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from alkit.errors import AlkitError  # noqa: E402
from alkit.loop import ExperimentConfig, run_experiment  # noqa: E402
from alkit.train import TrainConfig  # noqa: E402
from alkit.viz.fisher import (  # noqa: E402
    fisher_explorer,
    load_snapshots,
    plot_class_histograms,
    plot_confusions_at_round,
    plot_descriptors,
    plot_test_embedding,
    snapshot_recorder,
)
from alkit.viz.style import MIN_FONT_PT, NOTEBOOK_WIDTH_IN, strategy_colors, wrap_label  # noqa: E402


def _config(**overrides):
    options = dict(
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
    return ExperimentConfig(**{**options, **overrides})


@functools.cache
def _tiny_run():
    config = _config()
    snaps: dict = {}
    on_round = snapshot_recorder(snaps, 100, "pfk", config=config)
    rows = run_experiment(config, progress=False, on_round=on_round)
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
    assert 0 <= summary["pseudo_label_accuracy"] <= 1
    # the rare classes are the experiment's (5-9 by default for 10 classes), not the top five
    # classes that happen to be in the pool
    snap = snaps[(100, 1)]
    assert snap.rare_classes == (5, 6, 7, 8, 9)
    counts = np.asarray(summary["picked_class_counts"])
    assert counts.sum() == 10
    assert summary["rare_share_of_pick"] == pytest.approx(counts[5:].sum() / counts.sum())
    _, other = fisher_explorer(snaps, "phat", 80, 100, 1, 3, 4, rare_classes=(0,))
    assert other["rare_share_of_pick"] == pytest.approx(counts[0] / counts.sum())
    # class names in full: the heat map's columns and the captions of the pulled images
    names = snap.splits.class_names
    cols = [t.get_text() for t in fig.subfigs[0].axes[0].get_xticklabels()]
    assert cols and set(cols) <= set(names)
    captions = {a.get_title() for a in fig.subfigs[2].axes if a.get_title()}
    full = {wrap_label(n, 10) for n in names} | {wrap_label(f"centre: {n}", 10) for n in names}
    assert captions <= full  # wrapped onto two lines at most, never cut
    # readable at notebook width: no text under 9 pt, no wider than the output area
    fig.canvas.draw()
    small = [
        t.get_text()
        for t in fig.findobj(matplotlib.text.Text)
        if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_FONT_PT
    ]
    assert not small and fig.get_figwidth() <= NOTEBOOK_WIDTH_IN


@requires_fashion
def test_round_plots_draw_every_strategy_and_mark_errors():
    rows, snaps = _tiny_run()
    axes = plot_confusions_at_round(rows, 1, ["random", "pfk"])
    assert [a.get_title() for a in axes] == ["random\nround 1", "pfk\nround 1"]
    fig = axes[0].figure
    assert fig.get_figwidth() <= NOTEBOOK_WIDTH_IN
    colorbars = [a for a in fig.axes if a.get_label() == "<colorbar>"]
    assert len(colorbars) == 1 and colorbars[0].get_ylim() == (0.0, 1.0)  # one shared scale
    assert all(to_hex(a.title.get_color()) == c for a, c in zip(axes, strategy_colors(["random", "pfk"]).values(), strict=True))  # fmt: skip
    with pytest.raises(AlkitError, match="no results"):
        plot_confusions_at_round(rows, 7, ["random"])
    snap = snaps[(100, 1)]
    ax = plot_test_embedding(snap.model, snap.splits.X_test, snap.splits.y_test, method="pca")
    n_wrong = (snap.model(__import__("torch").as_tensor(snap.splits.X_test)).argmax(1).numpy()
               != snap.splits.y_test).sum()  # fmt: skip
    rings = [c for c in ax.collections if len(c.get_facecolors()) == 0]
    assert len(rings) == 1 and len(rings[0].get_offsets()) == n_wrong
    # every test image is drawn in its class colour, the legend names classes and errors
    dots = [c for c in ax.collections if len(c.get_facecolors())]
    assert sum(len(c.get_offsets()) for c in dots) == len(snap.splits.y_test)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[-1] == "misclassified" and len(legend) == len(dots) + 1
    assert ax.get_xlabel() and ax.get_ylabel()
    ax = plot_class_histograms(snap.splits.y_pool, snap.splits.y_val)
    heights = [p.get_height() for p in ax.patches]
    assert np.isclose(sum(heights[:10]), 1) and np.isclose(sum(heights[10:]), 1)
    axes = plot_descriptors(np.ones((2, 5)), np.zeros((2, 5)), (2, 3))
    assert len(axes) == 2
    plt.close("all")


@requires_fashion
def test_a_rerun_over_a_finished_folder_rebuilds_every_snapshot(tmp_path):
    """Issue 9: the resumed loop calls on_round for no finished round; load_snapshots reads the
    weights the recorder saved and the rows of results.csv instead."""
    import torch

    config = _config(strategies=("pfk",))
    out = tmp_path / "run"
    live: dict = {}
    run_experiment(
        config,
        out=out,
        progress=False,
        on_round=snapshot_recorder(live, 100, "pfk", config=config, folder=out),
    )
    assert set(live) == {(100, 0), (100, 1)}
    again: dict = {}
    rows = run_experiment(
        config,
        out=out,
        progress=False,
        on_round=snapshot_recorder(again, 100, "pfk", config=config, folder=out),
    )
    assert again == {} and len(rows) == 2  # nothing ran, as in the notebook's re-run
    load_snapshots(out, config, again, 100, "pfk")
    assert set(again) == set(live)
    for key, snap in live.items():
        loaded = again[key]
        np.testing.assert_array_equal(loaded.labeled_idx, np.sort(snap.labeled_idx))
        assert loaded.row["accuracy"] == snap.row["accuracy"]
        assert loaded.rare_classes == snap.rare_classes == (5, 6, 7, 8, 9)
        for (name, a), b in zip(
            snap.model.state_dict().items(), loaded.model.state_dict().values(), strict=True
        ):
            torch.testing.assert_close(a, b, msg=name)
        np.testing.assert_array_equal(loaded.splits.y_pool, snap.splits.y_pool)
    # the widget callback gives the same selection on the reloaded snapshot
    _, live_summary = fisher_explorer(live, "phat", 80, 100, 1, 2, 3)
    _, loaded_summary = fisher_explorer(again, "phat", 80, 100, 1, 2, 3)
    assert loaded_summary == live_summary
    plt.close("all")


@requires_fashion
def test_fisher_dashboard_hides_the_single_imbalance_and_redraws_per_round():
    from alkit.viz import FisherExplorer

    _, snaps = _tiny_run()
    dash = FisherExplorer(snaps, n_centres=2, n_matches=3)
    assert dash.controls["imbalance"].layout.display == "none"
    assert "imbalance = <b>100</b>" in dash.note.value
    assert list(dash.controls["round"].options) == [0, 1] and dash.controls["round"].value == 1
    assert "rare share of pick" in dash.caption.value  # a table, not a raw dict
    # the picks' classes are a labelled bar chart in the figure, not a bare list in the caption
    assert "picked class counts" not in dash.caption.value
    _, summary = fisher_explorer(snaps, "phat", 80, 100, 1, n_centres=2, n_matches=3)
    bars = dash.figure.subfigs[1].axes[0]
    assert [p.get_height() for p in bars.patches] == summary["picked_class_counts"]
    assert [t.get_text() for t in bars.texts] == [str(c) for c in summary["picked_class_counts"]]
    dash.controls["round"].value = 0
    assert "round 0" in dash.figure.subfigs[0].axes[0].get_title()
    assert dash.output.outputs[0]["data"]["image/png"] and dash.output.msg_id == ""
