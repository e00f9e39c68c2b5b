"""Greedy Wasserstein prototypes (Ducoffe's thesis, ch. 9, eq. 9.1; BalNet's post-step, eq. 5.15).

``min_{S ⊂ P, |S| = K} W_p(S, U)`` with uniform weights on ``S``: starting from ``S₀`` (empty,
or the labelled set in active learning), add ``argmin_{x ∈ P∖S_j} W_p(S_j ∪ {x}, U)`` ``K``
times. Th. 2.1 (proof A.20): ``W(U, S_K) ≤ (1 − 1/e) W(U, S*_K) + 2 Diam(P)/e``.

Cost reuse: the rows ``C_S = d(S_j, U)^p`` of the current set are kept, and the candidates'
rows ``d(x, U)^p`` are computed once; the problem for candidate ``x`` at step ``j`` is
``[C_S; c_x]`` (``(|S_j| + 1) × |U|``), never recomputed from features. A large target is
summarised first: a seeded uniform subsample or weighted k-means centres
(:func:`summarise_target`).
"""

from __future__ import annotations

import numpy as np
import torch

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels.blocks import as_float_tensor, block_bytes
from alkit.kernels.kmeans import kmeans
from alkit.kernels.ot import SOLVERS, ground_cost, solver_options, transport_costs

TARGET_SUMMARIES = ("subsample", "kmeans")
COST_SCALES = ("max", "none")


def summarise_target(
    target_T_D, max_target: int | None, method: str = "subsample", seed: int = 0, weights_T=None
) -> tuple[torch.Tensor, np.ndarray]:
    """The target measure ``U`` as at most ``max_target`` weighted points: ``(points_U_D,
    weights_U)`` (float64 weights summing to 1).

    ``method="subsample"``: a seeded uniform subsample without replacement, weights
    renormalised; ``"kmeans"``: k-means centres weighted by their clusters' total weight
    (seed001 spec §5.3: non-uniform ``b`` is allowed). A target of at most ``max_target``
    points (or ``max_target=None``) is returned as given.
    """
    U = as_float_tensor("target_T_D", target_T_D)
    if method not in TARGET_SUMMARIES:
        raise AlkitError(f"target_summary must be one of {TARGET_SUMMARIES}, got {method!r}")
    if weights_T is None:
        w = np.full(len(U), 1.0 / len(U))
    else:
        w = np.asarray(weights_T, dtype=np.float64).reshape(-1)
        if w.shape != (len(U),) or (w <= 0).any():
            raise AlkitError(f"target weights must be {len(U)} positive numbers, got {w.shape}")
        w = w / w.sum()
    if max_target is None or len(U) <= max_target:
        return U, w
    max_target = check_positive_int("max_target", max_target)
    rng = np.random.default_rng(seed)
    if method == "subsample":
        idx = np.sort(rng.choice(len(U), size=max_target, replace=False))
        return U[torch.as_tensor(idx, device=U.device)], w[idx] / w[idx].sum()
    centres, labels = kmeans(U, max_target, seed=int(rng.integers(2**31)))
    mass = np.bincount(labels, weights=w, minlength=max_target)
    keep = mass > 0
    return torch.as_tensor(centres[keep], device=U.device), mass[keep] / mass[keep].sum()


class _StackedCosts:
    """A lazy sequence of ``[C_S; c_x]`` matrices (float64 NumPy), one per candidate row."""

    def __init__(self, C_S_s_T: np.ndarray, rows_B_T: np.ndarray):
        self.C_S, self.rows = C_S_s_T, rows_B_T

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.vstack([self.C_S, self.rows[i : i + 1]])


