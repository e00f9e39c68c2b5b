"""Dropout Query-by-Committee, ``dqbc`` (Ducoffe thesis ch. 3, Method 3.1.1, eq. 3.1–3.3).

One query: sample ``K`` partial networks from the trained network by batchwise dropout (one
mask per member over hidden units/channels, shared by all inputs), re-fit each member's last
layer on the labelled set's cached features, and query the candidates the committee disagrees
on most (eq. 3.1). The kernels live in :mod:`alkit.kernels.committee`.

Scores (higher = more wanted):

* ``score="soft"`` (default): the soft margin rg(x) of eq. 3.3;
* ``score="vote"``: the number of members whose vote differs from the majority, the score the
  authors' code actually returns (REFERENCES.md asks for both).

Ties (many candidates score 0 when the committee agrees; the vote takes only K + 1 values) are
broken at random from ``ctx.rng``. Thesis defaults differ from the code's (K = 5 vs 3;
candidates 30 × the batch vs random minibatches); ``n_members`` and ``max_candidates`` set them.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels.committee import (
    committee_label,
    committee_probs,
    fit_linear_head,
    masked_head_inputs,
    soft_margin,
    unit_masks,
    vote_disagreement,
)
from alkit.strategies.base import Query, QueryContext, Strategy, candidate_scores, register

SCORES = ("soft", "vote")


def _check_optional_positive(name: str, value) -> int | None:
    return None if value is None else check_positive_int(name, value)


@register
class DropoutQBC(Strategy):
    """Dropout Query-by-Committee (Ducoffe & Precioso 2015; thesis ch. 3).

    Options: ``n_members`` K (thesis 5, code 3); ``p`` the fraction of hidden units each member
    drops (code 0.5); ``score`` ``"soft"`` (eq. 3.3) or ``"vote"`` (code);
    ``finetune_steps``/``finetune_lr`` the full-batch Adam re-fit of each member's head on the
    labelled features (0 steps keeps the full head); ``max_candidates`` a random candidate subset
    (thesis: 30 × the query size; None scores the whole unlabelled pool).

    ``info``: ``scored`` (pool indices scored), ``probs`` (``K × M × C`` member probabilities),
    ``label`` (eq. 3.2 majority label), ``soft`` and ``vote`` (both scores of the scored rows).
    """

    name = "dqbc"
    paper = "Ducoffe & Precioso 2015; Ducoffe PhD thesis ch. 3 (seed 001)"
    deterministic = False
    needs: ClassVar[frozenset[str]] = frozenset({"learner"})

    def __init__(
        self,
        n_members: int = 5,
        p: float = 0.5,
        score: str = "soft",
        finetune_steps: int = 100,
        finetune_lr: float = 1e-2,
        max_candidates: int | None = None,
    ):
        self.n_members = check_positive_int("n_members", n_members)
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise AlkitError(f"option p must be a dropout rate in [0, 1), got {p!r}")
        self.p = float(p)
        if score not in SCORES:
            raise AlkitError(f"option score must be one of {SCORES}, got {score!r}")
        self.score = score
        if (
            isinstance(finetune_steps, bool)
            or not isinstance(finetune_steps, (int, np.integer))
            or finetune_steps < 0
        ):
            raise AlkitError(
                f"option finetune_steps must be an integer ≥ 0, got {finetune_steps!r}"
            )
        self.finetune_steps = int(finetune_steps)
        if isinstance(finetune_lr, bool) or not isinstance(finetune_lr, (int, float)):
            raise AlkitError(f"option finetune_lr must be a number > 0, got {finetune_lr!r}")
        if not finetune_lr > 0:
            raise AlkitError(f"option finetune_lr must be > 0, got {finetune_lr!r}")
        self.finetune_lr = float(finetune_lr)
        self.max_candidates = _check_optional_positive("max_candidates", max_candidates)

    def committee(self, ctx: QueryContext, idx: np.ndarray) -> np.ndarray:
        """Member probabilities of pool rows ``idx``: ``probs_K_M_C`` (masks from ``ctx.rng``)."""
        learner = ctx.require_learner(self.name)
        model = learner.model
        masks = unit_masks(model, self.n_members, self.p, ctx.rng)
        batch = learner.inference_batch_size
        labeled = ctx.labeled_idx
        feats_L = masked_head_inputs(model, masks, ctx.pool.X[labeled], batch, self.n_members)
        W, b = fit_linear_head(
            feats_L,
            ctx.labeled_y,
            model.head.weight,
            model.head.bias,
            steps=self.finetune_steps,
            lr=self.finetune_lr,
        )
        feats_M = masked_head_inputs(model, masks, ctx.pool.X[idx], batch, self.n_members)
        return committee_probs(feats_M, W, b)

    def select(self, ctx: QueryContext, n: int) -> Query:
        candidates = ctx.unlabeled_idx
        scored = ctx.subsample(candidates, self.max_candidates, n)
        probs = self.committee(ctx, scored)
        label = committee_label(probs)
        soft = soft_margin(probs, label)
        vote = vote_disagreement(probs, label)
        scores = candidate_scores(candidates, scored, soft if self.score == "soft" else vote)
        tie = ctx.rng.random(len(candidates))
        order = np.lexsort((tie, -np.where(np.isnan(scores), -np.inf, scores)))
        info = {"scored": scored, "probs": probs, "label": label, "soft": soft, "vote": vote}
        return Query(candidates[order[:n]], candidates, scores, info=info)
