"""Run the claim rows and write ``CLAIMS.md`` and ``claims.json``.

Experiment rows run on ``alkit sweep``; measured rows read a benchmark's JSON (never run it).
A report folder keeps the rows of earlier calls that this call did not rewrite, with the
provenance of the call that made them, so one row can be re-run without re-running the rest.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import time
from pathlib import Path

import pandas as pd

from alkit.claims.base import Claim, Measurement, claim_ids, get_claims, measure
from alkit.claims.measured import BenchmarkResult, measure_benchmark
from alkit.data import load_dataset
from alkit.errors import DatasetUnavailableError
from alkit.loop import ExperimentConfig
from alkit.results import atomic_write_bytes
from alkit.sweep import Cell, cells_for, collect, ray_available, run_cells, set_field

REPORT_MD = "CLAIMS.md"
REPORT_JSON = "claims.json"


@dataclasses.dataclass
class Row:
    """A row of the report: the claim, its experiments and cells (none for a measured row),
    and our number; ``benchmark`` is a measured row's reading of its JSON."""

    claim: Claim
    quick: bool
    experiments: dict
    cells: dict[str, list[Cell]]
    overrides: dict = dataclasses.field(default_factory=dict)
    measurement: Measurement | None = None
    unavailable: str | None = None
    benchmark: BenchmarkResult | None = None


def experiments_of(claim: Claim, quick: bool, overrides: dict | None) -> dict:
    """The row's experiments with ``overrides`` (field → value; dotted ``train.epochs`` for a
    training field) applied to each; every field is checked again."""
    exps = claim.experiments(quick)
    if not overrides:
        return exps
    out = {}
    for name, config in exps.items():
        fields = config.to_dict()
        for key, value in overrides.items():
            set_field(fields, key, value)
        out[name] = ExperimentConfig.from_dict(fields, source=f"the overrides of {claim.id}")
    return out


def _availability(exps: dict, seen: dict) -> str | None:
    """Why the row cannot run here (a dataset that cannot be loaded), or None; ``seen``
    caches the answer per dataset."""
    for config in exps.values():
        if config.dataset not in seen:
            try:
                load_dataset(config.dataset)
                seen[config.dataset] = None
            except DatasetUnavailableError as exc:
                seen[config.dataset] = (
                    f"dataset {config.dataset!r} is not available on this machine: {exc}"
                )
        if seen[config.dataset]:
            return seen[config.dataset]
    return None


def run_claims(
    only: list[str] | None = None,
    quick: bool = False,
    out: str | os.PathLike = "runs/claims",
    report_dir: str | os.PathLike | None = None,
    address: str | None = None,
    workers: int | None = None,
    overrides: dict | None = None,
    num_gpus: float = 0.0,
    n_boot: int = 2000,
    quiet: bool = False,
    results_dir: str | os.PathLike | None = None,
) -> list[Row]:
    """Run the rows ``only`` (ids or seed numbers; all by default) and write the report.

    Every row's experiments become sweep cells under ``out/cells`` (one run folder per
    strategy × seed, shared between rows that run the same cell) and run through
    :func:`alkit.sweep.run_cells`: on Ray when it is installed (``address`` or ``workers``
    local CPUs), else, or with ``workers=0``, one after another in this process — the same
    results either way. A finished cell is reused, an interrupted one resumed. ``overrides``
    (field → value, e.g. ``{"seeds": [0, 1, 2], "train.epochs": 10}``) change every
    experiment, and the report's protocol text shows them. The report goes to ``report_dir``
    (default: ``out``); rows already in its ``claims.json`` that this call does not rewrite
    are kept (:func:`write_report`).

    Measured rows (:class:`~alkit.claims.measured.MeasuredClaim`) read their benchmark's JSON
    from ``results_dir`` (default: the checkout's ``benchmarks/results``); overrides do not
    apply to them, and a missing file makes the row *not measurable here*.
    """
    out = Path(out)
    rows, seen = [], {}
    for claim in get_claims(only):
        if claim.kind == "measured":
            result = measure_benchmark(claim, results_dir)
            rows.append(
                Row(claim, False, {}, {}, measurement=result.measurement,
                    unavailable=result.why_missing, benchmark=result)
            )  # fmt: skip
            continue
        exps = experiments_of(claim, quick, overrides)
        row = Row(claim, quick, exps, {name: cells_for(c) for name, c in exps.items()})
        row.overrides = dict(overrides or {})
        row.unavailable = _availability(exps, seen)
        rows.append(row)
    cells = [c for r in rows if r.unavailable is None for cs in r.cells.values() for c in cs]
    if workers is None and address is None and not ray_available():
        workers = 0  # Ray is optional: the same cells, one after another, same results
        if not quiet:
            print("alkit claims: Ray is not installed, running the cells in this process")
    t0 = time.perf_counter()
    sweep = None
    if cells:
        sweep = run_cells(
            cells, out / "cells", address=address, workers=workers, num_gpus=num_gpus,
            quiet=quiet, manifest={"claims": [r.claim.id for r in rows], "quick": quick},
        )  # fmt: skip
    wall = time.perf_counter() - t0
    loop_seconds: dict[str, float] = {}
    for row in rows:
        if row.unavailable is None and row.claim.kind == "experiment":
            frames = {n: collect(out / "cells", cs) for n, cs in row.cells.items()}
            row.measurement = measure(row.claim, frames, n_boot=n_boot)
            for frame in frames.values():
                if not frame.empty:
                    spent = frame.groupby("cell")[["select_seconds", "train_seconds"]].sum()
                    loop_seconds.update(spent.sum(axis=1).to_dict())
    folder = Path(report_dir) if report_dir is not None else out
    write_report(rows, folder, wall, sweep, sum(loop_seconds.values()), quick=quick)
    return rows


