"""Exact k-nearest neighbours (squared Euclidean) in query-row × reference-column blocks."""

from __future__ import annotations

import torch

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels.blocks import (
    as_float_tensor,
    check_block_rows,
    check_sq_norms,
    map_row_blocks,
)
from alkit.kernels.distances import _sqdist_block, sq_norms


def knn(
    queries_Q_D,
    refs_N_D=None,
    k: int = 1,
    block_rows: int | None = None,
    block_cols: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest references of every query: ``(sqdist_Q_k, index_Q_k)``, nearest first.

    With ``refs_N_D=None`` the queries are their own references and each point is excluded from
    its own neighbour list (so ``k ≤ Q − 1``). Memory is ``block_rows × (block_cols + k)``: the
    running top-k of a row block is merged with each column block in turn. Ties go to the lower
    reference index.
    """
    q = as_float_tensor("queries_Q_D", queries_Q_D)
    self_ref = refs_N_D is None
    r = q if self_ref else as_float_tensor("refs_N_D", refs_N_D, device=q.device)
    k = check_positive_int("k", k)
    n_avail = len(r) - (1 if self_ref else 0)
    if k > n_avail:
        raise AlkitError(f"k={k} is larger than the {n_avail} available neighbours")
    cols = min(len(r), len(r) if block_cols is None else check_block_rows(block_cols, 1))
    rows = check_block_rows(block_rows, cols + k)
    q_sq, r_sq = sq_norms(q), sq_norms(r)
    check_sq_norms("queries_Q_D", q_sq)
    check_sq_norms("refs_N_D", r_sq)

    def block(s, e):
        best_d = q.new_full((e - s, 0), 0.0)
        best_i = torch.zeros((e - s, 0), dtype=torch.long, device=q.device)
        for c0 in range(0, len(r), cols):
            c1 = min(len(r), c0 + cols)
            d = _sqdist_block(q[s:e], q_sq[s:e], r[c0:c1], r_sq[c0:c1])
            if self_ref:
                rows_in = torch.arange(s, e, device=q.device)
                own = (rows_in >= c0) & (rows_in < c1)
                d[own.nonzero()[:, 0], rows_in[own] - c0] = float("inf")
            idx = torch.arange(c0, c1, device=q.device).expand(e - s, -1)
            all_d = torch.cat([best_d, d], dim=1)
            all_i = torch.cat([best_i, idx], dim=1)
            # stable sort keeps the lower index first among equal distances
            order = torch.sort(all_d, dim=1, stable=True).indices[:, :k]
            best_d = all_d.gather(1, order)
            best_i = all_i.gather(1, order)
        return best_d, best_i

    blocks = map_row_blocks(block, len(q), rows)
    return torch.cat([b[0] for b in blocks]), torch.cat([b[1] for b in blocks])
