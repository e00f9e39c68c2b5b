"""Checks of experiment and training fields, each failing with one line that names the field,
the command-line flag that sets it, the value seen and what is allowed (DESIGN.md, Preflight).

The same names are used by the Python API (``ExperimentConfig``/``TrainConfig``), the TOML
config file (``alkit bench --config``) and the flags, so the message fits all three.
"""

from __future__ import annotations

import math

import numpy as np

from alkit.errors import AlkitError


def flag(name: str) -> str:
    """The command-line flag of a config field: ``val_per_class`` → ``--val-per-class``."""
    return "--" + name.replace("_", "-")


def _where(name: str) -> str:
    return f"{name} ({flag(name)})"


def check_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int within ``[low, high]``; bools, floats and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise AlkitError(f"{_where(name)} must be an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        rng = f"≥ {low}" if high is None else f"between {low} and {high}"
        raise AlkitError(f"{_where(name)} must be an integer {rng}, got {value}")
    return int(value)


def check_number(
    name: str,
    value,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float within the (half-)open or closed interval given."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise AlkitError(f"{_where(name)} must be a number, got {value!r}")
    value = float(value)
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if not math.isfinite(value) or below or above:
        lo = "" if low is None else ("> " if low_open else "≥ ") + f"{low:g}"
        hi = "" if high is None else ("< " if high_open else "≤ ") + f"{high:g}"
        allowed = " and ".join(p for p in (lo, hi) if p) or "finite"
        raise AlkitError(f"{_where(name)} must be a finite number {allowed}, got {value!r}")
    return value


def check_choice(name: str, value, choices) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise AlkitError(
            f"{_where(name)} must be one of {', '.join(map(repr, choices))}, got {value!r}"
        )
    return value


def check_optional(check, name: str, value, **limits):
    """None, or ``check(name, value, **limits)``."""
    return None if value is None else check(name, value, **limits)
