"""TypiClust: query the most typical sample of the least-covered clusters (Hacohen et al., ICML 2022).

Recipe (REFERENCES.md, authors' code): L2-normalise the features; cluster labelled + unlabelled
into ``K = min(|L| + B, max_clusters)`` clusters; ignore clusters of ``≤ min_cluster_size``
members; ``B`` times, visit the cluster with the fewest labelled (or already chosen) members,
ties to the largest, and take its unlabelled member of highest typicality
``1 / (mean squared distance to its k nearest cluster neighbours + 1e-5)``, ``k = min(20, |c|//2)``
(eq. 4 of the paper). ``features="embed"`` clusters the model's embeddings; ``features="input"``
clusters the pool's inputs (flattened), which on a frozen-feature experiment are the
self-supervised features the paper clusters; that needs no model, so TypiClust can choose the
initial set (cold start).
"""

from __future__ import annotations

import numpy as np
import torch

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels import kmeans, knn
from alkit.strategies.base import Query, QueryContext, Strategy, register
from alkit.strategies.options import Option

FEATURE_SOURCES = ("embed", "input")


def feature_requirements(needs, source: str) -> frozenset[str]:
    """A strategy's ``needs`` without ``"learner"`` when it reads the inputs, not embeddings."""
    return frozenset(needs) - {"learner"} if source == "input" else frozenset(needs)


def strategy_features(ctx: QueryContext, source: str) -> np.ndarray:
    """The whole pool's features, ``N × D``: the model's embeddings (``"embed"``) or the inputs
    flattened to float32 (``"input"``: the SSL features on a frozen-feature experiment)."""
    if source == "input":
        X = np.asarray(ctx.pool.X, dtype=np.float32)
        return X.reshape(len(X), -1)
    return ctx.embed(np.arange(len(ctx.pool)))


def typicality(features_M_D, k_neighbors: int = 20) -> np.ndarray:
    """``1 / (mean_k ‖x − x_(j)‖² + 1e-5)`` over each row's ``k = min(k_neighbors, M // 2)``
    nearest other rows; shape ``M`` (a single row gets typicality 1e5)."""
    X = torch.as_tensor(np.asarray(features_M_D, dtype=np.float32))
    k = min(k_neighbors, len(X) // 2)
    if k < 1:
        return np.full(len(X), 1e5)
    d, _ = knn(X, None, k=k)
    return 1.0 / (d.double().mean(1).numpy() + 1e-5)


def typiclust_select(
    features_N_D,
    labeled_idx,
    n: int,
    seed: int = 0,
    max_clusters: int = 500,
    min_cluster_size: int = 5,
    k_neighbors: int = 20,
    cluster_labels_N=None,
):
    """The TypiClust batch: ``(picks_n, typicality_N, cluster_labels_N)``.

    ``features_N_D`` are all pool rows (labelled and unlabelled); ``cluster_labels_N`` skips the
    k-means step (for tests and notebooks that fix the clusters).
    """
    X = np.asarray(features_N_D, dtype=np.float32)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    N = len(X)
    n = check_positive_int("n", n)
    labeled = np.zeros(N, dtype=bool)
    labeled[np.asarray(labeled_idx, dtype=np.int64)] = True
    if n > N - labeled.sum():
        raise AlkitError(f"n={n} is larger than the {N - labeled.sum()} unlabelled rows")
    if cluster_labels_N is None:
        K = min(int(labeled.sum()) + n, max_clusters, N)
        _, cluster_labels_N = kmeans(X, K, seed=seed)
    labels = np.asarray(cluster_labels_N, dtype=np.int64)
    K = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=K)
    covered = np.bincount(labels[labeled], minlength=K)
    typ = np.zeros(N)
    for c in np.flatnonzero(sizes):
        members = np.flatnonzero(labels == c)
        typ[members] = typicality(X[members], k_neighbors)
    taken = labeled.copy()
    free = np.bincount(labels[~taken], minlength=K)
    picks = []
    for _ in range(n):
        usable = (sizes > min_cluster_size) & (free > 0)
        if not usable.any():
            usable = free > 0
        # fewest labelled first, then the largest cluster, then the lowest cluster id
        order = np.lexsort((np.arange(K), -sizes, covered))
        c = next(int(j) for j in order if usable[j])
        members = np.flatnonzero((labels == c) & ~taken)
        pick = int(members[np.argmax(typ[members])])
        picks.append(pick)
        taken[pick] = True
        covered[c] += 1
        free[c] -= 1
    return np.asarray(picks, dtype=np.int64), typ, labels


@register
class TypiClust(Strategy):
    """Typical samples of uncovered clusters (Hacohen, Dekel & Weinshall, ICML 2022, Alg. 1).

    Scores: each candidate's typicality within its cluster. ``info["cluster"]`` holds the
    candidates' cluster ids.
    """

    name = "typiclust"
    paper = "Hacohen, Dekel & Weinshall, ICML 2022"
    deterministic = False
    #: needs no label: it can choose the initial set (with features="embed", from the model's
    #: embeddings before any training)
    cold_start = True
    needs = frozenset({"learner"})
    option_specs = {
        "max_clusters": Option(int, min=1, doc="cap on the number of k-means clusters K"),
        "min_cluster_size": Option(int, min=0, doc="clusters this small or smaller are skipped"),
        "k_neighbors": Option(int, min=1, doc="neighbours of the typicality (eq. 4)"),
        "features": Option(
            str,
            choices=FEATURE_SOURCES,
            doc="cluster the model's embeddings or the (frozen-feature) inputs",
        ),  # fmt: skip
    }

    def __init__(
        self,
        max_clusters: int = 500,
        min_cluster_size: int = 5,
        k_neighbors: int = 20,
        features: str = "embed",
    ):
        self.max_clusters = max_clusters
        self.min_cluster_size = min_cluster_size
        self.k_neighbors = k_neighbors
        self.features = features

    def requirements(self) -> frozenset[str]:
        """No model needed when clustering the inputs (``features="input"``)."""
        return feature_requirements(self.needs, self.features)

    def select(self, ctx: QueryContext, n: int) -> Query:
        candidates = ctx.unlabeled_idx
        feats = strategy_features(ctx, self.features)
        picks, typ, labels = typiclust_select(
            feats,
            ctx.labeled_idx,
            n,
            seed=int(ctx.rng.integers(2**31)),
            max_clusters=self.max_clusters,
            min_cluster_size=self.min_cluster_size,
            k_neighbors=self.k_neighbors,
        )
        return Query(picks, candidates, typ[candidates], info={"cluster": labels[candidates]})
