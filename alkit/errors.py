"""Exceptions raised by alkit and the small input checks that raise them.

Every check names the bad value and says what is allowed, so a notebook user or a CLI user can
fix the call without reading the source.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class AlkitError(ValueError):
    """Bad input to an alkit function (a ``ValueError``, so callers may catch either)."""


class DatasetUnavailableError(AlkitError):
    """A dataset that cannot be loaded on this machine (offline, files missing)."""


def unknown_name(kind: str, name: str, valid: Iterable[str]) -> AlkitError:
    """Error for an unknown registry name that lists the valid ones."""
    valid = sorted(valid)
    return AlkitError(f"unknown {kind} {name!r}; valid {kind} names are: {', '.join(valid)}")


def check_positive_int(name: str, value) -> int:
    """Return ``value`` as an int if it is an integer ≥ 1, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise AlkitError(f"{name} must be a positive integer, got {value!r}")
    if value <= 0:
        raise AlkitError(f"{name} must be a positive integer (≥ 1), got {value}")
    return int(value)


def check_finite(name: str, array) -> None:
    """Raise if a NumPy array or torch tensor holds NaN or inf, naming how many and where."""
    arr = array.detach().cpu().numpy() if hasattr(array, "detach") else np.asarray(array)
    if arr.dtype.kind not in "fc":
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.unique(np.nonzero(bad.reshape(len(arr), -1) if arr.ndim else bad)[0])
        raise AlkitError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s) (first rows: {rows[:5].tolist()}); "
            "only finite values are allowed"
        )


def check_same_length(**arrays) -> int:
    """Raise unless all the given arrays have the same first dimension; return it."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise AlkitError(f"mismatched lengths: {desc}; they must be equal")
    return next(iter(lengths.values()))
