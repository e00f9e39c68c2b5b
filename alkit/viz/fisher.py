"""Plots and widget callbacks of the Fisher-kernel notebook (seed 000).

The notebook records a :class:`~alkit.viz.snapshots.FisherSnapshot` per (imbalance, round) with
:func:`~alkit.viz.snapshots.snapshot_recorder` (and reloads them from the run folder with
:func:`~alkit.viz.snapshots.load_snapshots` on a re-run); :func:`fisher_explorer` is the widget
callback that re-runs one PFK selection on a snapshot with the chosen estimator S and
descriptor length L and redraws the heat map, the classes of the picks, the images each centre
pulls in and the confusion matrix.
"""

from __future__ import annotations

import numpy as np

from alkit.errors import AlkitError
from alkit.kernels.fisher import fisher_features, similarity
from alkit.viz.plots import plot_class_counts, plot_confusion
from alkit.viz.snapshots import (
    FisherSnapshot,
    load_snapshots,
    select_on_snapshot,
    snapshot_recorder,
)
from alkit.viz.style import (
    MIN_FONT_PT,
    NEUTRAL_DARK,
    NEUTRAL_LIGHT,
    NOTEBOOK_WIDTH_IN,
    PICKED_STYLE,
    color_scale,
    draw_classes,
    strategy_colors,
    wrap_label,
)

__all__ = [
    "FisherSnapshot",
    "fisher_explorer",
    "load_snapshots",
    "plot_class_histograms",
    "plot_confusions_at_round",
    "plot_descriptors",
    "plot_pfk_heatmap",
    "plot_pulled_images",
    "plot_test_embedding",
    "select_on_snapshot",
    "snapshot_recorder",
]


def plot_class_histograms(y_pool_N, y_val_M, class_names=None, ax=None):
    """Class shares of the (biased) pool next to the (balanced) validation set, log scale."""
    import matplotlib.pyplot as plt

    n_classes = int(max(np.max(y_pool_N), np.max(y_val_M))) + 1
    names = [wrap_label(n) for n in (class_names or range(n_classes))]
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.4))
    x = np.arange(n_classes)
    for shift, (y, label, color) in zip(
        (-0.2, 0.2),
        ((y_pool_N, "unlabelled pool", NEUTRAL_DARK), (y_val_M, "validation set", NEUTRAL_LIGHT)),
        strict=True,
    ):
        counts = np.bincount(np.asarray(y), minlength=n_classes)
        ax.bar(x + shift, counts / counts.sum(), 0.4, label=f"{label} (N={len(y)})", color=color)
    ax.set_yscale("log")
    ax.set_xticks(x, names, fontsize=MIN_FONT_PT)
    ax.set_ylabel("share of samples (log)")
    ax.legend(fontsize=MIN_FONT_PT, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_descriptors(z_N_L, g_N_L, blocks, titles=None, axes=None):
    """Descriptors ``z`` (top) and Fisher scores ``g`` (bottom) of a few samples as heat rows,
    with the scale blocks (taps) separated by black lines; colour limits symmetric about 0 so
    white is 0. Returns the two axes."""
    import matplotlib.pyplot as plt

    z, g = np.asarray(z_N_L), np.asarray(g_N_L)
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(9, 1.6 + 0.5 * len(z)), sharex=True)
    for ax, values, name in zip(axes, (z, g), ("descriptor z", "Fisher score g"), strict=True):
        lim = np.abs(values).max() or 1.0
        im = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
        for edge in np.cumsum(blocks)[:-1]:
            ax.axvline(edge - 0.5, color="black", lw=2)
        ax.set_yticks(range(len(values)), titles or range(len(values)), fontsize=MIN_FONT_PT)
        ax.set_title(f"{name} (standardised per sample and per tap)", fontsize=MIN_FONT_PT + 1)
        ax.figure.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
    axes[-1].set_xlabel("descriptor dimension (taps left to right)")
    return axes


