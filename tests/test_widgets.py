"""The dashboards' callbacks on real digits runs: the figure data must match the run's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from alkit.errors import AlkitError
from alkit.viz import frames, widgets
from alkit.viz.style import PALETTE, strategy_colors

RUN_OPTIONS = {"batch_size": 10, "rounds": 3, "initial": 20, "projection": "pca", "epochs": 10}


@pytest.fixture(scope="module")
def entropy_run():
    return frames.record_run("digits", "entropy", **RUN_OPTIONS)


@pytest.fixture(scope="module")
def input_runs():
    """random and entropy mapped by the pool's inputs: one projection for both strategies."""
    options = {**RUN_OPTIONS, "map_source": "input"}
    return frames.record_run("digits", "random", **options), frames.record_run(
        "digits", "entropy", **options
    )


def test_map_layers_split_the_pool():
    xy = np.arange(20, dtype=float).reshape(10, 2)
    layers = frames.map_layers(xy, labeled_idx=[0, 3], picked_idx=[7, 1])
    np.testing.assert_array_equal(layers["picked"], xy[[7, 1]])
    np.testing.assert_array_equal(layers["labeled"], xy[[0, 3]])
    np.testing.assert_array_equal(layers["unlabeled"], xy[[2, 4, 5, 6, 8, 9]])


@pytest.mark.parametrize("rnd", [1, 3])
def test_explorer_frame_highlights_the_picks_and_counts_the_scores(entropy_run, rnd):
    rec = entropy_run.rounds[rnd - 1]
    frame = frames.explorer_frame(entropy_run, rnd, bins=12)
    layers = frame["map"]
    np.testing.assert_array_equal(layers["picked_idx"], rec.picked)
    np.testing.assert_array_equal(layers["picked"], entropy_run.xy_N_2[rec.picked])
    np.testing.assert_array_equal(layers["labeled"], entropy_run.xy_N_2[rec.labeled_before])
    n_pool = len(entropy_run.y_pool)
    assert len(layers["unlabeled"]) == n_pool - len(rec.labeled_before) - len(rec.picked)
    # the labelled set before the query grows by one batch per round
    assert len(rec.labeled_before) == 20 + 10 * (rnd - 1)
    edges, counts, picked = frame["hist"]
    expected, _ = np.histogram(rec.scores, bins=12)
    np.testing.assert_array_equal(counts, expected)
    assert counts.sum() == len(rec.candidates) == n_pool - len(rec.labeled_before)
    assert picked.sum() == len(rec.picked) == 10
    # entropy picks the highest scores: they all fall in the top bins
    pick_scores = rec.scores[np.isin(rec.candidates, rec.picked)]
    assert pick_scores.min() >= np.sort(rec.scores)[-10] - 1e-12
    assert np.flatnonzero(picked).min() >= np.flatnonzero(counts).min()
    n_labeled, accuracy = frame["curve"]
    np.testing.assert_array_equal(n_labeled, 20 + 10 * np.arange(rnd + 1))
    np.testing.assert_allclose(accuracy, entropy_run.rows["accuracy"].to_numpy()[: rnd + 1])


def shown_legend(figure) -> list[str]:
    return [t.name for t in figure.data if t.showlegend is not False]


def test_explorer_widget_draws_the_frame_of_the_slider_value(entropy_run, monkeypatch):
    calls = []

    def fake_record(dataset, strategy, batch_size, rounds, **kw):
        calls.append((dataset, strategy, batch_size, rounds))
        return entropy_run

    monkeypatch.setattr(widgets, "record_run", fake_record)
    explorer = widgets.StrategyExplorer(
        datasets=("digits",), strategies=("entropy",), batch_sizes=(10,), rounds=3
    )
    fig = explorer.figure
    for rnd in (2, 3):
        explorer.round.value = rnd
        frame = frames.explorer_frame(entropy_run, rnd)
        picked_trace = widgets._trace(fig, "picked")
        np.testing.assert_allclose(picked_trace.x, frame["map"]["picked"][:, 0])
        np.testing.assert_allclose(picked_trace.y, frame["map"]["picked"][:, 1])
        np.testing.assert_array_equal(widgets._trace(fig, "candidates").y, frame["hist"][1])
        np.testing.assert_array_equal(widgets._trace(fig, "picked scores").y, frame["hist"][2])
        assert len(widgets._trace(fig, "accuracy").x) == rnd + 1
        assert f"round {rnd}" in fig.layout.title.text
    assert calls == [("digits", "entropy", 10, 3)]  # the slider redraws without re-recording
    for axis in (fig.layout.xaxis, fig.layout.yaxis3):
        assert axis.title.text and "(" in axis.title.text  # labelled, with units
    # the pool is drawn by class, under the marks: one trace per class, together the whole pool
    classes = [t for t in fig.data if t.meta == "class"]
    assert [t.name for t in classes] == [str(c) for c in entropy_run.class_names]
    assert fig.data[: len(classes)] == tuple(classes)
    assert sum(len(t.x) for t in classes) == len(entropy_run.y_pool)
    for c, trace in enumerate(classes):
        np.testing.assert_allclose(trace.x, entropy_run.xy_N_2[entropy_run.y_pool == c, 0])
    assert len({t.marker.color for t in classes}) == len(classes)
    # marks in black, a colour no strategy has; the learning curve in the strategy's colour
    marks = {widgets._trace(fig, n).marker.color for n in ("labelled", "picked")}
    assert marks == {"#000000"} and not marks & set(PALETTE)
    assert widgets._trace(fig, "accuracy").line.color == strategy_colors(["entropy"])["entropy"]
    legend = shown_legend(fig)
    assert len(legend) == len(set(legend)) and legend.count("picked") == 1
    assert fig.layout.yaxis.scaleanchor is None  # an embedding map: no forced aspect


