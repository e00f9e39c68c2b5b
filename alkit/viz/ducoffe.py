"""Pictures for the Ducoffe thesis, Part I (seed 001, ch. 3–5); notebooks/07 wires them to widgets.

* DQBC (ch. 3): each committee member's decision regions on a 2-D plane and the eq. 3.3 soft
  margin as a heat map;
* DFAL (ch. 4): DeepFool paths on a 2-D boundary, a gallery of candidates ranked by perturbation
  norm (original, signed perturbation, adversarial image), norm histograms per round;
* BalNet (ch. 5): the φ–t scatter of the candidates with the greedy picks numbered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from alkit.kernels.committee import (
    committee_probs,
    fit_linear_head,
    masked_head_inputs,
    soft_margin,
    unit_masks,
)
from alkit.kernels.deepfool import DeepFoolResult, deepfool
from alkit.strategies.base import QueryContext
from alkit.strategies.uncertainty import entropy
from alkit.viz.style import MIN_FONT_PT, class_colors, class_legend, draw_classes


def grid_points(extent, resolution: int) -> np.ndarray:
    """A ``resolution² × 2`` float32 grid over ``extent = (x0, x1, y0, y1)``, rows = y."""
    x0, x1, y0, y1 = extent
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)


def padded_extent(X_N_2, pad: float = 0.15) -> tuple[float, float, float, float]:
    """The bounding box of 2-D points, widened by ``pad`` of its size on each side."""
    X = np.asarray(X_N_2)
    lo, hi = X.min(0), X.max(0)
    d = pad * (hi - lo)
    return (float(lo[0] - d[0]), float(hi[0] + d[0]), float(lo[1] - d[1]), float(hi[1] + d[1]))


@dataclass
class CommitteeMaps:
    """DQBC on a 2-D plane: ``pred_K_R_R`` (each member's class), ``margin_R_R`` (eq. 3.3)."""

    pred_K_R_R: np.ndarray
    margin_R_R: np.ndarray
    extent: tuple[float, float, float, float]


def committee_maps(
    learner,
    X_L,
    y_L,
    n_members: int,
    p: float,
    extent,
    finetune_steps: int = 100,
    resolution: int = 80,
    seed: int = 0,
) -> CommitteeMaps:
    """Sample a DQBC committee from ``learner`` (2-D inputs), re-fit its heads on ``(X_L, y_L)``
    (``finetune_steps=0``: keep the full head) and evaluate it on a grid over ``extent``.

    The widget callback of notebooks/07's K / p sliders and fine-tune toggle.
    """
    model = learner.model
    masks = unit_masks(model, n_members, p, np.random.default_rng(seed))
    W, b = fit_linear_head(
        masked_head_inputs(model, masks, X_L),
        y_L,
        model.head.weight,
        model.head.bias,
        steps=finetune_steps,
    )
    probs = committee_probs(masked_head_inputs(model, masks, grid_points(extent, resolution)), W, b)
    shape = (resolution, resolution)
    return CommitteeMaps(
        probs.argmax(2).reshape(n_members, *shape), soft_margin(probs).reshape(shape), extent
    )


def plot_committee(maps: CommitteeMaps, X_L=None, y_L=None, ax=None, class_names=None):
    """The eq. 3.3 heat map (``rg ≥ 0``: magma from 0) with every member's decision boundaries
    as thin white contour lines (where they spread, the members disagree) and the labelled
    points in their class colour (class legend). Equal aspect: the axes are the inputs."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    im = ax.imshow(maps.margin_R_R, origin="lower", extent=maps.extent, cmap="magma",
                   vmin=0.0, aspect="equal")  # fmt: skip
    x0, x1, y0, y1 = maps.extent
    R = maps.margin_R_R.shape[0]
    gx, gy = np.meshgrid(np.linspace(x0, x1, R), np.linspace(y0, y1, R))
    for pred in maps.pred_K_R_R:
        if pred.min() != pred.max():
            levels = np.unique(pred)[:-1] + 0.5
            ax.contour(gx, gy, pred, levels=levels, colors="white", linewidths=1.0, alpha=0.85)
    if X_L is not None:
        draw_classes(ax, np.asarray(X_L), np.asarray(y_L), class_names, size=40, alpha=1.0,
                     legend=False, zorder=3, edgecolor="white")  # fmt: skip
        class_legend(ax, title="labelled, by class", below=True)
    ax.set_title(f"K = {len(maps.pred_K_R_R)} members: boundaries (white) and rg(x)")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.figure.colorbar(im, ax=ax, label="rg(x), eq. 3.3", fraction=0.046)
    return ax


def deepfool_paths(model, X_B, max_iter: int = 10, overshoot: float = 0.02) -> list[np.ndarray]:
    """The DeepFool iterates of each row: ``[steps_b + 1 × D]`` (first row = the input).

    DeepFool is deterministic, so the iterate after ``i`` steps is ``deepfool(max_iter=i)``'s
    ``x_adv`` for a row still running; a row that flipped earlier stops there.
    """
    X = np.asarray(X_B, dtype=np.float32)
    runs = [deepfool(model, X, max_iter=i, overshoot=overshoot) for i in range(1, max_iter + 1)]
    paths = []
    for b in range(len(X)):
        steps = int(runs[-1].iters_B[b])
        pts = [X[b].reshape(-1)] + [
            runs[i - 1].x_adv_B[b].reshape(-1).numpy() for i in range(1, steps + 1)
        ]
        paths.append(np.stack(pts))
    return paths


def plot_deepfool_paths(model, X_B_2, paths, extent, ax=None, resolution: int = 150):
    """Class regions of a 2-D classifier (light class colours, legend) with each DeepFool path
    in black (dots = iterates, large dot = start). Equal aspect: the axes are the inputs."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    ax = ax or plt.gca()
    with torch.no_grad():
        pts = torch.as_tensor(grid_points(extent, resolution))
        logits = model.eval()(pts)
        pred = logits.argmax(1).numpy().reshape(resolution, resolution)
    colors = class_colors(int(logits.shape[1]))
    ax.imshow(pred, origin="lower", extent=extent, cmap=ListedColormap(colors), aspect="equal",
              alpha=0.3, vmin=-0.5, vmax=len(colors) - 0.5, interpolation="nearest")  # fmt: skip
    for path in paths:
        ax.plot(path[:, 0], path[:, 1], "-o", c="black", ms=3, lw=1.2)
    X = np.asarray(X_B_2)
    ax.scatter(X[:, 0], X[:, 1], c="black", s=30, zorder=3)
    handles = [Patch(color=c, alpha=0.4, label=f"predicted {k}") for k, c in enumerate(colors)]
    ax.legend(handles=handles, fontsize=MIN_FONT_PT, frameon=False, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))  # fmt: skip
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title("DeepFool paths to the closest boundary")
    return ax


