"""Self-supervised features in pictures: augmented views, feature quality against training
epochs, 2-D maps of features, and which samples each strategy labelled by a given budget (the
callbacks behind notebook 04)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from alkit.errors import AlkitError, check_same_length
from alkit.ssl.augment import Augment
from alkit.viz.style import (
    LABELED_STYLE,
    MAX_PANELS_PER_ROW,
    MIN_FONT_PT,
    NEUTRAL_LIGHT,
    NOTEBOOK_WIDTH_IN,
    draw_classes,
    figure_class_legend,
    strategy_colors,
)


def augmented_views(X_B, augment: Augment, n_views: int = 4, seed: int = 0) -> np.ndarray:
    """``n_views`` random views of each image: ``B × C × H × W`` → ``B × n_views × C × H × W``
    (one generator seeded by ``seed``, so a redraw with the same seed shows the same views)."""
    x = torch.as_tensor(np.asarray(X_B, dtype=np.float32))
    gen = torch.Generator().manual_seed(int(seed))
    return torch.stack([augment(x, gen) for _ in range(n_views)], 1).numpy()


def plot_views(X_B, augment: Augment, n_views: int = 4, seed: int = 0, fig=None):
    """A grid: each row an original image (left) and ``n_views`` augmented views of it."""
    import matplotlib.pyplot as plt

    views = augmented_views(X_B, augment, n_views, seed)
    B = len(views)
    fig = fig or plt.figure(figsize=(1.3 * (n_views + 1), 1.3 * B))
    axes = fig.subplots(B, n_views + 1, squeeze=False)
    for i in range(B):
        for j, img in enumerate([np.asarray(X_B)[i], *views[i]]):
            axes[i, j].imshow(img[0], cmap="gray", vmin=0, vmax=1)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(f"#{i}")
    axes[0, 0].set_title("original", fontsize=MIN_FONT_PT)
    for j in range(1, n_views + 1):
        axes[0, j].set_title(f"view {j}", fontsize=MIN_FONT_PT)
    return fig


def plot_quality_curve(table: pd.DataFrame, baselines: dict | None = None, ax=None):
    """kNN and linear-probe accuracy against training epochs (``table`` with columns
    ``epochs``, ``knn_accuracy``, ``linear_probe_accuracy``); ``baselines`` draws a dashed
    line per name (e.g. raw pixels, PCA)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.figure(figsize=(5.5, 3.6)).gca()
    ax.plot(table["epochs"], table["knn_accuracy"], "o-", label="kNN (k=20)")
    if table["linear_probe_accuracy"].notna().any():
        ax.plot(table["epochs"], table["linear_probe_accuracy"], "s-", label="linear probe")
    for i, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, ls="--", color=f"C{i + 2}", label=name)
    ax.set_xlabel("training epochs")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=MIN_FONT_PT, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_feature_maps(coords: dict[str, np.ndarray], y_N, class_names=None, fig=None):
    """One scatter per feature set (``name → N × 2`` coordinates, at most four per row), each
    point in its class colour (:func:`~alkit.viz.style.class_colors`), one class legend under
    the panels."""
    import matplotlib.pyplot as plt

    y = np.asarray(y_N)
    ncols = min(len(coords), MAX_PANELS_PER_ROW)
    nrows = -(-len(coords) // ncols)
    width = min(NOTEBOOK_WIDTH_IN, 4.6 * ncols)
    fig = fig or plt.figure(figsize=(width, 0.9 * width / ncols * nrows + 0.8))
    fig.set_layout_engine("constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    names = list(class_names) if class_names is not None else None
    for ax, (name, xy) in zip(axes, coords.items(), strict=False):
        check_same_length(coords=xy, labels=y)
        draw_classes(ax, xy, y, names, size=6, alpha=0.8, legend=False)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(coords) :]:
        ax.set_visible(False)
    figure_class_legend(fig, axes[0])
    return fig


def labelled_by_budget(rows: pd.DataFrame, strategy: str, seed: int, budget: int):
    """The pool indices a run had labelled at its last round with ``n_labeled ≤ budget``, and
    that round's accuracy: ``(indices, accuracy, n_labeled)`` (sorted indices)."""
    run = rows[(rows["strategy"] == strategy) & (rows["seed"] == seed)].sort_values("round")
    run = run[run["n_labeled"] <= budget]
    if run.empty:
        raise AlkitError(f"{strategy} seed {seed} has no round with at most {budget} labels")
    picked = np.unique(np.concatenate([np.asarray(s, dtype=np.int64) for s in run["selected"]]))
    last = run.iloc[-1]
    return picked, float(last["accuracy"]), int(last["n_labeled"])


def draw_budget_picks(coords_N_2, rows: pd.DataFrame, strategies, budget: int, seed: int = 0,
                      fig=None, y_N=None, class_names=None):  # fmt: skip
    """For each strategy (at most four panels per row), the samples it had labelled by
    ``budget`` (hollow black squares, the mark of the labelled set in every alkit figure) over
    the pool's 2-D map (points in their class colour when ``y_N`` gives the pool's labels, with
    one class legend; light grey otherwise), titled in the strategy's colour with its test
    accuracy then: the callback of notebook 04's budget slider. Returns
    ``{strategy: indices}``."""
    import matplotlib.pyplot as plt

    xy = np.asarray(coords_N_2)
    strategies = list(strategies)
    ncols = min(len(strategies), MAX_PANELS_PER_ROW)
    nrows = -(-len(strategies) // ncols)
    width = min(NOTEBOOK_WIDTH_IN, 4.2 * ncols)
    fig = fig or plt.figure(figsize=(width, 0.95 * width / ncols * nrows + 0.9))
    fig.set_layout_engine("constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    colors = strategy_colors(strategies)
    names = list(class_names) if class_names is not None else None
    out = {}
    for ax, strategy in zip(axes, strategies, strict=False):
        picked, acc, n = labelled_by_budget(rows, strategy, seed, budget)
        if y_N is None:
            ax.scatter(xy[:, 0], xy[:, 1], s=3, color=NEUTRAL_LIGHT)
        else:
            check_same_length(coords=xy, labels=y_N)
            draw_classes(ax, xy, np.asarray(y_N), names, size=7, alpha=0.6, legend=False)
        ax.scatter(xy[picked, 0], xy[picked, 1], label="labelled", zorder=3, **LABELED_STYLE)
        ax.set_title(f"{strategy}\n{n} labels, accuracy {acc:.3f}", color=colors[strategy],
                     fontweight="bold", fontsize=MIN_FONT_PT + 1)  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
        out[strategy] = picked
    for ax in axes[len(strategies) :]:
        ax.set_visible(False)
    if y_N is not None:
        figure_class_legend(fig, axes[0], title="class (hollow squares: labelled)")
    return out
