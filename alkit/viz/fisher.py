"""Plots and widget callbacks of the Fisher-kernel notebook (seed 000).

The notebook records a :class:`FisherSnapshot` per (imbalance, round) with
:func:`snapshot_recorder`; :func:`fisher_explorer` is the widget callback that re-runs one PFK
selection on a snapshot with the chosen estimator S and descriptor length L and redraws the
heat map, the images each centre pulls in and the confusion matrix.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from alkit.errors import AlkitError
from alkit.kernels.fisher import fisher_features, similarity
from alkit.strategies import QueryContext, get_strategy
from alkit.viz.curves import PALETTE
from alkit.viz.plots import plot_confusion


def plot_class_histograms(y_pool_N, y_val_M, class_names=None, ax=None):
    """Class shares of the (biased) pool next to the (balanced) validation set, log scale."""
    import matplotlib.pyplot as plt

    n_classes = int(max(np.max(y_pool_N), np.max(y_val_M))) + 1
    names = list(class_names or range(n_classes))
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.2))
    x = np.arange(n_classes)
    for shift, (y, label, color) in zip(
        (-0.2, 0.2),
        ((y_pool_N, "unlabelled pool", PALETTE[0]), (y_val_M, "validation set", PALETTE[1])),
        strict=True,
    ):
        counts = np.bincount(np.asarray(y), minlength=n_classes)
        ax.bar(x + shift, counts / counts.sum(), 0.4, label=f"{label} (N={len(y)})", color=color)
    ax.set_yscale("log")
    ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("share of samples")
    ax.legend(fontsize=8)
    return ax


def plot_descriptors(z_N_L, g_N_L, blocks, titles=None, axes=None):
    """Descriptors ``z`` (top) and Fisher scores ``g`` (bottom) of a few samples as heat rows,
    with the scale blocks (taps) separated by white lines. Returns the two axes."""
    import matplotlib.pyplot as plt

    z, g = np.asarray(z_N_L), np.asarray(g_N_L)
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(8, 1.2 + 0.35 * len(z)), sharex=True)
    for ax, values, name in zip(axes, (z, g), ("descriptor z", "Fisher score g"), strict=True):
        lim = np.abs(values).max() or 1.0
        ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
        for edge in np.cumsum(blocks)[:-1]:
            ax.axvline(edge - 0.5, color="white", lw=2)
        ax.set_yticks(range(len(values)), titles or range(len(values)), fontsize=7)
        ax.set_title(f"{name} (standardised per sample and per tap)", fontsize=9)
    axes[-1].set_xlabel("descriptor dimension (taps left to right)")
    return axes


def plot_pfk_heatmap(values_P_Q, row_labels=None, col_labels=None, ax=None, title=None):
    """Heat map of a small kernel block: centres (rows) × pool samples (columns)."""
    import matplotlib.pyplot as plt

    values = np.asarray(values_P_Q, dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    im = ax.imshow(values, aspect="auto", cmap="magma")
    if row_labels is not None:
        ax.set_yticks(range(len(values)), row_labels, fontsize=7)
    if col_labels is not None and len(col_labels) <= 60:
        ax.set_xticks(range(values.shape[1]), col_labels, fontsize=6, rotation=90)
    ax.set_xlabel("pool samples (each centre's top matches)")
    ax.set_ylabel("validation centre")
    ax.set_title(title or "PFK similarity")
    ax.figure.colorbar(im, ax=ax, fraction=0.03)
    return ax


def plot_pulled_images(X_centres, X_matches, centre_titles=None, match_titles=None, fig=None):
    """Each row: a validation centre (left, framed) and the pool images it pulls in.

    ``X_centres``: ``P × C × H × W``; ``X_matches``: ``P × k × C × H × W``.
    """
    import matplotlib.pyplot as plt

    p, k = X_matches.shape[:2]
    if fig is None:
        fig = plt.figure(figsize=(1.1 * (k + 1), 1.15 * p))
    axes = fig.subplots(p, k + 1, squeeze=False)
    for r in range(p):
        for c in range(k + 1):
            ax = axes[r, c]
            img = X_centres[r] if c == 0 else X_matches[r, c - 1]
            ax.imshow(np.asarray(img)[0], cmap="gray")
            ax.set_xticks([])
            ax.set_yticks([])
            title = (centre_titles or [""] * p)[r] if c == 0 else ""
            if c > 0 and match_titles is not None:
                title = match_titles[r][c - 1]
            ax.set_title(title, fontsize=6)
            if c == 0:
                for spine in ax.spines.values():
                    spine.set_color(PALETTE[3])
                    spine.set_linewidth(2)
    return fig


@dataclass
class FisherSnapshot:
    """The state after one round: the model, the labelled indices, the splits and the row."""

    round: int
    model: torch.nn.Module
    labeled_idx: np.ndarray
    splits: object
    row: dict


def snapshot_recorder(store: dict, key=None, strategy: str | None = None):
    """An ``on_round`` callback for :func:`~alkit.loop.run_experiment` that keeps a
    :class:`FisherSnapshot` per round in ``store[(key, round)]`` (only rows of ``strategy`` when
    given; the first seed only)."""

    def on_round(state):
        if strategy is not None and state.strategy != strategy:
            return
        if (key, state.round) in store:
            return
        store[(key, state.round)] = FisherSnapshot(
            state.round,
            copy.deepcopy(state.learner.model).eval(),
            state.pool.labeled_idx.copy(),
            state.splits,
            state.row,
        )

    return on_round


def select_on_snapshot(snapshot: FisherSnapshot, estimator="phat", length=80, n=None, seed=0):
    """Re-run one PFK selection (Alg. 1) on a snapshot; returns ``(query, ctx)``."""
    from alkit.data import Pool
    from alkit.train import Learner

    splits = snapshot.splits
    pool = Pool(splits.X_pool, splits.y_pool, labeled_idx=snapshot.labeled_idx)
    learner = Learner(snapshot.model, device="cpu")
    ctx = QueryContext(pool, learner, np.random.default_rng(seed), splits.X_val, splits.y_val)
    n = n or max(1, int(snapshot.row.get("n_queried") or 10))
    spec = f"pfk:estimator={estimator}:length={length}"
    return get_strategy(spec).query(ctx, min(n, len(pool.unlabeled_idx))), ctx


def fisher_explorer(
    snapshots: dict,
    estimator: str = "phat",
    length: int = 80,
    imbalance=100,
    round: int = 1,
    n_centres: int = 6,
    n_matches: int = 8,
):
    """Widget callback: one PFK selection on snapshot ``(imbalance, round)`` with estimator S
    and descriptor length L; draws the kernel heat map (centres × their top matches), the
    images each centre pulls in, and the confusion matrix of that round. Returns the Figure and
    a summary dict (rare-class share of the pick, pseudo-label accuracy)."""
    import matplotlib.pyplot as plt

    if (imbalance, round) not in snapshots:
        have = sorted(snapshots)
        raise AlkitError(f"no snapshot for imbalance={imbalance}, round={round}; have {have}")
    snap = snapshots[(imbalance, round)]
    query, ctx = select_on_snapshot(snap, estimator, length)
    info, splits = query.info, snap.splits
    p = min(n_centres, len(info["centres"]))
    centres = info["centres"][:p]
    matches = info["match_indices"][:p, :n_matches]
    cols = matches.reshape(-1)
    taps = info["taps"]
    model = snap.model
    val = fisher_features(model, splits.X_val[centres], taps, splits.y_val[centres])
    pl = info["pseudo_labels"]
    col_labels = None
    if pl is not None:
        pos = np.searchsorted(info["scored"], cols)
        col_labels = pl[pos]
    pool_f = fisher_features(
        model, splits.X_pool[cols], taps, col_labels if col_labels is not None else "yhat"
    )
    block = similarity(val.z_N_L, pool_f.z_N_L, val.g_N_L, pool_f.g_N_L, info["kernel"]).numpy()

    fig = plt.figure(figsize=(13, 4 + 1.1 * p))
    top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.1 * p / 3 + 0.6])
    ax_heat, ax_conf = top.subplots(1, 2, width_ratios=[2.2, 1])
    names = splits.class_names
    plot_pfk_heatmap(
        block,
        [f"{names[splits.y_val[c]]}" for c in centres],
        [names[splits.y_pool[c]][:6] for c in cols],
        ax=ax_heat,
        title=f"R_zg between {p} misclassified validation centres and their top matches "
        f"(S={estimator}, L={length})",
    )
    plot_confusion(snap.row["confusion"], list(names), ax=ax_conf, title=f"round {round}")
    y_true = splits.y_pool[matches]
    plot_pulled_images(
        splits.X_val[centres],
        splits.X_pool[matches],
        [f"centre: {names[splits.y_val[c]][:8]}" for c in centres],
        [[names[y][:8] for y in row] for row in y_true],
        fig=bottom,
    )
    picked_y = splits.y_pool[query.indices]
    rare = np.unique(splits.y_pool)[-5:]
    summary = {
        "rare_share_of_pick": float(np.isin(picked_y, rare).mean()),
        "pseudo_label_accuracy": None
        if pl is None
        else float((pl == splits.y_pool[info["scored"]]).mean()),
        "n_misclassified_validation": info["n_misclassified"],
    }
    return fig, summary


def plot_confusions_at_round(results, round: int, strategies, class_names=None, axes=None):
    """Side-by-side confusion matrices of several strategies at one round (Fig. 6, top),
    each the sum over seeds, row-normalised."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, len(strategies), figsize=(4.6 * len(strategies), 4))
    axes = np.atleast_1d(axes)
    for ax, spec in zip(axes, strategies, strict=True):
        rows = results[(results["strategy"] == spec) & (results["round"] == round)]
        if rows.empty:
            raise AlkitError(f"no results for strategy {spec!r} at round {round}")
        total = np.sum([np.asarray(c) for c in rows["confusion"]], axis=0)
        plot_confusion(total, class_names, ax=ax, title=f"{spec}, round {round}")
    return axes


def plot_test_embedding(model, X_N, y_N, method="umap", ax=None, title=None, seed=0):
    """2-D map of the model's penultimate features on test images, correct predictions as
    dots, errors as larger circles, coloured by true class (Fig. 6, bottom)."""
    import matplotlib.pyplot as plt

    from alkit.train import Learner
    from alkit.viz.embedding import project_2d

    learner = Learner(model, device="cpu")
    xy = project_2d(learner.embed(X_N), method=method, seed=seed)
    wrong = learner.predict(X_N) != np.asarray(y_N)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    cmap = plt.get_cmap("tab10")
    ax.scatter(*xy[~wrong].T, s=3, c=cmap(np.asarray(y_N)[~wrong] % 10), label="correct")
    ax.scatter(
        *xy[wrong].T,
        s=22,
        facecolors="none",
        edgecolors=cmap(np.asarray(y_N)[wrong] % 10),
        label="incorrect",
    )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"test set ({method}), {wrong.mean():.0%} wrong", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return ax
