"""A claim row: what a paper says, how we test it, and how our number becomes a verdict.

A :class:`Claim` names a paper's headline claim (one sentence, the figure or table, the
number), builds the experiments that test it (a quick smoke version and a full one), and
computes one number from their rows for any multiset of seeds, so that the number gets a
bootstrap interval over seeds. Rows register in one registry (:func:`register_claim`); a seed's
module adds its rows at import, like strategies do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alkit import metrics
from alkit.errors import AlkitError, unknown_name
from alkit.loop import ExperimentConfig

#: the four verdicts a row can get
VERDICTS = ("holds", "holds in direction only", "does not hold", "not measurable here")

#: ``curves`` (every experiment's per-seed learning curves), ``idx`` (positions into
#: ``curves.seeds``, repeated in a bootstrap resample) → the row's number
Statistic = Callable[["Curves", np.ndarray], float]


@dataclass(frozen=True)
class Claim:
    """One row of the claims report.

    Attributes:
        id: the row's name (``alkit claims --only ID``), e.g. ``"000-paper-protocol"``.
        seed: the source document's number (``"000"``).
        claim: the claim in one sentence.
        source: where the paper makes it (figure, table, section).
        paper_value: the paper's number in words.
        paper_number: that number in the unit of ours (what "holds" is measured against).
        unit: the unit of both numbers.
        experiments: ``experiments(quick) -> {name: ExperimentConfig}``.
        statistic: our number from the experiments' :class:`Curves` for a multiset of seeds.
        protocol: ``protocol(experiments, quick) -> str``: data, budget, model, seeds, in one
            paragraph, read from the experiments actually run (overrides included).
        differences: ``differences(experiments, quick) -> list[str]``: every difference from
            the paper, read the same way.
        details: ``details(curves) -> dict``: secondary numbers for the report (optional).
    """

    id: str
    seed: str
    claim: str
    source: str
    paper_value: str
    paper_number: float
    unit: str
    experiments: Callable[[bool], dict[str, ExperimentConfig]]
    statistic: Statistic
    protocol: Callable[[dict[str, ExperimentConfig], bool], str]
    differences: Callable[[dict[str, ExperimentConfig], bool], list[str]]
    details: Callable[[Curves], dict] = field(default=lambda curves: {})
    #: the row kind (:class:`~alkit.claims.measured.MeasuredClaim` is ``"measured"``)
    kind = "experiment"


#: every row, of both kinds: :class:`Claim` (experiments) and
#: :class:`~alkit.claims.measured.MeasuredClaim` (a benchmark's JSON)
_CLAIMS: dict = {}


def register_claim(claim):
    """Add a row of either kind to the report's registry (ids are unique); returns it."""
    if not claim.id or claim.id in _CLAIMS:
        raise ValueError(f"claim id {claim.id!r} is empty or already registered")
    _CLAIMS[claim.id] = claim
    return claim


def claim_ids() -> list[str]:
    """The registered row ids, in registration order (seed by seed)."""
    return list(_CLAIMS)


def get_claims(only: list[str] | None = None) -> list:
    """The rows named by ``only`` (ids, or a seed number for all its rows); all when None."""
    if not only:
        return list(_CLAIMS.values())
    chosen: dict[str, Claim] = {}
    for name in only:
        matches = [c for c in _CLAIMS.values() if name in (c.id, c.seed)]
        if not matches:
            raise unknown_name("claim row", name, [*_CLAIMS, *{c.seed for c in _CLAIMS.values()}])
        chosen.update({c.id: c for c in matches})
    return list(chosen.values())


# -- statistics over seeds -------------------------------------------------------------------


