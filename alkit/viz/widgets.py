"""Teaching dashboards: :class:`StrategyExplorer`, :class:`RunPlayer`, :class:`CompareStrategies`.

Each dashboard is a thin ipywidgets shell around the plain functions of
:mod:`alkit.viz.frames`, which turn control values into figure data and are tested directly.
Plotly ``FigureWidget`` draws the interactive views, matplotlib the static image grid. Every 2-D
map comes from :func:`alkit.viz.project_2d` and is computed once per run, so moving the round
slider only swaps trace data (well under a second on digits).
"""

from __future__ import annotations

import base64
import io
import os

import numpy as np

from alkit.errors import AlkitError
from alkit.paths import resolve_run_path
from alkit.results import read_results
from alkit.viz.frames import (
    RecordedRun,
    class_layers,
    compare_frame,
    explorer_frame,
    player_frame,
    plot_picked_images,
    pool_of_run,
    record_run,
)
from alkit.viz.style import MARK_COLOR, NEUTRAL_LIGHT, class_colors, strategy_colors

# -- plotly helpers -----------------------------------------------------------------------------
#: Shared look: white template, legend in a row under the plots so it never covers an axis,
#: text at 13 px (about 10 pt, above the 9 pt minimum of alkit.viz.style).
_LAYOUT = {
    "template": "plotly_white",
    "margin": {"t": 70, "b": 40},
    "legend": {"orientation": "h", "x": 0, "y": -0.22},
    "font": {"size": 13},
}
#: Plotly marker styles of the labelled set and the picks: black, a colour no strategy has.
_MARKS = {
    "labelled": {"color": MARK_COLOR, "size": 8, "symbol": "square-open", "line": {"width": 1.5}},
    "picked": {"color": MARK_COLOR, "size": 11, "symbol": "x"},
}


def _mark_traces(fig, row, col, showlegend=True) -> None:
    """Add the labelled and picked marks of one map panel (empty; filled by
    :func:`_set_marks`)."""
    for name, marker in _MARKS.items():
        fig.add_scattergl(
            x=[],
            y=[],
            mode="markers",
            name=name,
            marker=marker,
            legendgroup=name,
            showlegend=showlegend,
            row=row,
            col=col,
        )


def _set_marks(traces, layers) -> None:
    for trace, name in zip(traces, ("labeled", "picked"), strict=True):
        trace.x, trace.y = layers[name][:, 0], layers[name][:, 1]


def _class_traces(go, run: RecordedRun, xaxis="x", yaxis="y", showlegend=True) -> list:
    """One scattergl trace per class holding that class's pool points (the whole pool, under
    the marks), named after the class; ``legendgroup`` links the panels of one figure."""
    names = [str(c) for c in run.class_names]
    colors = class_colors(len(names))
    return [
        go.Scattergl(
            x=xy[:, 0],
            y=xy[:, 1],
            mode="markers",
            name=names[c],
            marker={"color": colors[c], "size": 5, "opacity": 0.6},
            legendgroup=f"class {names[c]}",
            showlegend=showlegend,
            xaxis=xaxis,
            yaxis=yaxis,
            meta="class",
        )
        for c, xy in enumerate(class_layers(run.xy_N_2, run.y_pool, len(names)))
    ]


def _replace_class_traces(figure, traces) -> None:
    """Swap the figure's class traces (``meta == "class"``) for ``traces``, drawn first so the
    marks stay on top."""
    for trace in traces:
        figure.add_trace(trace)
    new = figure.data[len(figure.data) - len(traces) :]
    kept = [t for t in figure.data[: len(figure.data) - len(traces)] if t.meta != "class"]
    figure.data = tuple(new) + tuple(kept)


def _widgets():
    try:
        import ipywidgets as w
        import plotly.graph_objects as go
    except ImportError as err:  # pragma: no cover - the notebooks extra installs both
        raise AlkitError(
            f"the dashboards need ipywidgets and plotly with anywidget ({err}); "
            "pip install 'alkit[notebooks]'"
        ) from None
    return w, go


def _trace(figure, name: str):
    """The figure's trace called ``name`` (the dashboards look traces up by name)."""
    return next(t for t in figure.data if t.name == name)


