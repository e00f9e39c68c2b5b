"""Core-set selection by greedy k-center on the model's embeddings (Sener & Savarese, ICLR 2018)."""

from __future__ import annotations

import numpy as np
import torch

from alkit.kernels import kcenter_greedy
from alkit.strategies.base import Query, QueryContext, Strategy, register


def pool_features(ctx: QueryContext) -> torch.Tensor:
    """Penultimate embeddings of the whole pool, ``N × D``, on the learner's device."""
    learner = ctx.require_learner("embeddings")
    feats = torch.as_tensor(ctx.embed(np.arange(len(ctx.pool))))
    return feats.to(learner.device)


@register
class CoreSet(Strategy):
    """Greedy k-center (Sener & Savarese 2018, Alg. 1): repeatedly add the unlabelled sample
    farthest from its nearest labelled-or-chosen sample in embedding space.

    Scores: each candidate's Euclidean distance to its nearest labelled sample before the query
    (higher = farther from what is labelled). ``info["radii"]`` holds the distance of each pick
    at the moment it was chosen (non-increasing).
    """

    name = "coreset"
    paper = "Sener & Savarese, ICLR 2018"

    def __init__(self, block_rows: int | None = None, backend: str = "auto"):
        self.block_rows = block_rows
        self.backend = backend

    def select(self, ctx: QueryContext, n: int) -> Query:
        candidates = ctx.unlabeled_idx
        picks, radii, initial = kcenter_greedy(
            pool_features(ctx),
            ctx.labeled_idx,
            n,
            block_rows=self.block_rows,
            backend=self.backend,
            return_distances=True,
        )
        scores = np.sqrt(initial[candidates])
        return Query(picks, candidates, scores, info={"radii": np.sqrt(radii)})
