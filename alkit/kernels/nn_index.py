"""Nearest-neighbour search for ASAL's sample matching (Mayer & Timofte 2020, §3.2, eq. 2) and
the assignment of synthetic samples to distinct unlabelled pool samples.

    i_s = argmin_{i ∈ U} ‖S_i − F_PCA(x̃_s)‖₂

Backends of :class:`NearestIndex` (Euclidean distance):

- ``"brute"``: exact, blocked matrix products (:func:`alkit.kernels.knn`), on the device of
  ``S`` (a GPU if it lives there); O(N·D) per query, O(block) memory.
- ``"kdtree"``: exact, scipy's ``cKDTree`` (the paper's choice, §3.2). In 50-D it is not the
  paper's "O(log n)": it visits a large share of the leaves (spec seed004 §6).
- ``"faiss"``: approximate, a FAISS HNSW graph (``faiss-cpu``; built single-threaded so the
  graph, and therefore every answer, is reproducible).
- ``"pynndescent"``: approximate, an NN-descent graph (``pynndescent``, shipped with
  umap-learn; its first use in a process compiles numba code for about a minute).

Every backend's candidate distances are recomputed exactly (float64) from the stored vectors,
so all backends report the same distance for the same pair. :meth:`NearestIndex.match` owns the
matching *without replacement* ("we always draw samples without replacement", §4.2): synthetic
samples are served in a given order (ASAL: descending entropy); each takes its nearest pool
samples that are neither excluded (labelled) nor taken; when its ``k`` candidates are used up the
query is repeated with ``2k``, and an approximate backend that still has none falls back to an
exact scan of the free rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from alkit.errors import AlkitError, check_finite, check_positive_int
from alkit.kernels.knn import knn

BACKENDS = ("brute", "kdtree", "faiss", "pynndescent")
EXACT_BACKENDS = ("brute", "kdtree")


@dataclass
class Matching:
    """Result of :meth:`NearestIndex.match` (``Q`` queries, ``p`` matches each).

    Attributes:
        indices_Q_p: the matched rows of ``S``: distinct, never excluded; row ``q`` for query q.
        distances_Q_p: their Euclidean distances to the query.
        ranks_Q_p: each match's position in the query's own neighbour list (0 = its nearest
            neighbour; > 0 means nearer rows were excluded or already taken: a collision).
        n_requeries: how many times a query had to be repeated with a larger ``k``.
    """

    indices_Q_p: np.ndarray
    distances_Q_p: np.ndarray
    ranks_Q_p: np.ndarray
    n_requeries: int = 0


def _import_optional(backend: str):
    try:
        if backend == "faiss":
            import faiss

            return faiss
        import pynndescent

        return pynndescent
    except ImportError:
        package = {"faiss": "faiss-cpu", "pynndescent": "pynndescent (or umap-learn)"}[backend]
        raise AlkitError(
            f"index backend {backend!r} needs the package {package}: pip install it, or use "
            f"one of the exact backends {EXACT_BACKENDS}"
        ) from None


class NearestIndex:
    """A nearest-neighbour index over the rows of ``S_N_D`` (``N × D``, e.g. the PCA features of
    the pool).

    Args:
        S_N_D: the reference vectors (array or tensor; a CUDA tensor keeps ``"brute"`` on GPU).
        backend: one of :data:`BACKENDS`.
        seed: the random state of the approximate backends.
        block_rows: row-block size of the brute-force search (default: the memory budget).
        hnsw_m, ef_construction, ef_search: FAISS HNSW parameters (graph degree, build and
            search beam widths; the search beam is at least ``k``).
        n_neighbors: pynndescent's graph degree.
        approx_max_k: the longest list asked of an approximate backend during matching; past it
            the free rows are scanned exactly.
    """

    def __init__(
        self,
        S_N_D,
        backend: str = "kdtree",
        seed: int = 0,
        block_rows: int | None = None,
        hnsw_m: int = 32,
        ef_construction: int = 80,
        ef_search: int = 64,
        n_neighbors: int = 30,
        approx_max_k: int = 1024,
    ):
        if backend not in BACKENDS:
            raise AlkitError(f"index backend must be one of {BACKENDS}, got {backend!r}")
        S = torch.as_tensor(S_N_D) if not torch.is_tensor(S_N_D) else S_N_D
        if S.dim() != 2 or len(S) == 0:
            raise AlkitError(f"S_N_D must be a non-empty N × D array, got shape {tuple(S.shape)}")
        check_finite("S_N_D", S)
        self.backend, self.seed, self.block_rows = backend, int(seed), block_rows
        self.ef_search = check_positive_int("ef_search", ef_search)
        self.approx_max_k = check_positive_int("approx_max_k", approx_max_k)
        self.S_t = S.float()
        self.S_np = self.S_t.detach().cpu().numpy()
        self.n, self.dim = self.S_np.shape
        if backend == "kdtree":
            from scipy.spatial import cKDTree

            self._tree = cKDTree(self.S_np.astype(np.float64))
        elif backend == "faiss":
            faiss = _import_optional("faiss")
            threads = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)
            try:
                self._faiss = faiss.IndexHNSWFlat(self.dim, check_positive_int("hnsw_m", hnsw_m))
                self._faiss.hnsw.efConstruction = check_positive_int(
                    "ef_construction", ef_construction
                )
                self._faiss.add(np.ascontiguousarray(self.S_np))
            finally:
                faiss.omp_set_num_threads(threads)
        elif backend == "pynndescent":
            pynndescent = _import_optional("pynndescent")
            self._nnd = pynndescent.NNDescent(
                self.S_np,
                metric="euclidean",
                n_neighbors=max(2, min(check_positive_int("n_neighbors", n_neighbors), self.n - 1)),
                random_state=self.seed,
                n_jobs=1,
            )
            self._nnd.prepare()

    @property
    def exact(self) -> bool:
        return self.backend in EXACT_BACKENDS

    def _raw_query(self, Q: np.ndarray, k: int) -> np.ndarray:
        """Candidate indices ``Q × k`` from the backend (−1 where it found fewer)."""
        if self.backend == "brute":
            q = torch.as_tensor(Q, device=self.S_t.device)
            return knn(q, self.S_t, k, block_rows=self.block_rows)[1].cpu().numpy()
        if self.backend == "kdtree":
            _, idx = self._tree.query(Q.astype(np.float64), k=k)
            idx = idx.reshape(len(Q), k)
            return np.where(idx >= self.n, -1, idx)
        if self.backend == "faiss":
            self._faiss.hnsw.efSearch = max(self.ef_search, k)
            return self._faiss.search(np.ascontiguousarray(Q), k)[1]
        return self._nnd.query(Q, k=k)[0]

    def query(self, Q_Q_D, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest rows of ``S`` to each query: ``(distances_Q_k, indices_Q_k)``,
        nearest first (ties to the lower index); float64 distances recomputed exactly, ``inf``
        and −1 where an approximate backend returned fewer than ``k``."""
        Q = _as_queries(Q_Q_D, self.dim)
        k = check_positive_int("k", k)
        if k > self.n:
            raise AlkitError(f"k={k} is larger than the {self.n} indexed rows")
        idx = self._raw_query(Q, k).astype(np.int64)
        return _exact_sorted(Q, self.S_np, idx)

    def match(
        self,
        Q_Q_D,
        exclude_N=None,
        order=None,
        per_query: int = 1,
        k0: int = 10,
    ) -> Matching:
        """Assign each query ``per_query`` distinct rows of ``S``, never an excluded one and never
        one already given to another query (eq. 2 without replacement).

        Queries are served greedily in ``order`` (default ``0 … Q−1``; ASAL passes descending
        synthetic entropy): each takes its nearest free rows among its ``k0·per_query`` nearest;
        if they are all gone the query is repeated with twice as many (or with the longest list
        an earlier query needed, since collisions cluster); an approximate backend
        whose list still has none left at ``approx_max_k`` scans the free rows exactly.
        The result equals this greedy rule applied to exact brute-force distances whenever the
        backend is exact.

        Args:
            Q_Q_D: the queries (features of the synthetic samples), ``Q × D``.
            exclude_N: boolean mask of rows that may not be matched (the labelled pool).
            order: a permutation of ``0 … Q−1``.
            per_query: matches per query (ASAL-neighbors keeps k > 1 per synthetic sample).
            k0: neighbours fetched per match in the first pass.
        """
        Q = _as_queries(Q_Q_D, self.dim)
        per_query = check_positive_int("per_query", per_query)
        k0 = check_positive_int("k0", k0)
        taken = np.zeros(self.n, dtype=bool)
        if exclude_N is not None:
            exclude = np.asarray(exclude_N, dtype=bool)
            if exclude.shape != (self.n,):
                raise AlkitError(f"exclude_N must be a boolean mask of length {self.n}")
            taken |= exclude
        need = len(Q) * per_query
        if need > int((~taken).sum()):
            raise AlkitError(
                f"{len(Q)} queries × {per_query} matches need {need} free rows, "
                f"only {int((~taken).sum())} are not excluded"
            )
        order = np.arange(len(Q)) if order is None else np.asarray(order, dtype=np.int64)
        if sorted(order.tolist()) != list(range(len(Q))):
            raise AlkitError("order must be a permutation of the query positions")
        out_i = np.full((len(Q), per_query), -1, dtype=np.int64)
        out_d = np.full((len(Q), per_query), np.inf)
        out_r = np.full((len(Q), per_query), -1, dtype=np.int64)
        k = min(self.n, k0 * per_query)
        dists, idx = self.query(Q, k) if len(Q) else (None, None)
        requeries, k_next = 0, k  # an exhausted query starts from the longest list asked so far
        for q in order:
            row_d, row_i, got, kk = dists[q], idx[q], 0, k
            while True:
                for rank, (d, i) in enumerate(zip(row_d, row_i, strict=True)):
                    if i >= 0 and not taken[i]:
                        taken[i] = True
                        out_i[q, got], out_d[q, got], out_r[q, got] = i, d, rank
                        got += 1
                        if got == per_query:
                            break
                if got == per_query:
                    break
                if kk >= self.n or (not self.exact and kk >= self.approx_max_k):
                    got = self._scan_free(Q[q], taken, q, got, per_query, out_i, out_d, out_r)
                    break
                # restart this query's scan with a longer list; rows it took stay taken
                for j in range(got):
                    taken[out_i[q, j]] = False
                got = 0
                kk = k_next = min(self.n, max(2 * kk, k_next))
                requeries += 1
                row_d, row_i = (a[0] for a in self.query(Q[q : q + 1], kk))
        return Matching(out_i, out_d, out_r, requeries)

    def _scan_free(self, q_D, taken, q, got, per_query, out_i, out_d, out_r) -> int:
        """Exact fallback: the nearest free rows by a blocked scan over all rows."""
        free = np.flatnonzero(~taken)
        need = per_query - got
        _, pos = knn(
            torch.as_tensor(q_D[None]), torch.as_tensor(self.S_np[free]), min(need, len(free))
        )
        d, i = _exact_sorted(q_D[None], self.S_np, free[pos.numpy()])
        for j in range(need):
            taken[i[0, j]] = True
            out_i[q, got], out_d[q, got], out_r[q, got] = i[0, j], d[0, j], self.n
            got += 1
        return got


