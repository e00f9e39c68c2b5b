"""k-means++ seeding by D² sampling (O(N) memory), k-means, and nearest-to-centre picks.

k-means++ (Arthur & Vassilvitskii, SODA 2007, §2.2): after a first centre, each next centre is
drawn with probability ``D(x)² / Σ D(x')²`` where ``D(x)`` is the distance to the nearest centre
chosen so far. Only the running vector ``D²`` is kept, updated with one distance pass per centre.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels.blocks import as_float_tensor
from alkit.kernels.distances import sq_norms
from alkit.kernels.knn import knn


def d2_draw(min_d_N: torch.Tensor, rng: np.random.Generator, taken: np.ndarray) -> int:
    """One D² draw: row ``i`` with probability ``δ_i / Σ δ`` (float64 cumulative sums).

    Rows in ``taken`` have weight 0. When every other weight is 0 (all remaining rows duplicate a
    centre), the draw is uniform over the rows not taken.
    """
    w = min_d_N.double().clamp(min=0.0)
    w[torch.as_tensor(taken, device=w.device)] = 0.0
    cum = torch.cumsum(w, 0)
    total = float(cum[-1])
    if not total > 0.0:
        free = np.setdiff1d(np.arange(len(w)), taken)
        return int(rng.choice(free))
    u = torch.tensor(rng.random() * total, dtype=torch.float64, device=w.device)
    return min(int(torch.searchsorted(cum, u, right=True)), len(w) - 1)


def d2_seeding(
    n_points: int,
    k: int,
    dist_to: Callable[[int], torch.Tensor],
    rng: np.random.Generator,
    first: int,
) -> tuple[np.ndarray, torch.Tensor]:
    """Generic D² seeding: ``dist_to(c)`` returns the squared distances of all rows to row ``c``.

    Returns the ``k`` chosen rows (in order) and the final squared distance to the nearest centre.
    """
    chosen = [int(first)]
    min_d = dist_to(chosen[0]).clone()
    for _ in range(1, k):
        c = d2_draw(min_d, rng, np.asarray(chosen))
        chosen.append(c)
        torch.minimum(min_d, dist_to(c), out=min_d)
    min_d[torch.as_tensor(chosen, device=min_d.device)] = 0.0
    return np.asarray(chosen, dtype=np.int64), min_d


def kmeans_pp_seeding(features_N_D, k: int, rng: np.random.Generator, first: int | None = None):
    """k-means++ seeding (D² sampling) of ``k`` distinct centres among the rows of ``features_N_D``.

    ``first`` fixes the first centre (default: uniform from ``rng``). Memory is ``O(N)`` beyond
    the features: one matrix–vector product per centre. Returns the chosen row indices, ``k``
    int64, in draw order.
    """
    X = as_float_tensor("features_N_D", features_N_D)
    k = check_positive_int("k", k)
    if k > len(X):
        raise AlkitError(f"k={k} is larger than the number of rows ({len(X)})")
    x_sq = sq_norms(X)

    def dist_to(c: int) -> torch.Tensor:
        return torch.addmv(x_sq, X, X[c], alpha=-2.0).add_(x_sq[c]).clamp_(min=0.0)

    start = int(rng.integers(len(X))) if first is None else int(first)
    return d2_seeding(len(X), k, dist_to, rng, start)[0]


def kmeans(features_N_D, k: int, seed: int = 0, max_iter: int = 100, minibatch: bool | None = None):
    """k-means clustering (scikit-learn's Lloyd/Elkan, or MiniBatchKMeans for large problems).

    ``minibatch=None`` uses MiniBatchKMeans when ``k > 50`` or ``N > 100,000`` (the TypiClust
    recipe). Returns ``(centres_k_D, labels_N)`` as NumPy float32 / int64.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    X = as_float_tensor("features_N_D", features_N_D).cpu().numpy()
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
