"""Triton GPU kernel for one k-center step: distance to the new centre + running min + argmax.

A full-pass step in torch is a matrix–vector product, three element-wise passes over
``N``-vectors and a host sync on ``argmax``. This kernel fuses them: each program reads a ``BLOCK_N × D`` tile of the features once, computes ``‖x_i − x_c‖²``,
updates ``δ_i ← min(δ_i, ·)`` in place and writes the tile's maximum and its position. A tiny
torch ``argmax`` over the per-tile maxima gives the next centre, kept on the device, so the whole
loop runs without a host round trip.

On CPU it runs under the Triton interpreter (``TRITON_INTERPRET=1``), which the tests use to
check it against the torch path.
"""

from __future__ import annotations

import functools
import os

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # pragma: no cover - triton ships with the CUDA torch wheels
    triton = None


@functools.cache
def triton_usable() -> bool:
    """True when Triton can run here: a CUDA GPU, or the interpreter (``TRITON_INTERPRET=1``)."""
    if triton is None:
        return False
    return torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"


if triton is not None:

    @triton.jit
    def _kcenter_step_kernel(
        x_ptr,
        stride_x,
        min_d_ptr,
        center_ptr,
        part_max_ptr,
        part_idx_ptr,
        N,
        D,
        TAKEN: tl.constexpr,
        BLOCK_N: tl.constexpr,
        BLOCK_D: tl.constexpr,
    ):
        pid = tl.program_id(0)
        rows = pid * BLOCK_N + tl.arange(0, BLOCK_N)
        row_ok = rows < N
        c = tl.load(center_ptr)
        acc = tl.zeros([BLOCK_N], dtype=tl.float32)
        for d0 in range(0, D, BLOCK_D):
            cols = d0 + tl.arange(0, BLOCK_D)
            col_ok = cols < D
            x = tl.load(
                x_ptr + rows[:, None] * stride_x + cols[None, :],
                mask=row_ok[:, None] & col_ok[None, :],
                other=0.0,
            )
            xc = tl.load(x_ptr + c * stride_x + cols, mask=col_ok, other=0.0)
            diff = x - xc[None, :]
            acc += tl.sum(diff * diff, axis=1)
        old = tl.load(min_d_ptr + rows, mask=row_ok, other=TAKEN)
        new = tl.minimum(old, acc)
        new = tl.where(rows == c, TAKEN, new)
        tl.store(min_d_ptr + rows, new, mask=row_ok)
        new = tl.where(row_ok, new, 2.0 * TAKEN)
        best, pos = tl.max(new, axis=0, return_indices=True, return_indices_tie_break_left=True)
        tl.store(part_max_ptr + pid, best)
        tl.store(part_idx_ptr + pid, pid * BLOCK_N + pos)


@torch.no_grad()
def kcenter_steps_triton(X_N_D: torch.Tensor, min_d_N: torch.Tensor, n: int, first, block_n=128):
    """The greedy k-center loop with the fused Triton step; same contract as the torch loop.

    ``X_N_D`` float32 (row-contiguous), ``min_d_N`` the running squared min-distances (updated in
    place, centres marked ``TAKEN``). Returns ``(picks_n, radii_n)`` tensors on ``X``'s device.
    """
    from alkit.kernels.kcenter import TAKEN

    if not triton_usable():
        raise RuntimeError(
            "the Triton k-center kernel needs a CUDA GPU or TRITON_INTERPRET=1; use backend='torch'"
        )
    X = X_N_D.contiguous()
    N, D = X.shape
    dev = X.device
    n_blocks = triton.cdiv(N, block_n)
    block_d = min(128, triton.next_power_of_2(D))
    part_max = torch.empty(n_blocks, dtype=torch.float32, device=dev)
    part_idx = torch.empty(n_blocks, dtype=torch.long, device=dev)
    picks = torch.empty(n, dtype=torch.long, device=dev)
    radii = torch.empty(n, dtype=torch.float32, device=dev)
    if first is None:
        center = torch.argmax(min_d_N).view(1).clone()
        radii[0] = min_d_N[center[0]]
    else:
        center = torch.tensor([first], dtype=torch.long, device=dev)
        radii[0] = float("inf")
    for i in range(n):
        picks[i] = center[0]
        if i == n - 1:
            break
        _kcenter_step_kernel[(n_blocks,)](
            X, X.stride(0), min_d_N, center, part_max, part_idx, N, D,
            TAKEN=TAKEN, BLOCK_N=block_n, BLOCK_D=block_d,
        )  # fmt: skip
        b = torch.argmax(part_max)
        center.copy_(part_idx[b].view(1))
        radii[i + 1] = part_max[b]
    return picks, radii
