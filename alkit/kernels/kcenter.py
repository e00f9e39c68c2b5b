"""Greedy k-center (core-set) selection with a running min-distance vector: O(N) memory.

Sener & Savarese (ICLR 2018), Algorithm 1: starting from the labelled set s⁰, repeatedly add
``u = argmax_{i} min_{j ∈ s} Δ(x_i, x_j)``. Only the vector ``δ_i = min_{j ∈ s} ‖x_i − x_j‖²``
is kept; each step reads the features once (a matrix–vector product) and updates δ with the
distances to the new centre. The full ``N × N`` matrix that some toolkits build is never formed.
"""

from __future__ import annotations

import numpy as np
import torch

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels.blocks import as_float_tensor, as_index_array
from alkit.kernels.distances import min_sqdist, sq_norms

BACKENDS = ("auto", "torch", "triton")
#: δ of rows that are centres already: below every distance, so argmax never picks them again
#: (even when all remaining rows duplicate a centre and their δ is 0).
TAKEN = -1.0


def _resolve_backend(backend: str, device: torch.device) -> str:
    if backend not in BACKENDS:
        raise AlkitError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        from alkit.kernels.triton_kcenter import triton_usable

        return "triton" if device.type == "cuda" and triton_usable() else "torch"
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
        backend: ``"torch"``, ``"triton"`` (fused distance + running-min + argmax kernel) or
            ``"auto"`` (Triton on CUDA when available, else torch).
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
    backend = _resolve_backend(backend, X.device)
    labeled_t = torch.as_tensor(labeled, device=X.device)
    min_d, _ = min_sqdist(X, X[labeled_t], block_rows=block_rows)
    initial = min_d.double().cpu().numpy().copy()
    if len(labeled):
        min_d[labeled_t] = TAKEN
        first = None
    else:
        first = int(torch.argmax(sq_norms(X - X.mean(0))))
    if backend == "triton":
        from alkit.kernels.triton_kcenter import kcenter_steps_triton

        picks, radii = kcenter_steps_triton(X, min_d, n, first)
    else:
        picks, radii = _kcenter_steps_torch(X, min_d, n, first)
    picks = picks.cpu().numpy().astype(np.int64)
    if return_distances:
        return picks, radii.double().cpu().numpy(), initial
    return picks


@torch.no_grad()
def _kcenter_steps_torch(X_N_D, min_d_N, n: int, first: int | None):
    """The greedy loop: ``n`` steps of argmax, then ``δ ← min(δ, ‖x − x_c‖²)``; updates δ in place."""
    x_sq = sq_norms(X_N_D)
    buf = torch.empty_like(min_d_N)
    picks = torch.empty(n, dtype=torch.long, device=X_N_D.device)
    radii = torch.empty(n, dtype=X_N_D.dtype, device=X_N_D.device)
    for i in range(n):
        if i == 0 and first is not None:
            c = torch.tensor(first, device=X_N_D.device)
            radii[i] = float("inf")
        else:
            c = torch.argmax(min_d_N)
            radii[i] = min_d_N[c]
        picks[i] = c
        # δ_i ← min(δ_i, ‖x_i‖² + ‖x_c‖² − 2 x_i·x_c): one matrix–vector product per step
        torch.addmv(x_sq, X_N_D, X_N_D[c], alpha=-2.0, out=buf)
        buf += x_sq[c]
        torch.minimum(min_d_N, buf, out=min_d_N)
        min_d_N[c] = TAKEN
    return picks, radii
