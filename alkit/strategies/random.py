"""Uniform random sampling: the baseline every method must beat."""

from __future__ import annotations

from alkit.strategies.base import Query, QueryContext, Strategy, register, top_n


@register
class RandomSampling(Strategy):
    """Pick ``n`` unlabelled samples uniformly at random (no model needed).

    The score of each candidate is the uniform draw that ranks it, so the batch is the top-n
    of i.i.d. U(0, 1) scores: a uniform sample without replacement.
    """

    name = "random"
    paper = "baseline"
    deterministic = False

    def select(self, ctx: QueryContext, n: int) -> Query:
        candidates = ctx.unlabeled_idx
        scores = ctx.rng.random(len(candidates))
        return Query(candidates[top_n(scores, n)], candidates, scores)