def _as_queries(Q_Q_D, dim: int) -> np.ndarray:
    Q = Q_Q_D.detach().cpu().numpy() if torch.is_tensor(Q_Q_D) else np.asarray(Q_Q_D)
    Q = np.ascontiguousarray(Q, dtype=np.float32)
    if Q.ndim != 2 or Q.shape[1] != dim:
        raise AlkitError(f"queries must be Q × {dim}, got shape {Q.shape}")
    check_finite("queries", Q)
    return Q


def _exact_sorted(Q: np.ndarray, S: np.ndarray, idx_Q_k: np.ndarray):
    """Exact float64 distances of the candidate rows, each row re-sorted by (distance, index)
    with duplicates and −1 moved to the end as (inf, −1)."""
    idx = idx_Q_k.copy()
    valid = idx >= 0
    diff = Q[:, None, :].astype(np.float64) - S[np.where(valid, idx, 0)].astype(np.float64)
    d = np.sqrt(np.einsum("qkd,qkd->qk", diff, diff))
    d[~valid] = np.inf
    # a repeated candidate (approximate graphs) keeps only its first appearance
    srt = np.sort(idx, axis=1)
    for r in np.flatnonzero(((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)).any(axis=1)):
        _, first = np.unique(idx[r], return_index=True)
        dup = np.ones(idx.shape[1], dtype=bool)
        dup[first] = False
        d[r, dup] = np.inf
    idx[~np.isfinite(d)] = -1
    order = np.lexsort((np.where(idx >= 0, idx, np.iinfo(np.int64).max), d))
    return np.take_along_axis(d, order, 1), np.take_along_axis(idx, order, 1)
