"""alkit.paths: a run folder is found relative to the working directory, else to the repository
root (a notebook in notebooks/ opening runs/demo written by `make demo`)."""

from __future__ import annotations

import pytest

from alkit.errors import AlkitError
from alkit.paths import repository_root, resolve_run_path


def test_cwd_first_then_the_repository_root(tmp_path):
    root = tmp_path / "checkout"
    (root / "notebooks" / "runs" / "local").mkdir(parents=True)
    (root / "runs" / "demo").mkdir(parents=True)
    (root / "runs" / "local").mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    here = root / "notebooks"
    assert repository_root(here) == root.resolve()
    assert resolve_run_path("runs/demo", start=here) == root.resolve() / "runs" / "demo"
    # a folder of the same name next to the notebook wins
    assert resolve_run_path("runs/local", start=here) == here / "runs" / "local"
    assert resolve_run_path(root / "runs" / "demo", start=here) == root / "runs" / "demo"
    with pytest.raises(
        AlkitError, match="looked in .*notebooks/runs/none and .*checkout/runs/none"
    ):
        resolve_run_path("runs/none", start=here)


def test_outside_a_checkout_only_the_cwd_counts(tmp_path):
    (tmp_path / "runs" / "demo").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if repository_root(elsewhere) is None:  # tmp is not inside a checkout
        with pytest.raises(AlkitError, match="no run folder or results file 'runs/demo'"):
            resolve_run_path("runs/demo", start=elsewhere)
    assert resolve_run_path("runs/demo", start=tmp_path) == tmp_path / "runs" / "demo"
