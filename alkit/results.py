"""The results of an experiment and the run folder around them (DESIGN.md, "Run folders are data").

A run folder holds ``config.json`` (the experiment that wrote it), ``results.csv`` (one row per
finished round) and ``checkpoints/`` (the latest model of each strategy × seed). The rules:

- every write is atomic: a temporary file in the same folder, fsync, then rename, so a kill at
  any moment leaves either the old file or the new one, never a half-written one;
- one process holds a folder at a time (an ``fcntl`` lock on ``.lock``, released by the kernel
  when the holder dies); a second process gets an error naming the holder's PID;
- a folder whose config does not match, or that holds results without a config, is refused;
- a damaged line is reported by file and line number and nothing is mended or dropped.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from alkit.errors import AlkitError

COLUMNS = (
    "dataset",
    "strategy",
    "seed",
    "round",
    "n_labeled",
    "n_queried",
    "n_train",
    "accuracy",
    "per_class_accuracy",
    "confusion",
    "class_counts",
    "select_seconds",
    "train_seconds",
    "selected",
    "pick_entropy",
)
#: Columns stored as JSON lists in the CSV and decoded by :func:`read_results`.
JSON_COLUMNS = ("per_class_accuracy", "confusion", "class_counts", "selected")
_INT_COLUMNS = ("seed", "round", "n_labeled", "n_queried", "n_train")
_FLOAT_COLUMNS = ("accuracy", "select_seconds", "train_seconds", "pick_entropy")
_NAN_ALLOWED = ("accuracy", "pick_entropy")
CONFIG_NAME = "config.json"
RESULTS_NAME = "results.csv"
LOCK_NAME = ".lock"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` by ``data`` atomically: write a temporary file in the same folder, fsync
    it, rename it over ``path`` and fsync the folder. A kill leaves the old or the new file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _encode(value):
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return json.dumps(value, allow_nan=True)
    return value


def _decode_row(raw: dict, where: str) -> dict:
    row = dict(raw)
    for k in COLUMNS:
        text = row[k]
        try:
            if k in _INT_COLUMNS:
                row[k] = int(text)
            elif k in _FLOAT_COLUMNS:
                row[k] = float(text)
                if k not in _NAN_ALLOWED and not math.isfinite(row[k]):
                    raise ValueError
            elif k in JSON_COLUMNS:
                row[k] = json.loads(text)
                if not isinstance(row[k], list):
                    raise ValueError
            elif not text:
                raise ValueError
        except ValueError:
            kind = (
                "an integer"
                if k in _INT_COLUMNS
                else "a number"
                if k in _FLOAT_COLUMNS
                else "a JSON list"
                if k in JSON_COLUMNS
                else "a non-empty name"
            )
            raise AlkitError(f"{where}: column {k!r} holds {text[:40]!r}, not {kind}") from None
    return row


class ResultsFile:
    """The CSV of round rows at ``path``. Reading is strict; :meth:`append` rewrites the file
    atomically with the new row added, so the file is always whole."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def rows(self) -> list[dict]:
        """The stored rows as dicts with JSON columns decoded and numbers parsed.

        Raises :class:`AlkitError` naming the file and line of the first damaged line (wrong
        header, wrong field count, a value that does not parse, an incomplete last line, a
        repeated strategy/seed/round)."""
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        if not data:
            raise AlkitError(f"{self.path} is empty: not an alkit results file (move it away)")
        if not data.endswith(b"\n"):
            line = data.count(b"\n") + 1
            raise AlkitError(
                f"{self.path} line {line} is incomplete (no line end): the file was cut; "
                "alkit does not mend results: restore it or move the folder away"
            )
        try:
            text = data.decode()
        except UnicodeDecodeError as exc:
            raise AlkitError(f"{self.path} is not UTF-8 text ({exc.reason})") from None
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader)
        if tuple(header) != COLUMNS:
            raise AlkitError(
                f"{self.path} line 1 has columns {header[:5]}…, not an alkit results file "
                f"(expected {list(COLUMNS)})"
            )
        rows, seen = [], {}
        for fields in reader:
            where = f"{self.path} line {reader.line_num}"
            if len(fields) != len(COLUMNS):
                raise AlkitError(f"{where} has {len(fields)} fields, expected {len(COLUMNS)}")
            row = _decode_row(dict(zip(COLUMNS, fields, strict=True)), where)
            key = (row["strategy"], row["seed"], row["round"])
            if key in seen:
                raise AlkitError(
                    f"{where} repeats strategy {key[0]!r} seed {key[1]} round {key[2]} of "
                    f"line {seen[key]}"
                )
            seen[key] = reader.line_num
            rows.append(row)
        return rows

    def append(self, row: dict) -> None:
        """Add one row: the whole file is rewritten atomically (old rows + this one)."""
        missing = set(COLUMNS) - set(row)
        if missing:
            raise AlkitError(f"results row lacks columns {sorted(missing)}")
        buf = io.StringIO(newline="")
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        old = self.path.read_bytes() if self.path.exists() else b""
        if not old:
            writer.writeheader()
        writer.writerow({k: _encode(row[k]) for k in COLUMNS})
        atomic_write_bytes(self.path, old + buf.getvalue().encode())


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Load a ``results.csv`` (or the folder holding one) as a DataFrame, JSON columns decoded."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_NAME
    if not path.exists():
        raise AlkitError(f"no results file at {path}; run 'alkit bench --out DIR' first")
    return pd.DataFrame(ResultsFile(path).rows(), columns=list(COLUMNS))


