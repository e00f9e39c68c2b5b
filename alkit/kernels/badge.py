"""BADGE gradient embeddings, factorised so the ``N × (C·d)`` embedding is never built.

Ash et al. (ICLR 2020), §3: the gradient of the cross-entropy at the predicted label ``ŷ`` with
respect to the last layer's weights is ``g_x = q_x ⊗ h_x`` with ``h`` the penultimate features
(``d``) and ``q = p − e_ŷ`` (``C``), i.e. block ``c`` of ``g`` is ``(p_c − 1[c = ŷ]) h``. Because
``g_i·g_j = (h_i·h_j)(q_i·q_j)``,

    ‖g_i − g_j‖² = ‖h_i‖²‖q_i‖² + ‖h_j‖²‖q_j‖² − 2 (h_i·h_j)(q_i·q_j),

so distances cost ``O(d + C)`` per pair and ``O(N(d + C))`` memory. BADGE then seeds k-means++
on the ``g``: the first centre is the largest ``‖g‖``, the next ones are D² draws.
"""

from __future__ import annotations

import numpy as np
import torch

from alkit.errors import AlkitError, check_positive_int, check_same_length
from alkit.kernels.blocks import (
    as_float_tensor,
    check_block_rows,
    check_sq_norms,
    map_row_blocks,
)
from alkit.kernels.distances import sq_norms
from alkit.kernels.kmeans import d2_seeding


def badge_q(probs_N_C) -> torch.Tensor:
    """``q = p − e_ŷ`` with ``ŷ = argmax p``: the per-class factor of the gradient, ``N × C``."""
    p = as_float_tensor("probs_N_C", probs_N_C)
    q = p.clone()
    q[torch.arange(len(p), device=p.device), p.argmax(1)] -= 1.0
    return q


def badge_embedding(h_N_D, q_N_C) -> torch.Tensor:
    """The materialised gradient embedding ``g = q ⊗ h``, ``N × (C·d)`` (block c = q_c h).

    Only for tests and the naive side of the benchmark: BADGE itself never builds it.
    """
    h = as_float_tensor("h_N_D", h_N_D)
    q = as_float_tensor("q_N_C", q_N_C, device=h.device)
    return (q[:, :, None] * h[:, None, :]).reshape(len(h), -1)


def badge_pairwise_sqdist(h_A_D, q_A_C, h_B_D, q_B_C, block_rows: int | None = None):
    """Factorised ``‖g_i − g_j‖²`` between two sets, ``A × B``, in row blocks (Ash et al. §3)."""
    hA = as_float_tensor("h_A_D", h_A_D)
    qA = as_float_tensor("q_A_C", q_A_C, device=hA.device)
    hB = as_float_tensor("h_B_D", h_B_D, device=hA.device)
    qB = as_float_tensor("q_B_C", q_B_C, device=hA.device)
    check_same_length(h_A=hA, q_A=qA)
    check_same_length(h_B=hB, q_B=qB)
    gA, gB = sq_norms(hA) * sq_norms(qA), sq_norms(hB) * sq_norms(qB)
    for name, t in (("h_A_D", sq_norms(hA)), ("h_B_D", sq_norms(hB)), ("g_A", gA), ("g_B", gB)):
        check_sq_norms(name, t)
    rows = check_block_rows(block_rows, len(hB))

    def block(s, e):
        d = (hA[s:e] @ hB.T).mul_(qA[s:e] @ qB.T).mul_(-2.0)
        return d.add_(gA[s:e, None]).add_(gB[None, :]).clamp_(min=0.0)

    blocks = map_row_blocks(block, len(hA), rows)
    return torch.cat(blocks) if blocks else hA.new_zeros((0, len(hB)))


def badge_seeding(h_N_D, q_N_C, k: int, rng: np.random.Generator) -> np.ndarray:
    """BADGE's k-means++ seeding on the factorised gradient embedding: ``k`` row indices.

    First centre: the row of largest ``‖g‖ = ‖h‖‖q‖``; then D² sampling with the factorised
    distance (lazy exact D² sampling, :func:`alkit.kernels.d2_seeding`). Memory ``O(N)`` beyond
    the inputs; the ``N × (C·d)`` embedding is never formed.
    """
    h = as_float_tensor("h_N_D", h_N_D)
    q = as_float_tensor("q_N_C", q_N_C, device=h.device)
    check_same_length(h=h, q=q)
    k = check_positive_int("k", k)
    if k > len(h):
        raise AlkitError(f"k={k} is larger than the number of rows ({len(h)})")
    g_sq = sq_norms(h) * sq_norms(q)
    check_sq_norms("h_N_D", sq_norms(h))
    check_sq_norms("gradient embedding ‖g‖² = ‖h‖²‖q‖²", g_sq)

    def block_dist(s: int, e: int, centres_K: torch.Tensor) -> torch.Tensor:
        centres_K = centres_K.to(h.device)
        d = (h[s:e] @ h[centres_K].T).mul_(q[s:e] @ q[centres_K].T).mul_(-2.0)
        return d.add_(g_sq[s:e, None]).add_(g_sq[centres_K][None, :])

    return d2_seeding(len(h), k, block_dist, rng, int(torch.argmax(g_sq)))
