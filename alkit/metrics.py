"""Evaluation metrics for a round and for whole learning curves."""

from __future__ import annotations

import numpy as np

from alkit.errors import AlkitError, check_same_length


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Fraction of equal labels."""
    n = check_same_length(y_true=y_true, y_pred=y_pred)
    if n == 0:
        raise AlkitError("accuracy of an empty set is undefined")
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``C × C`` counts: row = true class, column = predicted class."""
    check_same_length(y_true=y_true, y_pred=y_pred)
    flat = np.asarray(y_true, np.int64) * n_classes + np.asarray(y_pred, np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Recall of each class, ``C`` (NaN for a class absent from ``y_true``)."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(cm) / cm.sum(axis=1)


def _curve(budgets, accuracies) -> tuple[np.ndarray, np.ndarray]:
    check_same_length(budgets=budgets, accuracies=accuracies)
    b = np.asarray(budgets, dtype=np.float64)
    a = np.asarray(accuracies, dtype=np.float64)
    if len(b) < 2:
        raise AlkitError(f"a learning curve needs at least 2 points, got {len(b)}")
    if np.any(np.diff(b) <= 0):
        raise AlkitError(f"budgets must be strictly increasing, got {b.tolist()}")
    return b, a


def area_under_curve(budgets, accuracies, normalize: bool = True) -> float:
    """Trapezoidal area under accuracy-vs-budget; divided by the budget span if ``normalize``
    (so it is a mean accuracy in [0, 1])."""
    b, a = _curve(budgets, accuracies)
    area = float(np.sum((a[1:] + a[:-1]) / 2 * np.diff(b)))
    return area / (b[-1] - b[0]) if normalize else area


def labels_to_reach(budgets, accuracies, target: float) -> float:
    """The budget at which the curve first reaches ``target``, linearly interpolated between
    rounds; ``NaN`` if it never does."""
    b, a = _curve(budgets, accuracies)
    hit = np.flatnonzero(a >= target)
    if hit.size == 0:
        return float("nan")
    i = hit[0]
    if i == 0:
        return float(b[0])
    frac = (target - a[i - 1]) / (a[i] - a[i - 1])
    return float(b[i - 1] + frac * (b[i] - b[i - 1]))


def label_savings(budgets, accuracies, ref_budgets, ref_accuracies, targets=None) -> float:
    """ "% fewer labels for the same accuracy" of a method vs a reference (e.g. random).

    For each target accuracy a reached by both curves, the saving is
    ``1 − n_method(a) / n_ref(a)``; the result is the mean over targets, in percent. By default
    the targets are 20 levels between the larger of the two starting accuracies and the smaller
    of the two final ones (the range both curves cover). Positive means fewer labels than the
    reference; NaN when no level is reached by both.
    """
    _, a = _curve(budgets, accuracies)
    _, ar = _curve(ref_budgets, ref_accuracies)
    if targets is None:
        lo, hi = max(a[0], ar[0]), min(np.maximum.accumulate(a)[-1], np.maximum.accumulate(ar)[-1])
        if hi <= lo:
            return float("nan")
        targets = np.linspace(lo, hi, 21)[1:]
    savings = []
    for t in targets:
        n_m = labels_to_reach(budgets, accuracies, t)
        n_r = labels_to_reach(ref_budgets, ref_accuracies, t)
        if np.isfinite(n_m) and np.isfinite(n_r) and n_r > 0:
            savings.append(1.0 - n_m / n_r)
    return float(100 * np.mean(savings)) if savings else float("nan")


def class_entropy(y_labeled: np.ndarray, n_classes: int) -> float:
    """Entropy (nats) of the class histogram of a labelled set (seed 003, Fig. 11b)."""
    counts = np.bincount(np.asarray(y_labeled, np.int64), minlength=n_classes).astype(float)
    if counts.sum() == 0:
        return 0.0
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def al_gain(mean_accuracies, random_mean_accuracies) -> np.ndarray:
    """Active-learning gain (NTKCPL, Fig. 3): a strategy's mean accuracy minus random's, per
    budget point; shape ``B`` float64."""
    check_same_length(mean=mean_accuracies, random_mean=random_mean_accuracies)
    return np.asarray(mean_accuracies, np.float64) - np.asarray(random_mean_accuracies, np.float64)


def mean_std(runs_S_B, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over seeds (rows) of per-budget accuracies ``S × B``;
    ``ddof=1`` (the sample std) as the NTKCPL tables report."""
    runs = np.asarray(runs_S_B, dtype=np.float64)
    if runs.ndim != 2 or len(runs) <= ddof:
        raise AlkitError(f"need an S × B array with S > {ddof} seeds, got shape {runs.shape}")
    return runs.mean(0), runs.std(0, ddof=ddof)


EBR_MODES = ("axis", "points")


def effective_budget_ratio(budgets, mean, rand_mean, rand_std, mode: str = "axis") -> float:
    """Effective budget ratio (NTKCPL, Table 2): the share of the budget range where a strategy
    beats random by more than random's spread, ``mean > rand_mean + rand_std``.

    The paper defines it as "the proportion of the effective annotation quantity to the total";
    two readings reproduce its numbers (spec §6): ``mode="points"`` is the fraction of budget
    points where the strategy is effective; ``mode="axis"`` (default) is the fraction of the
    label axis ``[0, B_max]`` where the linearly interpolated gap
    ``g(b) = mean − (rand_mean + rand_std)`` is > 0, with ``g`` held at its first value before
    the first budget. Inputs are per-budget arrays of one length ``B``; returns a value in
    [0, 1].
    """
    if mode not in EBR_MODES:
        raise AlkitError(f"mode must be one of {EBR_MODES}, got {mode!r}")
    check_same_length(budgets=budgets, mean=mean, rand_mean=rand_mean, rand_std=rand_std)
    b, m = _curve(budgets, mean)
    if b[0] <= 0:
        raise AlkitError(f"budgets must be positive label counts, got {b.tolist()}")
    gap = m - (np.asarray(rand_mean, np.float64) + np.asarray(rand_std, np.float64))
    if mode == "points":
        return float(np.mean(gap > 0))
    length = b[0] if gap[0] > 0 else 0.0
    for b0, b1, g0, g1 in zip(b[:-1], b[1:], gap[:-1], gap[1:], strict=True):
        if g0 > 0 and g1 > 0:
            length += b1 - b0
        elif g0 > 0 or g1 > 0:
            cross = b0 + (b1 - b0) * g0 / (g0 - g1)  # where the line through the gaps is 0
            length += (cross - b0) if g0 > 0 else (b1 - cross)
    return float(length / b[-1])


def pick_entropy(probs_N_C) -> float:
    """Mean predictive entropy (nats) of a round's picks under the model that chose them:
    ``mean_n −Σ_c p_nc log p_nc`` over the ``N × C`` probabilities of the picked samples
    (seed 004's Fig. 3b/13 diagnostic, comparable across every strategy); NaN for no picks."""
    p = np.asarray(probs_N_C, dtype=np.float64)
    if p.ndim != 2:
        raise AlkitError(f"probs_N_C must be an N × C array, got shape {p.shape}")
    if len(p) == 0:
        return float("nan")
    return float(-(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1).mean())


def bootstrap_interval(
    statistic, n_units: int, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Percentile bootstrap over ``n_units`` independent units (e.g. seeds).

    ``statistic(idx)`` computes the number from the units ``idx`` (an int array of length
    ``n_units``, with repeats when resampled). Returns ``(point, low, high)``: the statistic on
    all units and the ``level`` percentile interval of ``n_boot`` resamples drawn with
    replacement (resamples giving NaN are dropped; all NaN gives NaN bounds). With few units
    the interval is coarse: 3 seeds have only 10 distinct resamples.
    """
    if n_units < 1:
        raise AlkitError(f"a bootstrap needs at least one unit, got n_units={n_units}")
    if not 0 < level < 1:
        raise AlkitError(f"level must be in (0, 1), got {level}")
    point = float(statistic(np.arange(n_units)))
    rng = np.random.default_rng(seed)
    draws = np.array([float(statistic(rng.integers(0, n_units, n_units))) for _ in range(n_boot)])
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return point, float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return point, float(low), float(high)