def synthetic_path(folder: str | os.PathLike, spec: str, seed: int) -> Path:
    """Where a run folder keeps the synthetic examples of one strategy and seed."""
    return Path(folder) / "synthetic" / f"{_safe(spec)}__seed{seed}.npz"


def load_synthetic(folder: str | os.PathLike, spec: str, seed: int, last_round: int):
    """The synthetic examples (DFAL's adversarial copies) a run folder recorded for ``spec`` and
    ``seed`` up to round ``last_round``: ``(X_S, source_S)``, ``source_S`` their pool indices
    (whose oracle label they carry); empty when there are none. Reads only."""
    path = synthetic_path(folder, spec, seed)
    if not path.exists():
        return np.zeros((0,)), np.zeros(0, np.int64)
    with np.load(path) as saved:
        keep = saved["round"] <= last_round
        return saved["X"][keep], saved["source"][keep]


def read_config(folder: str | os.PathLike) -> dict | None:
    """The ``config.json`` of a run folder as a dict (None when there is none)."""
    path = Path(folder) / CONFIG_NAME
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AlkitError(
            f"{path} is damaged ({exc}); alkit cannot tell which experiment wrote this folder: "
            "restore the file, or use another --out folder"
        ) from None
    if not isinstance(saved, dict):
        raise AlkitError(f"{path} does not hold a JSON object: not an alkit run folder")
    return saved


def check_run_folder(out: str | os.PathLike, key: dict, recorded=()) -> None:
    """Refuse, without writing anything, an output folder this experiment may not use.

    ``key`` is the experiment's identity (:meth:`ExperimentConfig.data_key`); ``recorded``
    names the fields ``config.json`` also holds that are not part of it (strategies, seeds,
    device: a re-run may add to them). Allowed: a path
    that does not exist yet, an empty folder, or a folder whose ``config.json`` holds the same
    key. Refused: an empty path, a file, results without a config, a damaged config, another
    experiment's folder, and a damaged ``results.csv``.
    """
    if str(out).strip() == "":
        raise AlkitError("--out is empty: give a folder for the results, e.g. --out runs/demo")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AlkitError(f"--out {out} is a file, not a folder: give a folder path")
    if not out.exists():
        return
    saved = read_config(out)
    if saved is None:
        if (out / RESULTS_NAME).exists():
            raise AlkitError(
                f"{out} holds {RESULTS_NAME} but no {CONFIG_NAME}, so alkit cannot tell which "
                "experiment wrote it; use another --out folder to start fresh (or move "
                f"{RESULTS_NAME} away)"
            )
        return
    diff = sorted(
        k for k in set(saved) | set(key) if k not in recorded and saved.get(k) != key.get(k)
    )
    if diff:
        raise AlkitError(
            f"{out} holds results of a different experiment (differs in {diff}); "
            "use another --out folder, or delete this one to start over"
        )
    ResultsFile(out / RESULTS_NAME).rows()  # a damaged file is reported before any work


