"""Greedy k-center (core-set) selection with a running min-distance vector: O(N) memory.

Sener & Savarese (ICLR 2018), Algorithm 1: starting from the labelled set s⁰, repeatedly add
``u = argmax_{i} min_{j ∈ s} Δ(x_i, x_j)``. Only the vector ``δ_i = min_{j ∈ s} ‖x_i − x_j‖²``
is kept (O(N) memory); the full ``N × N`` matrix that some toolkits build is never formed.

Torch path (CPU/GPU): δ is refreshed lazily per row block (exact; see
:func:`_kcenter_steps_torch`), so a step reads only the blocks whose δ could hold the maximum
instead of the whole feature matrix. Triton path (GPU, opt-in until timed on one): one fused pass per step.
"""

from __future__ import annotations

import numpy as np
import torch

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels.blocks import (
    as_float_tensor,
    as_index_array,
    check_block_rows,
    check_sq_norms,
    map_row_blocks,
    progress,
)
from alkit.kernels.distances import min_sqdist, sq_norms

BACKENDS = ("auto", "torch", "triton")
#: δ of rows that are centres already: below every distance, so argmax never picks them again
#: (even when all remaining rows duplicate a centre and their δ is 0).
TAKEN = -1.0
#: rows per block of the lazy torch loop
LAZY_BLOCK = 1024


def _resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise AlkitError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        # the lazy torch loop reads only a few blocks per step; the fused Triton pass has not
        # been timed on a GPU yet, so it is opt-in (backend="triton") until it is measured faster
        return "torch"
    return backend


def kcenter_greedy(
    features_N_D,
    labeled_idx,
    n: int,
    block_rows: int | None = None,
    backend: str = "auto",
    return_distances: bool = False,
):
    """Choose ``n`` new centres by greedy k-center on ``features_N_D`` (Sener & Savarese, Alg. 1).

    Args:
        features_N_D: pool features, ``N × D`` (array or tensor; a CUDA tensor runs on the GPU).
        labeled_idx: rows already labelled (the initial centres), any length ``≥ 0``. With none,
            the first centre is the row farthest from the feature mean.
        n: number of rows to choose, ``1 ≤ n ≤ N − |labeled_idx|``.
        block_rows: row block of the initial ``N × |L|`` distance pass (default from
            ``ALKIT_BLOCK_BYTES``; halves on out-of-memory).
        backend: ``"torch"`` (lazy block refresh, CPU or GPU), ``"triton"`` (one fused
            distance + running-min + argmax pass per step; GPU, or CPU under
            ``TRITON_INTERPRET=1``) or ``"auto"`` (torch until Triton is measured faster).
        return_distances: also return the squared distance of each pick to the centres chosen
            before it (``n``) and the initial squared distance of every row to the labelled set
            (``N``; ``inf`` when nothing is labelled).

    Returns:
        ``indices_n`` (int64 NumPy, in pick order), plus ``(radii_n, initial_N)`` NumPy float64
        arrays when ``return_distances``.
    """
    X = as_float_tensor("features_N_D", features_N_D)
    N = len(X)
    labeled = as_index_array("labeled_idx", labeled_idx, N)
    n = check_positive_int("n", n)
    if n > N - len(labeled):
        raise AlkitError(f"n={n} is larger than the {N - len(labeled)} unlabelled rows")
    backend = _resolve_backend(backend)
    check_sq_norms("features_N_D", sq_norms(X))
    labeled_t = torch.as_tensor(labeled, device=X.device)
    min_d, _ = min_sqdist(X, X[labeled_t], block_rows=block_rows)
    initial = min_d.double().cpu().numpy().copy()
    if len(labeled):
        min_d[labeled_t] = TAKEN
        first = None
    else:
        first = farthest_from_mean(X, block_rows)
    if backend == "triton":
        from alkit.kernels.triton_kcenter import kcenter_steps_triton

        picks, radii = kcenter_steps_triton(X, min_d, n, first)
    else:
        picks, radii = _kcenter_steps_torch(X, min_d, n, first)
    picks = picks.cpu().numpy().astype(np.int64)
    if return_distances:
        return picks, radii.double().cpu().numpy(), initial
    return picks


def farthest_from_mean(X_N_D: torch.Tensor, block_rows: int | None = None) -> int:
    """The row farthest from the feature mean, ``argmax_i ‖x_i − x̄‖²`` (first on ties).

    Walked in row blocks, so the extra memory is one ``block_rows × D`` block, never a centred
    copy of ``X`` (``X − x̄`` of a 1M × 512 pool would add 2 GB).
    """
    mean_D = X_N_D.mean(0)

    def block(s: int, e: int) -> tuple[float, int]:
        d = sq_norms(X_N_D[s:e] - mean_D)
        i = int(torch.argmax(d))
        return float(d[i]), s + i

    best = map_row_blocks(block, len(X_N_D), check_block_rows(block_rows, X_N_D.shape[1]))
    top = max(v for v, _ in best)
    return next(i for v, i in best if v == top)


@torch.no_grad()
def _kcenter_steps_torch(X_N_D, min_d_N, n: int, first: int | None, block: int = LAZY_BLOCK):
    """The greedy loop with lazily refreshed row blocks (exact; see :func:`kcenter_greedy`).

    Rows are cut into blocks of ``block``. Each block keeps ``δ`` values that may miss the
    centres chosen since its last refresh (so they are upper bounds) and the block's maximum. A
    step refreshes the block of largest bound (one small GEMM against all its pending centres)
    until that block is fresh: its exact maximum then beats every other block's upper bound, so
    it is the global argmax (ties go to the lowest index, as in ``torch.argmax``). Blocks far from
    the new centres are never re-read, so a step costs far less than a pass over ``X``.
    """
    N, D = X_N_D.shape
    dev = X_N_D.device
    x_sq = sq_norms(X_N_D)
    n_blocks = -(-N // block)
    delta = min_d_N.new_full((n_blocks * block,), TAKEN)
    delta[:N] = min_d_N
    delta = delta.view(n_blocks, block)
    bound = delta.max(dim=1).values
    applied = np.zeros(n_blocks, dtype=np.int64)
    centres = X_N_D.new_empty((n, D))
    centre_sq = X_N_D.new_empty(n)
    picks = np.empty(n, dtype=np.int64)
    radii = np.empty(n, dtype=np.float64)
    for i in progress(range(n), "k-center", N):
        if i == 0 and first is not None:
            c, radius = int(first), float("inf")
        else:
            while True:
                b = int(torch.argmax(bound))
                if applied[b] == i:
                    break
                rows = slice(b * block, min(N, (b + 1) * block))
                k0 = int(applied[b])
                d = torch.addmm(centre_sq[None, k0:i], X_N_D[rows], centres[k0:i].T, alpha=-2.0)
                d += x_sq[rows, None]
                seg = delta[b, : rows.stop - rows.start]
                torch.minimum(seg, d.min(dim=1).values, out=seg)
                applied[b] = i
                bound[b] = delta[b].max()
            j = int(torch.argmax(delta[b]))
            c, radius = b * block + j, float(delta[b, j])
        picks[i], radii[i] = c, radius
        delta.view(-1)[c] = TAKEN
        bound[c // block] = delta[c // block].max()
        centres[i] = X_N_D[c]
        centre_sq[i] = x_sq[c]
    return torch.as_tensor(picks, device=dev), torch.as_tensor(radii)