def plot_pfk_heatmap(values_P_Q, row_labels=None, col_labels=None, ax=None, title=None):
    """Heat map of a small kernel block: centres (rows) × pool samples (columns); class names
    in full (rotated), never cut. Colour limits are robust percentiles, symmetric about 0 with a
    diverging map when the block holds both signs."""
    import matplotlib.pyplot as plt

    values = np.asarray(values_P_Q, dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.4))
    scale = color_scale(values)  # robust; diverging about 0 when similarities are signed
    im = ax.imshow(
        values,
        aspect="auto",
        cmap=scale["cmap"] if scale["signed"] else "magma",
        vmin=scale["vmin"],
        vmax=scale["vmax"],
    )
    if row_labels is not None:
        ax.set_yticks(range(len(values)), row_labels, fontsize=MIN_FONT_PT)
    if col_labels is not None and len(col_labels) <= 60:
        ax.set_xticks(range(values.shape[1]), col_labels, fontsize=MIN_FONT_PT, rotation=90)
    ax.set_xlabel("pool samples (each centre's top matches)")
    ax.set_ylabel("validation centre")
    ax.set_title(title or "PFK similarity", fontsize=MIN_FONT_PT + 1)
    ax.figure.colorbar(im, ax=ax, fraction=0.03, label="R_zg", extend=scale["extend"])
    return ax


def plot_pulled_images(X_centres, X_matches, centre_titles=None, match_titles=None, fig=None):
    """Each row: a validation centre (left, framed) and the pool images it pulls in, captioned
    with full class names (wrapped onto two lines, never cut).

    ``X_centres``: ``P × C × H × W``; ``X_matches``: ``P × k × C × H × W``.
    """
    import matplotlib.pyplot as plt

    p, k = X_matches.shape[:2]
    if fig is None:
        fig = plt.figure(figsize=(min(NOTEBOOK_WIDTH_IN, 1.15 * (k + 1)), 1.45 * p))
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
            ax.set_title(wrap_label(title, 10), fontsize=MIN_FONT_PT)
            if c == 0:
                for spine in ax.spines.values():
                    spine.set_color(PICKED_STYLE["c"])
                    spine.set_linewidth(2.5)
    return fig


def fisher_explorer(
    snapshots: dict,
    estimator: str = "phat",
    length: int = 80,
    imbalance=100,
    round: int = 1,
    n_centres: int = 6,
    n_matches: int = 8,
    rare_classes=None,
    fig=None,
):
    """Widget callback: one PFK selection on snapshot ``(imbalance, round)`` with estimator S
    and descriptor length L; draws the kernel heat map (centres × their top matches), the
    classes of the picks (a labelled bar chart, rare classes dark), the images each centre
    pulls in, and the confusion matrix of that round. Returns the Figure and a summary dict:
    ``rare_share_of_pick`` (share of the picks in the experiment's rare classes, from the
    snapshot's config unless ``rare_classes`` is given; None without rare classes),
    ``pseudo_label_accuracy``, ``n_misclassified_validation`` and ``picked_class_counts``.
    ``fig``: a Figure to draw into (a new pyplot figure by default)."""
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

    names = [str(n) for n in splits.class_names]
    rare = tuple(snap.rare_classes if rare_classes is None else rare_classes)
    picked_y = splits.y_pool[query.indices]
    counts = np.bincount(picked_y, minlength=len(names))

    if fig is None:
        fig = plt.figure(figsize=(NOTEBOOK_WIDTH_IN, 7.6 + 1.45 * p), layout="constrained")
    top, middle, bottom = fig.subfigures(3, 1, height_ratios=[3.6, 3.4, 1.45 * p + 0.3])
    ax_heat = top.subplots()
    plot_pfk_heatmap(
        block,
        [names[splits.y_val[c]] for c in centres],
        [names[splits.y_pool[c]] for c in cols],
        ax=ax_heat,
        title=f"R_zg between {p} misclassified validation centres and their top matches "
        f"(S={estimator}, L={length}, round {round})",
    )
    ax_picks, ax_conf = middle.subplots(1, 2, width_ratios=[1.2, 1])
    plot_class_counts(counts, names, ax=ax_picks, title=f"classes of the {len(picked_y)} picks")
    for c, bar in enumerate(ax_picks.patches):
        bar.set_color(NEUTRAL_DARK if c in rare else NEUTRAL_LIGHT)
    if rare:
        ax_picks.set_title(
            f"classes of the {len(picked_y)} picks (dark: rare classes)", fontsize=MIN_FONT_PT + 1
        )
    plot_confusion(snap.row["confusion"], names, ax=ax_conf, title=f"confusion, round {round}")
    y_true = splits.y_pool[matches]
    plot_pulled_images(
        splits.X_val[centres],
        splits.X_pool[matches],
        [f"centre: {names[splits.y_val[c]]}" for c in centres],
        [[names[y] for y in row] for row in y_true],
        fig=bottom,
    )
    summary = {
        "rare_share_of_pick": float(np.isin(picked_y, rare).mean()) if rare else None,
        "pseudo_label_accuracy": None
        if pl is None
        else float((pl == splits.y_pool[info["scored"]]).mean()),
        "n_misclassified_validation": info["n_misclassified"],
        "picked_class_counts": counts.tolist(),
    }
    return fig, summary


