"""BADGE: k-means++ seeding on last-layer gradient embeddings (Ash et al., ICLR 2020)."""

from __future__ import annotations

import torch

from alkit.kernels import badge_q, badge_seeding, sq_norms
from alkit.strategies.base import Query, QueryContext, Strategy, register


@register
class Badge(Strategy):
    """Batch Active learning by Diverse Gradient Embeddings (Ash et al. 2020, Alg. 1).

    The gradient embedding ``g = (p − e_ŷ) ⊗ h`` is never materialised: k-means++ runs on the
    factorised distances of :func:`alkit.kernels.badge_seeding`. Scores: the gradient norm
    ``‖g‖ = ‖h‖‖p − e_ŷ‖`` (the magnitude BADGE trades off against diversity).
    """

    name = "badge"
    paper = "Ash et al., ICLR 2020"
    deterministic = False
    needs = frozenset({"learner"})

    def select(self, ctx: QueryContext, n: int) -> Query:
        candidates = ctx.unlabeled_idx
        device = ctx.require_learner(self.name).device
        h = torch.as_tensor(ctx.embed(candidates)).to(device)
        q = badge_q(torch.as_tensor(ctx.predict_proba(candidates)).to(device))
        picks = badge_seeding(h, q, n, ctx.rng)
        scores = (sq_norms(h) * sq_norms(q)).sqrt().double().cpu().numpy()
        return Query(candidates[picks], candidates, scores)