# -- dashboards ---------------------------------------------------------------------------------
class StrategyExplorer:
    """Dataset, strategy, batch-size and round controls over a recorded run.

    Shows the pool on a 2-D map (points coloured by class, the labelled set as hollow black
    squares, this round's picks as black crosses; equal aspect for 2-D toy data), the histogram
    of the candidates' acquisition scores (picks in black) and the learning curve so far (in the
    strategy's colour). Changing dataset, strategy or batch size records a new run (cached per
    setting); moving the round slider only redraws. ``run_options`` go to :func:`record_run`.
    Display it with ``explorer.widget``.
    """

    def __init__(
        self,
        datasets=("digits", "blobs", "moons"),
        strategies=("random", "entropy", "margin", "least_confidence"),
        batch_sizes=(5, 10, 20),
        rounds: int = 5,
        **run_options,
    ):
        w, go = _widgets()
        from plotly.subplots import make_subplots

        self._go = go
        self.rounds = rounds
        self.run_options = run_options
        self._runs: dict[tuple, RecordedRun] = {}
        self._classes_of: tuple | None = None
        self.dataset = w.Dropdown(options=list(datasets), description="dataset")
        self.strategy = w.Dropdown(options=list(strategies), description="strategy")
        self.batch_size = w.Dropdown(options=list(batch_sizes), description="batch size")
        self.round = w.IntSlider(
            value=1, min=1, max=rounds, description="round", continuous_update=False
        )
        self.status = w.HTML()
        fig = make_subplots(
            rows=1,
            cols=3,
            column_widths=[0.36, 0.32, 0.32],
            horizontal_spacing=0.12,
            subplot_titles=("pool map (colour = class)", "acquisition scores", "learning curve"),
        )
        _mark_traces(fig, 1, 1)
        fig.add_bar(x=[], y=[], name="candidates", marker_color=NEUTRAL_LIGHT, row=1, col=2)
        fig.add_bar(
            x=[],
            y=[],
            name="picked scores",
            marker_color=MARK_COLOR,
            legendgroup="picked",
            showlegend=False,
            row=1,
            col=2,
        )
        fig.add_scatter(x=[], y=[], mode="lines+markers", name="accuracy", row=1, col=3)
        fig.update_layout(barmode="overlay", height=500, **_LAYOUT)
        fig.update_xaxes(title_text="map dimension 1 (a.u.)", row=1, col=1)
        fig.update_yaxes(title_text="map dimension 2 (a.u.)", row=1, col=1)
        fig.update_xaxes(title_text="score (higher = wanted)", row=1, col=2)
        fig.update_yaxes(title_text="candidates (count)", row=1, col=2)
        fig.update_xaxes(title_text="labelled samples (count)", row=1, col=3)
        fig.update_yaxes(title_text="test accuracy (fraction)", row=1, col=3)
        self.figure = go.FigureWidget(fig)
        for control in (self.dataset, self.strategy, self.batch_size):
            control.observe(lambda _: self.redraw(), names="value")
        self.round.observe(lambda _: self.redraw(), names="value")
        controls = w.HBox([self.dataset, self.strategy, self.batch_size, self.round])
        self.widget = w.VBox([controls, self.status, self.figure])
        self.redraw()

    @property
    def run(self) -> RecordedRun:
        key = (self.dataset.value, self.strategy.value, self.batch_size.value)
        if key not in self._runs:
            self.status.value = f"recording {key[1]} on {key[0]} …"
            self._runs[key] = record_run(
                key[0], key[1], batch_size=key[2], rounds=self.rounds, **self.run_options
            )
            self.status.value = ""
        return self._runs[key]

    def redraw(self) -> None:
        """Redraw for the current controls (recording the run first if the settings are new)."""
        run = self.run
        frame = explorer_frame(run, self.round.value)
        edges, counts, picked = frame["hist"]
        centers, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        fig = self.figure
        color = strategy_colors([run.strategy])[run.strategy]
        with fig.batch_update():
            if self._classes_of != (run.dataset, run.strategy, id(run)):
                _replace_class_traces(fig, _class_traces(self._go, run))
                self._classes_of = (run.dataset, run.strategy, id(run))
            _set_marks([_trace(fig, "labelled"), _trace(fig, "picked")], frame["map"])
            _trace(fig, "candidates").update(x=centers, y=counts, width=width)
            _trace(fig, "picked scores").update(x=centers, y=picked, width=width)
            curve = _trace(fig, "accuracy")
            curve.x, curve.y = frame["curve"]
            curve.line.color = curve.marker.color = color
            # 2-D toy data: the axes are the inputs, so one unit is as long on both
            fig.layout.yaxis.scaleanchor = "x" if run.raw_2d else None
            fig.layout.title = (
                f"{self.strategy.value} on {self.dataset.value}: round {self.round.value}, "
                f"{len(frame['map']['picked_idx'])} picks"
            )