def test_explorer_on_moons_keeps_the_map_square_and_swaps_the_classes(entropy_run):
    explorer = widgets.StrategyExplorer(
        datasets=("moons", "digits"),
        strategies=("entropy",),
        batch_sizes=(5,),
        rounds=2,
        epochs=3,
    )
    fig = explorer.figure
    assert explorer.run.raw_2d and fig.layout.yaxis.scaleanchor == "x"  # equal aspect
    assert [t.name for t in fig.data if t.meta == "class"] == ["0", "1"]
    legend = shown_legend(fig)
    assert len(legend) == len(set(legend))
    explorer._runs[("digits", "entropy", 5)] = entropy_run  # switching dataset: 10 classes
    explorer.dataset.value = "digits"
    assert len([t for t in fig.data if t.meta == "class"]) == 10
    assert fig.layout.yaxis.scaleanchor is None
    legend = shown_legend(fig)
    assert len(legend) == len(set(legend))


def test_compare_frame_matches_the_loop_class_counts(input_runs):
    random_run, entropy_run = input_runs
    # the same seed gives both strategies the same initial set, and the inputs the same map
    np.testing.assert_array_equal(
        entropy_run.rounds[0].labeled_before, random_run.rounds[0].labeled_before
    )
    np.testing.assert_array_equal(random_run.xy_N_2, entropy_run.xy_N_2)
    for rnd in (1, 3):
        frame = frames.compare_frame(random_run, entropy_run, rnd)
        for key, run in (("a", random_run), ("b", entropy_run)):
            row = run.rows[run.rows["round"] == rnd].iloc[0]
            np.testing.assert_array_equal(frame[key]["class_counts"], row["class_counts"])
            assert frame[key]["accuracy"] == row["accuracy"]
            np.testing.assert_array_equal(frame[key]["map"]["picked_idx"], row["selected"])
            np.testing.assert_array_equal(frame[key]["map"]["picked"], frame["xy"][row["selected"]])
    assert frame["a"]["strategy"] == "random" and frame["b"]["strategy"] == "entropy"


def test_compare_widget_shows_both_runs_on_one_projection(input_runs, monkeypatch):
    random_run, entropy_run = input_runs
    runs = {"random": random_run, "entropy": entropy_run}
    seen = []

    def fake_record(dataset, strategy, **kw):
        seen.append(kw["map_source"])
        return runs[strategy]

    monkeypatch.setattr(widgets, "record_run", fake_record)
    compare = widgets.CompareStrategies("random", "entropy", rounds=3)
    assert seen == ["input", "input"]
    compare.round.value = 2
    frame = frames.compare_frame(random_run, entropy_run, 2)
    fig = compare.figure
    np.testing.assert_array_equal(compare.bars[0].y, frame["a"]["class_counts"])
    np.testing.assert_array_equal(compare.bars[1].y, frame["b"]["class_counts"])
    np.testing.assert_allclose(compare.marks_b[1].x, frame["b"]["map"]["picked"][:, 0])
    assert f"{frame['b']['accuracy']:.3f}" in fig.layout.title.text
    # both panels draw the same class points on linked axes
    left = [t for t in fig.data if t.meta == "class" and t.xaxis == "x"]
    right = [t for t in fig.data if t.meta == "class" and t.xaxis == "x2"]
    assert len(left) == len(right) == 10
    for a, b in zip(left, right, strict=True):
        np.testing.assert_array_equal(a.x, b.x)
    assert fig.layout.xaxis2.matches == "x" and fig.layout.yaxis2.matches == "y"
    colors = strategy_colors(["random", "entropy"])
    assert [b.marker.color for b in compare.bars] == [colors["random"], colors["entropy"]]
    legend = shown_legend(fig)
    assert len(legend) == len(set(legend))


