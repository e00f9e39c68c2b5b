"""The results of an experiment: one CSV row per finished round, appended and flushed at once,
so an interrupted run loses at most the round it was in; and the output folder around it
(saved config, per-run checkpoints) that lets a re-run resume."""

from __future__ import annotations

import csv
import io
import json
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
    "accuracy",
    "per_class_accuracy",
    "confusion",
    "class_counts",
    "select_seconds",
    "train_seconds",
    "selected",
)
#: Columns stored as JSON lists in the CSV and decoded by :func:`read_results`.
JSON_COLUMNS = ("per_class_accuracy", "confusion", "class_counts", "selected")


def _encode(value):
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return json.dumps(value, allow_nan=True)
    return value


class ResultsFile:
    """Append-only CSV of round rows at ``path`` (created with its header on first append)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def _complete_bytes(self) -> bytes:
        """The file up to its last newline: a partial last line (a killed write) is ignored."""
        if not self.path.exists():
            return b""
        data = self.path.read_bytes()
        return data[: data.rfind(b"\n") + 1]

    def rows(self) -> list[dict]:
        """The stored rows as dicts with JSON columns decoded and numbers parsed."""
        text = self._complete_bytes().decode()
        if not text:
            return []
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise AlkitError(
                f"{self.path} has columns {reader.fieldnames}, not an alkit results file "
                f"(expected {list(COLUMNS)})"
            )
        return [_decode_row(r) for r in reader]

    def append(self, row: dict) -> None:
        """Write one row and flush it to disk."""
        missing = set(COLUMNS) - set(row)
        if missing:
            raise AlkitError(f"results row lacks columns {sorted(missing)}")
        complete = self._complete_bytes()
        if self.path.exists() and len(complete) != self.path.stat().st_size:
            self.path.write_bytes(complete)  # drop the partial line before appending
        new = not complete
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow({k: _encode(row[k]) for k in COLUMNS})
            f.flush()
            os.fsync(f.fileno())


def _decode_row(raw: dict) -> dict:
    row = dict(raw)
    for k in ("seed", "round", "n_labeled", "n_queried"):
        row[k] = int(row[k])
    for k in ("accuracy", "select_seconds", "train_seconds"):
        row[k] = float(row[k])
    for k in JSON_COLUMNS:
        row[k] = json.loads(row[k])
    return row


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """Load a ``results.csv`` (or the folder holding one) as a DataFrame, JSON columns decoded."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.csv"
    if not path.exists():
        raise AlkitError(f"no results file at {path}; run 'alkit bench --out DIR' first")
    return pd.DataFrame(ResultsFile(path).rows(), columns=list(COLUMNS))


def _safe(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", spec)


class RunStore:
    """The results file, the saved config and the per-run checkpoints of one output folder.

    ``key`` is the experiment's identity (``ExperimentConfig.data_key()``): a folder holding
    results of another key is refused. With ``out=None`` rows are kept in memory only.
    """

    def __init__(self, out: str | os.PathLike | None, key: dict):
        self.out = Path(out) if out is not None else None
        self.rows: list[dict] = []
        if self.out is None:
            return
        self.config_path = self.out / "config.json"
        self.key = key
        if self.config_path.exists():
            saved = json.loads(self.config_path.read_text())
            diff = sorted(k for k in set(saved) | set(self.key) if saved.get(k) != self.key.get(k))
            if diff:
                raise AlkitError(
                    f"{self.out} holds results of a different experiment (differs in {diff}); "
                    "use another --out folder, or delete this one to start over"
                )
        self.file = ResultsFile(self.out / "results.csv")
        self.rows = self.file.rows()

    def previous(self, spec: str, seed: int) -> list[dict]:
        rows = [r for r in self.rows if r["strategy"] == spec and r["seed"] == seed]
        return sorted(rows, key=lambda r: r["round"])

    def checkpoint_path(self, spec: str, seed: int, rnd: int) -> Path:
        return self.out / "checkpoints" / f"{_safe(spec)}__seed{seed}__round{rnd}.pt"

    def save(self, row: dict, learner) -> None:
        """Checkpoint the model, append the row, then drop the run's older checkpoints."""
        self.rows.append(row)
        if self.out is None:
            return
        if not self.config_path.exists():  # written with the first row, never by a failed start
            self.out.mkdir(parents=True, exist_ok=True)
            self.config_path.write_text(json.dumps(self.key, indent=2))
        spec, seed, rnd = row["strategy"], row["seed"], row["round"]
        path = self.checkpoint_path(spec, seed, rnd)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(learner.state_dict(), tmp)
        tmp.replace(path)
        self.file.append(row)
        for old in path.parent.glob(f"{_safe(spec)}__seed{seed}__round*.pt"):
            if old != path:  # earlier rounds, also one a kill left behind before its delete
                old.unlink()
