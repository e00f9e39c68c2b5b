"""Self-supervised features in pictures: augmented views, feature quality against training
epochs, 2-D maps of features, and which samples each strategy labelled by a given budget (the
callbacks behind notebook 04)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from alkit.errors import AlkitError, check_same_length
from alkit.ssl.augment import Augment


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
    axes[0, 0].set_title("original", fontsize=9)
    for j in range(1, n_views + 1):
        axes[0, j].set_title(f"view {j}", fontsize=9)
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
    ax.legend(fontsize=8)
    return ax


def plot_feature_maps(coords: dict[str, np.ndarray], y_N, class_names=None, fig=None):
    """One scatter per feature set (``name → N × 2`` coordinates), coloured by class."""
    import matplotlib.pyplot as plt

    y = np.asarray(y_N)
    fig = fig or plt.figure(figsize=(4.6 * len(coords), 4.2))
    axes = np.atleast_1d(fig.subplots(1, len(coords)))
    for ax, (name, xy) in zip(axes, coords.items(), strict=True):
        check_same_length(coords=xy, labels=y)
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=y, cmap="tab10", s=4, vmin=0, vmax=9)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = sc.legend_elements()[0]
    names = class_names or [str(c) for c in range(len(handles))]
    fig.legend(handles, names[: len(handles)], loc="center right", fontsize=8)
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
                      fig=None):  # fmt: skip
    """For each strategy, the samples it had labelled by ``budget`` (red) over the pool's 2-D
    map (grey), titled with its test accuracy then: the callback of notebook 04's budget
    slider. Returns ``{strategy: indices}``."""
    import matplotlib.pyplot as plt

    xy = np.asarray(coords_N_2)
    fig = fig or plt.figure(figsize=(4.2 * len(strategies), 3.9))
    axes = np.atleast_1d(fig.subplots(1, len(strategies)))
    out = {}
    for ax, strategy in zip(axes, strategies, strict=True):
        picked, acc, n = labelled_by_budget(rows, strategy, seed, budget)
        ax.scatter(xy[:, 0], xy[:, 1], s=3, color="0.8")
        ax.scatter(xy[picked, 0], xy[picked, 1], s=14, color="C3", edgecolor="k", linewidth=0.3)
        ax.set_title(f"{strategy}\n{n} labels, accuracy {acc:.3f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        out[strategy] = picked
    return out
