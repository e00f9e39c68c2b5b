"""Notebooks 04–09 follow the figure conventions of issue 18, checked on the figure data (not
pixels): pool points in their class colour with a class legend, the labelled set and the picks
as the shared black marks, one colour per strategy from the shared palette, equal aspect on 2-D
toy data, colour scales that start at 0 for unsigned scores, figures as wide as a notebook at
most and no text under 9 pt."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from conftest import cached_dataset  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from test_viz_style import data_axes, small_texts  # noqa: E402

from alkit.models import MLP  # noqa: E402
from alkit.train import Learner, TrainConfig  # noqa: E402
from alkit.viz import plot_learning_curves  # noqa: E402
from alkit.viz.asal import plot_synthetic_matches, plot_toy_ascent, toy_ascent  # noqa: E402
from alkit.viz.ducoffe import (  # noqa: E402
    committee_maps,
    padded_extent,
    plot_committee,
    plot_deepfool_paths,
)
from alkit.viz.ntk import (  # noqa: E402
    greedy_replay,
    plot_al_gain,
    plot_coverage_panels,
    plot_risk_map,
    toy_coverage,
)
from alkit.viz.ssl import draw_budget_picks, plot_feature_maps  # noqa: E402
from alkit.viz.style import (  # noqa: E402
    NOTEBOOK_WIDTH_IN,
    class_colors,
    reset_strategy_colors,
    shared_legend_below,
    strategy_colors,
)
from alkit.viz.text import SaliencyFrame, plot_saliency_lines  # noqa: E402
from alkit.viz.wasserstein import plot_w_curves  # noqa: E402

BLACK = "#000000"


def class_collections(ax) -> dict[str, str]:
    """``{legend label: colour}`` of the scatter collections drawn per class (label = name)."""
    marks = {"labelled", "picked", "matched (labelled next)", "z₀", "after ascent"}
    return {
        c.get_label(): to_hex(c.get_facecolor()[0])
        for c in ax.collections
        if not c.get_label().startswith("_") and c.get_label() not in marks
    }


def fits_a_notebook(fig) -> None:
    assert fig.get_figwidth() <= NOTEBOOK_WIDTH_IN + 1e-9
    assert not small_texts(fig)


def moons(n=120):
    ds = cached_dataset("moons")
    return ds.X_train[:n].astype(np.float32), ds.y_train[:n]


def test_ssl_maps_colour_classes_and_budget_picks_use_the_shared_marks():
    rng = np.random.default_rng(0)
    y = np.arange(90) % 3
    names = ["T-shirt/top", "Trouser", "Ankle boot"]
    fig = plot_feature_maps({"pixels": rng.normal(size=(90, 2)), "SimCLR": rng.normal(size=(90, 2))}, y, names)  # fmt: skip
    fits_a_notebook(fig)
    expected = dict(zip(names, class_colors(3), strict=True))
    assert all(class_collections(ax) == expected for ax in data_axes(fig))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == names

    reset_strategy_colors()
    strategies = ["random", "typiclust:features=input", "coreset:features=input"]
    rows = pd.DataFrame(
        [
            {
                "strategy": s,
                "seed": 0,
                "round": r,
                "n_labeled": 5 * (r + 1),
                "accuracy": 0.5,
                "selected": list(range(5 * r + i, 5 * r + i + 5)),
            }  # fmt: skip
            for i, s in enumerate(strategies)
            for r in range(2)
        ]
    )
    coords = rng.normal(size=(90, 2))
    fig = plt.figure()
    shown = draw_budget_picks(coords, rows, strategies, 10, fig=fig, y_N=y, class_names=names)
    fits_a_notebook(fig)
    colors = strategy_colors(strategies)
    for ax, s in zip(data_axes(fig), strategies, strict=True):
        assert to_hex(ax.title.get_color()) == colors[s]
        labelled = next(c for c in ax.collections if c.get_label() == "labelled")
        np.testing.assert_allclose(labelled.get_offsets(), coords[shown[s]])
        assert to_hex(labelled.get_edgecolor()[0]) == BLACK
        assert len(labelled.get_facecolor()) == 0  # hollow
        assert class_collections(ax) == expected
    assert len(set(colors.values())) == 3
    plt.close("all")


def test_coverage_panels_by_class_and_al_gain_in_the_curves_colours():
    ds = cached_dataset("blobs")
    X, y = ds.X_train[:150].astype(np.float64), ds.y_train[:150]
    L = np.random.default_rng(0).choice(len(X), 8, replace=False)
    state = toy_coverage(X, y, L, y, n_clusters=6, seed=0)
    axes = plot_coverage_panels(state, class_names=["a", "b", "c", "d"])
    fig = axes[0].figure
    fits_a_notebook(fig)
    assert len(data_axes(fig)) == 4  # one row, at most four panels
    expected = dict(zip("abcd", class_colors(4), strict=True))
    for ax in axes:
        assert ax.get_aspect() == 1.0 and class_collections(ax) == expected
    assert [t.get_text() for t in fig.legends[0].get_texts()] == list("abcd")
    # the risk map's colour limits are robust percentiles, so a few outliers do not rule it
    replay = greedy_replay(state, 2)
    ax_map, _ = plot_risk_map(state, replay, 2)
    risk = replay.risk_T_N[1][np.isfinite(replay.risk_T_N[1])]
    norm = next(c for c in ax_map.collections if c.get_array() is not None).norm
    np.testing.assert_allclose([norm.vmin, norm.vmax], np.percentile(risk, [2, 98]))
    fits_a_notebook(ax_map.figure)

    reset_strategy_colors()
    results = pd.DataFrame(
        [
            {
                "strategy": s,
                "seed": seed,
                "round": r,
                "n_labeled": 10 * (r + 1),
                "accuracy": 0.5 + 0.1 * r + 0.02 * i + 0.01 * seed,
            }  # fmt: skip
            for i, s in enumerate(["random", "typiclust", "ntkcpl"])
            for seed in (0, 1)
            for r in range(3)
        ]
    )
    _, (ax_curves, ax_gain) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    plot_learning_curves(results, ax=ax_curves)
    plot_al_gain(results, ax=ax_gain)
    curves = {ln.get_label(): to_hex(ln.get_color()) for ln in ax_curves.get_lines()}
    gains = {ln.get_label(): to_hex(ln.get_color()) for ln in ax_gain.get_lines()[1:]}
    assert set(gains) == {"typiclust", "ntkcpl"} and gains == {k: curves[k] for k in gains}
    fits_a_notebook(ax_gain.figure)
    plt.close("all")


def test_toy_ascent_colours_the_pool_by_class_and_marks_the_matches():
    X, y = moons()
    labelled = np.zeros(len(X), bool)
    labelled[:10] = True
    torch.manual_seed(0)
    model = MLP((2,), 2, hidden=(8,), dropout=0.0)
    res = toy_ascent(X, model, labelled, n_latents=4, steps=5, resolution=20)
    fig, ax = plt.subplots(figsize=(7.2, 5.4), layout="constrained")
    plot_toy_ascent(res, X, labelled, ax=ax, y_N=y, class_names=["upper", "lower"])
    fits_a_notebook(fig)
    assert ax.get_aspect() == 1.0
    assert class_collections(ax) == dict(zip(["upper", "lower"], class_colors(2), strict=True))
    matched = next(c for c in ax.collections if c.get_label() == "matched (labelled next)")
    np.testing.assert_allclose(matched.get_offsets(), X[res.matched_S])
    assert to_hex(matched.get_facecolor()[0]) == BLACK
    assert ax.images[0].get_clim()[0] == 0  # entropy ≥ 0: the scale starts at 0
    rng = np.random.default_rng(0)
    imgs = {t: (rng.random((8, 1, 8, 8)), rng.random(8)) for t in (0, 50, 100)}
    matches = {f: (rng.random((8, 1, 8, 8)), rng.random(8)) for f in ("gray", "disc")}
    fits_a_notebook(plot_synthetic_matches(imgs, matches))
    plt.close("all")


@pytest.fixture(scope="module")
def moons_learner():
    X, y = moons()
    torch.manual_seed(0)
    learner = Learner(
        MLP((2,), 2, hidden=(16, 16), dropout=0.0),
        TrainConfig(epochs=5, min_steps=0),
        device="cpu",
        progress=False,
    )
    return learner.fit(X, y), X, y


def test_committee_and_deepfool_maps_keep_classes_apart_from_members(moons_learner):
    learner, X, y = moons_learner
    extent = padded_extent(X)
    maps = committee_maps(learner, X[:30], y[:30], 4, 0.5, extent, finetune_steps=5, resolution=20)
    fig = plt.figure(figsize=(7, 6), layout="constrained")
    ax = plot_committee(maps, X[:30], y[:30], ax=fig.gca(), class_names=["upper", "lower"])
    fits_a_notebook(fig)
    assert ax.get_aspect() == 1.0 and ax.images[0].get_clim()[0] == 0  # rg ≥ 0
    assert class_collections(ax) == dict(zip(["upper", "lower"], class_colors(2), strict=True))
    members = {to_hex(c) for cs in ax.collections if hasattr(cs, "levels") for c in cs.get_edgecolor()}  # fmt: skip
    assert members and not members & set(class_colors(2))  # member lines never look like a class
    fig = plt.figure(figsize=(8, 5), layout="constrained")
    starts = X[:3]
    paths = [np.stack([s, s + 0.1]) for s in starts]
    ax = plot_deepfool_paths(learner.model, starts, paths, extent, ax=fig.gca(), resolution=20)
    fits_a_notebook(fig)
    cmap = ax.images[0].get_cmap()
    assert [to_hex(cmap(i)) for i in range(2)] == class_colors(2) and ax.get_aspect() == 1.0
    plt.close("all")


def test_w_curves_use_the_shared_palette_and_saliency_ticks_are_readable():
    reset_strategy_colors()
    curves = {"emd": [3.0, 2.0, 1.5], "sinkhorn (thesis)": [3.2, 2.8, 2.7], "random (mean)": [3.5, 3.0, 2.6]}  # fmt: skip
    fig = plt.figure(figsize=(8, 4), layout="constrained")
    ax = plot_w_curves(curves, ax=fig.gca())
    colors = strategy_colors(curves)
    assert {ln.get_label(): to_hex(ln.get_color()) for ln in ax.get_lines()} == colors
    fits_a_notebook(fig)
    words = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]
    frame = SaliencyFrame(words, np.arange(9.0), np.linspace(-2, 3, 9), "songs-poems", 0.7, 0.4)
    fig = plt.figure(figsize=(NOTEBOOK_WIDTH_IN, 3.6))
    plot_saliency_lines(frame, ax=fig.gca())
    fits_a_notebook(fig)
    plt.close("all")


def test_one_legend_under_the_panels_keeps_them_wide():
    reset_strategy_colors()
    long = ["random", "typiclust:features=input", "ntkcpl:max_candidates=300:c0=10:c_max=50"]
    results = pd.DataFrame(
        [
            {
                "strategy": s,
                "seed": seed,
                "round": r,
                "n_labeled": 10 * (r + 1),
                "accuracy": 0.3 + 0.1 * r + 0.05 * i + 0.01 * seed,
            }  # fmt: skip
            for i, s in enumerate(long)
            for seed in (0, 1)
            for r in range(3)
        ]
    )
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    plot_learning_curves(results, ax=axes[0])
    plot_al_gain(results, ax=axes[1])
    legend = shared_legend_below(fig, axes)
    assert all(ax.get_legend() is None for ax in axes)
    assert [t.get_text() for t in legend.get_texts()] == [*long, "random ± std"]
    fig.canvas.draw()
    for ax in axes:  # each panel keeps more than a third of the width
        assert ax.get_position().width > 0.33
    fits_a_notebook(fig)
    plt.close("all")
