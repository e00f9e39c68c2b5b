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
    """A pool of ``N`` inputs with a labelled mask.

    Labels enter only through :meth:`label`, which asks the :class:`Oracle`; strategies see
    ``labeled_y`` (labels of the labelled part) and never the hidden ones.

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
