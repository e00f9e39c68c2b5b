"""Deterministic pool / validation / test splits with the bias transforms applied to the pool."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alkit.data.bias import class_imbalance, long_tail
from alkit.data.datasets import Dataset
from alkit.errors import AlkitError


@dataclass
class DataSplits:
    """The arrays one experiment runs on.

    ``X_pool``/``y_pool``: the (possibly biased) unlabelled pool, its labels hidden behind the
    :class:`~alkit.data.pool.Oracle` once a Pool is built. ``X_val``/``y_val``: a balanced
    validation set (empty when ``val_per_class=0``). ``X_test``/``y_test``: the test set.
    """

    X_pool: np.ndarray
    y_pool: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def stratified_take(y_N: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``per_class`` indices of every class (all of a class that has fewer); sorted."""
    taken = []
    for c in np.unique(y_N):
        idx_c = np.flatnonzero(y_N == c)
        taken.append(rng.choice(idx_c, size=min(per_class, len(idx_c)), replace=False))
    return np.sort(np.concatenate(taken)) if taken else np.zeros(0, dtype=np.int64)


def build_splits(
    dataset: Dataset,
    seed: int = 0,
    val_per_class: int = 0,
    imbalance: float | None = None,
    rare_classes=None,
    imbalance_per_class: bool = False,
    long_tail_factor: float | None = None,
    pool_size: int | None = None,
    test_size: int | None = None,
) -> DataSplits:
    """Carve a balanced validation set from the train part, then bias and shrink the pool.

    Seed 000's protocol (§5, REFERENCES.md): the validation set takes ``val_per_class`` images
    of each class from the training set; the class imbalance (common classes kept, ``rare_classes``
    decimated by ``imbalance``; pooled, or each rare class on its own with
    ``imbalance_per_class``) is applied to what remains. ``pool_size`` and ``test_size``
    subsample uniformly afterwards (smoke runs), keeping the bias. Everything is a function
    of ``seed``.
    """
    rng = np.random.default_rng(seed)
    y = dataset.y_train
    val_idx = stratified_take(y, val_per_class, rng) if val_per_class > 0 else np.zeros(0, int)
    rest = np.setdiff1d(np.arange(len(y)), val_idx)
    if imbalance is not None and long_tail_factor is not None:
        raise AlkitError("choose either imbalance or long_tail_factor, not both")
    if imbalance is not None:
        if rare_classes is None:
            rare_classes = range(dataset.n_classes // 2, dataset.n_classes)
        rest = rest[
            class_imbalance(
                y[rest], rare_classes, imbalance, seed=seed, per_class=imbalance_per_class
            )
        ]
    elif long_tail_factor is not None:
        rest = rest[long_tail(y[rest], long_tail_factor, seed=seed)]
    if pool_size is not None:
        if pool_size <= 0:
            raise AlkitError(f"pool_size must be a positive integer, got {pool_size}")
        if pool_size < len(rest):
            rest = np.sort(rng.choice(rest, size=pool_size, replace=False))
    test_idx = np.arange(len(dataset.y_test))
    if test_size is not None and test_size < len(test_idx):
        test_idx = np.sort(rng.choice(test_idx, size=test_size, replace=False))
    return DataSplits(
        dataset.X_train[rest],
        y[rest],
        dataset.X_train[val_idx],
        y[val_idx],
        dataset.X_test[test_idx],
        dataset.y_test[test_idx],
        dataset.class_names,
    )
