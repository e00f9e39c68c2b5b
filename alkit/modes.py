"""The three sizes every notebook runs at, chosen by one environment variable (issue 16).

``ALKIT_MODE`` picks the size:

* ``smoke`` — toy sizes for CI: every notebook executes top to bottom in about a minute; the
  pictures are degenerate (a model near chance), they only show that the code runs.
  ``ALKIT_SMOKE=1`` is an alias kept for older scripts.
* ``lecture`` — the default when a person opens a notebook: each notebook finishes in a few
  minutes on two CPU cores and shows the paper's effect (a model clearly better than chance,
  picks that differ between strategies).
* ``full`` — the benchmark setting of the paper or thesis (long on a CPU).

A notebook's first cell reads the mode once and picks its sizes with :func:`by_mode`::

    MODE = notebook_mode()
    POOL = by_mode(smoke=1000, lecture=3000, full=None)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from alkit.errors import AlkitError

#: The sizes a notebook knows, smallest first.
MODES = ("smoke", "lecture", "full")
#: The mode when neither ALKIT_MODE nor ALKIT_SMOKE says otherwise: a person opening a notebook.
DEFAULT_MODE = "lecture"

T = TypeVar("T")


def notebook_mode(environ: Mapping[str, str] | None = None) -> str:
    """The size to run at: ``ALKIT_MODE`` (smoke, lecture or full; case and surrounding spaces
    ignored), else ``smoke`` when ``ALKIT_SMOKE=1``, else ``lecture``.

    Raises :class:`AlkitError` with one line naming the variable, the value and the allowed ones
    when ``ALKIT_MODE`` holds anything else, or when it contradicts ``ALKIT_SMOKE=1``.
    """
    env = os.environ if environ is None else environ
    smoke_alias = env.get("ALKIT_SMOKE", "").strip()
    if smoke_alias not in ("", "0", "1"):
        raise AlkitError(
            f"ALKIT_SMOKE={smoke_alias!r} is not allowed; use ALKIT_SMOKE=1 (an alias of "
            f"ALKIT_MODE=smoke) or leave it unset"
        )
    raw = env.get("ALKIT_MODE")
    if raw is None or not raw.strip():
        return "smoke" if smoke_alias == "1" else DEFAULT_MODE
    mode = raw.strip().lower()
    if mode not in MODES:
        raise AlkitError(f"ALKIT_MODE={raw!r} is not a mode; allowed: {', '.join(MODES)}")
    if smoke_alias == "1" and mode != "smoke":
        raise AlkitError(
            f"ALKIT_MODE={raw!r} contradicts ALKIT_SMOKE=1 (an alias of ALKIT_MODE=smoke); "
            "unset one of them"
        )
    return mode


def by_mode(*, smoke: T, lecture: T, full: T, mode: str | None = None) -> T:
    """The value for ``mode`` (default: :func:`notebook_mode`): ``by_mode(smoke=400,
    lecture=3000, full=10_000)``. All three are required so that no size is forgotten."""
    mode = notebook_mode() if mode is None else mode
    if mode not in MODES:
        raise AlkitError(f"mode={mode!r} is not a mode; allowed: {', '.join(MODES)}")
    return {"smoke": smoke, "lecture": lecture, "full": full}[mode]
