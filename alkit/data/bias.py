"""Bias transforms that turn a balanced training set into the biased pools the papers study.

Each function takes the labels and returns the indices to keep (or to label first), sorted, so
the same call can subset images, features and labels alike.
"""

from __future__ import annotations

import numpy as np

from alkit.errors import AlkitError


def _check_classes(name: str, classes, n_classes: int) -> np.ndarray:
    classes = np.asarray(sorted(set(int(c) for c in classes)), dtype=np.int64)
    if classes.size == 0 or classes.min() < 0 or classes.max() >= n_classes:
        raise AlkitError(
            f"{name} must be a non-empty subset of the classes 0…{n_classes - 1}, "
            f"got {classes.tolist()}"
        )
    return classes


def class_imbalance(
    y_N: np.ndarray,
    rare_classes,
    ratio: float,
    seed: int = 0,
    per_class: bool = False,
) -> np.ndarray:
    """Keep every sample of the common classes and decimate the rare ones by ``ratio``.

    Gudovskiy et al. (seed 000, §5) define the imbalance as the ratio of digits {0…4} to
    {5…9}. Following the authors' code (REFERENCES.md), the default draws
    ``int(N_common / ratio)`` samples at random from the pooled rare classes (not stratified).
    ``per_class=True`` instead keeps ``int(N_c / ratio)`` of each rare class c.

    Args:
        y_N: labels, shape ``N``.
        rare_classes: the classes to decimate (e.g. ``range(5, 10)``).
        ratio: r ≥ 1; r = 1 keeps the rare pool as large as the common one (when it is).
        seed: the draw's seed.
    Returns:
        sorted kept indices into ``y_N``.
    """
    y_N = np.asarray(y_N)
    if not np.isfinite(ratio) or ratio < 1:
        raise AlkitError(f"imbalance ratio must be a finite number ≥ 1, got {ratio!r}")
    n_classes = int(y_N.max()) + 1
    rare = _check_classes("rare_classes", rare_classes, n_classes)
    rng = np.random.default_rng(seed)
    is_rare = np.isin(y_N, rare)
    common_idx = np.flatnonzero(~is_rare)
    if per_class:
        kept = [common_idx]
        for c in rare:
            idx_c = np.flatnonzero(y_N == c)
            kept.append(rng.choice(idx_c, size=max(1, int(len(idx_c) / ratio)), replace=False))
        return np.sort(np.concatenate(kept))
    rare_idx = np.flatnonzero(is_rare)
    n_rare = min(len(rare_idx), max(1, int(len(common_idx) / ratio)))
    return np.sort(np.concatenate([common_idx, rng.choice(rare_idx, n_rare, replace=False)]))


def long_tail(y_N: np.ndarray, factor: float = 0.1, seed: int = 0) -> np.ndarray:
    """Exponential long-tailed subset (seed 003, appendix A.5, after Cui et al. 2019).

    Class i keeps ``n_i · μ^i`` samples with ``μ = factor^(1/(C-1))``, so the largest class keeps
    all of its samples and the last class keeps a fraction ``factor`` (0.1 in the paper).

    Returns sorted kept indices into ``y_N``.
    """
    y_N = np.asarray(y_N)
    if not 0 < factor <= 1:
        raise AlkitError(f"long-tail factor must be in (0, 1], got {factor!r}")
    n_classes = int(y_N.max()) + 1
    rng = np.random.default_rng(seed)
    kept = []
    for c in range(n_classes):
        idx_c = np.flatnonzero(y_N == c)
        keep = max(1, int(len(idx_c) * factor ** (c / max(n_classes - 1, 1))))
        kept.append(rng.choice(idx_c, size=min(keep, len(idx_c)), replace=False))
    return np.sort(np.concatenate(kept))


def category_mismatch_initial(
    y_N: np.ndarray, n_initial: int, fraction: float = 0.7, seed: int = 0
) -> np.ndarray:
    """Initial labelled indices drawn only from the first ``fraction`` of the classes.

    Seed 003, appendix A.4: with CIFAR-10 only classes 0…6 appear in the first labelled set.
    Returns ``n_initial`` sorted indices into ``y_N``.
    """
    y_N = np.asarray(y_N)
    if not 0 < fraction <= 1:
        raise AlkitError(f"category-mismatch fraction must be in (0, 1], got {fraction!r}")
    n_classes = int(y_N.max()) + 1
    n_seen = max(1, int(round(fraction * n_classes)))
    allowed = np.flatnonzero(y_N < n_seen)
    if n_initial > len(allowed):
        raise AlkitError(
            f"n_initial={n_initial} is larger than the {len(allowed)} samples of the first "
            f"{n_seen} classes"
        )
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(allowed, size=n_initial, replace=False))
