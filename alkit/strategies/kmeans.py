"""k-means sampling: cluster the unlabelled embeddings into n clusters, query the sample nearest
to each centre (the k-means baseline of Zhdanov 2019 and of Ash et al. 2020's comparisons)."""

from __future__ import annotations

import numpy as np

from alkit.kernels import kmeans, min_sqdist, nearest_to_centres
from alkit.strategies.base import Query, QueryContext, Strategy, register
from alkit.strategies.options import Option


@register
class KMeansSampling(Strategy):
    """Query the unlabelled sample nearest to each of ``n`` k-means centres.

    Scores: minus the distance of each candidate to its nearest centre (higher = more central).
    ``info["cluster"]`` holds each candidate's cluster.
    """

    name = "kmeans"
    paper = "k-means baseline (Zhdanov 2019; Ash et al., ICLR 2020)"
    deterministic = False
    needs = frozenset({"learner"})
    option_specs = {"max_iter": Option(int, min=1, doc="k-means iterations at most")}

    def __init__(self, max_iter: int = 100):
        self.max_iter = max_iter

    def select(self, ctx: QueryContext, n: int) -> Query:
        candidates = ctx.unlabeled_idx
        emb = ctx.embed(candidates)
        centres, labels = kmeans(emb, n, seed=int(ctx.rng.integers(2**31)), max_iter=self.max_iter)
        picks = nearest_to_centres(emb, centres)
        d, _ = min_sqdist(emb, centres)
        scores = -np.sqrt(d.double().numpy())
        return Query(candidates[picks], candidates, scores, info={"cluster": labels})