def plot_confusions_at_round(results, round: int, strategies, class_names=None, axes=None):
    """Side-by-side confusion matrices of several strategies at one round (Fig. 6, top),
    each the sum over seeds, row-normalised, with one shared colour bar (0 … 1); titles (the
    strategy, then the round) in the strategies' colours. With ``axes=None`` the figure is as
    wide as a notebook (constrained layout)."""
    import matplotlib.pyplot as plt

    if axes is None:
        n = len(strategies)
        _, axes = plt.subplots(
            1, n, figsize=(min(NOTEBOOK_WIDTH_IN, 3.9 * n + 1.0), 4.4), layout="constrained"
        )
    axes = np.atleast_1d(axes)
    colors = strategy_colors(strategies)
    for ax, spec in zip(axes, strategies, strict=True):
        rows = results[(results["strategy"] == spec) & (results["round"] == round)]
        if rows.empty:
            raise AlkitError(f"no results for strategy {spec!r} at round {round}")
        total = np.sum([np.asarray(c) for c in rows["confusion"]], axis=0)
        plot_confusion(total, class_names, ax=ax, title=f"{spec}\nround {round}", colorbar=False)
        ax.title.set_color(colors[spec])
        ax.title.set_fontweight("bold")
    for ax in axes[1:]:  # the rows are the same classes: one set of row labels
        ax.set_ylabel("")
        ax.tick_params(labelleft=False)
    axes[0].figure.colorbar(
        axes[0].images[0], ax=list(axes), fraction=0.03, label="fraction of true class"
    )
    return axes


def plot_test_embedding(
    model, X_N, y_N, method="umap", ax=None, title=None, seed=0, class_names=None
):
    """2-D map of the model's penultimate features on test images: every image a dot in its
    true class's colour (legend), errors ringed in black (Fig. 6, bottom)."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from alkit.train import Learner
    from alkit.viz.embedding import project_2d

    learner = Learner(model, device="cpu")
    xy = project_2d(learner.embed(X_N), method=method, seed=seed)
    y = np.asarray(y_N)
    wrong = learner.predict(X_N) != y
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 5.4))
    names = list(class_names) if class_names is not None else None
    draw_classes(ax, xy, y, names, size=10, legend=False)
    ax.scatter(*xy[wrong].T, s=34, facecolors="none", edgecolors="black", lw=0.7, zorder=3)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec="black", ms=6))
    labels.append("misclassified")
    leg = ax.legend(
        handles,
        labels,
        title="true class",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        fontsize=MIN_FONT_PT,
        title_fontsize=MIN_FONT_PT,
        markerscale=1.6,
    )
    for h in leg.legend_handles:
        h.set_alpha(1.0)
    ax.set_xlabel(f"{method} dimension 1 (a.u.)")
    ax.set_ylabel(f"{method} dimension 2 (a.u.)")
    ax.set_title(title or f"test set ({method} of the model's features), {wrong.mean():.0%} wrong")
    return ax
