"""Sweeps: a grid of experiments, one run folder per cell, run as Ray tasks or in this process.

A *cell* is one experiment with one strategy and one seed. Its run folder
``OUT/<cell name>/`` is written by :func:`alkit.loop.run_experiment` (the one loop), so the
run-folder rules hold per cell: atomic writes, one writer per folder (its lock), resume from
the last checkpoint. A sweep therefore resumes by itself: a finished cell is skipped, an
unfinished one continues from its checkpoint, a new one starts.

With Ray (``pip install 'alkit[distributed]'``) every pending cell is one task
(``num_cpus``/``num_gpus`` per task); without ``address`` a local Ray instance with ``workers``
CPUs is started, with ``address`` (``"auto"``, ``"ray://host:10001"``) the sweep joins a running
cluster. Workers write the run folders under the absolute ``OUT`` path; each finished cell also
sends its ``results.csv`` and ``config.json`` back, and the driver writes them into its own
``OUT/<cell>/`` when the worker's filesystem is not shared with it (checkpoints stay on the
worker). ``workers=0`` runs the cells one after another in this process, without Ray.

A cell's results do not depend on where it runs: every random choice is seeded by the cell's
config (tests/test_sweep.py checks a 2-worker Ray sweep against sequential runs).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from alkit.errors import AlkitError
from alkit.loop import ExperimentConfig, preflight
from alkit.results import (
    CONFIG_NAME,
    RESULTS_NAME,
    ResultsFile,
    atomic_write_bytes,
    check_run_folder,
    read_results,
)
from alkit.strategies import strategy_class
from alkit.strategies.base import spec_from_table

MANIFEST = "sweep.json"
#: Grid keys that give one value per cell instead of a list per cell.
PER_CELL = {"strategies": "strategy", "seeds": "seed"}


@dataclass(frozen=True)
class Cell:
    """One experiment × strategy × seed of a sweep.

    ``name`` is its folder under the sweep's output (readable, plus a hash of the cell's
    identity, so equal cells of different grids share a folder); ``params`` the grid values
    that made it; ``config`` the cell's whole :class:`~alkit.loop.ExperimentConfig` as plain
    values (one strategy, one seed)."""

    name: str
    params: dict
    config: dict

    @property
    def strategy(self) -> str:
        return self.config["strategies"][0]

    @property
    def seed(self) -> int:
        return self.config["seeds"][0]

    def experiment(self) -> ExperimentConfig:
        return ExperimentConfig.from_dict(self.config, source=f"sweep cell {self.name}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", str(text)).strip("_")[:60]


def cells_for(config: ExperimentConfig, params: dict | None = None) -> list[Cell]:
    """The cells of one experiment: one per strategy × seed, in config order (seed-major).

    A strategy that cannot choose its own initial set ignores ``cold_start``, so its cell is
    stored with ``cold_start=False``, and an experiment without pretraining ignores
    ``pretrain_epochs``, so its cell keeps the default: the same run, one folder, whichever
    protocol asked."""
    default_epochs = {f.name: f.default for f in dataclasses.fields(ExperimentConfig)}[
        "pretrain_epochs"
    ]
    epochs = config.pretrain_epochs if config.pretrain else default_epochs
    out = []
    for seed in config.seeds:
        for spec in config.strategies:
            cold = config.cold_start and getattr(strategy_class(spec.split(":")[0]), "cold_start", False)  # fmt: skip
            cell_cfg = dataclasses.replace(
                config, strategies=(spec,), seeds=(seed,), cold_start=bool(cold),
                pretrain_epochs=epochs,
            )  # fmt: skip
            identity = {"key": cell_cfg.data_key(), "strategy": spec, "seed": seed}
            digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()
            grid = "".join(f"{_slug(k.split('.')[-1])}={_slug(v)}__" for k, v in (params or {}).items() if k != "dataset")  # fmt: skip
            name = f"{_slug(config.dataset)}__{grid}{_slug(spec)}__seed{seed}__{digest[:10]}"
            cell_params = {**(params or {}), "strategy": spec, "seed": seed}
            out.append(Cell(name, cell_params, cell_cfg.to_dict()))
    return out


def set_field(fields: dict, key: str, value) -> None:
    """``fields[key] = value``; a dotted key ``train.lr`` sets a field of a nested table."""
    *path, last = key.split(".")
    target = fields
    for part in path:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise AlkitError(f"grid key {key!r}: {part!r} is not a table of the experiment")
    target[last] = value


@dataclass
class SweepConfig:
    """A grid of experiments (``alkit sweep --config sweep.toml``).

    ``experiment``: the fields every cell shares (those of ``alkit bench --config``);
    ``grid``: field → list of values, expanded as a Cartesian product; ``strategies`` and
    ``seeds`` give one strategy / one seed per cell, any other field (``dataset``,
    ``imbalance``, dotted ``train.lr``, …) one value per cell. ``out``: the sweep folder;
    ``workers``: CPUs of a local Ray instance (0: no Ray, cells run in this process);
    ``num_cpus``/``num_gpus``: resources of each cell's task.
    """

    experiment: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    out: str = "runs/sweep"
    workers: int | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0

    @classmethod
    def from_dict(cls, fields: dict, source: str = "the sweep file") -> SweepConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(fields) - known)
        if bad:
            raise AlkitError(
                f"unknown field(s) {bad} in {source}; a sweep file holds {sorted(known)} "
                "(experiment fields go in [experiment], lists to expand in [grid])"
            )
        sweep = cls(**fields)
        for key, values in sweep.grid.items():
            if not isinstance(values, list) or not values:
                raise AlkitError(
                    f"grid entry {key!r} in {source} must be a non-empty list of values, "
                    f"got {values!r}"
                )
        if sweep.workers is not None and (
            isinstance(sweep.workers, bool) or not isinstance(sweep.workers, int) or sweep.workers < 0
        ):  # fmt: skip
            raise AlkitError(f"workers in {source} must be an integer ≥ 0, got {sweep.workers!r}")
        for name in ("num_cpus", "num_gpus"):
            value = getattr(sweep, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise AlkitError(f"{name} in {source} must be a number ≥ 0, got {value!r}")
        sweep.cells()  # every cell's config is checked now
        return sweep

    def cells(self) -> list[Cell]:
        """Every cell of the grid, in grid order (``strategies`` and ``seeds`` innermost)."""
        keys = [k for k in self.grid if k not in PER_CELL]
        cells: list[Cell] = []
        for values in itertools.product(*(self.grid[k] for k in keys)):
            fields = json.loads(json.dumps(self.experiment))
            params = {}
            for key, value in zip(keys, values, strict=True):
                set_field(fields, key, value)
                params[key] = value
            for key in PER_CELL:
                if key in self.grid:
                    fields[key] = self.grid[key]
            if "strategies" in fields:
                specs = fields["strategies"]
                specs = [specs] if isinstance(specs, (str, dict)) else specs
                fields["strategies"] = [
                    spec_from_table(s) if isinstance(s, dict) else s for s in specs
                ]
            config = ExperimentConfig.from_dict(fields, source=f"sweep cell {params or ''}")
            cells += cells_for(config, params)
        names = [c.name for c in cells]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise AlkitError(f"the grid names the same cell twice: {dup[:3]}")
        return cells


def cell_status(out: str | os.PathLike, cell: Cell) -> str:
    """``"done"`` (every round recorded), ``"partial"`` (some rounds) or ``"new"``."""
    path = Path(out) / cell.name / RESULTS_NAME
    if not path.exists():
        return "new"
    rows = [
        r
        for r in ResultsFile(path).rows()
        if r["strategy"] == cell.strategy and r["seed"] == cell.seed
    ]
    n_rounds = cell.config["rounds"] + 1
    return "done" if len(rows) >= n_rounds else ("partial" if rows else "new")


def run_cell(config: dict, folder: str, threads: int | None = None) -> dict:
    """Run (or resume) one cell with :func:`alkit.loop.run_experiment` into ``folder``; return
    what the driver needs: its name, rows, seconds, and the bytes of its results and config.

    ``threads`` sets torch's intra-op threads (a Ray task gets its ``num_cpus``)."""
    import torch

    from alkit.loop import run_experiment

    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))
    os.environ.setdefault("ALKIT_PROGRESS", "0")
    t0 = time.perf_counter()
    rows = run_experiment(
        ExperimentConfig.from_dict(config, source=folder), out=folder, progress=False
    )
    folder_path = Path(folder)
    return {
        "folder": folder,
        "rows": len(rows),
        "seconds": round(time.perf_counter() - t0, 2),
        "results_csv": (folder_path / RESULTS_NAME).read_bytes(),
        "config_json": (folder_path / CONFIG_NAME).read_bytes(),
    }