class Curves:
    """Per-seed learning curves of every (experiment, strategy), built once from the rows so a
    bootstrap can recompute a statistic thousands of times from NumPy arrays.

    ``seeds``: the seeds every experiment and strategy has finished rows for; ``frames``: the
    rows themselves (for details that need more than accuracy)."""

    def __init__(self, frames: dict[str, pd.DataFrame]):
        self.frames = frames
        self._curves: dict[tuple[str, str], tuple[np.ndarray, pd.DataFrame]] = {}
        common: set[int] | None = None
        for name, frame in frames.items():
            if frame.empty:
                common = set()
                continue
            for strategy, rows in frame.groupby("strategy", sort=False):
                table = rows.pivot_table(index="seed", columns="round", values="accuracy")
                table = table.dropna()  # a seed whose run has not finished every round
                budgets = rows.groupby("round")["n_labeled"].first().to_numpy()
                self._curves[(name, strategy)] = (budgets, table)
                seeds = set(table.index.tolist())
                common = seeds if common is None else common & seeds
        self.seeds = np.array(sorted(common or ()), dtype=np.int64)
        self._columns: dict[tuple[str, str, str], np.ndarray] = {}
        self._acc = {
            key: table.loc[self.seeds].to_numpy() for key, (_, table) in self._curves.items()
        }

    def strategies(self, experiment: str) -> list[str]:
        """The strategies of an experiment, in the order their rows appear."""
        return [s for (e, s) in self._curves if e == experiment]

    def per_seed(self, experiment: str, strategy: str) -> np.ndarray:
        """``S × R`` accuracies, one row per seed of :attr:`seeds`."""
        if (experiment, strategy) not in self._acc:
            raise AlkitError(f"no rows of {strategy!r} in experiment {experiment!r}")
        return self._acc[(experiment, strategy)]

    def column_per_seed(self, experiment: str, strategy: str, column: str) -> np.ndarray:
        """``S`` values, one per seed of :attr:`seeds`: the mean over the rounds of a results
        column (e.g. ``pick_entropy``), NaN rounds skipped. Cached."""
        key = (experiment, strategy, column)
        if key not in self._columns:
            frame = self.frames[experiment]
            rows = frame[frame["strategy"] == strategy]
            if rows.empty:
                raise AlkitError(f"no rows of {strategy!r} in experiment {experiment!r}")
            per_seed = rows.groupby("seed")[column].mean()
            self._columns[key] = per_seed.reindex(self.seeds).to_numpy(np.float64)
        return self._columns[key]

    def mean(self, experiment: str, strategy: str, idx=None) -> tuple[np.ndarray, np.ndarray]:
        """``(n_labeled_R, accuracy_R)`` averaged over the seeds at positions ``idx`` (all by
        default; a repeated position counts as often as it appears)."""
        acc = self.per_seed(experiment, strategy)
        idx = np.arange(len(acc)) if idx is None else idx
        return self._curves[(experiment, strategy)][0], acc[idx].mean(axis=0)

    def mean_accuracy(self, experiment: str, strategy: str, idx=None) -> float:
        """The mean accuracy over all rounds and the seeds ``idx``, in points: the "Avg"
        column of seed 003's tables."""
        return float(100 * self.mean(experiment, strategy, idx)[1].mean())

    def auc(self, experiment: str, strategy: str, idx=None) -> float:
        """The normalised area under the mean learning curve (a mean accuracy in [0, 1])."""
        return metrics.area_under_curve(*self.mean(experiment, strategy, idx))

    def savings(self, experiment: str, method: str, ref: str, idx=None) -> float:
        """% fewer labels for the same accuracy of ``method`` vs ``ref`` on their mean curves
        (:func:`alkit.metrics.label_savings`)."""
        return metrics.label_savings(
            *self.mean(experiment, method, idx), *self.mean(experiment, ref, idx)
        )

    def best(self, experiment: str, strategies, by: str = "auc") -> str:
        """The strategy with the largest AUC (or ``by="mean"``: mean accuracy) on all seeds."""
        score = self.auc if by == "auc" else self.mean_accuracy
        return max(strategies, key=lambda s: score(experiment, s))


