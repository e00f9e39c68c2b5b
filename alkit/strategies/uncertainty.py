"""Softmax uncertainty sampling: least confidence, margin and entropy (Settles 2009)."""

from __future__ import annotations

import numpy as np

from alkit.errors import AlkitError
from alkit.strategies.base import (
    Query,
    QueryContext,
    Strategy,
    candidate_scores,
    register,
    top_n,
)
from alkit.strategies.options import MAX_CANDIDATES


def least_confidence(probs_N_C: np.ndarray) -> np.ndarray:
    """``1 − max_c p_c`` for each row of ``probs_N_C``; shape ``N``."""
    return 1.0 - probs_N_C.max(axis=1)


def margin(probs_N_C: np.ndarray) -> np.ndarray:
    """``1 − (p_(1) − p_(2))``: one minus the gap between the two most likely classes; ``N``.

    A one-class model (``C = 1``) has no second class: ``p_(2) = 0``, so the score is
    ``1 − p_(1)`` (0 for a softmax over one class: nothing is uncertain).
    """
    p = np.asarray(probs_N_C)
    if p.ndim != 2 or p.shape[1] < 1:
        raise AlkitError(f"probs_N_C must be N × C with C ≥ 1, got shape {p.shape}")
    if p.shape[1] == 1:
        return 1.0 - p[:, 0]
    top2 = np.partition(p, -2, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def entropy(probs_N_C: np.ndarray) -> np.ndarray:
    """Predictive entropy ``−Σ_c p_c log p_c`` (nats, 0·log 0 = 0); shape ``N``."""
    p = np.asarray(probs_N_C, dtype=np.float64)
    return -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)


class _SoftmaxUncertainty(Strategy):
    score_fn = staticmethod(entropy)
    needs = frozenset({"learner"})
    option_specs = {"max_candidates": MAX_CANDIDATES}

    def __init__(self, max_candidates: int | None = None):
        self.max_candidates = max_candidates

    def select(self, ctx: QueryContext, n: int) -> Query:
        candidates = ctx.unlabeled_idx
        scored = ctx.subsample(candidates, self.max_candidates, n)
        scores = candidate_scores(candidates, scored, self.score_fn(ctx.predict_proba(scored)))
        return Query(candidates[top_n(scores, n)], candidates, scores)


@register
class LeastConfidence(_SoftmaxUncertainty):
    """Query the samples whose most likely class has the lowest probability."""

    name = "least_confidence"
    paper = "Settles 2009 (baseline)"
    score_fn = staticmethod(least_confidence)


@register
class Margin(_SoftmaxUncertainty):
    """Query the samples with the smallest gap between the two most likely classes."""

    name = "margin"
    paper = "Scheffer et al. 2001 (baseline)"
    score_fn = staticmethod(margin)


@register
class Entropy(_SoftmaxUncertainty):
    """Query the samples with the highest predictive entropy."""

    name = "entropy"
    paper = "Shannon-entropy sampling (baseline)"
    score_fn = staticmethod(entropy)
