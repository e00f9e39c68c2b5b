"""k-means++ seeding by D² sampling (O(N) memory), k-means, and nearest-to-centre picks.

k-means++ (Arthur & Vassilvitskii, SODA 2007, §2.2): after a first centre, each next centre is
drawn with probability ``D(x)² / Σ D(x')²`` where ``D(x)`` is the distance to the nearest centre
chosen so far. Only the vector ``D²`` is kept (O(N) memory), refreshed lazily per row block (exact rejection
sampling, :func:`d2_seeding`), so a draw costs far less than a pass over the features.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels.blocks import as_float_tensor, check_sq_norms, progress
from alkit.kernels.distances import sq_norms
from alkit.kernels.knn import knn

#: rows per block of the lazy D² sampler
LAZY_BLOCK = 1024


def d2_seeding(
    n_points: int,
    k: int,
    block_dist: Callable[[int, int, torch.Tensor], torch.Tensor],
    rng: np.random.Generator,
    first: int,
    block: int = LAZY_BLOCK,
) -> np.ndarray:
    """Generic exact D² seeding with lazily refreshed row blocks; returns ``k`` row indices.

    ``block_dist(start, stop, centres_K)`` gives the squared distances of rows ``start…stop−1``
    to the rows ``centres_K``: ``(stop − start) × K``. After one full pass for the first centre,
    each row block keeps values ``s_i ≥ δ_i`` that may miss the centres chosen since its last
    refresh. A draw proposes row ``i ∝ s_i`` (block by block sums, then within the block),
    refreshes that block, and accepts ``i`` with probability ``δ_i / s_i``; a rejected draw starts
    over. Every accepted draw is exactly ``∝ δ_i`` (rejection sampling with an upper-bound
    proposal), and a step reads only the blocks it samples from. When every remaining ``δ`` is 0
    (rows duplicating centres) the draw is uniform over the rows not chosen.
    """
    probe = block_dist(0, 1, torch.as_tensor([first]))
    dev = probe.device
    n_blocks = -(-n_points // block)
    delta = torch.zeros(n_blocks * block, dtype=probe.dtype, device=dev)
    for s in range(0, n_points, block):
        e = min(n_points, s + block)
        delta[s:e] = block_dist(s, e, torch.as_tensor([first], device=dev))[:, 0].clamp(min=0.0)
    delta[first] = 0.0
    delta = delta.view(n_blocks, block)
    sums = delta.double().sum(dim=1)
    centres = torch.empty(k, dtype=torch.long, device=dev)
    centres[0] = first
    applied = np.ones(n_blocks, dtype=np.int64)
    chosen = [int(first)]

    def refresh(b: int, n_c: int) -> None:
        if applied[b] == n_c:
            return
        s, e = b * block, min(n_points, (b + 1) * block)
        d = block_dist(s, e, centres[applied[b] : n_c]).min(dim=1).values.clamp_(min=0.0)
        seg = delta[b, : e - s]
        torch.minimum(seg, d, out=seg)
        applied[b] = n_c
        sums[b] = delta[b].double().sum()

    for n_c in progress(range(1, k), "D² seeding", n_points):
        while True:
            total = float(sums.sum())
            if not total > 0.0:
                for b in range(n_blocks):
                    refresh(b, n_c)
                if not float(sums.sum()) > 0.0:
                    free = np.setdiff1d(np.arange(n_points), chosen)
                    c = int(rng.choice(free))
                    break
                continue
            u = rng.random() * total
            cum = torch.cumsum(sums, 0)
            b = min(
                int(torch.searchsorted(cum, torch.tensor(u, dtype=cum.dtype, device=dev))),
                n_blocks - 1,
            )
            within = torch.cumsum(delta[b].double(), 0)
            r = torch.tensor(u - (float(cum[b]) - float(sums[b])), dtype=within.dtype, device=dev)
            j = min(int(torch.searchsorted(within, r, right=True)), block - 1)
            stale = float(delta[b, j])
            if not stale > 0.0:
                continue
            if applied[b] == n_c:
                c = b * block + j
                break
            refresh(b, n_c)
            if rng.random() * stale < float(delta[b, j]):
                c = b * block + j
                break
        chosen.append(c)
        centres[n_c] = c
        b = c // block
        delta[b, c - b * block] = 0.0
        sums[b] = delta[b].double().sum()
    return np.asarray(chosen, dtype=np.int64)


def kmeans_pp_seeding(features_N_D, k: int, rng: np.random.Generator, first: int | None = None):
    """k-means++ seeding (D² sampling) of ``k`` distinct centres among the rows of ``features_N_D``.

    ``first`` fixes the first centre (default: uniform from ``rng``). Memory is ``O(N)`` beyond
    the features. Returns the chosen row indices, ``k``
    int64, in draw order.
    """
    X = as_float_tensor("features_N_D", features_N_D)
    k = check_positive_int("k", k)
    if k > len(X):
        raise AlkitError(f"k={k} is larger than the number of rows ({len(X)})")
    x_sq = sq_norms(X)
    check_sq_norms("features_N_D", x_sq)

    def block_dist(s: int, e: int, centres_K: torch.Tensor) -> torch.Tensor:
        centres_K = centres_K.to(X.device)
        d = torch.addmm(x_sq[centres_K][None, :], X[s:e], X[centres_K].T, alpha=-2.0)
        return d.add_(x_sq[s:e, None])

    start = int(rng.integers(len(X))) if first is None else int(first)
    return d2_seeding(len(X), k, block_dist, rng, start)


def kmeans(features_N_D, k: int, seed: int = 0, max_iter: int = 100, minibatch: bool | None = None):
    """k-means clustering (scikit-learn's Lloyd/Elkan, or MiniBatchKMeans for large problems).

    ``minibatch=None`` uses MiniBatchKMeans when ``k > 50`` or ``N > 100,000`` (the TypiClust
    recipe). Returns ``(centres_k_D, labels_N)`` as NumPy float32 / int64.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    X_t = as_float_tensor("features_N_D", features_N_D)
    check_sq_norms("features_N_D", sq_norms(X_t))
    X = X_t.cpu().numpy()
    k = check_positive_int("k", k)
    if k > len(X):
        raise AlkitError(f"k={k} is larger than the number of rows ({len(X)})")
    if minibatch is None:
        minibatch = k > 50 or len(X) > 100_000
    if minibatch:
        model = MiniBatchKMeans(
            k, random_state=seed, n_init=1, max_iter=max_iter, batch_size=max(1024, 3 * k)
        )
    else:
        model = KMeans(k, random_state=seed, n_init=1, max_iter=max_iter)
    labels = model.fit_predict(X)
    return model.cluster_centers_.astype(np.float32), labels.astype(np.int64)


def nearest_to_centres(features_N_D, centres_K_D, block_rows: int | None = None) -> np.ndarray:
    """One distinct row per centre: the nearest row not already taken by an earlier centre.

    Centres are served in order; a centre whose nearest rows are all taken gets the next nearest
    free one. Returns ``K`` int64 row indices.
    """
    X = as_float_tensor("features_N_D", features_N_D)
    C = as_float_tensor("centres_K_D", centres_K_D, device=X.device)
    if len(C) > len(X):
        raise AlkitError(f"{len(C)} centres but only {len(X)} rows to pick from")
    _, idx = knn(C, X, k=min(len(X), len(C)), block_rows=block_rows)
    taken: set[int] = set()
    out = []
    for j, row in enumerate(idx.cpu().numpy()):
        free = [int(i) for i in row if int(i) not in taken]
        pick = free[0] if free else _nearest_free(X, C[j], taken)
        taken.add(pick)
        out.append(pick)
    return np.asarray(out, dtype=np.int64)


def _nearest_free(X_N_D: torch.Tensor, centre_D: torch.Tensor, taken: set[int]) -> int:
    d = sq_norms(X_N_D - centre_D)
    d[torch.as_tensor(sorted(taken), device=d.device)] = float("inf")
    return int(torch.argmin(d))