@dataclass
class Measurement:
    """Our number for a row: the point estimate on all seeds, its 95% bootstrap interval,
    the seeds, and the verdict with its reason."""

    value: float
    low: float
    high: float
    seeds: list[int]
    n_boot: int
    verdict: str
    why: str
    details: dict = field(default_factory=dict)


def measure(claim: Claim, frames: dict[str, pd.DataFrame], n_boot: int = 2000) -> Measurement:
    """The row's number with a percentile bootstrap over seeds, and its verdict."""
    curves = Curves(frames)
    seeds = curves.seeds
    if seeds.size == 0:
        return Measurement(
            math.nan, math.nan, math.nan, [], 0, "not measurable here", "no finished runs"
        )
    point, low, high = metrics.bootstrap_interval(
        lambda idx: claim.statistic(curves, idx), len(seeds), n_boot=n_boot
    )
    verdict, why = judge(point, low, high, claim.paper_number, claim.unit, len(seeds))
    return Measurement(
        point, low, high, seeds.tolist(), n_boot, verdict, why, claim.details(curves)
    )


def judge(
    point,
    low,
    high,
    paper_number,
    unit,
    n_units,
    null: float = 0.0,
    better: str = "higher",
    units: str = "seeds",
) -> tuple[str, str]:
    """The verdict of a number against the paper's, with or without an interval.

    ``null`` is the value at which the claim fails (no effect: 0 for a difference; a bound such
    as "fewer than 3 iterations"), ``better`` the claimed side of it (``"higher"`` or
    ``"lower"``). *holds*: the interval lies on the claimed side of ``null`` and the point
    reaches the paper's number; *holds in direction only*: on the claimed side but short of the
    paper's number; *does not hold*: the interval reaches ``null`` or lies beyond it (no effect
    beyond the variation of the ``units``, or the reverse); *not measurable here*: the number is
    undefined (e.g. the curves never reach a common accuracy).

    ``low`` and ``high`` None (a benchmark with a single run): the point alone decides, and the
    reason says that no interval backs it."""
    if better not in ("higher", "lower"):
        raise AlkitError(f"better must be 'higher' or 'lower', got {better!r}")
    if point is None or not math.isfinite(point):
        return "not measurable here", (
            "the number is undefined on these runs (e.g. the learning curves never reach a "
            "common accuracy)"
        )
    sign = 1.0 if better == "higher" else -1.0
    reaches = sign * (point - paper_number) >= 0
    side = f"{better} than {null:g}"
    if low is None or high is None:
        said = f"{point:.3g} {unit} from a single run: no interval, so its noise is not excluded"
        if sign * (point - null) <= 0:
            return "does not hold", f"{said}; it is not {side}"
        if paper_number == null:
            return "holds", f"{said}; it is {side}, the claimed direction"
        if reaches:
            return "holds", f"{said}; it is {side} and reaches the paper's {paper_number:g}"
        return "holds in direction only", (
            f"{said}; it is {side} but short of the paper's {paper_number:g}"
        )
    ci = f"95% interval [{low:.3g}, {high:.3g}] {unit} over {n_units} {units}"
    near, far = (low, high) if better == "higher" else (high, low)
    if math.isfinite(near) and sign * (near - null) > 0:
        if paper_number == null:
            return "holds", f"{ci} excludes {null:g}: the claimed direction (no number beyond it)"
        if reaches:
            return "holds", (
                f"{ci} excludes {null:g} and the estimate reaches the paper's {paper_number:g}"
            )
        return "holds in direction only", (
            f"{ci} excludes {null:g}, but the estimate {point:.3g} is short of the paper's "
            f"{paper_number:g}"
        )
    if math.isfinite(far) and sign * (far - null) < 0:
        where = "below" if better == "higher" else "above"
        return "does not hold", f"{ci} lies {where} {null:g}: the reverse of the claim"
    unit_word = units[:-1] if units.endswith("s") else units
    return "does not hold", (
        f"{ci} includes {null:g}: no effect beyond {unit_word}-to-{unit_word} variation"
    )