def test_bad_rounds_and_rows_are_rejected(entropy_run):
    with pytest.raises(AlkitError, match="between 1 and 3"):
        frames.explorer_frame(entropy_run, 0)
    with pytest.raises(AlkitError, match="no row for strategy 'margin'"):
        frames.player_frame(entropy_run.rows, "margin", 0, 1)


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    from alkit.loop import ExperimentConfig, run_experiment
    from alkit.train import TrainConfig

    out = tmp_path_factory.mktemp("run")
    config = ExperimentConfig(
        dataset="digits",
        train=TrainConfig(epochs=5, min_steps=50),
        initial=20,
        query=10,
        rounds=2,
        seeds=(0, 1),
        strategies=("random", "margin"),
        device="cpu",
    )
    return out, run_experiment(config, out=out, progress=False)


def test_run_player_reproduces_the_results_file(results_dir):
    out, df = results_dir
    player = widgets.RunPlayer(out / "results.csv")
    assert list(player.strategy.options) == ["random", "margin"]
    assert list(player.seed.options) == [0, 1] and player.round.max == 2
    for _, row in df.iterrows():
        player.strategy.value, player.seed.value = row["strategy"], row["seed"]
        player.round.value = row["round"]
        frame = player.frame()
        assert frame["accuracy"] == row["accuracy"]
        assert f"{row['accuracy']:.4f}" in player.label.value
        np.testing.assert_array_equal(frame["selected"], row["selected"])
        z = np.asarray(player.figure.data[-1].z)
        cm = np.asarray(row["confusion"], dtype=float)
        np.testing.assert_allclose(z, cm / cm.sum(axis=1, keepdims=True))
    # the curves show the mean over seeds of every strategy, up to the chosen round
    player.round.value = 2
    for trace in player.figure.data[:-1]:
        mean = df[df["strategy"] == trace.name].groupby("round")["accuracy"].mean()
        np.testing.assert_allclose(trace.y, mean.to_numpy())
    player.round.value = 1
    assert all(len(t.y) == 2 for t in player.figure.data[:-1])
    # the axes are fixed to the whole run, so a curve grows into the same frame
    x0, x1 = player.figure.layout.xaxis.range
    y0, y1 = player.figure.layout.yaxis.range
    assert x0 < df["n_labeled"].min() and x1 > df["n_labeled"].max()
    assert 0 <= y0 < df["accuracy"].min() and df["accuracy"].max() < y1 <= 1


def test_run_player_shows_the_picked_images(results_dir):
    out, df = results_dir
    X, y, names = frames.pool_of_run(out, seed=1)
    row = df[(df["strategy"] == "margin") & (df["seed"] == 1) & (df["round"] == 2)].iloc[0]
    # the rebuilt pool is the loop's pool: the labelled classes match the recorded counts
    labeled = np.concatenate(
        df[(df["strategy"] == "margin") & (df["seed"] == 1)]["selected"].map(np.asarray).tolist()
    )
    np.testing.assert_array_equal(np.bincount(y[labeled], minlength=10), row["class_counts"])
    player = widgets.RunPlayer(out)
    player.strategy.value, player.seed.value, player.round.value = "margin", 1, 2
    images = [o for o in player.images.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
    fig = frames.plot_picked_images(X[row["selected"]], y[row["selected"]], names)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == [names[c] for c in y[row["selected"]]]


def test_run_player_finds_a_run_folder_from_the_repository_root(results_dir, tmp_path, monkeypatch):
    out, df = results_dir
    root = tmp_path / "checkout"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "runs").mkdir()
    (root / "runs" / "demo").symlink_to(out, target_is_directory=True)
    monkeypatch.chdir(root / "notebooks")  # where a notebook runs
    player = widgets.RunPlayer("runs/demo")
    assert player.folder == root / "runs" / "demo"
    assert len(player.results) == len(df)
    with pytest.raises(
        AlkitError, match="looked in .*notebooks/runs/nope and .*checkout/runs/nope"
    ):
        widgets.RunPlayer("runs/nope")
