"""Controls plus one matplotlib figure, safe to execute headless: :class:`FigureDashboard`.

Why not ``ipywidgets.interact``: ``interact``/``interactive_output`` draw into an ``Output``
widget by *capturing* the cell's output (``with out:``). While a cell runs headless, nbclient
(``jupyter nbconvert --execute``, papermill, our tests) mirrors each captured output back to the
kernel with a ``comm_msg`` on the shell channel while it is itself waiting there for the cell's
``execute_reply``; now and then that reply is never read and the run hangs (jupyter/nbclient#312,
jupyter/nbconvert#2003, #2029). A dashboard here never captures: it wires an explicit ``observe``
callback to every control, renders the figure to PNG itself and *assigns* the result to
``Output.outputs``. That sends only kernel → front-end updates, so nbclient has nothing to send
back, and in a browser it looks and behaves like ``interact``: move a control, the figure redraws.

Displaying the dashboard shows the live widget in JupyterLab and, for viewers without widget
support (a handout exported with ``nbconvert``, a notebook on GitHub), the initial figure as a
plain PNG in the same output.
"""

from __future__ import annotations

import base64
import html
import traceback
from collections.abc import Callable, Mapping

from alkit.errors import AlkitError
from alkit.viz.style import figure_png


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError as err:  # pragma: no cover - the notebooks extra installs it
        raise AlkitError(
            f"dashboards need ipywidgets ({err}); pip install 'alkit[notebooks]'"
        ) from None
    return ipywidgets


def has_one_choice(control) -> bool:
    """True when a control offers a single value in this mode (a one-option dropdown, a
    slider with ``min == max``): a dashboard hides it and says which value is fixed."""
    options = getattr(control, "options", None)
    if options is not None:
        return len(options) < 2
    if hasattr(control, "min") and hasattr(control, "max"):
        return control.min >= control.max
    return False


def png_output(png: bytes, alt: str = "figure") -> dict:
    """A ``display_data`` output holding a PNG (for ``Output.outputs``)."""
    return {
        "output_type": "display_data",
        "data": {"image/png": base64.b64encode(png).decode(), "text/plain": f"<{alt}>"},
        "metadata": {},
    }


def summary_html(summary: Mapping | None) -> str:
    """A small two-column HTML table of a summary dict (floats to 3 decimals, lists inline)."""
    if not summary:
        return ""

    def cell(v):
        if isinstance(v, float):
            return f"{v:.3f}"
        if v is None:
            return "–"
        return html.escape(", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v))

    rows = "".join(
        f"<tr><td>{html.escape(str(k).replace('_', ' '))}</td><td><b>{cell(v)}</b></td></tr>"
        for k, v in summary.items()
    )
    return f"<table style='font-size:14px'>{rows}</table>"


class FigureDashboard:
    """Controls and one matplotlib figure that ``draw(**values)`` returns (or a
    ``(figure, summary_dict)`` pair, shown as a table under the figure).

    The figure is drawn once at construction and again by an ``observe`` callback whenever a
    control's value changes; it reaches the page as a PNG assigned to ``self.output.outputs``
    (never by capturing output, see the module docstring); ``self.figure`` keeps the last
    matplotlib Figure, ``self.png`` its image. A control with a single choice in this mode is
    hidden and named in a note. Display the object itself (or ``.widget``).
    ``draw`` should build its figure with ``matplotlib.figure.Figure`` (pyplot figures are
    closed after rendering so they do not reappear under the next cell).
    """

    def __init__(
        self,
        draw: Callable,
        controls: Mapping[str, object],
        title: str | None = None,
        dpi: int = 100,
    ):
        w = _ipywidgets()
        self.draw = draw
        self.controls = dict(controls)
        self.dpi = dpi
        self.png: bytes = b""
        self.figure = None
        self.summary: dict | None = None
        self.output = w.Output()
        self.status = w.HTML()
        self.caption = w.HTML()
        fixed = []
        for name, control in self.controls.items():
            if has_one_choice(control):
                control.layout.display = "none"
                label = getattr(control, "description", "") or name
                fixed.append(f"{html.escape(label)} = <b>{html.escape(str(control.value))}</b>")
            control.observe(self._on_change, names="value")
        note = (
            f"Fixed in this mode (only one value): {', '.join(fixed)}. A larger mode offers more."
            if fixed
            else ""
        )
        self.note = w.HTML(note)
        header = [w.HTML(f"<b>{html.escape(title)}</b>")] if title else []
        bar = w.HBox(list(self.controls.values()), layout=w.Layout(flex_flow="row wrap"))
        self.widget = w.VBox([*header, bar, self.note, self.status, self.output, self.caption])
        self.redraw()

    def values(self) -> dict:
        """The controls' current values, by name (the keyword arguments of ``draw``)."""
        return {name: control.value for name, control in self.controls.items()}

    def redraw(self) -> None:
        """Draw the figure for the current values and show it (errors propagate)."""
        self.status.value = "<i>drawing …</i>"
        try:
            result = self.draw(**self.values())
        finally:
            self.status.value = ""
        fig, summary = result if isinstance(result, tuple) else (result, None)
        self.png = figure_png(fig, dpi=self.dpi)
        self.figure, self.summary = fig, summary
        self.output.outputs = (png_output(self.png, type(self).__name__),)
        self.caption.value = summary_html(summary)

    def _on_change(self, _change) -> None:
        """The ``observe`` callback: redraw; an error is shown where the figure was (a callback
        has no cell to raise into)."""
        try:
            self.redraw()
        except Exception:  # noqa: BLE001 - shown to the user instead of lost in the kernel log
            self.output.outputs = (
                {"output_type": "stream", "name": "stderr", "text": traceback.format_exc()},
            )

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = (
            f"<{type(self).__name__}: interactive; the image is its first figure>"
        )
        if self.png:
            bundle["image/png"] = base64.b64encode(self.png).decode()
        return bundle