def _step_costs(C_S, rows, weights_U, solver, opts, workers, block_candidates) -> np.ndarray:
    """Transport cost of ``S ∪ {x}`` for every candidate row ``x``; uniform weights on ``S ∪ {x}``."""
    s = len(C_S) + 1
    a = np.full(s, 1.0 / s)
    if solver == "emd":
        C_S_np = C_S.double().cpu().numpy()
        rows_np = rows.double().cpu().numpy()
        return transport_costs(
            _StackedCosts(C_S_np, rows_np), a, weights_U, "emd", None, workers, **opts
        )
    n_T = rows.shape[1]
    per_candidate = 6 * s * n_T * rows.element_size()  # the batch and the solver's temporaries
    block = block_candidates or max(1, block_bytes() // per_candidate)
    b = torch.as_tensor(weights_U, dtype=rows.dtype, device=rows.device)
    a_t = torch.full((s,), 1.0 / s, dtype=rows.dtype, device=rows.device)
    out = []
    for start in range(0, len(rows), block):
        part = rows[start : start + block]
        C = torch.cat([C_S.expand(len(part), *C_S.shape), part[:, None, :]], dim=1)
        out.append(transport_costs(C, a_t, b, solver, None, **opts))
    return np.concatenate(out) if out else np.zeros(0)


def greedy_wasserstein_prototypes(
    candidates_M_D,
    target_T_D,
    k: int,
    start_S_D=None,
    solver: str = "emd",
    *,
    p: float = 2,
    preset: str | None = "thesis",
    target_weights_T=None,
    max_target: int | None = 2000,
    target_summary: str = "subsample",
    seed: int = 0,
    cost_scale: str = "max",
    workers: int = 1,
    block_candidates: int | None = None,
    dtype: torch.dtype = torch.float32,
    return_first_step: bool = False,
    progress: bool | None = None,
    **solver_overrides,
):
    """Greedy Wasserstein prototypes (thesis eq. 9.1; the post-step of BalNet, eq. 5.15).

    Picks ``k`` rows of ``candidates_M_D``, one at a time, each minimising
    ``W_p(S_j ∪ {x}, U)`` where ``S_j`` = the start set plus the rows picked so far (uniform
    weights) and ``U`` = the target (weighted, summarised when larger than ``max_target``).

    Args:
        candidates_M_D: the rows to choose from, ``M × D`` (array or tensor; CUDA runs the
            batched solvers on the GPU). ``k ≤ M``.
        target_T_D: the target measure's support ``U``, ``T × D`` (the pool, in active learning).
        k: number of prototypes.
        start_S_D: ``S₀``, ``s₀ × D`` (the labelled set's features), or None for ``S₀ = ∅``.
        solver: ``"emd"`` (exact, POT; the default: exact and fastest on a CPU for a few hundred
            points), ``"sinkhorn"`` or ``"ipot"`` (batched torch, :mod:`alkit.kernels.ot`).
        p: the ground cost is ``‖x − u‖^p`` (``p = 2`` in every figure of ch. 9).
        preset: solver settings, ``"thesis"`` (ε = β = 1e-3, 10 iterations) or
            ``"converged"`` (:data:`~alkit.kernels.ot.OT_PRESETS`); ignored by EMD.
        target_weights_T: weights of the target rows (default uniform).
        max_target, target_summary, seed: summarise a target of more than ``max_target`` rows
            (:func:`summarise_target`, seeded by ``seed``).
        cost_scale: ``"max"`` divides every cost by the largest candidate/start cost so that
            ε and β are scale-free (results are reported in the original units); ``"none"``.
        workers: EMD workers (threads; :func:`~alkit.kernels.ot.emd2_many`).
        block_candidates: candidates per batched solve (default from ``ALKIT_BLOCK_BYTES``).
        dtype: dtype of the batched solvers' costs (EMD's costs are always float64, taken as
            direct differences so that a point of ``U`` picked into ``S`` costs exactly 0).
        return_first_step: also return the first step's ``W_p(S₀ ∪ {x}, U)`` for every
            candidate (``M``), the strategy's per-candidate score.
        progress: a ``tqdm`` bar over the ``k`` steps (None: follow ``ALKIT_PROGRESS``).
        **solver_overrides: solver options overriding the preset (``eps``, ``n_iter``,
            ``beta``, ``n_outer``, ``tol``, ``num_iter_max`` …).

    Returns:
        ``(picks_k, w_curve_k)``: positions in ``candidates_M_D`` in pick order (int64) and the
        solver's ``W_p(S_j, U)`` after each pick (float64, the p-th root of the transport cost,
        in the units of the features); plus ``first_step_M`` with ``return_first_step``.
    """
    from alkit.progress import tqdm
    from alkit.train import progress_enabled

    if solver not in SOLVERS:
        raise AlkitError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if cost_scale not in COST_SCALES:
        raise AlkitError(f"cost_scale must be one of {COST_SCALES}, got {cost_scale!r}")
    opts = solver_options(solver, preset if solver != "emd" else None, **solver_overrides)
    X = as_float_tensor("candidates_M_D", candidates_M_D)
    k = check_positive_int("k", k)
    if k > len(X):
        raise AlkitError(f"k={k} is larger than the number of candidates ({len(X)})")
    U, weights_U = summarise_target(target_T_D, max_target, target_summary, seed, target_weights_T)
    U = U.to(X.device)
    if U.shape[1] != X.shape[1]:
        raise AlkitError(f"candidates have {X.shape[1]} features but the target {U.shape[1]}")
    cost_dtype = torch.float64 if solver == "emd" else dtype
    C_cand = ground_cost(X, U, p, dtype=cost_dtype)
    if start_S_D is None or len(start_S_D) == 0:
        C_S = C_cand.new_zeros((0, len(U)))
    else:
        S0 = as_float_tensor("start_S_D", start_S_D, device=X.device)
        C_S = ground_cost(S0, U, p, dtype=cost_dtype)
    scale = 1.0
    if cost_scale == "max":
        scale = max(float(C_cand.max()), float(C_S.max()) if len(C_S) else 0.0) or 1.0
        C_cand, C_S = C_cand / scale, C_S / scale
    available = np.ones(len(X), dtype=bool)
    picks, curve, first = [], [], None
    show = progress_enabled(progress) and k * len(X) >= 5_000
    for _ in tqdm(range(k), desc=f"W prototypes ({solver})", leave=False, disable=not show):
        free = np.flatnonzero(available)
        rows = C_cand[torch.as_tensor(free, device=C_cand.device)]
        costs = _step_costs(C_S, rows, weights_U, solver, opts, workers, block_candidates)
        if first is None:
            first = np.full(len(X), np.nan)
            first[free] = costs
        j = int(free[int(np.argmin(costs))])
        picks.append(j)
        curve.append(max(float(costs.min()), 0.0) * scale)
        available[j] = False
        C_S = torch.cat([C_S, C_cand[j : j + 1]])
    w_curve = np.asarray(curve) ** (1.0 / float(p))
    first_w = np.maximum(first * scale, 0.0) ** (1.0 / float(p))
    out = (np.asarray(picks, dtype=np.int64), w_curve)
    return (*out, first_w) if return_first_step else out


def wasserstein_distance(
    points_S_D, target_T_D, p: float = 2, target_weights_T=None, solver: str = "emd", **options
) -> float:
    """``W_p(S, U)`` between the uniform measure on ``points_S_D`` and the (weighted) target,
    by one solver (exact EMD by default); for curves of random sets and for checks."""
    S = as_float_tensor("points_S_D", points_S_D)
    U, w = summarise_target(target_T_D, None, weights_T=target_weights_T)
    C = ground_cost(S, U.to(S.device), p, dtype=torch.float64)
    preset = options.pop("preset", "thesis")
    options = solver_options(solver, preset if solver != "emd" else None, **options)
    cost = transport_costs(C[None], None, w, solver, None, **options)[0]
    return float(max(cost, 0.0) ** (1.0 / float(p)))


def diameter(points_N_D) -> float:
    """``Diam(P) = max_{x, y ∈ P} ‖x − y‖`` (for the bound of Th. 2.1); blocked, O(N) memory
    per block row."""
    X = as_float_tensor("points_N_D", points_N_D)
    best = 0.0
    rows = max(1, block_bytes() // (8 * max(1, len(X))))
    for start in range(0, len(X), rows):
        best = max(best, float(ground_cost(X[start : start + rows], X, 2).max()))
    return best**0.5


__all__ = [
    "COST_SCALES",
    "TARGET_SUMMARIES",
    "diameter",
    "greedy_wasserstein_prototypes",
    "summarise_target",
    "wasserstein_distance",
]
