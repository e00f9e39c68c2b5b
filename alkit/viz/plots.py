"""Static plots for one round: confusion matrix, score histogram, 2-D score scatter."""

from __future__ import annotations

import numpy as np

from alkit.errors import check_same_length


def plot_confusion(confusion_C_C, class_names=None, ax=None, normalize: bool = True, title=None):
    """Heat map of a ``C × C`` confusion matrix (rows = true class); row-normalised by default."""
    import matplotlib.pyplot as plt

    cm = np.asarray(confusion_C_C, dtype=float)
    if normalize:
        with np.errstate(invalid="ignore", divide="ignore"):
            cm = np.nan_to_num(cm / cm.sum(axis=1, keepdims=True))
    if ax is None:
        _, ax = plt.subplots(figsize=(4.8, 4.2))
    im = ax.imshow(cm, cmap="viridis", vmin=0, vmax=1 if normalize else None)
    names = class_names or [str(i) for i in range(len(cm))]
    long_names = len(cm) > 10 or max(len(str(n)) for n in names) > 3
    ax.set_xticks(
        range(len(cm)),
        names,
        rotation=45 if long_names else 0,
        ha="right" if long_names else "center",
        fontsize=7,
    )
    ax.set_yticks(range(len(cm)), names, fontsize=7)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
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
    ax.bar(edges[:-1], counts, width, align="edge", color="#56B4E9", label="candidates")
    if selected_mask_M is not None:
        ax.bar(edges[:-1], picked, width, align="edge", color="#D55E00", label="selected")
    ax.set_xlabel("acquisition score (higher = more wanted)")
    ax.set_ylabel("number of pool samples")
    ax.set_title(title or "acquisition scores")
    ax.legend(frameon=False)
    return ax


def plot_score_scatter(X_N_2, scores_N, selected_idx=(), ax=None, labeled_idx=(), title=None):
    """2-D scatter coloured by score, labelled points as grey squares, picks as red crosses."""
    import matplotlib.pyplot as plt

    X = np.asarray(X_N_2)
    check_same_length(X=X, scores=scores_N)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.4))
    sc = ax.scatter(X[:, 0], X[:, 1], c=scores_N, s=8, cmap="viridis")
    if len(labeled_idx):
        ax.scatter(*X[np.asarray(labeled_idx)].T, marker="s", s=18, c="#999999", label="labelled")
    if len(selected_idx):
        ax.scatter(*X[np.asarray(selected_idx)].T, marker="x", s=50, c="#D55E00", label="selected")
    ax.figure.colorbar(sc, ax=ax, label="acquisition score")
    ax.set_xlabel("dimension 1")
    ax.set_ylabel("dimension 2")
    ax.set_title(title or "scores on the pool")
    if len(labeled_idx) or len(selected_idx):
        ax.legend(frameon=False, loc="best")
    return ax
