"""Seed 004 (ASAL) pictures: entropy-ascent trajectories on a 2-D toy set and their matches,
synthetic images at several ascent steps next to their matched pool images per feature space
(Fig. 2, Figs. 25-26), and selection time vs pool size (Fig. 6a). Notebook widgets call these.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from alkit.errors import AlkitError
from alkit.kernels.latent import ascend_entropy, entropy_of_logits
from alkit.kernels.nn_index import NearestIndex
from alkit.viz.dashboard import drawn_into
from alkit.viz.style import (
    LABELED_STYLE,
    MIN_FONT_PT,
    NOTEBOOK_WIDTH_IN,
    PICKED_STYLE,
    draw_classes,
)


class IdentityGenerator(torch.nn.Module):
    """G(z) = z on R^d: on a 2-D toy set the latent space *is* the data space, so the ascent's
    trajectories can be drawn over the classifier's decision regions."""

    def __init__(self, latent_dim: int = 2):
        super().__init__()
        self.latent_dim = latent_dim

    def forward(self, z_B_L: torch.Tensor) -> torch.Tensor:
        return z_B_L


@dataclass
class ToyAscent:
    """What :func:`toy_ascent` computed.

    Attributes:
        path_T_S_2: the latents (= points) at every step, ``(steps + 1) × S × 2``.
        entropy_T_S: their entropies, ``(steps + 1) × S``.
        matched_S: the pool index each endpoint matched (without replacement, highest entropy
            first), ``S``; ``distance_S`` the match distances.
        grid_R_R: the classifier's entropy on a ``R × R`` grid over ``extent`` (rows = y).
    """

    path_T_S_2: np.ndarray
    entropy_T_S: np.ndarray
    matched_S: np.ndarray
    distance_S: np.ndarray
    grid_R_R: np.ndarray
    extent: tuple[float, float, float, float]


def entropy_grid(classifier, extent, resolution: int = 80) -> np.ndarray:
    """The classifier's softmax entropy on a ``resolution²`` grid over ``extent`` (rows = y)."""
    x0, x1, y0, y1 = extent
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    pts = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
    mode = classifier.training
    classifier.eval()
    with torch.no_grad():
        ent = entropy_of_logits(classifier(pts)).numpy()
    classifier.train(mode)
    return ent.reshape(resolution, resolution)


def toy_ascent(
    X_pool_N_2,
    classifier,
    labeled_mask_N,
    n_latents: int = 12,
    steps: int = 100,
    lr: float = 0.05,
    z_project: str | None = None,
    seed: int = 0,
    resolution: int = 80,
) -> ToyAscent:
    """ASAL on a 2-D pool with G = identity: ``n_latents`` points z₀ ~ N(0, I) climb the
    classifier's entropy (eq. 1) and each endpoint is matched to its nearest unlabelled pool
    point (eq. 2, ``gray`` features = the coordinates). The widget callback of notebook 06."""
    X = np.asarray(X_pool_N_2, dtype=np.float32)
    if X.ndim != 2 or X.shape[1] != 2:
        raise AlkitError(f"toy_ascent needs a 2-D pool N × 2, got shape {X.shape}")
    z0 = np.random.default_rng(seed).normal(size=(n_latents, 2)).astype(np.float32)
    out = ascend_entropy(
        IdentityGenerator(2), classifier, z0, steps, lr, z_project=z_project, record_path=True
    )
    ent = out.entropy_T_S.numpy()
    order = np.argsort(-ent[-1], kind="stable")
    m = NearestIndex(X, "kdtree").match(out.z_S_L.numpy(), exclude_N=labeled_mask_N, order=order)
    pad = 0.3
    extent = (
        float(X[:, 0].min() - pad),
        float(X[:, 0].max() + pad),
        float(X[:, 1].min() - pad),
        float(X[:, 1].max() + pad),
    )
    return ToyAscent(
        out.path_T_S_L.numpy(),
        ent,
        m.indices_Q_p[:, 0],
        m.distances_Q_p[:, 0],
        entropy_grid(classifier, extent, resolution),
        extent,
    )


