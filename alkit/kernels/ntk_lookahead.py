"""NTK kernel regression at t = ∞ and the look-ahead of adding one candidate, as rank-one updates.

With a kernel ``Θ`` over the candidate/evaluation set M and the labelled set L, a ridge λ, and
residual targets ``R_L = Y_L − F0_L`` (``n × K``), the t = ∞ limit of eq. 3 (eq. 8, first line)
gives the current predictions and the posterior kernel (spec §2.3)

    F = F0_M + Θ_ML (Θ_LL + λI)⁻¹ R_L               (M × K)
    A = Θ_MM − Θ_ML (Θ_LL + λI)⁻¹ Θ_LM              (M × M, the Schur complement).

Adding candidate j with target row ``y_j`` (one-hot) changes the predictions by a rank-one term,

    F⁽ʲ⁾ = F + A[:, j] / (A_jj + λ) · (y_j − F_j)ᵀ,

and after a greedy pick ``j*`` the posterior is downdated in place,
``F ← F⁽ʲ*⁾``, ``A ← A − A[:, j*] A[j*, :] / (A_j*j* + λ)``: O(M²) per pick, no new inverse.
``Θ_LL`` is factorised (Cholesky, float64) once per round. Scoring every candidate costs
``O(M² K)`` per step and is done in candidate-row blocks of ``B × M × K``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels.blocks import check_block_rows, map_row_blocks

#: default memory budget of the ``M × M`` posterior kernel, in bytes (``ALKIT_NTK_MAX_BYTES``)
DEFAULT_NTK_MAX_BYTES = 2 * 2**30
#: bytes of one ``B × M × K`` scoring block by default: cache-sized blocks scored ~1.2-3× faster
#: than 256 MiB ones on the 2-core test machine (the pass is memory-bound)
SCORE_BLOCK_BYTES = 8 * 2**20


def score_block_rows(m: int, k: int) -> int:
    """Default candidates per scoring block: ``B × m × k`` float64 within ``SCORE_BLOCK_BYTES``."""
    return max(1, SCORE_BLOCK_BYTES // (8 * max(1, m * k)))


def ntk_max_bytes() -> int:
    """The memory budget of the ``M × M`` posterior kernel (``ALKIT_NTK_MAX_BYTES`` or 2 GiB)."""
    value = os.environ.get("ALKIT_NTK_MAX_BYTES")
    if value is None:
        return DEFAULT_NTK_MAX_BYTES
    try:
        out = int(value)
    except ValueError:
        raise AlkitError(
            f"ALKIT_NTK_MAX_BYTES must be an integer byte count, got {value!r}"
        ) from None
    if out <= 0:
        raise AlkitError(f"ALKIT_NTK_MAX_BYTES must be positive, got {out}")
    return out


def largest_fitting_m(bytes_per_value: int = 8, max_bytes: int | None = None) -> int:
    """The largest candidate-set size M whose ``M × M`` kernel fits the memory budget."""
    budget = ntk_max_bytes() if max_bytes is None else int(max_bytes)
    m = int(np.floor(np.sqrt(budget / bytes_per_value)))
    while (m + 1) ** 2 * bytes_per_value <= budget:
        m += 1
    while m > 0 and m**2 * bytes_per_value > budget:
        m -= 1
    return m


def check_ntk_memory(m: int, bytes_per_value: int = 8, who: str = "the NTK look-ahead") -> None:
    """Raise before any work when the ``m × m`` posterior kernel exceeds ``ALKIT_NTK_MAX_BYTES``,
    naming the largest candidate-set size that fits."""
    budget = ntk_max_bytes()
    need = int(m) ** 2 * bytes_per_value
    if need > budget:
        fit = largest_fitting_m(bytes_per_value, budget)
        raise AlkitError(
            f"{who} needs an M × M kernel: M={m} takes {need / 2**30:.2f} GiB, more than "
            f"ALKIT_NTK_MAX_BYTES={budget} ({budget / 2**30:.2f} GiB); set max_candidates ≤ {fit} "
            "or raise ALKIT_NTK_MAX_BYTES"
        )


@dataclass
class Posterior:
    """``F`` (``M × K``), ``A`` (``M × M``) and the ridge actually used (with the eigenvalue
    guard's jitter, if it was needed); ``info`` records the factorisation."""

    F_M_K: torch.Tensor
    A_M_M: torch.Tensor
    ridge: float
    info: dict = field(default_factory=dict)


def factor_kernel(theta_L_L: torch.Tensor, ridge: float) -> tuple[torch.Tensor, float, dict]:
    """Cholesky factor of ``Θ_LL + λI`` in float64, with LookAhead's eigenvalue guard: when the
    factorisation fails, ``λ`` grows by ``1.1·max(−λ_min, 1e-6·mean diag Θ_LL)`` (spec §4).

    Returns ``(chol_L_L, ridge_used, info)``.
    """
    K = theta_L_L.to(torch.float64)
    n = len(K)
    eye = torch.eye(n, dtype=K.dtype, device=K.device)
    chol, bad = torch.linalg.cholesky_ex(K + ridge * eye)
    info = {"jitter": 0.0, "min_eig": None}
    if int(bad) != 0:
        lam_min = float(torch.linalg.eigvalsh(K)[0])
        scale = float(K.diagonal().mean()) if n else 1.0
        jitter = 1.1 * max(-lam_min, 1e-6 * scale)
        ridge = ridge + jitter
        chol, bad = torch.linalg.cholesky_ex(K + ridge * eye)
        info = {"jitter": jitter, "min_eig": lam_min}
        if int(bad) != 0:
            raise AlkitError(
                f"the labelled-set kernel is not positive definite even with ridge {ridge:g} "
                f"(smallest eigenvalue {lam_min:g})"
            )
    return chol, float(ridge), info


def ntk_posterior(
    theta_M_M: torch.Tensor,
    theta_M_L: torch.Tensor,
    theta_L_L: torch.Tensor,
    R_L_K: torch.Tensor,
    F0_M_K: torch.Tensor,
    ridge: float,
    overwrite: bool = False,
    block_rows: int | None = None,
) -> Posterior:
    """``F = F0_M + Θ_ML (Θ_LL + λI)⁻¹ R_L`` and ``A = Θ_MM − Θ_ML (Θ_LL + λI)⁻¹ Θ_LM``
    (spec §2.3; eq. 8 at t = ∞), float64, with one Cholesky factorisation of ``Θ_LL``.

    ``overwrite=True`` turns ``theta_M_M`` itself into ``A`` (no second ``M × M`` buffer).
    An empty L gives ``F = F0_M`` and ``A = Θ_MM``.
    """
    if ridge < 0:
        raise AlkitError(f"ridge must be ≥ 0, got {ridge}")
    A = theta_M_M if overwrite else theta_M_M.clone()
    if A.dtype != torch.float64:
        raise AlkitError(f"theta_M_M must be float64, got {A.dtype}")
    F = F0_M_K.to(torch.float64).clone()
    n = len(theta_L_L)
    if n == 0:
        return Posterior(F, A, float(ridge), {"jitter": 0.0, "min_eig": None})
    chol, ridge_used, info = factor_kernel(theta_L_L, ridge)
    V = torch.linalg.solve_triangular(chol, theta_M_L.to(torch.float64).T, upper=False)  # n × M
    W = torch.linalg.solve_triangular(chol, R_L_K.to(torch.float64), upper=False)  # n × K
    F.addmm_(V.T, W)
    rows = check_block_rows(block_rows, len(A))

    def block(s, e):
        A[s:e].addmm_(V[:, s:e].T, V, alpha=-1.0)
        return e - s

    map_row_blocks(block, len(A), rows)
    return Posterior(F, A, ridge_used, info)


def _onehot(labels_M: torch.Tensor, k: int) -> torch.Tensor:
    out = torch.zeros(len(labels_M), k, dtype=torch.float64, device=labels_M.device)
    out[torch.arange(len(labels_M), device=labels_M.device), labels_M] = 1.0
    return out


def _as_index(name: str, idx, m: int, device) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=device).reshape(-1)
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= m):
        raise AlkitError(f"{name} must hold positions in 0…{m - 1}")
    return t