def _bring_back(result: dict) -> None:
    """Write a finished cell's files into the driver's folder when they are not there (the
    worker's filesystem is not shared); identical files are left alone."""
    folder = Path(result["folder"])
    for name, data in ((RESULTS_NAME, result["results_csv"]), (CONFIG_NAME, result["config_json"])):
        path = folder / name
        if not path.exists() or path.read_bytes() != data:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data)


@dataclass
class SweepReport:
    """What :func:`run_cells` did: every cell's status before the call, the cells run now,
    each one's seconds, and the wall time of the call."""

    out: Path
    cells: list[Cell]
    before: dict[str, str]
    ran: list[str]
    seconds: dict[str, float]
    wall_seconds: float
    executor: str

    def results(self) -> pd.DataFrame:
        """All cells' rows, with the cell name in a ``cell`` column."""
        return collect(self.out, self.cells)


def collect(out: str | os.PathLike, cells: Sequence[Cell]) -> pd.DataFrame:
    """The rows of ``cells`` from their folders under ``out`` (a ``cell`` column added);
    cells without results are left out."""
    frames = []
    for cell in cells:
        folder = Path(out) / cell.name
        if (folder / RESULTS_NAME).exists():
            rows = read_results(folder)
            rows = rows[(rows["strategy"] == cell.strategy) & (rows["seed"] == cell.seed)]
            frames.append(rows.assign(cell=cell.name))
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)