def plot_toy_ascent(result: ToyAscent, X_pool_N_2, labeled_mask_N, ax=None, y_N=None,
                    class_names=None):  # fmt: skip
    """Entropy map (grey, darker = more uncertain), the unlabelled pool (in its class colour
    when ``y_N`` is given, light grey otherwise), the labelled set (hollow black squares), each
    latent's trajectory (start ○, end ★) and a dashed line to its matched pool point (black ×,
    the mark of a pick in every alkit figure). Equal aspect: the axes are the inputs; the
    legend sits under the map."""
    ax = ax or plt.gca()
    X = np.asarray(X_pool_N_2)
    lab = np.asarray(labeled_mask_N, dtype=bool)
    im = ax.imshow(result.grid_R_R, origin="lower", extent=result.extent, cmap="Greys",
                   vmin=0.0, aspect="equal", alpha=0.5)  # fmt: skip
    ax.figure.colorbar(im, ax=ax, label="classifier entropy (nats)", fraction=0.046)
    if y_N is None:
        ax.scatter(*X[~lab].T, s=4, c="lightgrey", label="unlabelled pool")
    else:
        draw_classes(ax, X[~lab], np.asarray(y_N)[~lab], class_names, size=6, alpha=0.8,
                     legend=False)  # fmt: skip
    ax.scatter(*X[lab].T, label="labelled", zorder=3, **LABELED_STYLE)
    path = result.path_T_S_2
    for s in range(path.shape[1]):
        ax.plot(path[:, s, 0], path[:, s, 1], c="#4d4d4d", lw=1.1, zorder=4)
        match = X[result.matched_S[s]]
        ax.plot([path[-1, s, 0], match[0]], [path[-1, s, 1], match[1]], "k--", lw=0.8, zorder=4)
    ax.scatter(*path[0].T, s=25, facecolors="white", edgecolors="black", label="z₀", zorder=5)
    ax.scatter(*path[-1].T, s=90, c="gold", marker="*", edgecolors="black", lw=0.5,
               label="after ascent", zorder=5)  # fmt: skip
    ax.scatter(*X[result.matched_S].T, label="matched (labelled next)", zorder=6, **PICKED_STYLE)
    ax.set_xlim(*result.extent[:2])
    ax.set_ylim(*result.extent[2:])
    ax.set_xlabel("x₁ (= latent z₁)")
    ax.set_ylabel("x₂ (= latent z₂)")
    leg = ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=4,
                    fontsize=MIN_FONT_PT, frameon=False, markerscale=1.5)  # fmt: skip
    for handle in leg.legend_handles:
        handle.set_alpha(1.0)
    ax.set_title(f"{path.shape[1]} latents, {path.shape[0] - 1} Adam steps")
    return ax


def ascent_snapshots(generator, classifier, z0_S_L, steps: int = 100, lr: float = 0.01,
                     at=(0, 50, 100)) -> dict[int, tuple[np.ndarray, np.ndarray]]:  # fmt: skip
    """Synthetic samples during the ascent: ``{step: (samples_S, entropy_S)}`` for each step in
    ``at`` (each ≤ ``steps``), from one ascent with the path recorded."""
    if any(t < 0 or t > steps for t in at):
        raise AlkitError(f"snapshot steps {tuple(at)} must lie in 0…{steps}")
    out = ascend_entropy(generator, classifier, z0_S_L, steps, lr, record_path=True)
    mode = generator.training
    generator.eval()
    with torch.no_grad():
        snaps = {
            int(t): (generator(out.path_T_S_L[t]).cpu().numpy(), out.entropy_T_S[t].numpy())
            for t in at
        }
    generator.train(mode)
    return snaps


