"""The unlabelled pool, the labelled mask, and the oracle that reveals labels on request."""

from __future__ import annotations

import numpy as np

from alkit.errors import AlkitError, check_finite


class Oracle:
    """Holds the hidden labels of the pool and reveals them only for queried indices."""

    def __init__(self, y_N: np.ndarray):
        self._y = np.asarray(y_N, dtype=np.int64)
        self.n_queries = 0

    def __len__(self) -> int:
        return len(self._y)

    def label(self, idx) -> np.ndarray:
        """The true labels of ``idx`` (counts them as queried)."""
        idx = np.asarray(idx, dtype=np.int64)
        self.n_queries += len(idx)
        return self._y[idx].copy()

    def peek(self, idx) -> np.ndarray:
        """The true labels of ``idx`` WITHOUT counting them as queried: for ablations only
        (seed 000's ``S = y`` estimator, the theoretical limit of its Fisher kernel)."""
        return self._y[np.asarray(idx, dtype=np.int64)].copy()


class Pool:
    """A pool of ``N`` inputs with a labelled mask, plus synthetic training examples.

    Labels enter only through :meth:`label`, which asks the :class:`Oracle`; strategies see
    ``labeled_y`` (labels of the labelled part) and never the hidden ones.

    Synthetic examples (DESIGN.md, "synthetic training examples"; DFAL, Ducoffe thesis §4.2)
    are inputs that are not pool samples, each tied to a labelled *source* sample whose revealed
    label it shares ("one label amounts to two examples"). They are kept apart from the pool:
    ``len(pool)``, the labelled mask and the oracle's query count never include them; training
    uses :meth:`training_set` (labelled ∪ synthetic).

    Args:
        X: ``N × ...`` float32 inputs (images or features).
        oracle: the label source; an array of labels is wrapped in an :class:`Oracle`.
        labeled_idx: indices labelled from the start.
    """

    def __init__(self, X, oracle: Oracle | np.ndarray, labeled_idx=()):
        if len(X) == 0:
            raise AlkitError("the pool is empty: it needs at least one sample")
        check_finite("pool inputs", X)
        self.X = X
        self.oracle = oracle if isinstance(oracle, Oracle) else Oracle(oracle)
        if len(self.oracle) != len(X):
            raise AlkitError(
                f"mismatched lengths: pool inputs={len(X)}, oracle labels={len(self.oracle)}; "
                "they must be equal"
            )
        self._y = np.full(len(X), -1, dtype=np.int64)
        self.labeled_mask = np.zeros(len(X), dtype=bool)
        self._synthetic_X = np.zeros((0, *np.shape(X)[1:]), dtype=np.float32)
        self._synthetic_source = np.zeros(0, dtype=np.int64)
        if len(labeled_idx):
            self.label(labeled_idx)

    def __len__(self) -> int:
        return len(self.X)

    @property
    def labeled_idx(self) -> np.ndarray:
        return np.flatnonzero(self.labeled_mask)

    @property
    def unlabeled_idx(self) -> np.ndarray:
        return np.flatnonzero(~self.labeled_mask)

    @property
    def labeled_y(self) -> np.ndarray:
        """Labels of :attr:`labeled_idx`, in the same order."""
        return self._y[self.labeled_mask]

    def check_unlabeled(self, idx) -> np.ndarray:
        """Return ``idx`` as int64 if every index is in range, distinct and unlabelled."""
        idx = np.asarray(idx)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise AlkitError(f"indices must be a 1-D integer array, got {idx.dtype} {idx.shape}")
        idx = idx.astype(np.int64)
        out = idx[(idx < 0) | (idx >= len(self))]
        if out.size:
            raise AlkitError(f"indices {out[:5].tolist()} are outside the pool 0…{len(self) - 1}")
        if len(np.unique(idx)) != len(idx):
            raise AlkitError("indices must be distinct; got repeated indices")
        already = idx[self.labeled_mask[idx]]
        if already.size:
            raise AlkitError(f"indices {already[:5].tolist()} are already labelled")
        return idx

    def label(self, idx) -> np.ndarray:
        """Ask the oracle for the labels of ``idx`` and mark them labelled; return the labels."""
        idx = self.check_unlabeled(idx)
        y = self.oracle.label(idx)
        self._y[idx] = y
        self.labeled_mask[idx] = True
        return y

    # -- synthetic training examples (DFAL's adversarial copies) ----------------------------
    def add_synthetic(self, X_S, source_idx_S) -> None:
        """Add ``S`` synthetic inputs ``X_S`` (``S × ...``, the shape of a pool sample), each
        labelled with the revealed label of its source ``source_idx_S[s]`` (a labelled pool
        index). The oracle is not asked: synthetic examples cost no annotation.
        """
        X_S = np.asarray(X_S, dtype=np.float32)
        src = np.asarray(source_idx_S)
        if src.ndim != 1 or (src.size and src.dtype.kind not in "iu"):
            raise AlkitError(
                f"source_idx_S must be a 1-D integer array, got {src.dtype} {src.shape}"
            )
        src = src.astype(np.int64)
        if X_S.shape[1:] != tuple(np.shape(self.X)[1:]) or len(X_S) != len(src):
            raise AlkitError(
                f"synthetic inputs must be S × {tuple(np.shape(self.X)[1:])} with one source "
                f"each; got inputs {X_S.shape} and {len(src)} sources"
            )
        check_finite("synthetic inputs", X_S)
        out = src[(src < 0) | (src >= len(self))]
        if out.size:
            raise AlkitError(
                f"synthetic sources {out[:5].tolist()} are outside the pool 0…{len(self) - 1}"
            )
        unlabeled = src[~self.labeled_mask[src]]
        if unlabeled.size:
            raise AlkitError(
                f"synthetic sources {unlabeled[:5].tolist()} are not labelled; a synthetic "
                "example takes its label from a labelled source"
            )
        self._synthetic_X = np.concatenate([self._synthetic_X, X_S])
        self._synthetic_source = np.concatenate([self._synthetic_source, src])

    @property
    def n_synthetic(self) -> int:
        """How many synthetic examples the pool holds (never counted as annotations)."""
        return len(self._synthetic_source)

    @property
    def synthetic_X(self) -> np.ndarray:
        """The synthetic inputs, ``S × ...`` float32, in the order they were added."""
        return self._synthetic_X

    @property
    def synthetic_source(self) -> np.ndarray:
        """The labelled pool index each synthetic example was made from, ``S`` int64."""
        return self._synthetic_source

    @property
    def synthetic_y(self) -> np.ndarray:
        """The labels of the synthetic examples: their sources' revealed labels, ``S`` int64."""
        return self._y[self._synthetic_source]

    def training_set(self) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` to train on: the labelled samples (in :attr:`labeled_idx` order) followed
        by the synthetic examples; ``(|L| + S) × ...`` and ``|L| + S``."""
        idx = self.labeled_idx
        if not self.n_synthetic:
            return self.X[idx], self._y[idx]
        X = np.concatenate([np.asarray(self.X[idx], dtype=np.float32), self._synthetic_X])
        return X, np.concatenate([self._y[idx], self.synthetic_y])
