"""Seed 003 pictures: GMM likelihood maps (Fig. 6), metrics on the embedding (Fig. 8) and the
labelled-set class entropy per cycle (Fig. 11b). Notebook widgets call these functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from alkit import metrics
from alkit.gmm_training import fit_psi
from alkit.kernels.gmm import GMMParams, log_likelihood
from alkit.strategies.gmm import rank_sum
from alkit.viz.style import (
    MIN_FONT_PT,
    NOTEBOOK_WIDTH_IN,
    class_colors,
    class_legend,
    color_scale,
    draw_classes,
    draw_marks,
    figure_class_legend,
    strategy_colors,
)

MAP_NAMES = ("log p(z; ψ_L)", "log p(z; ψ_UL)", "I_Like")


@dataclass
class LikelihoodMaps:
    """Grids of ``log p(z;ψ_L)``, ``log p(z;ψ_UL)`` and I_Like over a 2-D box.

    ``grids[name]`` is ``R × R`` (rows = y); ``extent`` = (x0, x1, y0, y1) for ``imshow``.
    """

    grids: dict[str, np.ndarray]
    extent: tuple[float, float, float, float]
    psi_L: GMMParams
    psi_UL: GMMParams


def likelihood_grids(
    psi_L: GMMParams, psi_UL: GMMParams, extent, resolution: int = 120
) -> dict[str, np.ndarray]:
    """Evaluate the two mixtures and I_Like (eq. 4) on a ``resolution²`` grid over ``extent``."""
    x0, x1, y0, y1 = extent
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    pts = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
    ll_L = log_likelihood(pts, psi_L).double().numpy()
    ll_UL = log_likelihood(pts, psi_UL).double().numpy()
    shape = (resolution, resolution)
    return {
        MAP_NAMES[0]: ll_L.reshape(shape),
        MAP_NAMES[1]: ll_UL.reshape(shape),
        MAP_NAMES[2]: (ll_UL - ll_L).reshape(shape),
    }


def toy_likelihood_maps(
    z_L_N_2, y_L_N, z_UL_M_2, n_classes: int, em_iters: int = 10, resolution: int = 120
) -> LikelihoodMaps:
    """Fit ψ_L (closed form) and ψ_UL (``em_iters`` EM steps) on 2-D points and grid them.

    The widget callback of notebooks/03_gmm.ipynb's EM-iterations slider.
    """
    z_L = np.asarray(z_L_N_2, np.float32)
    z_UL = np.asarray(z_UL_M_2, np.float32)
    both = np.concatenate([z_L, z_UL])
    pad = 0.1 * (both.max(0) - both.min(0))
    lo, hi = both.min(0) - pad, both.max(0) + pad
    extent = (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
    psi_L, psi_UL = fit_psi(
        torch.as_tensor(z_L),
        torch.as_tensor(np.asarray(y_L_N)),
        torch.as_tensor(z_UL),
        n_classes,
        em_iters,
    )
    return LikelihoodMaps(
        likelihood_grids(psi_L, psi_UL, extent, resolution), extent, psi_L, psi_UL
    )


def plot_likelihood_maps(
    maps: LikelihoodMaps,
    z_L=None,
    z_UL=None,
    axes=None,
    clip_pct: float = 2.0,
    y_L=None,
    y_UL=None,
    class_names=None,
):
    """Three heat maps side by side (Fig. 6 on a 2-D plane), equal aspect (the axes are the
    inputs). Colour limits are the ``clip_pct`` percentiles; I_Like gets symmetric limits and a
    diverging map, so white is exactly 0 (red = positive). Points: coloured by class when
    ``y_L``/``y_UL`` are given (class legend), labelled ones as squares with a black edge,
    unlabelled as small dots."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(NOTEBOOK_WIDTH_IN, 3.6), layout="constrained")
    n_classes = None
    if y_L is not None or y_UL is not None:
        n_classes = int(max(np.max(y) for y in (y_L, y_UL) if y is not None)) + 1
    for ax, name in zip(axes, MAP_NAMES, strict=True):
        grid = maps.grids[name]
        signed = name == MAP_NAMES[2]
        scale = color_scale(grid, clip_pct, signed=signed)
        im = ax.imshow(
            grid,
            origin="lower",
            extent=maps.extent,
            cmap=scale["cmap"] if signed else "inferno",
            vmin=scale["vmin"],
            vmax=scale["vmax"],
            aspect="equal",
        )
        if z_UL is not None:
            if y_UL is not None:
                draw_classes(
                    ax, z_UL, y_UL, class_names, size=7, alpha=0.9, legend=False, edgecolor="white"
                )
            else:
                ax.scatter(*np.asarray(z_UL).T, s=3, c="k", alpha=0.4)
        if z_L is not None:
            z_L = np.asarray(z_L)
            if y_L is not None:
                palette = class_colors(n_classes)
                colors = [palette[int(c)] for c in np.asarray(y_L)]
            else:
                colors = "w"
            ax.scatter(*z_L.T, s=30, marker="s", c=colors, edgecolors="k", lw=1.0, zorder=3)
        ax.set_title(name)
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
        ax.figure.colorbar(im, ax=ax, fraction=0.046, extend=scale["extend"])
    if z_UL is not None and y_UL is not None:
        figure_class_legend(axes[0].figure, axes[0], ncols=n_classes)
    return axes


@dataclass
class RoundMetrics:
    """One AL cycle seen through seed 003's eyes, for the embedding plots.

    ``coords_N_2``: 2-D map of the pool's embeddings; ``labeled_N``: labelled mask before the
    query; ``values``: per-pool-row metric arrays (NaN where not scored), including
    ``I_Total``; ``picked``: the queried pool indices; ``y_N``: true labels (for colouring only).
    """

    round: int
    coords_N_2: np.ndarray
    labeled_N: np.ndarray
    values: dict[str, np.ndarray]
    picked: np.ndarray
    y_N: np.ndarray