def plot_synthetic_matches(snapshots: dict, matches: dict, max_cols: int = 8):
    """A grid: one row per snapshot step (synthetic images with their entropy), then one row per
    feature space (the matched pool images with their entropy). ``matches`` maps a space name to
    ``(images_S, entropy_S)``. Images ``S × 1 × H × W``. Returns the figure."""
    rows = [(f"step {t}", imgs, ent) for t, (imgs, ent) in snapshots.items()]
    rows += [(f"match: {name}", imgs, ent) for name, (imgs, ent) in matches.items()]
    cols = min(max_cols, min(len(r[1]) for r in rows))
    width = min(NOTEBOOK_WIDTH_IN, 1.3 * cols + 1.4)
    fig, axes = plt.subplots(len(rows), cols, figsize=(width, 1.5 * len(rows)),
                             squeeze=False)  # fmt: skip
    for r, (label, imgs, ent) in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(np.asarray(imgs[c]).reshape(imgs[c].shape[-2:]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"H={ent[c]:.2f}", fontsize=MIN_FONT_PT)
        axes[r, 0].set_ylabel(label.replace(": ", ":\n"), fontsize=MIN_FONT_PT)
    fig.tight_layout()
    return fig


def plot_asal_timing(result: dict, ax=None):
    """Selection time vs pool size from ``benchmarks/results/asal_time.json`` (Fig. 6a): max-
    entropy and ASAL (ascent + features + match) per index backend, log-log."""
    ax = ax or plt.gca()
    rows = [r for r in result["rows"] if "entropy_s" in r]
    if not rows:
        raise AlkitError("the timing result has no measured rows")
    ns = np.array([r["n"] for r in rows])
    ax.loglog(ns, [r["entropy_s"] for r in rows], "o-", c="black", label="max-entropy")
    for backend in ("brute", "kdtree", "faiss", "pynndescent"):
        key = f"select_s_{backend}"
        pts = [(r["n"], r[key]) for r in rows if key in r]
        if pts:
            ax.loglog(*zip(*pts, strict=True), "s--", label=f"ASAL ({backend})")
    ax.loglog(ns, [r["ascent_s"] for r in rows], ":", c="grey", label="ASAL ascent alone")
    ax.set_xlabel("pool size N")
    ax.set_ylabel(f"seconds to select {result.get('picks', '?')}")
    ax.legend(fontsize=MIN_FONT_PT, frameon=False)
    return ax


class ToyAscentExplorer:
    """Sliders for the number of latents, Adam steps and lr, and the latent projection; every
    change reruns :func:`toy_ascent` and redraws :func:`plot_toy_ascent` (observe callbacks,
    no ``interact``)."""

    def __init__(self, X_pool_N_2, classifier, labeled_mask_N, seed: int = 0, y_N=None,
                 class_names=None):  # fmt: skip
        import ipywidgets as w

        self.X, self.classifier, self.labeled = X_pool_N_2, classifier, labeled_mask_N
        self.seed, self.y, self.class_names = seed, y_N, class_names
        self.n_latents = w.IntSlider(value=12, min=1, max=40, description="latents")
        self.steps = w.IntSlider(value=100, min=1, max=300, description="Adam steps")
        self.lr = w.FloatLogSlider(value=0.05, base=10, min=-3, max=0, description="lr")
        self.z_project = w.Dropdown(options=[("none", None), ("sphere", "sphere")],
                                    value=None, description="z_project")  # fmt: skip
        self.output = w.Output()
        controls = (self.n_latents, self.steps, self.lr, self.z_project)
        for control in controls:
            control.observe(lambda _: self.redraw(), names="value")
        self.widget = w.VBox([w.HBox(controls[:2]), w.HBox(controls[2:]), self.output])
        self.result: ToyAscent | None = None
        self.redraw()

    def redraw(self) -> ToyAscent:
        self.result = toy_ascent(
            self.X,
            self.classifier,
            self.labeled,
            n_latents=self.n_latents.value,
            steps=self.steps.value,
            lr=self.lr.value,
            z_project=self.z_project.value,
            seed=self.seed,
        )
        with drawn_into(self.output):
            fig, ax = plt.subplots(figsize=(7.2, 5.4), layout="constrained")
            plot_toy_ascent(self.result, self.X, self.labeled, ax=ax, y_N=self.y,
                            class_names=self.class_names)  # fmt: skip
        plt.close("all")
        return self.result
