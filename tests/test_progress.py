"""alkit's notebook progress bar hides a finished bar instead of closing its widget model (a closed
model left a view in the output: "Error: widget model not found" in JupyterLab, issue 16)."""

from __future__ import annotations

import pytest

pytest.importorskip("ipywidgets")

from tqdm.notebook import tqdm_notebook  # noqa: E402

from alkit.progress import HiddenWhenDoneBar  # noqa: E402


def test_plain_notebook_bar_closes_its_model(capsys):
    """The behaviour being fixed: tqdm.notebook with leave=False closes the widget."""
    bar = tqdm_notebook(range(3), leave=False)
    list(bar)
    assert bar.container.comm is None  # closed: its model is gone


def test_finished_bar_is_hidden_and_its_model_kept(capsys):
    bar = HiddenWhenDoneBar(range(3), leave=False, desc="train")
    assert list(bar) == [0, 1, 2]
    assert bar.container.comm is not None  # the model outlives the loop
    assert bar.container.layout.display == "none"
    assert bar.container.children[1].value == 3


def test_interrupted_bar_stays_visible_in_red(capsys):
    bar = HiddenWhenDoneBar(total=5, leave=False)
    bar.update(2)
    bar.close()  # stopped early: tqdm marks it 'danger' and keeps it on screen
    assert bar.container.children[1].bar_style == "danger"
    assert bar.container.layout.display != "none"
    assert bar.container.comm is not None


def test_kept_bar_ends_green(capsys):
    bar = HiddenWhenDoneBar(range(2), leave=True)
    list(bar)
    assert bar.container.children[1].bar_style == "success"
    assert bar.container.layout.display != "none"
