"""Progress bars: ``tqdm.auto``, except that in a Jupyter kernel a finished bar is hidden, never
closed (issue 16).

``tqdm.notebook`` draws a bar as an ipywidgets ``HBox``; with ``leave=False`` (every alkit bar)
it calls ``HBox.close()`` when the loop ends. Closing destroys the widget *model* while the
cell's output still holds a view of it (``application/vnd.jupyter.widget-view+json`` with that
``model_id``), so JupyterLab logs "Error: widget model not found" whenever it renders that output
again (scrolling back, reopening the saved notebook). Here a finished bar sets its layout to
``display: none`` instead: the model stays, the output shows nothing. In a terminal the bar is
plain ``tqdm`` and ``leave=False`` erases it as usual.

Use ``from alkit.progress import tqdm`` wherever alkit shows a bar.
"""

from __future__ import annotations

from tqdm.auto import tqdm as _auto_tqdm

try:  # tqdm.notebook needs ipywidgets (the notebooks extra)
    from tqdm.notebook import tqdm_notebook as _notebook_tqdm
except ImportError:  # pragma: no cover - without ipywidgets tqdm.auto is the terminal bar
    _notebook_tqdm = None


if _notebook_tqdm is not None:

    class HiddenWhenDoneBar(_notebook_tqdm):
        """``tqdm.notebook`` whose finished bar is hidden (``display: none``), not closed: the
        widget model outlives the loop, so no output ever refers to a missing model. A bar that
        ended in an error stays visible, as in ``tqdm.notebook``."""

        def display(self, msg=None, pos=None, close=False, bar_style=None, check_delay=True):
            container = getattr(self, "container", None)
            if not close or container is None:
                return super().display(msg, pos, close, bar_style, check_delay)
            pbar = container.children[1]
            pbar.value = self.n
            if bar_style and not (pbar.bar_style == "danger" and bar_style == "success"):
                pbar.bar_style = bar_style
            if pbar.bar_style != "danger":
                container.layout.display = "none"
            return None

else:  # pragma: no cover
    HiddenWhenDoneBar = None


def _bar_class():
    if _notebook_tqdm is not None and issubclass(_auto_tqdm, _notebook_tqdm):
        return HiddenWhenDoneBar
    return _auto_tqdm


#: The bar class alkit uses: :class:`HiddenWhenDoneBar` in a Jupyter kernel, else ``tqdm``.
tqdm = _bar_class()