class CompareStrategies:
    """Two strategies side by side on the same dataset and seed: their picks on one shared map
    of the pool (a projection of the pool's inputs, the same for both; coloured by class, axes
    linked), the class histogram of each labelled set (bars in the strategies' colours), and
    their accuracy, at the chosen round."""

    def __init__(
        self, strategy_a="random", strategy_b="entropy", dataset="digits", rounds=5, **run_options
    ):
        w, go = _widgets()
        from plotly.subplots import make_subplots

        run_options.setdefault("map_source", "input")
        self.run_a = record_run(dataset, strategy_a, rounds=rounds, **run_options)
        self.run_b = record_run(dataset, strategy_b, rounds=rounds, **run_options)
        self.round = w.IntSlider(
            value=1, min=1, max=rounds, description="round", continuous_update=False
        )
        fig = make_subplots(
            rows=1,
            cols=3,
            horizontal_spacing=0.09,
            subplot_titles=(strategy_a, strategy_b, "labelled set per class"),
        )
        for trace in _class_traces(go, self.run_a, "x", "y"):
            fig.add_trace(trace)
        for trace in _class_traces(go, self.run_a, "x2", "y2", showlegend=False):
            fig.add_trace(trace)
        _mark_traces(fig, 1, 1)
        _mark_traces(fig, 1, 2, showlegend=False)
        self._names = [str(c) for c in self.run_a.class_names]
        colors = strategy_colors([strategy_a, strategy_b])
        for s in dict.fromkeys((strategy_a, strategy_b)):
            fig.add_bar(x=[], y=[], name=s, marker_color=colors[s], row=1, col=3)
        fig.update_layout(height=500, **_LAYOUT)
        for col in (1, 2):
            fig.update_xaxes(title_text="map dimension 1 (a.u.)", row=1, col=col)
            fig.update_yaxes(title_text="map dimension 2 (a.u.)", row=1, col=col)
        # one projection, one set of axes: zooming one map zooms the other
        fig.update_xaxes(matches="x", row=1, col=2)
        fig.update_yaxes(matches="y", row=1, col=2)
        if self.run_a.raw_2d:
            fig.update_yaxes(scaleanchor="x", row=1, col=1)
        fig.update_xaxes(title_text="class", type="category", row=1, col=3)
        fig.update_yaxes(title_text="labelled samples (count)", row=1, col=3)
        for annotation, s in zip(fig.layout.annotations[:2], (strategy_a, strategy_b), strict=True):
            annotation.font = {"color": colors[s], "size": 15}
        self.figure = go.FigureWidget(fig)
        marks = [t for t in self.figure.data if t.name in _MARKS]
        self.marks_a = [t for t in marks if t.xaxis == "x"]
        self.marks_b = [t for t in marks if t.xaxis == "x2"]
        self.bars = [t for t in self.figure.data if t.type == "bar"]
        self.round.observe(lambda _: self.redraw(), names="value")
        self.widget = w.VBox([self.round, self.figure])
        self.redraw()

    def redraw(self) -> None:
        frame = compare_frame(self.run_a, self.run_b, self.round.value)
        with self.figure.batch_update():
            _set_marks(self.marks_a, frame["a"]["map"])
            _set_marks(self.marks_b, frame["b"]["map"])
            self.bars[0].update(x=self._names, y=frame["a"]["class_counts"])
            self.bars[-1].update(x=self._names, y=frame["b"]["class_counts"])
            self.figure.layout.title = (
                f"round {self.round.value}: {frame['a']['strategy']} accuracy "
                f"{frame['a']['accuracy']:.3f}, {frame['b']['strategy']} accuracy "
                f"{frame['b']['accuracy']:.3f}"
            )


