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


def plot_likelihood_maps(maps: LikelihoodMaps, z_L=None, z_UL=None, axes=None, clip_pct=2.0):
    """Three heat maps side by side (Fig. 6 on a 2-D plane); labelled points as white squares,
    unlabelled as small black dots. Colours are clipped at the ``clip_pct`` percentiles."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, name in zip(axes, MAP_NAMES, strict=True):
        grid = maps.grids[name]
        lo, hi = np.percentile(grid, [clip_pct, 100 - clip_pct])
        cmap = "RdBu_r" if name == "I_Like" else "inferno"
        if name == "I_Like":
            lo, hi = -max(abs(lo), abs(hi)), max(abs(lo), abs(hi))
        im = ax.imshow(
            np.clip(grid, lo, hi), origin="lower", extent=maps.extent, cmap=cmap, aspect="auto"
        )
        if z_UL is not None:
            ax.scatter(*np.asarray(z_UL).T, s=2, c="k", alpha=0.3)
        if z_L is not None:
            ax.scatter(*np.asarray(z_L).T, s=14, marker="s", c="w", edgecolors="k")
        ax.set_title(name)
        ax.figure.colorbar(im, ax=ax, fraction=0.046)
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


def plot_metric_on_embedding(record: RoundMetrics, metric: str, ax=None, max_points: int = 4000):
    """Scatter of the unlabelled pool coloured by ``metric`` (warm = high, Fig. 8), labelled
    points as grey squares and the picks as red crosses."""
    import matplotlib.pyplot as plt

    if metric not in record.values:
        raise KeyError(f"metric {metric!r} not in this round; choose from {sorted(record.values)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.4))
    v = record.values[metric]
    rows = np.flatnonzero(np.isfinite(v))
    if len(rows) > max_points:
        rows = np.sort(np.random.default_rng(0).choice(rows, max_points, replace=False))
    sc = ax.scatter(*record.coords_N_2[rows].T, c=v[rows], s=5, cmap="coolwarm")
    lab = np.flatnonzero(record.labeled_N)
    ax.scatter(*record.coords_N_2[lab].T, s=12, marker="s", c="0.5", edgecolors="k", lw=0.3)
    ax.scatter(*record.coords_N_2[record.picked].T, s=30, marker="x", c="red")
    ax.set_title(f"cycle {record.round}: {metric}")
    ax.figure.colorbar(sc, ax=ax, fraction=0.046)
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
    """Class entropy of the labelled set per cycle, one line per strategy (mean ± std)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    table = class_entropy_table(results)
    for name, part in table.groupby("strategy"):
        ax.plot(part["n_labeled"], part["mean"], marker="o", label=name)
        ax.fill_between(
            part["n_labeled"], part["mean"] - part["std"], part["mean"] + part["std"], alpha=0.2
        )
    ax.set_xlabel("labelled samples")
    ax.set_ylabel("class entropy (nats)")
    ax.set_title(title)
    ax.legend(fontsize=8)
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
