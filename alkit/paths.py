"""Where a run folder given by a user is: relative to the working directory, else to the
repository root.

A notebook in ``notebooks/`` runs with that folder as its working directory, while ``make demo``
and ``alkit bench --out runs/demo`` write to the repository root; ``RunPlayer("runs/demo")``
should find the demo either way.
"""

from __future__ import annotations

import os
from pathlib import Path

from alkit.errors import AlkitError

#: Files that mark the root of an alkit checkout.
ROOT_MARKERS = ("pyproject.toml", ".git")


def repository_root(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working directory) that holds a
    ``pyproject.toml`` or ``.git``; None when there is none."""
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return None


def resolve_run_path(path: str | os.PathLike, start: str | os.PathLike | None = None) -> Path:
    """``path`` if it exists relative to the working directory (or is absolute), else the same
    relative path under :func:`repository_root` of ``start``; raises naming both places."""
    path = Path(path)
    here = Path(start) if start is not None else Path.cwd()
    first = path if path.is_absolute() else here / path
    if first.exists():
        return first
    root = repository_root(here)
    if not path.is_absolute() and root is not None and (root / path).exists():
        return root / path
    tried = [str(first)] + ([str(root / path)] if root is not None and root != here else [])
    raise AlkitError(
        f"no run folder or results file {str(path)!r}: looked in {' and '.join(tried)}; "
        "run 'alkit bench --out DIR' (or 'make demo') first, or pass an absolute path"
    )
