"""Pictures of greedy Wasserstein prototypes (thesis ch. 9, Figs. 9.1–9.4) and the widget of
notebooks/08_wasserstein.ipynb.

:func:`toy_points` draws the thesis's three 2-D toys; :func:`toy_prototypes` runs the greedy
with one solver (or picks at random) and returns the picks, the exact ``W₂(S_j, U)`` of every
prefix and the final transport plan; :func:`plot_prototypes` draws the plan as lines from each
prototype to the points it serves. :class:`PrototypeExplorer` wires a toy/solver dropdown, a
``k`` slider and ε/β and iteration sliders to these functions with ``observe`` callbacks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels.ot import ground_cost, ipot_log, sinkhorn_log
from alkit.kernels.prototypes import greedy_wasserstein_prototypes, wasserstein_distance
from alkit.viz.dashboard import drawn_into
from alkit.viz.style import MIN_FONT_PT, strategy_colors

TOYS = ("circle", "3 gaussians", "3 gaussians, unequal weights")
TOY_SOLVERS = ("emd", "sinkhorn", "ipot", "random")


def toy_points(name: str, n: int = 150, seed: int = 0) -> np.ndarray:
    """The thesis's toys (§9.3), ``n × 2`` float64: samples on a noisy circle; three equal
    Gaussians; three Gaussians with weights 0.6 / 0.3 / 0.1."""
    n = check_positive_int("n", n)
    rng = np.random.default_rng(seed)
    if name == "circle":
        angle = rng.uniform(0, 2 * np.pi, n)
        radius = 1.0 + 0.08 * rng.normal(size=n)
        return np.stack([radius * np.cos(angle), radius * np.sin(angle)], 1)
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [1.5, 2.5]])
    if name == "3 gaussians":
        weights = np.full(3, 1 / 3)
    elif name == "3 gaussians, unequal weights":
        weights = np.array([0.6, 0.3, 0.1])
    else:
        raise AlkitError(f"toy must be one of {TOYS}, got {name!r}")
    comp = rng.choice(3, size=n, p=weights)
    return centres[comp] + 0.45 * rng.normal(size=(n, 2))


@dataclass
class ToyPrototypes:
    """``picks_k`` (rows of ``points``, pick order), ``w_curve_k`` (exact ``W₂(S_j, U)`` of each
    prefix, whatever solver chose), ``plan_k_N`` (the solver's plan from the uniform measure on
    the picks to the points; EMD's for ``"random"``)."""

    points: np.ndarray
    picks: np.ndarray
    w_curve: np.ndarray
    plan: np.ndarray
    solver: str


def toy_prototypes(
    points_N_2,
    k: int,
    solver: str = "emd",
    reg: float = 1e-3,
    n_iter: int = 10,
    seed: int = 0,
) -> ToyPrototypes:
    """Greedy prototypes of ``points`` towards themselves (``S ⊂ U``, thesis Figs. 9.1–9.3).

    ``reg`` is ε (Sinkhorn) or β (IPOT) and ``n_iter`` their iteration count, on costs divided
    by their maximum (the thesis's setting is 1e-3 and 10); ``"random"`` draws ``k`` points
    with ``seed``. The widget callback of notebooks/08_wasserstein.ipynb.
    """
    P = np.asarray(points_N_2, dtype=np.float64)
    k = check_positive_int("k", k)
    if solver not in TOY_SOLVERS:
        raise AlkitError(f"solver must be one of {TOY_SOLVERS}, got {solver!r}")
    if solver == "random":
        picks = np.random.default_rng(seed).choice(len(P), size=k, replace=False)
    else:
        opts = {
            "sinkhorn": {"eps": reg, "n_iter": n_iter},
            "ipot": {"beta": reg, "n_outer": n_iter},
        }
        picks, _ = greedy_wasserstein_prototypes(
            P, P, k, solver=solver, preset=None, max_target=None, **opts.get(solver, {})
        )
    curve = np.array([wasserstein_distance(P[picks[: j + 1]], P) for j in range(k)])
    C = ground_cost(P[picks], P, dtype=torch.float64)
    C = C / C.max().clamp(min=1e-300)
    if solver == "sinkhorn":
        plan = sinkhorn_log(C, eps=reg, n_iter=n_iter, return_plan=True).plan
    elif solver == "ipot":
        plan = ipot_log(C, beta=reg, n_outer=n_iter, return_plan=True).plan
    else:
        import ot

        plan = torch.as_tensor(ot.emd(np.full(k, 1 / k), np.full(len(P), 1 / len(P)), C.numpy()))
    return ToyPrototypes(P, np.asarray(picks), curve, plan.numpy(), solver)


def plot_prototypes(result: ToyPrototypes, ax=None, max_lines: int = 600):
    """Points (grey), the plan's largest entries as lines (opacity ∝ mass) and the prototypes
    (red stars, numbered in pick order)."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    P, picks, T = result.points, result.picks, result.plan
    ax.scatter(P[:, 0], P[:, 1], s=8, c="0.6", zorder=1)
    flat = np.argsort(T, axis=None)[::-1][:max_lines]
    top = T.max() if T.size else 1.0
    for idx in flat:
        i, j = np.unravel_index(idx, T.shape)
        if T[i, j] <= 1e-9 * top:
            break
        a, b = P[picks[i]], P[j]
        ax.plot([a[0], b[0]], [a[1], b[1]], c="tab:blue", lw=0.8, alpha=float(T[i, j] / top) * 0.6)
    ax.scatter(P[picks, 0], P[picks, 1], marker="*", s=160, c="tab:red", edgecolors="k", zorder=3)
    for r, i in enumerate(picks):
        ax.annotate(
            str(r + 1), P[i], textcoords="offset points", xytext=(5, 5), fontsize=MIN_FONT_PT
        )
    ax.set_title(f"{result.solver}: W₂(S_k, U) = {result.w_curve[-1]:.3f}")
    ax.set_aspect("equal", adjustable="datalim")
    return ax


def plot_w_curves(curves: dict[str, np.ndarray], ax=None, title="W₂(U, S_k) along the sequence"):
    """One line per method: ``W₂(U, S_k)`` against ``k`` (thesis Fig. 9.4e); each method in
    its session colour (:func:`~alkit.viz.style.strategy_colors`), legend outside the data."""
    import matplotlib.pyplot as plt

    ax = ax or plt.gca()
    colors = strategy_colors(curves)
    for name, curve in curves.items():
        c = np.asarray(curve)
        ax.plot(np.arange(1, len(c) + 1), c, marker="o", ms=3, label=name, color=colors[name])
    ax.set_xlabel("k (prototypes)")
    ax.set_ylabel("exact W₂(U, S_k)")
    ax.set_title(title)
    ax.legend(fontsize=MIN_FONT_PT, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


class PrototypeExplorer:
    """Toy and solver dropdowns, ``k``, log₁₀ ε/β and iteration sliders; each change reruns
    :func:`toy_prototypes` and redraws two panels: the chosen solver's prototypes and plan, and
    the exact EMD greedy's for reference. ``widget`` is the box to display; ``result`` the last
    :class:`ToyPrototypes`."""

    def __init__(self, n: int = 150, k: int = 8, seed: int = 0):
        import ipywidgets as widgets

        self.n, self.seed = n, seed
        self.toy = widgets.Dropdown(options=TOYS, value=TOYS[0], description="toy")
        self.solver = widgets.Dropdown(options=TOY_SOLVERS, value="sinkhorn", description="solver")
        self.k = widgets.IntSlider(value=k, min=1, max=20, description="k")
        self.log_reg = widgets.FloatSlider(
            value=-3.0, min=-3.0, max=0.0, step=0.25, description="log₁₀ ε/β"
        )
        self.n_iter = widgets.IntSlider(value=10, min=1, max=500, description="iterations")
        self.output = widgets.Output()
        for w in (self.toy, self.solver, self.k, self.log_reg, self.n_iter):
            w.observe(lambda _change: self.redraw(), names="value")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.toy, self.solver, self.k]),
                widgets.HBox([self.log_reg, self.n_iter]),
                self.output,
            ]
        )
        self.result: ToyPrototypes | None = None
        self.reference: ToyPrototypes | None = None
        self.redraw()

    def compute(self) -> tuple[ToyPrototypes, ToyPrototypes]:
        points = toy_points(self.toy.value, self.n, self.seed)
        reg = 10.0**self.log_reg.value
        result = toy_prototypes(
            points, self.k.value, self.solver.value, reg, self.n_iter.value, self.seed
        )
        reference = toy_prototypes(points, self.k.value, "emd")
        return result, reference

    def redraw(self) -> None:
        import matplotlib.pyplot as plt

        self.result, self.reference = self.compute()
        with drawn_into(self.output):
            fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
            plot_prototypes(self.result, axes[0])
            plot_prototypes(self.reference, axes[1])
            axes[1].set_title(f"exact EMD greedy: W₂ = {self.reference.w_curve[-1]:.3f}")
            plt.tight_layout()


def interpolation_images(model, x1_HW, x2_HW, t: float, side: int) -> dict[str, np.ndarray]:
    """The two interpolations of §8.3.1 at ``t ∈ [0, 1]`` as ``side × side`` images: the
    Euclidean mixture ``(1 − t) x¹ + t x²`` and the DWE one ``ψ((1 − t) φ(x¹) + t φ(x²))``
    (the callback of notebook 08's interpolation slider)."""
    from alkit.dwe_training import dwe_interpolate

    if not 0.0 <= float(t) <= 1.0:
        raise AlkitError(f"t must lie in [0, 1], got {t}")
    x1, x2 = np.asarray(x1_HW, dtype=np.float64), np.asarray(x2_HW, dtype=np.float64)
    l2 = (1 - t) * x1 + t * x2
    dwe = dwe_interpolate(model, x1, x2, [t])[0]
    return {"L2": l2.reshape(side, side), "DWE": dwe.reshape(side, side)}


class InterpolationSlider:
    """A ``t`` slider redrawing :func:`interpolation_images` for two histograms; ``images``
    holds the last pair."""

    def __init__(self, model, x1_HW, x2_HW, side: int, steps: int = 10):
        import ipywidgets as widgets

        self.model, self.x1, self.x2, self.side = model, x1_HW, x2_HW, side
        self.t = widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=1.0 / steps, description="t")
        self.output = widgets.Output()
        self.t.observe(lambda _change: self.redraw(), names="value")
        self.widget = widgets.VBox([self.t, self.output])
        self.images: dict[str, np.ndarray] = {}
        self.redraw()

    def redraw(self) -> None:
        import matplotlib.pyplot as plt

        self.images = interpolation_images(self.model, self.x1, self.x2, self.t.value, self.side)
        with drawn_into(self.output):
            fig, axes = plt.subplots(1, 2, figsize=(5, 2.6))
            for ax, (name, img) in zip(axes, self.images.items(), strict=True):
                ax.imshow(img, cmap="gray_r")
                ax.set_title(f"{name}, t = {self.t.value:.2f}")
                ax.axis("off")