class RunPlayer:
    """Replay a ``results.csv`` (from ``alkit bench`` or :func:`run_experiment`) round by round.

    Shows the learning curves of all strategies up to the chosen round, the confusion matrix
    of the chosen (strategy, seed, round), and the images picked in that round (rebuilt from the
    ``config.json`` beside the results; the initial set at round 0). ``path`` is a run folder
    or its ``results.csv``, relative to the working directory or, when not found there, to the
    repository root (:func:`alkit.paths.resolve_run_path`), so ``RunPlayer("runs/demo")``
    works from a notebook in ``notebooks/`` after ``make demo``.
    """

    def __init__(self, path: str | os.PathLike, class_names=None, max_images: int = 20):
        w, go = _widgets()
        from plotly.subplots import make_subplots

        path = resolve_run_path(path)
        self.folder = path if path.is_dir() else path.parent
        self.results = read_results(path)
        self.max_images = max_images
        self._pools: dict[int, tuple | None] = {}
        n_classes = len(self.results["confusion"].iloc[0])
        self.class_names = list(class_names or range(n_classes))
        self.strategy = w.Dropdown(
            options=list(dict.fromkeys(self.results["strategy"])), description="strategy"
        )
        self.seed = w.Dropdown(
            options=sorted(int(s) for s in self.results["seed"].unique()), description="seed"
        )
        self.round = w.IntSlider(
            value=0,
            min=0,
            max=int(self.results["round"].max()),
            description="round",
            continuous_update=False,
        )
        self.label = w.HTML()
        self.images = w.Output()
        fig = make_subplots(
            rows=1,
            cols=2,
            column_widths=[0.5, 0.5],
            horizontal_spacing=0.22,  # room for class names on the confusion matrix
            subplot_titles=("test accuracy (mean ± 1 std over seeds)", "confusion matrix"),
        )
        self.colors = strategy_colors(self.results["strategy"])
        for s in self.colors:
            fig.add_scatter(
                x=[],
                y=[],
                mode="lines+markers",
                name=s,
                line={"color": self.colors[s]},
                row=1,
                col=1,
            )
        self._names = [str(c) for c in self.class_names]
        fig.add_heatmap(
            z=np.zeros((n_classes, n_classes)),
            colorscale="Viridis",
            zmin=0,
            zmax=1,
            colorbar={"title": {"text": "fraction of true class"}, "x": 1.02},
            row=1,
            col=2,
        )
        fig.update_layout(height=470, **_LAYOUT)
        # fixed ranges: the curves grow into the same frame as the round slider moves
        n_lab, acc = self.results["n_labeled"], self.results["accuracy"]
        pad = 0.04 * max(float(n_lab.max() - n_lab.min()), 1.0)
        fig.update_xaxes(
            title_text="labelled samples (count)",
            range=[float(n_lab.min()) - pad, float(n_lab.max()) + pad],
            row=1,
            col=1,
        )
        fig.update_yaxes(
            title_text="test accuracy (fraction)",
            range=[max(0.0, float(acc.min()) - 0.05), min(1.0, float(acc.max()) + 0.05)],
            row=1,
            col=1,
        )
        fig.update_xaxes(title_text="predicted class", type="category", row=1, col=2)
        fig.update_yaxes(
            title_text="true class", type="category", autorange="reversed", row=1, col=2
        )
        self.figure = go.FigureWidget(fig)
        for control in (self.strategy, self.seed, self.round):
            control.observe(lambda _: self.redraw(), names="value")
        controls = w.HBox([self.strategy, self.seed, self.round])
        self.widget = w.VBox([controls, self.label, self.figure, self.images])
        self.redraw()

    def frame(self) -> dict:
        return player_frame(self.results, self.strategy.value, self.seed.value, self.round.value)

    def redraw(self) -> None:
        frame = self.frame()
        summary = frame["summary"]
        cm = frame["confusion"].astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            cm = np.nan_to_num(cm / cm.sum(axis=1, keepdims=True))
        data = self.figure.data
        with self.figure.batch_update():
            for trace in data[:-1]:
                s = summary[summary["strategy"] == trace.name]
                trace.x, trace.y = s["n_labeled"].to_numpy(), s["mean"].to_numpy()
                trace.error_y = {"array": s["std"].to_numpy(), "visible": True}
            # class names go with every z: the widget's first render in the browser lacks them
            data[-1].update(z=cm, x=self._names, y=self._names)
        self.label.value = (
            f"<b>{self.strategy.value}</b>, seed {self.seed.value}, round {self.round.value}: "
            f"{frame['n_labeled']} labels, test accuracy <b>{frame['accuracy']:.4f}</b>"
        )
        self._show_images(frame["selected"])

    def _show_images(self, selected) -> None:
        seed = self.seed.value
        if seed not in self._pools:
            self._pools[seed] = pool_of_run(self.folder, seed)
        pool = self._pools[seed]
        if pool is None or pool[0].ndim < 3:
            self.images.outputs = ()
            return
        X, y, names = pool
        shown = selected[: self.max_images]
        what = "initial set" if self.round.value == 0 else f"round {self.round.value} picks"
        fig = plot_picked_images(
            X[shown], y[shown], names, title=f"{what}: {len(shown)} of {len(selected)}"
        )
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches=None)
        self.images.outputs = (
            {
                "output_type": "display_data",
                "data": {
                    "image/png": base64.b64encode(buf.getvalue()).decode(),
                    "text/plain": f"<{what}: {len(shown)} images>",
                },
                "metadata": {},
            },
        )
