"""Measured rows: claims whose number is not a learning curve but a benchmark's result.

A :class:`MeasuredClaim` reads one JSON that a script in ``benchmarks/`` writes (a correlation,
an accuracy gap, an iteration count, a transport cost). ``alkit claims`` never runs the
benchmark (they take minutes); it reads the file, and a missing file gives *not measurable
here* with the command that produces it. The interval is the one the benchmark's own repeats
allow (its seeds, random draws, pairs), or none when it made a single run: then
:func:`~alkit.claims.base.judge` decides on the point alone and says so.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alkit.claims.base import Measurement, judge
from alkit.errors import AlkitError

#: where the benchmark scripts write their JSON, in a source checkout
RESULTS_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


@dataclass(frozen=True)
class Reading:
    """What a measured row takes from its benchmark's JSON.

    Attributes:
        value: our number, in the row's unit.
        low, high: its 95% interval, or both None when the benchmark has a single run.
        interval: how the interval was made (units, method), or why there is none.
        n_units: the repeats behind the interval (seeds, draws); 1 for a single run.
        units: what those repeats are ("seeds", "random draws").
        protocol: data, sizes, seeds and machine of the run, read from the JSON.
        differences: every difference from the paper's setting, read the same way.
        details: secondary numbers for the report.
    """

    value: float
    low: float | None
    high: float | None
    interval: str
    n_units: int
    protocol: str
    differences: list[str]
    units: str = "seeds"
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MeasuredClaim:
    """One measured row of the claims report (the benchmark kind).

    Attributes:
        id, seed, claim, source, paper_value, paper_number, unit: as :class:`Claim`.
        benchmark: the script that produces the number, relative to the repository root
            (``benchmarks/dwe_fashion.py``); its command is the row's re-run command.
        result: the JSON file it writes, a name under the results folder.
        read: ``read(payload) -> Reading`` from the loaded JSON.
        protocol_text: what the benchmark measures, shown when its JSON is missing.
        null: the value at which the claim fails (0 for a difference, 3 for "< 3
            iterations"); better: ``"higher"`` or ``"lower"``, the claimed side of it.
        digits: decimals of the number in the report.
    """

    id: str
    seed: str
    claim: str
    source: str
    paper_value: str
    paper_number: float
    unit: str
    benchmark: str
    result: str
    read: Callable[[dict], Reading]
    protocol_text: str
    null: float = 0.0
    better: str = "higher"
    digits: int = 3
    kind = "measured"

    @property
    def command(self) -> str:
        """The command that (re)produces the row's JSON, from the repository root."""
        return f"flock /tmp/alkit-bench.lock env PYTHONPATH=. python {self.benchmark}"


@dataclass
class BenchmarkResult:
    """A measured row's number (or why there is none) and what the report says about it."""

    measurement: Measurement | None
    reading: Reading | None
    path: Path
    why_missing: str | None = None


def measure_benchmark(
    claim: MeasuredClaim, results_dir: str | os.PathLike | None = None
) -> BenchmarkResult:
    """Read the row's JSON from ``results_dir`` (default: the checkout's
    ``benchmarks/results``) and judge its number; never runs the benchmark."""
    path = Path(results_dir if results_dir is not None else RESULTS_DIR) / claim.result
    if not path.is_file():
        return BenchmarkResult(
            None, None, path, f"{path} does not exist: run `{claim.command}` to produce it"
        )
    try:
        payload = json.loads(path.read_text())
        reading = claim.read(payload)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise AlkitError(
            f"claim row {claim.id}: {path} does not hold what the row reads "
            f"({type(exc).__name__}: {exc}); re-run `{claim.command}`"
        ) from exc
    has_interval = reading.low is not None and reading.high is not None
    verdict, why = judge(
        reading.value,
        reading.low if has_interval else None,
        reading.high if has_interval else None,
        claim.paper_number,
        claim.unit,
        reading.n_units,
        null=claim.null,
        better=claim.better,
        units=reading.units,
    )
    nan = math.nan
    measurement = Measurement(
        reading.value,
        reading.low if has_interval else nan,
        reading.high if has_interval else nan,
        [],
        0,
        verdict,
        why,
        reading.details,
    )
    return BenchmarkResult(measurement, reading, path, None)
