"""Pairwise distances in row blocks: squared Euclidean and cosine.

``‖a − b‖² = ‖a‖² + ‖b‖² − 2 a·b`` turns a block of distances into one matrix product, which is
what makes them fast on CPU and GPU; the result is clamped at 0 against round-off.
"""

from __future__ import annotations

import torch

from alkit.kernels.blocks import (
    as_float_tensor,
    check_block_rows,
    check_sq_norms,
    map_row_blocks,
)


def sq_norms(x_N_D: torch.Tensor) -> torch.Tensor:
    """Squared row norms ``‖x_i‖²``, shape ``N``."""
    return torch.einsum("nd,nd->n", x_N_D, x_N_D)


def _sqdist_block(a_B_D, a_sq_B, b_M_D, b_sq_M) -> torch.Tensor:
    d = torch.addmm(b_sq_M[None, :], a_B_D, b_M_D.T, alpha=-2.0)
    d += a_sq_B[:, None]
    return d.clamp_(min=0.0)


def pairwise_sqeuclidean(a_N_D, b_M_D, block_rows: int | None = None) -> torch.Tensor:
    """Squared Euclidean distances ``‖a_i − b_j‖²``, shape ``N × M``, computed in row blocks.

    The output itself is ``N × M``: call it for a block of rows or for a small ``M`` (centres,
    a labelled set), never for pool × pool. ``block_rows`` bounds the temporary memory.
    """
    a = as_float_tensor("a_N_D", a_N_D)
    b = as_float_tensor("b_M_D", b_M_D, device=a.device)
    a_sq, b_sq = sq_norms(a), sq_norms(b)
    check_sq_norms("a_N_D", a_sq)
    check_sq_norms("b_M_D", b_sq)
    rows = check_block_rows(block_rows, len(b))
    blocks = map_row_blocks(lambda s, e: _sqdist_block(a[s:e], a_sq[s:e], b, b_sq), len(a), rows)
    return torch.cat(blocks) if blocks else a.new_zeros((0, len(b)))


def pairwise_cosine(
    a_N_D, b_M_D, block_rows: int | None = None, eps: float = 1e-12
) -> torch.Tensor:
    """Cosine distances ``1 − a_i·b_j / (‖a_i‖‖b_j‖)``, shape ``N × M``, in row blocks.

    Zero vectors are treated as having norm ``eps`` (their distance to everything is 1).
    """
    a = as_float_tensor("a_N_D", a_N_D)
    b = as_float_tensor("b_M_D", b_M_D, device=a.device)
    b_unit = b / sq_norms(b).sqrt().clamp(min=eps)[:, None]
    rows = check_block_rows(block_rows, len(b))

    def block(s, e):
        a_unit = a[s:e] / sq_norms(a[s:e]).sqrt().clamp(min=eps)[:, None]
        return (1.0 - a_unit @ b_unit.T).clamp_(min=0.0, max=2.0)

    blocks = map_row_blocks(block, len(a), rows)
    return torch.cat(blocks) if blocks else a.new_zeros((0, len(b)))


def min_sqdist(
    points_N_D, refs_M_D, block_rows: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance from each point to its nearest reference: ``(min_j ‖x_i − r_j‖², argmin_j)``.

    Shapes ``N`` and ``N`` (int64); memory ``block_rows × M``, never ``N × M``. With ``M = 0``
    every distance is ``+inf`` and every index −1.
    """
    x = as_float_tensor("points_N_D", points_N_D)
    r = as_float_tensor("refs_M_D", refs_M_D, device=x.device)
    if len(r) == 0:
        return (
            torch.full((len(x),), float("inf"), device=x.device),
            torch.full((len(x),), -1, dtype=torch.long, device=x.device),
        )
    x_sq, r_sq = sq_norms(x), sq_norms(r)
    check_sq_norms("points_N_D", x_sq)
    check_sq_norms("refs_M_D", r_sq)
    rows = check_block_rows(block_rows, len(r))
    blocks = map_row_blocks(
        lambda s, e: _sqdist_block(x[s:e], x_sq[s:e], r, r_sq).min(dim=1), len(x), rows
    )
    return torch.cat([b.values for b in blocks]), torch.cat([b.indices for b in blocks])