def _preflight_cells(cells: Sequence[Cell], out: Path) -> None:
    """Check every cell before any runs: one :func:`~alkit.loop.preflight` per group of cells
    that differ only in strategy and seed (the dataset is loaded once per group), and every
    cell's folder (:func:`~alkit.results.check_run_folder`)."""
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        rest = {k: v for k, v in cell.config.items() if k not in ("strategies", "seeds")}
        rest["cold_start"] = False
        groups.setdefault(json.dumps(rest, sort_keys=True), []).append(cell)
    for members in groups.values():
        fields = dict(members[0].config)
        fields["strategies"] = list(dict.fromkeys(c.strategy for c in members))
        fields["seeds"] = sorted({c.seed for c in members})
        fields["cold_start"] = any(c.config["cold_start"] for c in members)
        preflight(ExperimentConfig.from_dict(fields, source="the sweep"))
    for cell in cells:
        key = cell.experiment().data_key()
        check_run_folder(out / cell.name, key, ("strategies", "seeds", "device"))


def _write_manifest(out: Path, cells: Sequence[Cell], extra: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        **extra,
        "cells": [{"name": c.name, "params": c.params, "config": c.config} for c in cells],
    }
    path = out / MANIFEST
    data = json.dumps(payload, indent=1, default=str).encode()
    if not path.exists() or path.read_bytes() != data:
        atomic_write_bytes(path, data)


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def run_cells(
    cells: Sequence[Cell],
    out: str | os.PathLike,
    address: str | None = None,
    workers: int | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    quiet: bool = False,
    manifest: dict | None = None,
) -> SweepReport:
    """Run every cell of ``cells`` that is not finished, each into ``out/<cell.name>``.

    Everything is checked first (:func:`_preflight_cells`), so a bad cell fails before any
    runs. ``address``: join that Ray cluster; else ``workers`` local Ray CPUs (default: this
    machine's CPUs), or ``workers=0`` for no Ray. A failing cell does not stop the others; the
    call raises :class:`AlkitError` naming the failed cells at the end. Progress lines go to
    stderr unless ``quiet``.
    """
    out = Path(out).absolute()
    cells = list(cells)
    names = [c.name for c in cells]
    if len(set(names)) != len(names):
        cells = list({c.name: c for c in cells}.values())
    _preflight_cells(cells, out)
    before = {c.name: cell_status(out, c) for c in cells}
    pending = [c for c in cells if before[c.name] != "done"]
    use_ray = address is not None or workers != 0
    if use_ray and not ray_available():
        raise AlkitError(
            "this sweep asks for Ray, which is not installed: pip install 'alkit[distributed]' "
            "(or run without Ray: workers = 0 / --workers 0)"
        )
    executor = "ray" if use_ray else "local"
    _write_manifest(out, cells, {"executor": executor, **(manifest or {})})

    def say(text: str) -> None:
        if not quiet:
            print(f"alkit sweep: {text}", file=sys.stderr, flush=True)

    say(
        f"{len(cells)} cells, {len(cells) - len(pending)} finished, "
        f"{sum(before[c.name] == 'partial' for c in pending)} to resume, "
        f"{sum(before[c.name] == 'new' for c in pending)} new ({executor})"
    )
    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    failed: dict[str, str] = {}
    if pending and executor == "local":
        for k, cell in enumerate(pending, 1):
            try:
                result = run_cell(cell.config, str(out / cell.name))
            except Exception as exc:  # one failing cell does not stop the sweep
                failed[cell.name] = f"{type(exc).__name__}: {exc}"
                say(f"[{k}/{len(pending)}] {cell.name} FAILED: {failed[cell.name]}")
                continue
            seconds[cell.name] = result["seconds"]
            say(f"[{k}/{len(pending)}] {cell.name} ({result['seconds']:.1f} s)")
    elif pending:
        _run_on_ray(pending, out, address, workers, num_cpus, num_gpus, seconds, failed, say)
    wall = time.perf_counter() - t0
    if failed:
        lines = "; ".join(f"{n}: {msg}" for n, msg in failed.items())
        raise AlkitError(f"{len(failed)} of {len(pending)} sweep cells failed ({lines})")
    return SweepReport(out, cells, before, [c.name for c in pending], seconds, wall, executor)


