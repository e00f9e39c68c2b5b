"""Figures a lecture hall can read, checked on the figure data (not pixels): robust colour scales
centred at 0 for signed scores, pool points coloured by class with a legend, one colour per
strategy across figures, marks no strategy uses, sizes and fonts."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from conftest import cached_splits, make_context  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from alkit.strategies import Query  # noqa: E402
from alkit.viz import compare_picks, plot_learning_curves, plot_score_scatter  # noqa: E402
from alkit.viz.gmm import (  # noqa: E402
    plot_class_entropy,
    plot_likelihood_maps,
    plot_metric_on_embedding,
    round_metrics,
    toy_likelihood_maps,
)
from alkit.viz.style import (  # noqa: E402
    LABELED_STYLE,
    MAX_PANELS_PER_ROW,
    MIN_FONT_PT,
    NOTEBOOK_WIDTH_IN,
    PALETTE,
    PICKED_STYLE,
    color_scale,
    reset_strategy_colors,
    strategy_colors,
    wrap_label,
)


def small_texts(fig) -> list[tuple[str, float]]:
    """Every visible, non-empty text of a figure (ticks, titles, legends) below MIN_FONT_PT."""
    fig.canvas.draw()
    return [
        (t.get_text(), t.get_fontsize())
        for t in fig.findobj(matplotlib.text.Text)
        if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_FONT_PT - 1e-6
    ]


def data_axes(fig):
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.get_visible()]


def test_color_scale_ignores_outliers_and_centres_signed_scores():
    rng = np.random.default_rng(0)
    typicality = np.concatenate([rng.uniform(0, 10, 500), [100_000.0]])  # TypiClust's outlier
    scale = color_scale(typicality)
    assert 0 <= scale["vmin"] and scale["vmax"] < 11 and scale["cmap"] == "viridis"
    assert scale["extend"] in ("max", "both")  # the colour bar shows that values were clipped
    i_like = np.concatenate([rng.normal(0, 3, 500), [700.0, -100.0]])
    scale = color_scale(i_like)
    assert scale["signed"] and scale["cmap"] == "RdBu_r" and scale["vmin"] == -scale["vmax"]
    assert scale["vmax"] < 15  # the ±700 tail is clipped, not the scale
    assert color_scale(np.array([1.0, np.nan, 1.0]))["vmax"] > 1  # constant scores still map


def test_likelihood_maps_put_white_at_zero_for_i_like():
    from alkit.data import load_dataset

    ds = load_dataset("blobs")
    X, y = ds.X_train.astype(np.float32), ds.y_train
    lab = np.flatnonzero(y != 3)[:30]
    rest = np.setdiff1d(np.arange(len(y)), lab)
    maps = toy_likelihood_maps(X[lab], y[lab], X[rest], 4, em_iters=5, resolution=40)
    axes = plot_likelihood_maps(maps, X[lab], X[rest], y_L=y[lab], y_UL=y[rest])
    for ax, name in zip(axes, ("log p(z; ψ_L)", "log p(z; ψ_UL)", "I_Like"), strict=True):
        im = ax.images[0]
        lo, hi = im.get_clim()
        grid = maps.grids[name]
        if name == "I_Like":  # symmetric limits: the colour bar's midpoint (white) is 0
            assert lo == pytest.approx(-hi) and im.get_cmap().name == "RdBu_r"
            assert hi <= np.abs(grid).max() + 1e-9
        else:  # percentile limits, not the raw extremes
            assert lo >= grid.min() and hi <= grid.max()
        assert ax.get_aspect() == 1.0  # the axes are the inputs: equal aspect
    # the unlabelled points are drawn per class, in distinct colours, and named in one legend
    legend = axes[0].figure.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["0", "1", "2", "3"]
    plt.close("all")


def test_metric_map_is_robust_centred_and_coloured_by_class():
    rng = np.random.default_rng(1)
    n = 300
    y = np.arange(n) % 4
    info = {"I_Like": rng.normal(0, 2, n - 20), "I_Ent": rng.random(n - 20)}
    info["I_Like"][0] = 700.0  # one point far out, as in the smoke run of notebook 03
    q = Query(np.array([25, 30]), np.arange(20, n), np.zeros(n - 20), info)
    labeled = np.zeros(n, bool)
    labeled[:20] = True
    rec = round_metrics(q, n, labeled, rng.normal(size=(n, 2)), y, rnd=1)
    ax = plot_metric_on_embedding(rec, "I_Like", class_names=["a", "b", "c", "d"])
    scores = next(c for c in ax.collections if c.get_array() is not None)
    assert scores.norm.vmin == pytest.approx(-scores.norm.vmax)
    assert scores.norm.vmax < 10 and scores.get_cmap().name == "RdBu_r"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[:4] == ["a", "b", "c", "d"] and {"labelled", "picked"} <= set(texts)
    ax = plot_metric_on_embedding(rec, "I_Ent")
    scores = next(c for c in ax.collections if c.get_array() is not None)
    assert scores.norm.vmin >= 0 and scores.get_cmap().name == "viridis"
    plt.close("all")


def test_marks_and_strategy_colours_never_collide():
    mark_colors = {to_hex(LABELED_STYLE["edgecolors"]), to_hex(PICKED_STYLE["c"])}
    assert not mark_colors & {to_hex(c) for c in PALETTE}
    X = np.random.default_rng(0).normal(size=(60, 2))
    scores = X[:, 0].copy()
    scores[5] = 1e5
    ax = plot_score_scatter(
        X, scores, selected_idx=[1, 2], labeled_idx=[3, 4], y_N=np.arange(60) % 3
    )
    labelled = next(c for c in ax.collections if c.get_label() == "labelled")
    picked = next(c for c in ax.collections if c.get_label() == "picked")
    assert to_hex(labelled.get_edgecolor()[0]) == to_hex(picked.get_facecolor()[0]) == "#000000"
    scored = next(c for c in ax.collections if c.get_array() is not None)
    assert scored.norm.vmax < 10  # the 1e5 outlier does not set the scale
    plt.close("all")


def _results(strategies):
    return pd.DataFrame(
        [
            {
                "strategy": s,
                "seed": 0,
                "round": r,
                "n_labeled": 10 * (r + 1),
                "accuracy": 0.5,
                "class_counts": [r + 1, 1 + i],
            }
            for i, s in enumerate(strategies)
            for r in range(3)
        ]
    )


def test_one_colour_per_strategy_across_figures():
    reset_strategy_colors()
    curves = plot_learning_curves(_results(["random", "entropy", "gmm_hybrid"]))
    # another figure of the same notebook sees the strategies in another order and subset
    entropy = plot_class_entropy(_results(["gmm_hybrid", "random"]))
    a = {line.get_label(): to_hex(line.get_color()) for line in curves.get_lines()}
    b = {line.get_label(): to_hex(line.get_color()) for line in entropy.get_lines()}
    assert b == {k: a[k] for k in b}
    assert len(set(a.values())) == 3
    assert strategy_colors(["entropy"])["entropy"] == a["entropy"]
    plt.close("all")


def test_compare_picks_fits_a_notebook_with_class_colours():
    ctx = make_context()
    splits = cached_splits("digits")
    coords = ctx.pool.X.reshape(len(ctx.pool), -1)[:, :2]
    strategies = ["random", "entropy", "margin", "coreset", "kmeans"]
    fig, queries = compare_picks(ctx, coords, strategies, 6, y_N=splits.y_pool)
    fig.canvas.draw()
    assert fig.get_figwidth() <= NOTEBOOK_WIDTH_IN
    axes = data_axes(fig)
    assert len(axes) == len(strategies) + 1  # the class panel first
    rows = {}
    for ax in axes:
        rows.setdefault(round(ax.get_position().y0, 2), []).append(ax)
    assert max(len(r) for r in rows.values()) <= MAX_PANELS_PER_ROW
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == [str(c) for c in range(10)]
    colors = strategy_colors(strategies)
    for ax, s in zip(axes[1:], strategies, strict=True):
        assert ax.get_title() == s and to_hex(ax.title.get_color()) == colors[s]
    assert not small_texts(fig)
    plt.close("all")


def test_class_names_are_wrapped_never_cut():
    assert wrap_label("Ankle boot") == "Ankle\nboot"
    assert wrap_label("T-shirt/top").replace("\n", "") in ("T-shirt/top", "T-shirt/ top")
    assert wrap_label("Bag") == "Bag"
