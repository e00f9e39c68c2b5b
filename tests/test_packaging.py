"""environment.yml offers the same packages as pyproject.toml (runtime and extras)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent
CONDA_NAMES = {"torch": "pytorch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0].strip().lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_name(r) for r in extra}
    listed = set(
        re.findall(r"^\s+- ([A-Za-z0-9_.-]+)", (ROOT / "environment.yml").read_text(), re.M)
    )
    missing = {CONDA_NAMES.get(n, n) for n in wanted} - {n.lower() for n in listed}
    assert not missing, f"environment.yml lacks {sorted(missing)}"
