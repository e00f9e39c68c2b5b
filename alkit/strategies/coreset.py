"""Core-set selection by greedy k-center on the model's embeddings (Sener & Savarese, ICLR 2018)."""

from __future__ import annotations

import numpy as np
import torch

from alkit.kernels import kcenter_greedy
from alkit.strategies.base import Query, QueryContext, Strategy, register
from alkit.strategies.typiclust import check_feature_source, strategy_features


def pool_features(ctx: QueryContext, source: str = "embed") -> torch.Tensor:
    """The whole pool's features, ``N × D``: penultimate embeddings (``"embed"``) or the
    flattened inputs (``"input"``), on the learner's device (the CPU without a learner)."""
    if source == "embed":
        ctx.require_learner("embeddings")
    feats = torch.as_tensor(strategy_features(ctx, source))
    return feats if ctx.learner is None else feats.to(ctx.learner.device)


@register
class CoreSet(Strategy):
    """Greedy k-center (Sener & Savarese 2018, Alg. 1): repeatedly add the unlabelled sample
    farthest from its nearest labelled-or-chosen sample in embedding space
    (``features="embed"``) or input space (``features="input"``: on a frozen-feature
    experiment, the self-supervised features; needs no model).

    Scores: each candidate's Euclidean distance to its nearest labelled sample before the query
    (higher = farther from what is labelled). ``info["radii"]`` holds the distance of each pick
    at the moment it was chosen (non-increasing).
    """

    name = "coreset"
    paper = "Sener & Savarese, ICLR 2018"
    #: with no labelled sample the first centre is the row farthest from the mean
    cold_start = True

    def __init__(self, block_rows: int | None = None, backend: str = "auto", features="embed"):
        self.block_rows = block_rows
        self.backend = backend
        self.features = check_feature_source(features)
        self.needs = frozenset({"learner"} if features == "embed" else ())

    def select(self, ctx: QueryContext, n: int) -> Query:
        candidates = ctx.unlabeled_idx
        picks, radii, initial = kcenter_greedy(
            pool_features(ctx, self.features),
            ctx.labeled_idx,
            n,
            block_rows=self.block_rows,
            backend=self.backend,
            return_distances=True,
        )
        scores = np.sqrt(initial[candidates])
        return Query(picks, candidates, scores, info={"radii": np.sqrt(radii)})