def _option_text(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _fmt(x: float, digits: int = 1) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _finite_or_none(x: float) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def measured_row_json(row: Row) -> dict:
    """A measured row's entry: the benchmark, its file and the reading."""
    c, m, b = row.claim, row.measurement, row.benchmark
    reading = b.reading
    verdict, why = ("not measurable here", row.unavailable) if m is None else (m.verdict, m.why)
    return {
        "id": c.id,
        "seed": c.seed,
        "kind": "measured",
        "smoke": False,
        "claim": c.claim,
        "paper": {"source": c.source, "value": c.paper_value, "number": c.paper_number},
        "unit": c.unit,
        "null": c.null,
        "better": c.better,
        "digits": c.digits,
        "protocol": c.protocol_text if reading is None else reading.protocol,
        "differences_from_paper": [] if reading is None else reading.differences,
        "benchmark": {
            "script": c.benchmark,
            "result": c.result,
            "command": c.command,
            "found": b.why_missing is None,
        },
        "ours": None
        if m is None
        else {
            "value": m.value,
            "ci95": [_finite_or_none(m.low), _finite_or_none(m.high)],
            "interval": reading.interval,
            "units": reading.n_units,
            "unit_kind": reading.units,
            "details": m.details,
        },
        "verdict": verdict,
        "why": why,
        "overrides": {},
        "rerun": c.command,
    }


def row_json(row: Row) -> dict:
    if row.claim.kind == "measured":
        return measured_row_json(row)
    c, m = row.claim, row.measurement
    verdict, why = ("not measurable here", row.unavailable) if m is None else (m.verdict, m.why)
    return {
        "id": c.id,
        "seed": c.seed,
        "kind": "experiment",
        "smoke": row.quick,
        "claim": c.claim,
        "paper": {"source": c.source, "value": c.paper_value, "number": c.paper_number},
        "unit": c.unit,
        "protocol": c.protocol(row.experiments, row.quick),
        "differences_from_paper": c.differences(row.experiments, row.quick),
        "experiments": {name: cfg.to_dict() for name, cfg in row.experiments.items()},
        "ours": None
        if m is None
        else {
            "value": m.value,
            "ci95": [m.low, m.high],
            "seeds": m.seeds,
            "bootstrap_resamples": m.n_boot,
            "details": m.details,
        },
        "verdict": verdict,
        "why": why,
        "overrides": row.overrides,
        "rerun": f"alkit claims{' --quick' if row.quick else ''} --only {c.id}"
        + "".join(f" --set {k}={_option_text(v)}" for k, v in row.overrides.items()),
    }


def kept_rows(folder: Path, rewritten: set[str], quick: bool) -> tuple[list[dict], list[dict]]:
    """The entries of ``folder/claims.json`` this call keeps, and the runs that made them.

    Kept: rows of registered ids that this call does not rewrite and that are of the same
    mode (a quick call keeps only smoke rows, a full call only full ones; measured rows have
    no mode). Each earlier run's meta lists the ids it made (``rows``); a report written
    before runs were recorded counts as one run that made all of its rows."""
    path = folder / REPORT_JSON
    if not path.is_file():
        return [], []
    old = json.loads(path.read_text())
    registered = set(claim_ids())
    entries = [
        e
        for e in old.get("rows", [])
        if e["id"] not in rewritten
        and e["id"] in registered
        and (e.get("kind") == "measured" or e.get("smoke", False) == quick)
    ]
    kept = {e["id"] for e in entries}
    runs = old.get("runs") or [{**old["meta"], "rows": [e["id"] for e in old.get("rows", [])]}]
    earlier = []
    for run in runs:
        ids = [i for i in run["rows"] if i in kept]
        if ids:
            earlier.append({**run, "rows": ids})
    return entries, earlier


def write_report(
    rows: list[Row],
    folder: Path,
    wall_seconds: float,
    sweep=None,
    loop_seconds: float = 0.0,
    quick: bool = False,
) -> Path:
    """Write ``claims.json`` and ``CLAIMS.md`` into ``folder``; returns the Markdown path.

    ``loop_seconds``: the selection and training seconds recorded in every cell's rows (the
    compute the report rests on, whenever it ran; pretraining and evaluation not included).
    The rows of ``folder``'s earlier report that this call does not rewrite are kept with the
    provenance of the call that made them (:func:`kept_rows`); rows come in registry order."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = [row_json(r) for r in rows]
    kept, earlier = kept_rows(folder, {e["id"] for e in entries}, quick)
    order = {row_id: k for k, row_id in enumerate(claim_ids())}
    entries = sorted([*entries, *kept], key=lambda e: order.get(e["id"], len(order)))
    meta = {
        "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "mode": ("quick (smoke)" if any(r.quick for r in rows) else "full")
        + (
            " with overrides " + ", ".join(f"{k}={v}" for k, v in rows[0].overrides.items())
            if rows and rows[0].overrides
            else ""
        ),
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs, {platform.machine()})",
        "load_average": os.getloadavg(),
        "wall_seconds": round(wall_seconds, 1),
        "loop_seconds_all_cells": round(loop_seconds, 1),
        "executor": None if sweep is None else sweep.executor,
        "cells_run_now": None if sweep is None else len(sweep.ran),
        "cells_total": None if sweep is None else len(sweep.cells),
    }
    runs = [{**meta, "rows": [r.claim.id for r in rows]}]
    payload = {"meta": meta, "runs": runs + earlier, "rows": entries}
    atomic_write_bytes(folder / REPORT_JSON, json.dumps(payload, indent=1, default=str).encode())
    md = folder / REPORT_MD
    atomic_write_bytes(md, markdown(entries, meta, earlier).encode())
    return md


def _run_sentence(run: dict) -> str:
    """One call's provenance: when, how, where, and the compute of its cells."""
    text = f"generated {run['generated']} ({run['mode']}) on {run['machine']}"
    if run.get("cells_total"):
        text += (
            f": {run['cells_total']} cells (one strategy × seed each), "
            f"{run['loop_seconds_all_cells']:.0f} s of selection and training in their rows; "
            f"that call ran {run['cells_run_now']} of them in {run['wall_seconds']} s on "
            f"{run['executor']}"
        )
    return text


def _ours_text(e: dict) -> str:
    """The table's "ours" cell: the number with its interval, or why there is none."""
    ours = e["ours"]
    if ours is None:
        return "not run"
    if e.get("kind") == "measured":
        digits = e.get("digits", 3)
        low, high = ours["ci95"]
        if low is None or high is None:
            return f"{_fmt(ours['value'], digits)} {e['unit']} (single run, no interval)"
        return (
            f"{_fmt(ours['value'], digits)} [{_fmt(low, digits)}, {_fmt(high, digits)}] "
            f"{e['unit']} ({ours['units']} {ours['unit_kind']})"
        )
    return (
        f"{_fmt(ours['value'])} [{_fmt(ours['ci95'][0])}, {_fmt(ours['ci95'][1])}] "
        f"{e['unit']} ({len(ours['seeds'])} seeds)"
    )


def markdown(entries: list[dict], meta: dict, earlier: list[dict] | None = None) -> str:
    """The report as Markdown: one summary table, then each row's protocol and differences.

    ``earlier``: the runs that made the rows kept from an earlier report (their ids listed)."""
    now = [e["id"] for e in entries if not any(e["id"] in r["rows"] for r in earlier or [])]
    provenance = [f"This call ({', '.join(f'`{i}`' for i in now)}): {_run_sentence(meta)}."]
    for run in earlier or []:
        ids = ", ".join(f"`{i}`" for i in run["rows"])
        provenance.append(f"Kept from an earlier call ({ids}): {_run_sentence(run)}.")
    lines = [
        "# Claims: do the papers' headline claims hold under a protocol anyone can re-run?",
        "",
        *provenance,
        "",
        "Two kinds of rows. *Experiment* rows run active-learning experiments (`alkit sweep` "
        "cells); their numbers are point estimates on all seeds with a 95% percentile "
        "bootstrap interval over seeds (with 3 seeds a bootstrap has only 10 distinct "
        "resamples: the intervals are coarse). *Measured* rows read the JSON of a script in "
        "`benchmarks/` (`alkit claims` never runs those); their interval is the one the "
        "benchmark's repeats allow, and a benchmark with a single run has none (the verdict "
        "then rests on the point alone and says so). "
        "Verdicts: *holds* (interval on the claimed side of the no-effect value, 0 unless the "
        "row says otherwise, and the estimate reaches the paper's number), *holds in direction "
        "only* (on that side, short of the paper's number), *does not hold* (interval reaches "
        "the no-effect value or lies beyond it), *not measurable here* (with why).",
        "",
        "| row | seed | claim | paper | ours (95% CI) | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for e in entries:
        smoke = " **(smoke)**" if e["smoke"] else ""
        lines.append(
            f"| `{e['id']}`{smoke} | {e['seed']} | {e['claim']} | {e['paper']['source']}: "
            f"{e['paper']['value']} | {_ours_text(e)} | **{e['verdict']}** |"
        )
    for e in entries:
        measured = e.get("kind") == "measured"
        lines += [
            "",
            f"## `{e['id']}`{' (smoke: not evidence)' if e['smoke'] else ''}",
            "",
            f"**Claim.** {e['claim']} ({e['paper']['source']}: {e['paper']['value']}).",
            "",
            f"**Our protocol.** {e['protocol']}.",
        ]
        if measured:
            b = e["benchmark"]
            missing = "" if b.get("found", True) else " (missing)"
            lines += ["", f"**Benchmark.** `{b['script']}` → `benchmarks/results/{b['result']}`"
                      f"{missing}."]  # fmt: skip
            if e["ours"] is not None:
                lines += ["", f"**Interval.** {e['ours']['interval']}."]
        if e["differences_from_paper"]:
            lines += [
                "",
                "**Differences from the paper.**",
                "",
                *[f"- {d}" for d in e["differences_from_paper"]],
            ]
        lines += ["", f"**Verdict: {e['verdict']}.** {e['why']}."]
        if e["ours"] is not None and e["ours"]["details"]:
            lines += ["", "**Details.**", "", "```", _details_text(e["ours"]["details"]), "```"]
        lines += ["", f"Re-run this row: `{e['rerun']}`."]
    return "\n".join(lines) + "\n"


def _details_text(details: dict) -> str:
    out = []
    for key, value in details.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}: {v}" for k, v in value.items())
            out.append(f"{key}: {inner}")
        else:
            out.append(f"{key}: {value}")
    return "\n".join(out)


def results_frame(rows: list[Row], out: str | os.PathLike) -> pd.DataFrame:
    """Every row's cells' results (for notebooks), with ``claim`` and ``experiment`` columns."""
    frames = []
    for row in rows:
        for name, cells in row.cells.items():
            frame = collect(Path(out) / "cells", cells)
            if not frame.empty:
                frames.append(frame.assign(claim=row.claim.id, experiment=name))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
