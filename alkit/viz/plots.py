"""Static plots for one round: confusion matrix, score histogram, 2-D score scatter."""

from __future__ import annotations

import numpy as np

from alkit.errors import check_same_length
from alkit.viz.style import (
    MARK_COLOR,
    MIN_FONT_PT,
    NEUTRAL_LIGHT,
    class_legend,
    color_scale,
    draw_classes,
    draw_marks,
    wrap_label,
)


def plot_confusion(
    confusion_C_C,
    class_names=None,
    ax=None,
    normalize: bool = True,
    title=None,
    colorbar: bool = True,
):
    """Heat map of a ``C × C`` confusion matrix (rows = true class); row-normalised by default.
    ``colorbar=False`` leaves the colour bar to the caller (one for several matrices)."""
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion_C_C, dtype=float)
    if normalize:
        with np.errstate(invalid="ignore", divide="ignore"):
            cm = np.nan_to_num(cm / cm.sum(axis=1, keepdims=True))
    if ax is None:
        _, ax = plt.subplots(figsize=(4.8, 4.2))
    im = ax.imshow(cm, cmap="viridis", vmin=0, vmax=1 if normalize else None)
    names = [str(n) for n in (class_names or range(len(cm)))]
    long_names = len(cm) > 10 or max(len(n) for n in names) > 3
    ax.set_xticks(
        range(len(cm)),
        names,
        rotation=45 if long_names else 0,
        ha="right" if long_names else "center",
        rotation_mode="anchor",
        fontsize=MIN_FONT_PT,
    )
    ax.set_yticks(range(len(cm)), names, fontsize=MIN_FONT_PT)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(
            im, ax=ax, fraction=0.046, label="fraction of true class" if normalize else "count"
        )
    return ax


def score_histogram(scores_M, selected_mask_M=None, bins: int = 30):
    """Counts of the finite scores in ``bins`` equal bins: ``(edges, all_counts, picked_counts)``.

    ``picked_counts`` counts the selected candidates only (zeros without a mask).
    """
    scores = np.asarray(scores_M, dtype=float)
    finite = np.isfinite(scores)
    edges = (
        np.histogram_bin_edges(scores[finite], bins=bins) if finite.any() else np.arange(bins + 1)
    )
    counts, _ = np.histogram(scores[finite], edges)
    picked = np.zeros_like(counts)
    if selected_mask_M is not None:
        check_same_length(scores=scores, selected=selected_mask_M)
        picked, _ = np.histogram(scores[finite & np.asarray(selected_mask_M, bool)], edges)
    return edges, counts, picked


def plot_score_histogram(scores_M, selected_mask_M=None, ax=None, bins: int = 30, title=None):
    """Histogram of acquisition scores with the selected candidates' scores overlaid."""
    import matplotlib.pyplot as plt

    edges, counts, picked = score_histogram(scores_M, selected_mask_M, bins)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 3.4))
    width = np.diff(edges)
    ax.bar(edges[:-1], counts, width, align="edge", color=NEUTRAL_LIGHT, label="candidates")
    if selected_mask_M is not None:
        ax.bar(edges[:-1], picked, width, align="edge", color=MARK_COLOR, label="picked")
    ax.set_xlabel("acquisition score (higher = more wanted)")
    ax.set_ylabel("number of pool samples")
    ax.set_title(title or "acquisition scores")
    ax.legend(frameon=False)
    return ax


def plot_score_scatter(
    X_N_2,
    scores_N,
    selected_idx=(),
    ax=None,
    labeled_idx=(),
    title=None,
    y_N=None,
    class_names=None,
    equal_aspect: bool = False,
    clip_pct: float = 2.0,
):
    """2-D map of the pool coloured by score, with the labelled set (hollow black squares) and
    the picks (black crosses).

    The colour limits are the ``clip_pct`` percentiles (:func:`~alkit.viz.style.color_scale`;
    diverging and centred at 0 for signed scores), so one outlier cannot wash out the rest.
    With ``y_N`` every point also gets a halo in its class colour and a class legend, so class
    boundaries stay visible under the scores. ``equal_aspect`` for maps whose axes are inputs
    (2-D toy data). Returns the Axes.
    """
    import matplotlib.pyplot as plt

    X = np.asarray(X_N_2)
    scores = np.asarray(scores_N, dtype=float)
    check_same_length(X=X, scores=scores)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.4))
    scale = color_scale(scores, clip_pct)
    if y_N is not None:
        draw_classes(ax, X, y_N, class_names, size=40, alpha=0.5, legend=False, zorder=1)
    finite = np.isfinite(scores)
    sc = ax.scatter(
        X[finite, 0],
        X[finite, 1],
        c=scores[finite],
        s=9,
        cmap=scale["cmap"],
        vmin=scale["vmin"],
        vmax=scale["vmax"],
        zorder=2,
    )
    draw_marks(ax, X, labeled_idx, selected_idx)
    ax.figure.colorbar(sc, ax=ax, label="acquisition score", extend=scale["extend"])
    ax.set_xlabel("dimension 1")
    ax.set_ylabel("dimension 2")
    if equal_aspect:
        ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title or "scores on the pool")
    if y_N is not None:
        class_legend(ax, below=True)
    elif len(labeled_idx) or len(selected_idx):
        ax.legend(frameon=False, loc="best")
    return ax


def plot_class_counts(counts, class_names=None, ax=None, colors=None, title=None):
    """Labelled bar chart of class counts: one bar per class, or grouped bars when ``counts`` is
    ``{name: counts_C}`` (a strategy's picks, say; coloured by ``colors[name]``)."""
    import matplotlib.pyplot as plt

    groups = counts if isinstance(counts, dict) else {"": counts}
    groups = {k: np.asarray(v) for k, v in groups.items()}
    n_classes = len(next(iter(groups.values())))
    raw = [str(n) for n in (class_names or range(n_classes))]
    crowded = n_classes > 6 and max(len(n) for n in raw) > 5
    names = raw if crowded else [wrap_label(n) for n in raw]
    if ax is None:
        _, ax = plt.subplots(figsize=(min(11.0, 1.0 + 0.75 * n_classes), 3.2))
    width = 0.8 / len(groups)
    x = np.arange(n_classes)
    for i, (name, c) in enumerate(groups.items()):
        color = (colors or {}).get(name, NEUTRAL_LIGHT if len(groups) == 1 else None)
        bars = ax.bar(x - 0.4 + width * (i + 0.5), c, width, label=name or None, color=color)
        if len(groups) == 1:
            ax.bar_label(bars, fontsize=MIN_FONT_PT)
    ax.set_xticks(
        x,
        names,
        fontsize=MIN_FONT_PT,
        rotation=40 if crowded else 0,
        ha="right" if crowded else "center",
        rotation_mode="anchor",
    )
    ax.set_xlabel("class")
    ax.set_ylabel("images (count)")
    if len(groups) > 1:
        ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title)
    return ax