def gallery_order(result: DeepFoolResult) -> np.ndarray:
    """Row positions sorted by perturbation norm, smallest first (never-flipped rows last)."""
    return np.argsort(result.norm_B, kind="stable")


def plot_deepfool_gallery(X_B, result: DeepFoolResult, start: int = 0, n_show: int = 5, fig=None):
    """Candidates ranked ``start … start + n_show`` by norm: original, signed perturbation
    (diverging colours, symmetric scale), adversarial image (clipped to [0, 1] for display only),
    with ``label → target``, ``‖r‖`` and the iteration count. Images ``B × 1 × H × W``."""
    import matplotlib.pyplot as plt

    order = gallery_order(result)[start : start + n_show]
    fig = fig or plt.figure(figsize=(2.2 * len(order), 6.6))
    fig.clear()
    axes = fig.subplots(3, max(1, len(order)), squeeze=False)
    X = np.asarray(X_B)
    for j, i in enumerate(order):
        x = X[i].reshape(X.shape[-2:])
        adv = result.x_adv_B[i].numpy().reshape(X.shape[-2:])
        delta = adv - x
        lim = float(np.abs(delta).max()) or 1.0
        axes[0, j].imshow(x, cmap="gray", vmin=0, vmax=1)
        axes[0, j].set_title(f"#{start + j + 1}: {result.label_B[i]} → {result.target_B[i]}")
        axes[1, j].imshow(delta, cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[1, j].set_title(f"‖r‖ = {result.norm_B[i]:.3f}")
        axes[2, j].imshow(np.clip(adv, 0, 1), cmap="gray", vmin=0, vmax=1)
        axes[2, j].set_title(f"{int(result.iters_B[i])} iteration(s)")
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_norm_histograms(norms_by_round: dict, ax=None, bins: int = 30):
    """Histograms of the finite DeepFool norms of each round's candidates (Fig. 4.8 analogue)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    finite = {r: np.asarray(v)[np.isfinite(v)] for r, v in norms_by_round.items()}
    top = max((v.max() for v in finite.values() if v.size), default=1.0)
    edges = np.linspace(0, top, bins + 1)
    cmap = plt.get_cmap("viridis")
    for k, (rnd, v) in enumerate(sorted(finite.items())):
        ax.hist(
            v,
            bins=edges,
            histtype="step",
            lw=1.5,
            color=cmap(k / max(1, len(finite) - 1)),
            label=f"round {rnd}",
        )
    ax.set_xlabel("DeepFool ‖r‖₂")
    ax.set_ylabel("candidates")
    ax.legend(fontsize=MIN_FONT_PT, frameon=False)
    return ax


def balnet_scatter(ctx: QueryContext, n: int, damping: float = 1e-3, **options) -> dict:
    """Run ``balnet`` on ``ctx`` and return what the φ–t scatter draws: ``phi`` and ``t`` (each
    candidate's traces summed over layers), ``entropy`` (predictive entropy), ``picks``
    (positions in the scored candidates, in greedy order) and the query itself.

    The widget callback of notebooks/07's damping slider.
    """
    from alkit.strategies import get_strategy

    query = get_strategy("balnet", damping=float(damping), **options).query(ctx, n)
    info = query.info
    return {
        "phi": info["phi"].sum(1),
        "t": info["t"].sum(1),
        "entropy": entropy(ctx.predict_proba(info["scored"])),
        "picks": info["order"],
        "query": query,
    }


def plot_balnet_scatter(data: dict, ax=None, title=None):
    """φ against t (log scales) coloured by entropy, the greedy picks circled and numbered."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    phi, t = np.maximum(data["phi"], 1e-12), np.maximum(data["t"], 1e-12)
    sc = ax.scatter(phi, t, c=data["entropy"], cmap="viridis", s=12)
    picks = data["picks"]
    ax.scatter(phi[picks], t[picks], facecolors="none", edgecolors="red", s=80)
    for k, i in enumerate(picks):
        ax.annotate(
            str(k + 1),
            (phi[i], t[i]),
            xytext=(3, 3),
            textcoords="offset points",
            color="red",
            fontsize=MIN_FONT_PT,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Σ_l φ = Σ_l Tr(ψ_i Ψ_A⁻¹)")
    ax.set_ylabel("Σ_l t = Σ_l Tr(τ_i T_A⁻¹)")
    ax.set_title(title or "BalNet candidates (colour: entropy), greedy picks numbered")
    plt.colorbar(sc, ax=ax, label="predictive entropy")
    return ax