def round_metrics(query, pool_size: int, labeled_mask, coords_N_2, y_N, rnd: int) -> RoundMetrics:
    """Collect a gmm_hybrid :class:`~alkit.strategies.Query`'s metrics onto pool rows.

    ``I_Total`` is recomputed as the rank-sum (eq. 5) of the metrics in ``query.info``.
    """
    values = {}
    for name, v in query.info.items():
        full = np.full(pool_size, np.nan)
        full[query.candidates] = v
        values[name] = full
    scored = np.isfinite(next(iter(values.values())))
    total = np.full(pool_size, np.nan)
    total[scored] = rank_sum({k: v[scored] for k, v in values.items()})
    values["I_Total"] = total
    return RoundMetrics(
        rnd,
        coords_N_2,
        np.asarray(labeled_mask).copy(),
        values,
        np.asarray(query.indices),
        np.asarray(y_N),
    )


def plot_metric_on_embedding(
    record: RoundMetrics,
    metric: str,
    ax=None,
    max_points: int = 4000,
    class_names=None,
    clip_pct: float = 2.0,
    legend: bool = True,
):
    """Scatter of the unlabelled pool coloured by ``metric`` (Fig. 8) over a halo in each
    point's class colour (class legend), labelled points as hollow black squares and the picks
    as black crosses. Colour limits are the ``clip_pct`` percentiles; signed metrics (I_Like)
    get a diverging map centred at 0 (white = 0). ``legend``: a class legend under the axes
    (leave it off in a grid and call :func:`~alkit.viz.style.figure_class_legend`)."""
    import matplotlib.pyplot as plt

    if metric not in record.values:
        raise KeyError(f"metric {metric!r} not in this round; choose from {sorted(record.values)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.6))
    v = record.values[metric]
    rows = np.flatnonzero(np.isfinite(v))
    if len(rows) > max_points:
        rows = np.sort(np.random.default_rng(0).choice(rows, max_points, replace=False))
    scale = color_scale(v[rows], clip_pct, signed=True if metric == MAP_NAMES[2] else None)
    xy = record.coords_N_2
    draw_classes(ax, xy[rows], record.y_N[rows], class_names, size=30, alpha=0.45, legend=False)
    sc = ax.scatter(
        *xy[rows].T,
        c=v[rows],
        s=6,
        cmap=scale["cmap"],
        vmin=scale["vmin"],
        vmax=scale["vmax"],
        zorder=2,
    )
    draw_marks(ax, xy, np.flatnonzero(record.labeled_N), record.picked)
    ax.set_title(f"cycle {record.round}: {metric}")
    ax.set_xlabel("map dimension 1 (a.u.)")
    ax.set_ylabel("map dimension 2 (a.u.)")
    ax.figure.colorbar(sc, ax=ax, fraction=0.046, extend=scale["extend"])
    if legend:
        class_legend(ax, below=True)
    return ax


def class_entropy_table(results: pd.DataFrame) -> pd.DataFrame:
    """Labelled-set class entropy (nats, Fig. 11b) per row of a results table, then mean/std
    per (strategy, round): columns ``strategy, round, n_labeled, mean, std, n_seeds``."""
    df = results.copy()
    df["class_entropy"] = [
        metrics.class_entropy(np.repeat(np.arange(len(c)), c), len(c)) for c in df["class_counts"]
    ]
    g = df.groupby(["strategy", "round"])
    out = g.agg(
        n_labeled=("n_labeled", "mean"),
        mean=("class_entropy", "mean"),
        std=("class_entropy", "std"),
        n_seeds=("seed", "nunique"),
    ).reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def plot_class_entropy(results: pd.DataFrame, ax=None, title="labelled-set class entropy"):
    """Class entropy of the labelled set per cycle, one line per strategy (mean ± std), each
    in the strategy's session colour (the same as in :func:`~alkit.viz.plot_learning_curves`)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    table = class_entropy_table(results)
    colors = strategy_colors(results["strategy"])
    for name in colors:
        part = table[table["strategy"] == name]
        c = colors[name]
        ax.plot(part["n_labeled"], part["mean"], marker="o", label=name, color=c)
        ax.fill_between(
            part["n_labeled"],
            part["mean"] - part["std"],
            part["mean"] + part["std"],
            alpha=0.2,
            color=c,
        )
    ax.set_xlabel("labelled samples")
    ax.set_ylabel("class entropy (nats)")
    ax.set_title(title)
    ax.legend(fontsize=MIN_FONT_PT, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def pool_likelihoods(
    emb_N_D, labeled_N, y_labeled, n_classes: int, em_iters: int = 10
) -> dict[str, np.ndarray]:
    """``log p(z;ψ_L)``, ``log p(z;ψ_UL)`` and I_Like for every pool row (Fig. 6 on an
    embedding): ψ_L from the labelled rows (closed form), ψ_UL by EM on the unlabelled rows."""
    emb = torch.as_tensor(np.asarray(emb_N_D, np.float32))
    lab = np.asarray(labeled_N, bool)
    psi_L, psi_UL = fit_psi(
        emb[lab], torch.as_tensor(np.asarray(y_labeled)), emb[~lab], n_classes, em_iters
    )
    ll_L = log_likelihood(emb, psi_L).double().numpy()
    ll_UL = log_likelihood(emb, psi_UL).double().numpy()
    return {MAP_NAMES[0]: ll_L, MAP_NAMES[1]: ll_UL, MAP_NAMES[2]: ll_UL - ll_L}
