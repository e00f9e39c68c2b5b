"""Clustering pseudo-labels (CPL) of NTKCPL (Wen, Pizarro & Williams 2023, §3.4, Alg. 2).

1. :func:`constrained_kmeans`: k-means with pairwise constraints from the labelled samples
   (COP-KMeans, Wagstaff et al. 2001 — the paper's ref. [37]; *not* the cluster-size constraints
   of the ``k-means-constrained`` package). By default a **cannot-link** holds between labelled
   samples of different classes: in every assignment step the labelled samples, in a seeded
   order, each go to their nearest centre that does not already hold a labelled sample of
   another class (a class may open a further cluster only while one stays free for every class
   not placed yet, so the assignment cannot dead-end as plain COP-KMeans can); unlabelled
   samples go to their nearest centre. So no cluster ever holds
   labelled samples of two classes (the precondition of the paper's proposition, §3.3).
2. :func:`split_confusing`: until the target count is reached, split the cluster with the most
   "confusing" members (``|Clu_i| − max_c #{x ∈ Clu_i : Y_pre(x) = c}``, ties to the lowest id)
   by 2-means on its own rows; the new cluster takes the next id. Splitting never mixes classes.
3. :func:`n_cpl_clusters`: the cluster count of Alg. 1 line 6 (§3.4 "half of the total number
   of labels", or the §4 wording "half of the query samples"), capped by ``c_max``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels.blocks import as_float_tensor
from alkit.kernels.distances import min_sqdist, pairwise_sqeuclidean
from alkit.kernels.kmeans import kmeans, kmeans_pp_seeding

CONSTRAINTS = ("cannot", "both", "none")
CLUSTER_RULES = ("half_labels", "half_query")


def n_cpl_clusters(
    n_labeled: int, n_query: int, c0: int, c_max: int, rule: str = "half_labels"
) -> int:
    """The number of CPL clusters ``K_c`` (Alg. 1 lines 3-8, §3.4 and §4).

    With no labels it is the query size (k-means on the self-supervised features, line 4).
    Otherwise ``N_clu = min(⌊n/2⌋, c_max)`` with ``n = |L|`` (``rule="half_labels"``, §3.4) or
    ``n`` = this round's query size (``"half_query"``, §4), and ``K_c = max(c0, N_clu)`` since
    Alg. 2 starts from ``c0`` clusters and only splits.
    """
    if rule not in CLUSTER_RULES:
        raise AlkitError(f"n_clusters must be one of {CLUSTER_RULES}, got {rule!r}")
    if n_labeled == 0:
        return int(n_query)
    base = n_labeled if rule == "half_labels" else n_query
    return max(int(c0), min(int(base) // 2, int(c_max)))


def _assign_labeled(d_L_K: np.ndarray, y_L: np.ndarray, constraints: str, k: int) -> np.ndarray:
    """Cluster of each labelled row under the constraints (rows already in the seeded order)."""
    if constraints == "none":
        return d_L_K.argmin(1)
    if constraints == "both":
        # must-link within a class, cannot-link across: each class goes whole to one cluster,
        # distinct classes to distinct clusters, at the least total squared distance
        from scipy.optimize import linear_sum_assignment

        classes = np.unique(y_L)
        cost = np.stack([d_L_K[y_L == c].sum(0) for c in classes])
        rows, cols = linear_sum_assignment(cost)
        to_cluster = dict(zip(classes[rows].tolist(), cols.tolist(), strict=True))
        return np.asarray([to_cluster[int(c)] for c in y_L], dtype=np.int64)
    # cannot-link (COP-KMeans): nearest centre not holding another class. A class may hold
    # several clusters, so a class that already holds one may open a new cluster only while
    # enough free clusters remain for the classes that hold none yet (always feasible).
    owner = np.full(k, -1, dtype=np.int64)
    holds = {int(c): False for c in np.unique(y_L)}
    waiting = len(holds)
    free = k
    out = np.full(len(y_L), -1, dtype=np.int64)
    order = np.argsort(d_L_K, axis=1, kind="stable")
    for i, (row, c) in enumerate(zip(order, y_L.tolist(), strict=True)):
        for cl in row:
            if owner[cl] == c or (owner[cl] == -1 and (not holds[c] or free > waiting)):
                break
        else:  # unreachable while k ≥ the number of classes (checked by the caller)
            raise AlkitError(f"no cluster can take a labelled sample of class {c}")
        if owner[cl] == -1:
            owner[cl] = c
            free -= 1
            if not holds[c]:
                holds[c] = True
                waiting -= 1
        out[i] = cl
    return out


def constrained_kmeans(
    features_N_D,
    k: int,
    labeled_idx=(),
    labeled_y=(),
    constraints: str = "cannot",
    seed: int = 0,
    max_iter: int = 100,
    block_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """k-means with pairwise constraints from labelled rows (COP-KMeans, Wagstaff et al. 2001).

    ``constraints``: ``"cannot"`` (cannot-link between labelled rows of different classes; the
    default), ``"both"`` (plus must-link within a class: each class in one cluster) or
    ``"none"`` (plain Lloyd). k-means++ seeding from ``seed``; labelled rows are assigned in one
    seeded order every iteration; an empty cluster is re-seeded at the row farthest from its
    centre; stops when the assignment no longer changes. Memory ``O(N + block × k)``.

    Returns ``(labels_N, centres_k_D)`` (int64, float32).
    """
    X = as_float_tensor("features_N_D", features_N_D)
    N = len(X)
    k = check_positive_int("k", k)
    if k > N:
        raise AlkitError(f"k={k} is larger than the number of rows ({N})")
    if constraints not in CONSTRAINTS:
        raise AlkitError(f"constraints must be one of {CONSTRAINTS}, got {constraints!r}")
    L = np.asarray(labeled_idx, dtype=np.int64).reshape(-1)
    yL = np.asarray(labeled_y, dtype=np.int64).reshape(-1)
    if len(L) != len(yL):
        raise AlkitError(f"mismatched lengths: labeled_idx={len(L)}, labeled_y={len(yL)}")
    n_classes = len(np.unique(yL))
    if constraints != "none" and n_classes > k:
        raise AlkitError(
            f"k={k} clusters cannot separate the {n_classes} labelled classes under "
            f"{constraints!r}-link constraints; use k ≥ {n_classes}"
        )
    rng = np.random.default_rng(seed)
    centres = X[torch.as_tensor(kmeans_pp_seeding(X, k, rng))].clone()
    perm = rng.permutation(len(L))
    L, yL = L[perm], yL[perm]
    XL = X[torch.as_tensor(L)] if len(L) else None
    labels = None
    for _ in range(max_iter):
        dist, assign = min_sqdist(X, centres, block_rows)
        assign = assign.cpu().numpy()
        if len(L):
            d_L = pairwise_sqeuclidean(XL, centres).cpu().numpy()
            assign[L] = _assign_labeled(d_L, yL, constraints, k)
        if labels is not None and np.array_equal(assign, labels):
            break
        labels = assign
        lab_t = torch.as_tensor(labels, device=X.device)
        sums = torch.zeros_like(centres).index_add_(0, lab_t, X)
        counts = torch.bincount(lab_t, minlength=k)
        nonempty = counts > 0
        centres[nonempty] = sums[nonempty] / counts[nonempty, None].to(X.dtype)
        for c in torch.nonzero(~nonempty).flatten().tolist():
            far = int(torch.argmax(dist))
            centres[c] = X[far]
            dist[far] = -1.0
    return labels, centres.cpu().numpy()


def confusing_counts(labels_N, y_pred_N, n_clusters: int) -> np.ndarray:
    """``|Clu_i| − max_c #{x ∈ Clu_i : y_pred(x) = c}`` for every cluster (§3.4), int64."""
    labels = np.asarray(labels_N, dtype=np.int64)
    y = np.asarray(y_pred_N, dtype=np.int64)
    n_cls = int(y.max()) + 1 if len(y) else 1
    table = np.zeros((n_clusters, n_cls), dtype=np.int64)
    np.add.at(table, (labels, y), 1)
    return table.sum(1) - table.max(1)


