"""The results file of an experiment: one CSV row per finished round, appended and flushed at
once, so an interrupted run loses at most the round it was in."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

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
