"""Every notebook in notebooks/ executes top to bottom in smoke mode (ALKIT_SMOKE=1)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode(path, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("ALKIT_SMOKE", "1")
    monkeypatch.setenv("ALKIT_PROGRESS", "0")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # the kernel imports alkit from this checkout, whatever the venv's editable install points at
    monkeypatch.setenv("PYTHONPATH", str(path.parent.parent))
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors, errors


def test_notebooks_are_stored_without_outputs():
    import nbformat

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        stored = [c for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not stored, f"{path.name} has stored outputs; clear them before committing"