def lookahead_predictions(F_M_K, A_M_M, j: int, target: int, ridge: float) -> torch.Tensor:
    """``F⁽ʲ⁾``: the predictions after adding candidate ``j`` with one-hot target ``target``."""
    a = A_M_M[:, j] / (A_M_M[j, j] + ridge)
    delta = -F_M_K[j].clone()
    delta[target] += 1.0
    return F_M_K + a[:, None] * delta[None, :]


def lookahead_risk(
    F_M_K: torch.Tensor,
    A_M_M: torch.Tensor,
    targets_M,
    cand,
    ridge: float,
    eval_labels_M=None,
    eval_mask_M=None,
    exclude_self: bool = True,
    block_rows: int | None = None,
    prune: bool = False,
) -> torch.Tensor:
    """The 0-1 look-ahead risk of adding each candidate (eq. 4 with the 0-1 loss, spec §2.3).

    ``risk_j = #{i : eval_mask_i, i ≠ j, argmax_c F⁽ʲ⁾_ic ≠ eval_labels_i}``, where candidate
    ``j`` is added with the one-hot target ``targets_M[j]``. ``eval_labels_M`` defaults to
    ``targets_M`` (NTKCPL: both are the cluster pseudo-labels); ``exclude_self=False`` also
    counts row ``j`` (LookAhead's agreement over the whole subset). Candidates ``cand``
    (positions in M) are scored ``block_rows`` at a time: memory ``block_rows × M × K``
    (default: :func:`score_block_rows`, about 8 MiB).

    ``prune=True`` skips the ``K``-wide argmax of pairs whose prediction cannot change: if
    ``|α_ij|·(max δ_j − min δ_j) < top1_i − top2_i`` the argmax of row i stays (exact bound,
    spec §9). Ties in argmax go to the lowest class. Returns ``len(cand)`` int64 risks.
    """
    M, K = F_M_K.shape
    dev = F_M_K.device
    targets = _as_index("targets_M", targets_M, K, dev)
    labels = targets if eval_labels_M is None else _as_index("eval_labels_M", eval_labels_M, K, dev)
    cand_t = _as_index("cand", cand, M, dev)
    mask = (
        torch.ones(M, dtype=torch.bool, device=dev)
        if eval_mask_M is None
        else torch.as_tensor(np.asarray(eval_mask_M), dtype=torch.bool, device=dev)
    )
    pred0 = F_M_K.argmax(1)
    wrong0 = (pred0 != labels) & mask
    rows = score_block_rows(M, K) if block_rows is None else check_block_rows(block_rows, 1)
    if prune:
        top2 = F_M_K.topk(min(2, K), dim=1).values
        margin = top2[:, 0] - top2[:, -1] if K > 1 else torch.full((M,), float("inf"), device=dev)

    # one workspace for every block: a fresh B × M × K tensor per block fragments the heap
    # (a 10,000-candidate pass grew to 20 GB resident on glibc)
    rows = min(rows, max(1, len(cand_t)))
    work = {
        "alpha": torch.empty(rows, M, dtype=F_M_K.dtype, device=dev),
        "G": torch.empty(rows if not prune else 1, M, K, dtype=F_M_K.dtype, device=dev),
        "pred": torch.empty(rows, M, dtype=torch.long, device=dev),
    }

    def block(s, e):
        J = cand_t[s:e]
        b = len(J)
        alpha = torch.index_select(A_M_M, 0, J, out=work["alpha"][:b])
        alpha.div_((A_M_M[J, J] + ridge)[:, None])  # B × M
        delta = -F_M_K[J]
        delta[torch.arange(b, device=dev), targets[J]] += 1.0  # B × K
        if not prune:
            G = torch.addcmul(F_M_K[None], alpha[:, :, None], delta[:, None, :], out=work["G"][:b])
            pred = torch.argmax(G, dim=2, out=work["pred"][:b])
            wrong = (pred != labels[None, :]) & mask[None, :]
        else:
            spread = delta.max(1).values - delta.min(1).values
            moved = alpha.abs() * spread[:, None] >= margin[None, :]
            wrong = wrong0[None, :].expand(b, M).clone()
            for r in range(b):
                ii = torch.nonzero(moved[r]).flatten()
                if len(ii):
                    g = torch.index_select(F_M_K, 0, ii, out=work["G"][0, : len(ii)])
                    g.addcmul_(alpha[r, ii][:, None], delta[r][None, :])
                    wrong[r, ii] = (g.argmax(1) != labels[ii]) & mask[ii]
        if exclude_self:
            wrong[torch.arange(b, device=dev), J] = False
        return wrong.sum(1)

    blocks = map_row_blocks(block, len(cand_t), rows)
    return torch.cat(blocks) if blocks else torch.zeros(0, dtype=torch.long, device=dev)