def _safe(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", spec)


class FolderLock:
    """An exclusive ``fcntl`` lock on ``folder/.lock`` holding the owner's PID.

    The kernel releases it when the holder exits or is killed, so a lock never outlives its
    process. A second process gets an :class:`AlkitError` naming the holder's PID.
    """

    def __init__(self, folder: Path):
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlkitError(
                f"{self.path.parent} is in use by another alkit process (PID {holder}); wait "
                "for it to finish, stop it, or use another --out folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


class RunStore:
    """The results, the saved config and the checkpoints of one output folder.

    ``key`` is the experiment's identity (``ExperimentConfig.data_key()``) and ``config`` the
    whole effective config (what ``config.json`` records, so the run can be reproduced). Use as
    a context manager: entering checks the folder (:func:`check_run_folder`), takes its lock and
    writes ``config.json``; leaving releases the lock. With ``out=None`` rows stay in memory.
    """

    def __init__(self, out: str | os.PathLike | None, key: dict, config: dict | None = None):
        self.out = Path(out) if out is not None else None
        self.key = key
        self.config = {**(config or {}), **key}
        self.recorded = tuple(set(self.config) - set(key))
        self.rows: list[dict] = []
        self._lock: FolderLock | None = None

    def __enter__(self) -> RunStore:
        if self.out is None:
            return self
        check_run_folder(self.out, self.key, self.recorded)
        self.out.mkdir(parents=True, exist_ok=True)
        self._lock = FolderLock(self.out)
        self._lock.acquire()
        try:
            check_run_folder(self.out, self.key, self.recorded)  # again, under the lock
            for stale in self.out.glob("**/.*.tmp"):
                stale.unlink(missing_ok=True)  # left by a writer killed before its rename
            self.file = ResultsFile(self.out / RESULTS_NAME)
            self.rows = self.file.rows()
            self._write_config()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _write_config(self) -> None:
        """Record the effective config; strategies and seeds accumulate over re-runs."""
        saved = read_config(self.out) or {}
        merged = dict(self.config)
        for k in ("strategies", "seeds"):
            if k in merged:
                merged[k] = list(dict.fromkeys([*saved.get(k, []), *merged[k]]))
        if merged != saved:
            atomic_write_bytes(self.out / CONFIG_NAME, json.dumps(merged, indent=2).encode())

    def previous(self, spec: str, seed: int) -> list[dict]:
        rows = [r for r in self.rows if r["strategy"] == spec and r["seed"] == seed]
        return sorted(rows, key=lambda r: r["round"])

    def checkpoint_path(self, spec: str, seed: int, rnd: int) -> Path:
        return self.out / "checkpoints" / f"{_safe(spec)}__seed{seed}__round{rnd}.pt"

    def _synthetic_path(self, spec: str, seed: int) -> Path:
        return synthetic_path(self.out, spec, seed)

    def save_synthetic(self, spec: str, seed: int, rnd: int, pool) -> None:
        """Record the pool's synthetic examples (DFAL's adversarial copies), tagging the new ones
        with round ``rnd``: they cannot be re-derived without the model that made them. Written
        before the round's row, so every recorded row finds its examples on disk."""
        if self.out is None:
            return
        path = self._synthetic_path(spec, seed)
        old_rounds = np.zeros(0, np.int64)
        if path.exists():  # entries of later rounds are from a run killed before its row
            with np.load(path) as saved:
                old_rounds = saved["round"][saved["round"] < rnd]
        rounds = np.concatenate(
            [old_rounds, np.full(pool.n_synthetic - len(old_rounds), rnd, np.int64)]
        )
        buf = io.BytesIO()
        np.savez(buf, X=pool.synthetic_X, source=pool.synthetic_source, round=rounds)
        path.parent.mkdir(exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())

    def load_synthetic(self, spec: str, seed: int, last_round: int):
        """The synthetic examples made up to round ``last_round``: ``(X_S, source_S)``."""
        if self.out is None:
            return np.zeros((0,)), np.zeros(0, np.int64)
        return load_synthetic(self.out, spec, seed, last_round)

    def save(self, row: dict, learner) -> None:
        """Checkpoint the model, append the row, then drop the run's older checkpoints.

        The order makes every kill point resumable: a checkpoint newer than the last row is
        ignored (the round is redone from the previous one), and an old checkpoint left by a
        kill before its deletion is removed by the next save."""
        if self.out is not None:
            if self._lock is None:
                raise AlkitError("RunStore.save needs the store opened with 'with RunStore(...)'")
            spec, seed, rnd = row["strategy"], row["seed"], row["round"]
            path = self.checkpoint_path(spec, seed, rnd)
            path.parent.mkdir(exist_ok=True)
            buf = io.BytesIO()
            torch.save(learner.state_dict(), buf)
            atomic_write_bytes(path, buf.getvalue())
            self.file.append(row)
            for old in path.parent.glob(f"{_safe(spec)}__seed{seed}__round*.pt"):
                if old != path:
                    old.unlink(missing_ok=True)
        self.rows.append(row)