def split_confusing(
    features_N_D, labels_N, y_pred_N, target_k: int, seed: int = 0
) -> tuple[np.ndarray, list[int]]:
    """Alg. 2's loop: split the most confusing cluster by 2-means until ``target_k`` clusters.

    Clusters of fewer than 2 rows, or whose rows are all identical, cannot be split and are
    skipped. Returns ``(labels_N, split_order)`` (the id of the cluster split at each step; the
    new cluster of step ``t`` has id ``k0 + t``).
    """
    X = as_float_tensor("features_N_D", features_N_D).cpu().numpy()
    labels = np.asarray(labels_N, dtype=np.int64).copy()
    y = np.asarray(y_pred_N, dtype=np.int64)
    if len(labels) != len(X) or len(y) != len(X):
        raise AlkitError(
            f"mismatched lengths: features={len(X)}, labels={len(labels)}, y_pred={len(y)}"
        )
    k = int(labels.max()) + 1
    target_k = check_positive_int("target_k", target_k)
    if target_k > len(X):
        raise AlkitError(f"target_k={target_k} is larger than the number of rows ({len(X)})")
    conf = confusing_counts(labels, y, max(k, target_k)).astype(np.float64)
    conf[k:] = -np.inf
    blocked = np.zeros(max(k, target_k), dtype=bool)
    sizes = np.bincount(labels, minlength=max(k, target_k))
    blocked |= sizes < 2
    order: list[int] = []
    step = 0
    while k < target_k:
        key = np.where(blocked[:k], -np.inf, conf[:k])
        if not np.isfinite(key).any():
            raise AlkitError(
                f"cannot reach {target_k} clusters: every cluster is a single distinct point"
            )
        c = int(np.argmax(key))
        members = np.flatnonzero(labels == c)
        with warnings.catch_warnings():  # duplicate rows: sklearn warns, we block the cluster
            warnings.simplefilter("ignore", ConvergenceWarning)
            _, sub = kmeans(X[members], 2, seed=seed + step, minibatch=False)
        step += 1
        if sub.min() == sub.max():
            blocked[c] = True
            continue
        labels[members[sub == 1]] = k
        for cl in (c, k):
            idx = np.flatnonzero(labels == cl)
            conf[cl] = len(idx) - np.bincount(y[idx]).max()
            blocked[cl] = len(idx) < 2 or bool(np.all(X[idx] == X[idx[0]]))
        order.append(c)
        k += 1
    return labels, order


def cpl_generation(
    features_N_D,
    y_pred_N,
    c0: int,
    target_k: int,
    labeled_idx,
    labeled_y,
    constraints: str = "cannot",
    seed: int = 0,
    max_iter: int = 100,
) -> dict:
    """Alg. 2: constrained k-means into ``c0`` clusters, then :func:`split_confusing` up to
    ``target_k`` clusters. Returns ``{"labels", "confusing_before", "confusing", "split_order",
    "initial_labels"}`` (cluster ids ``0 … max(c0, target_k) − 1``)."""
    initial, _ = constrained_kmeans(
        features_N_D, c0, labeled_idx, labeled_y, constraints, seed, max_iter
    )
    target = max(int(c0), int(target_k))
    labels, order = split_confusing(features_N_D, initial, y_pred_N, target, seed=seed)
    return {
        "labels": labels,
        "initial_labels": initial,
        "confusing_before": confusing_counts(initial, y_pred_N, int(c0)),
        "confusing": confusing_counts(labels, y_pred_N, target),
        "split_order": order,
    }