def project_to_simplex(x_N_K: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row onto the probability simplex (sort-based)."""
    K = x_N_K.shape[-1]
    u = torch.sort(x_N_K, dim=-1, descending=True).values
    css = u.cumsum(-1) - 1.0
    ks = torch.arange(1, K + 1, dtype=x_N_K.dtype, device=x_N_K.device)
    cond = u - css / ks > 0
    rho = cond.to(torch.long).cumsum(-1).argmax(-1, keepdim=True)
    tau = css.gather(-1, rho) / (rho + 1).to(x_N_K.dtype)
    return (x_N_K - tau).clamp(min=0.0)


def _soft_log(p, temperature: float):
    return torch.softmax(torch.log(project_to_simplex(p) + 1e-12) / temperature, dim=-1)


def lookahead_softmax_change(
    F_M_K: torch.Tensor,
    A_M_M: torch.Tensor,
    targets_M,
    cand,
    ridge: float,
    reference_M_K: torch.Tensor,
    temperature: float = 1.0,
    block_rows: int | None = None,
) -> torch.Tensor:
    """LookAhead's ``t_softmax`` objective: ``‖S(F⁽ʲ⁾) − S(ref)‖_F`` over all rows, with
    ``S(p) = softmax(log Π(p) / T)`` and ``Π`` the projection onto the simplex (Mohamadi et al.
    2022, code). Larger = the candidate changes the predictions more. ``len(cand)`` float64."""
    M, K = F_M_K.shape
    dev = F_M_K.device
    targets = _as_index("targets_M", targets_M, K, dev)
    cand_t = _as_index("cand", cand, M, dev)
    ref = _soft_log(reference_M_K.to(torch.float64), temperature)
    rows = score_block_rows(3 * M, K) if block_rows is None else check_block_rows(block_rows, 1)

    def block(s, e):
        J = cand_t[s:e]
        alpha = A_M_M[J] / (A_M_M[J, J] + ridge)[:, None]
        delta = -F_M_K[J]
        delta[torch.arange(len(J), device=dev), targets[J]] += 1.0
        G = torch.addcmul(F_M_K[None, :, :], alpha[:, :, None], delta[:, None, :])
        return (_soft_log(G, temperature) - ref[None]).pow(2).sum((1, 2)).sqrt()

    blocks = map_row_blocks(block, len(cand_t), rows)
    return torch.cat(blocks) if blocks else torch.zeros(0, dtype=torch.float64, device=dev)


def downdate(post: Posterior, j: int, target: int) -> None:
    """Add candidate ``j`` with one-hot ``target`` to the regression, in place (spec §2.3):
    ``F ← F⁽ʲ⁾``, ``A ← A − A[:, j] A[j, :] / (A_jj + λ)``."""
    F, A = post.F_M_K, post.A_M_M
    a = A[:, j].clone()
    denom = float(a[j]) + post.ridge
    delta = -F[j].clone()
    delta[target] += 1.0
    F.addr_(a, delta, alpha=1.0 / denom)
    A.addr_(a, a, alpha=-1.0 / denom)


@dataclass
class GreedyResult:
    """The greedy picks (positions in M, in pick order), the risk each pick was chosen with,
    the first step's risk of every position (−1 where not a candidate), and the posterior after
    all picks."""

    picks: np.ndarray
    risk_trace: np.ndarray
    first_risk_M: np.ndarray
    posterior: Posterior


def greedy_ntk_select(
    post: Posterior,
    y_cpl_M,
    b: int,
    candidate_mask_M=None,
    block_rows: int | None = None,
    prune: bool = False,
    picks_per_step: int = 1,
    progress: bool = False,
) -> GreedyResult:
    """Alg. 1 lines 10-18: ``b`` greedy look-ahead picks against the pseudo-labels ``y_cpl_M``.

    Each step scores every remaining candidate by :func:`lookahead_risk` over the remaining
    evaluation rows, takes the lowest risk (ties to the lowest position), and downdates
    ``post`` in place with the pick's pseudo-label (:func:`downdate`); picked rows leave both the
    candidates and the evaluation rows. ``picks_per_step = c > 1`` takes the ``c`` lowest risks
    of a step (LookAhead's "hybrid" mode: c× fewer scoring passes; no longer Alg. 1).
    ``candidate_mask_M`` restricts who may be picked (all rows are evaluated).
    """
    from alkit.progress import tqdm

    M = len(post.F_M_K)
    b = check_positive_int("b", b)
    c = check_positive_int("picks_per_step", picks_per_step)
    dev = post.F_M_K.device
    y = torch.as_tensor(np.asarray(y_cpl_M, dtype=np.int64), device=dev)
    cand_mask = (
        np.ones(M, dtype=bool) if candidate_mask_M is None else np.asarray(candidate_mask_M, bool)
    ).copy()
    if b > int(cand_mask.sum()):
        raise AlkitError(f"b={b} is larger than the {int(cand_mask.sum())} candidates")
    active = np.ones(M, dtype=bool)
    picks: list[int] = []
    trace: list[int] = []
    first = np.full(M, -1, dtype=np.int64)
    bar = tqdm(total=b, desc="NTK greedy", leave=False, disable=not progress)
    while len(picks) < b:
        cand = np.flatnonzero(cand_mask)
        risk = (
            lookahead_risk(
                post.F_M_K,
                post.A_M_M,
                y,
                cand,
                post.ridge,
                eval_mask_M=active,
                block_rows=block_rows,
                prune=prune,
            )
            .cpu()
            .numpy()
        )
        if not picks:
            first[cand] = risk
        take = np.argsort(risk, kind="stable")[: min(c, b - len(picks))]
        for t in take:
            j = int(cand[t])
            downdate(post, j, int(y[j]))
            picks.append(j)
            trace.append(int(risk[t]))
            active[j] = False
            cand_mask[j] = False
        bar.update(len(take))
    bar.close()
    return GreedyResult(np.asarray(picks, np.int64), np.asarray(trace, np.int64), first, post)
