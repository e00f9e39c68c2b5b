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
from alkit.strategies.options import MAX_CANDIDATES, Option

SCORES = ("soft", "vote")


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

    option_specs = {
        "n_members": Option(int, min=1, doc="committee size K"),
        "p": Option(float, min=0.0, max=0.99, doc="dropout rate of the members' masks"),
        "score": Option(str, choices=SCORES, doc="soft margin (eq. 3.3) or the code's vote"),
        "finetune_steps": Option(int, min=0, doc="steps re-fitting each member's last layer"),
        "finetune_lr": Option(float, min=1e-12, doc="learning rate of that re-fit"),
        "max_candidates": MAX_CANDIDATES,
    }

    def __init__(
        self,
        n_members: int = 5,
        p: float = 0.5,
        score: str = "soft",
        finetune_steps: int = 100,
        finetune_lr: float = 1e-2,
        max_candidates: int | None = None,
    ):
        self.n_members = n_members
        self.p = float(p)
        self.score = score
        self.finetune_steps = finetune_steps
        self.finetune_lr = float(finetune_lr)
        self.max_candidates = max_candidates

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