def _run_on_ray(pending, out, address, workers, num_cpus, num_gpus, seconds, failed, say):
    import ray

    started = not ray.is_initialized()
    if started:
        if address is not None:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(
                num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False
            )
    try:
        task = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=0)(run_cell)
        threads = max(1, int(num_cpus)) if num_cpus else None
        refs = {task.remote(cell.config, str(out / cell.name), threads): cell for cell in pending}
        done = 0
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            cell = refs.pop(ready[0])
            done += 1
            try:
                result = ray.get(ready[0])
            except Exception as exc:  # RayTaskError wraps the cell's own exception
                cause = getattr(exc, "cause", None) or exc
                failed[cell.name] = f"{type(cause).__name__}: {cause}"
                say(f"[{done}/{len(pending)}] {cell.name} FAILED: {failed[cell.name]}")
                continue
            _bring_back(result)
            seconds[cell.name] = result["seconds"]
            say(f"[{done}/{len(pending)}] {cell.name} ({result['seconds']:.1f} s)")
    finally:
        if started:
            ray.shutdown()


def run_sweep(
    sweep: SweepConfig,
    address: str | None = None,
    workers: int | None = None,
    out: str | os.PathLike | None = None,
    quiet: bool = False,
) -> SweepReport:
    """Expand ``sweep``'s grid and run it (:func:`run_cells`); ``workers`` and ``out``
    override the sweep's own."""
    return run_cells(
        sweep.cells(),
        out if out is not None else sweep.out,
        address=address,
        workers=sweep.workers if workers is None else workers,
        num_cpus=sweep.num_cpus,
        num_gpus=sweep.num_gpus,
        quiet=quiet,
        manifest={"grid": sweep.grid, "experiment": sweep.experiment},
    )
