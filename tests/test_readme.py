"""The README's tables list exactly what the package has."""

from __future__ import annotations

import re
from pathlib import Path

from alkit.strategies import strategy_names

ROOT = Path(__file__).parent.parent


def _table_names(marker: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split(f"<!-- {marker}:start -->")[1].split(f"<!-- {marker}:end -->")[0]
    return re.findall(r"^\| `([^`]+)`", block, flags=re.M)


def test_strategy_table_lists_exactly_the_registered_strategies():
    assert sorted(_table_names("strategies")) == strategy_names()


def test_notebook_table_lists_exactly_the_notebooks():
    notebooks = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(_table_names("notebooks")) == notebooks


def test_readme_shows_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text
