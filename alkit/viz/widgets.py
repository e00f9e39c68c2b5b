"""Teaching dashboards: :class:`StrategyExplorer`, :class:`RunPlayer`, :class:`CompareStrategies`.

Each dashboard is a thin ipywidgets shell around plain functions that turn control values into
figure data (:func:`record_run`, :func:`explorer_frame`, :func:`player_frame`,
:func:`compare_frame`); the tests call those functions directly and check the numbers. Plotly
``FigureWidget`` draws the interactive views, matplotlib the static image grid. Every 2-D map
comes from :func:`alkit.viz.project_2d` and is computed once per run, so moving the round slider
only swaps trace data (well under a second on digits).
"""

from __future__ import annotations

import base64
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from alkit.errors import AlkitError, check_positive_int
from alkit.results import read_results
from alkit.viz.curves import PALETTE, strategy_colors, summarize_curves
from alkit.viz.embedding import project_2d
from alkit.viz.plots import score_histogram

#: Colours of the map layers (Okabe–Ito): unlabelled pool, labelled set, this round's picks.
POOL_COLOR, LABELED_COLOR, PICK_COLOR = "#BBBBBB", PALETTE[0], PALETTE[3]


# -- recording a run ----------------------------------------------------------------------------
@dataclass
class RoundRecord:
    """One query round: the labelled set before it, the candidates, their scores and the picks."""

    round: int
    labeled_before: np.ndarray
    candidates: np.ndarray
    scores: np.ndarray
    picked: np.ndarray


@dataclass
class RecordedRun:
    """One strategy on one seed, kept in memory for the dashboards.

    ``xy_N_2`` is the 2-D map of the pool: the raw points for 2-D toy sets, otherwise the
    projection of the final model's penultimate embeddings (so points stay put across rounds).
    ``rows`` are the loop's result rows (round 0 = the initial set); ``rounds`` the queries.
    """

    dataset: str
    strategy: str
    seed: int
    y_pool: np.ndarray
    class_names: tuple[str, ...]
    xy_N_2: np.ndarray
    rows: pd.DataFrame
    rounds: list[RoundRecord] = field(default_factory=list)

    @property
    def n_rounds(self) -> int:
        return len(self.rounds)


def record_run(
    dataset: str = "digits",
    strategy: str = "entropy",
    batch_size: int = 10,
    rounds: int = 5,
    seed: int = 0,
    initial: int = 20,
    pool_size: int | None = None,
    imbalance: float | None = None,
    projection: str = "umap",
    epochs: int = 20,
    device: str = "cpu",
) -> RecordedRun:
    """Run ``strategy`` for ``rounds`` queries of ``batch_size`` through :func:`run_experiment`
    and record every query (candidates ``M``, scores ``M``, picks ``batch_size``) plus a 2-D map
    of the pool (``projection``: ``umap``, ``tsne`` or ``pca``; ignored for 2-D data)."""
    from alkit.loop import ExperimentConfig, run_experiment
    from alkit.train import TrainConfig

    check_positive_int("batch_size", batch_size)
    check_positive_int("rounds", rounds)
    config = ExperimentConfig(
        dataset=dataset,
        imbalance=imbalance,
        pool_size=pool_size,
        train=TrainConfig(epochs=epochs, min_steps=100),
        initial=initial,
        query=batch_size,
        rounds=rounds,
        seeds=(seed,),
        strategies=(strategy,),
        device=device,
    )
    recorded: list[RoundRecord] = []
    final: dict = {}

    def on_round(state) -> None:
        if state.query is not None:
            q = state.query
            recorded.append(
                RoundRecord(
                    state.round,
                    np.setdiff1d(state.pool.labeled_idx, q.indices),
                    np.asarray(q.candidates),
                    np.asarray(q.scores, dtype=float),
                    np.asarray(q.indices),
                )
            )
        if state.round == rounds:
            X = state.pool.X
            final["features"] = X if X.ndim == 2 and X.shape[1] == 2 else state.learner.embed(X)
            final["y"] = state.splits.y_pool
            final["names"] = tuple(state.splits.class_names)

    rows = run_experiment(config, progress=False, on_round=on_round)
    return RecordedRun(
        dataset=dataset,
        strategy=strategy,
        seed=seed,
        y_pool=np.asarray(final["y"]),
        class_names=final["names"],
        xy_N_2=project_2d(final["features"], method=projection, seed=seed),
        rows=rows,
        rounds=recorded,
    )


def _check_round(run: RecordedRun, rnd: int) -> RoundRecord:
    if not 1 <= rnd <= run.n_rounds:
        raise AlkitError(f"round must be between 1 and {run.n_rounds}, got {rnd}")
    return run.rounds[rnd - 1]


# -- pure figure data ---------------------------------------------------------------------------
def map_layers(xy_N_2, labeled_idx, picked_idx) -> dict[str, np.ndarray]:
    """The three layers of a pool map: ``unlabeled`` (the rest), ``labeled`` and ``picked``;
    each is a ``K × 2`` array of map coordinates, plus ``picked_idx`` (pool indices)."""
    xy = np.asarray(xy_N_2)
    labeled = np.asarray(labeled_idx, dtype=np.int64)
    picked = np.asarray(picked_idx, dtype=np.int64)
    rest = np.ones(len(xy), dtype=bool)
    rest[labeled] = False
    rest[picked] = False
    return {
        "unlabeled": xy[rest],
        "labeled": xy[labeled],
        "picked": xy[picked],
        "picked_idx": picked,
    }


def explorer_frame(run: RecordedRun, rnd: int, bins: int = 30) -> dict:
    """Everything :class:`StrategyExplorer` draws for round ``rnd`` (1-based query round).

    ``map``: :func:`map_layers` of the labelled set before the query and its picks;
    ``hist``: ``(edges, counts, picked_counts)`` of the candidates' scores (:func:`score_histogram`);
    ``curve``: labelled-set sizes and test accuracy of rounds ``0 … rnd``.
    """
    rec = _check_round(run, rnd)
    picked_mask = np.isin(rec.candidates, rec.picked)
    rows = run.rows[run.rows["round"] <= rnd].sort_values("round")
    return {
        "map": map_layers(run.xy_N_2, rec.labeled_before, rec.picked),
        "hist": score_histogram(rec.scores, picked_mask, bins),
        "curve": (rows["n_labeled"].to_numpy(), rows["accuracy"].to_numpy()),
    }


def compare_frame(run_a: RecordedRun, run_b: RecordedRun, rnd: int) -> dict:
    """What :class:`CompareStrategies` draws at round ``rnd`` for two runs on the same seed.

    Per run (keys ``"a"``, ``"b"``): ``map`` layers with the picks, ``class_counts`` (``C``) of
    the labelled set after the query, and ``accuracy`` of the model trained on it.
    """
    if run_a.seed != run_b.seed or run_a.dataset != run_b.dataset:
        raise AlkitError("compare two runs of the same dataset and seed")
    out = {}
    for key, run in (("a", run_a), ("b", run_b)):
        rec = _check_round(run, rnd)
        after = np.concatenate([rec.labeled_before, rec.picked])
        row = run.rows[run.rows["round"] == rnd].iloc[0]
        out[key] = {
            "strategy": run.strategy,
            "map": map_layers(run.xy_N_2, rec.labeled_before, rec.picked),
            "class_counts": np.bincount(run.y_pool[after], minlength=len(run.class_names)),
            "accuracy": float(row["accuracy"]),
        }
    return out


def player_frame(results: pd.DataFrame, strategy: str, seed: int, rnd: int) -> dict:
    """What :class:`RunPlayer` draws for one (strategy, seed, round) of a results table.

    ``summary``: :func:`summarize_curves` of every strategy up to ``rnd``; ``accuracy`` and
    ``n_labeled`` of the chosen row; ``confusion`` (``C × C``); ``selected`` pool indices
    (the initial set at round 0).
    """
    rows = results[
        (results["strategy"] == strategy) & (results["seed"] == seed) & (results["round"] == rnd)
    ]
    if rows.empty:
        raise AlkitError(
            f"no row for strategy {strategy!r}, seed {seed}, round {rnd}; the file holds "
            f"strategies {sorted(results['strategy'].unique())}, seeds "
            f"{sorted(results['seed'].unique())}, rounds 0–{results['round'].max()}"
        )
    row = rows.iloc[0]
    return {
        "summary": summarize_curves(results[results["round"] <= rnd]),
        "accuracy": float(row["accuracy"]),
        "n_labeled": int(row["n_labeled"]),
        "confusion": np.asarray(row["confusion"]),
        "selected": np.asarray(row["selected"], dtype=np.int64),
    }


def pool_of_run(folder: str | os.PathLike, seed: int):
    """Rebuild the pool ``(X_pool, y_pool, class_names)`` of ``seed`` from the ``config.json``
    that :func:`run_experiment` saved beside ``results.csv`` (``None`` if there is none)."""
    from alkit.data import build_splits, load_dataset

    path = Path(folder) / "config.json"
    if not path.exists():
        return None
    cfg = json.loads(path.read_text())
    splits = build_splits(
        load_dataset(cfg["dataset"]),
        seed=seed,
        val_per_class=cfg.get("val_per_class", 0),
        imbalance=cfg.get("imbalance"),
        rare_classes=cfg.get("rare_classes"),
        long_tail_factor=cfg.get("long_tail"),
        pool_size=cfg.get("pool_size"),
        test_size=cfg.get("test_size"),
    )
    return splits.X_pool, splits.y_pool, tuple(splits.class_names)


def plot_picked_images(images_K, labels_K, class_names=None, ncols: int = 10, title=None):
    """Static matplotlib grid of picked images (``K × C × H × W`` or ``K × H × W``) with their
    true class names; returns the Figure.

    The Figure is made without pyplot, so drawing it from a widget callback does not touch
    the notebook's backend (the inline backend resizes pyplot figures it sees).
    """
    from matplotlib.figure import Figure

    images = np.asarray(images_K)
    k = len(images)
    ncols = max(1, min(ncols, k))
    nrows = max(1, -(-k // ncols))
    fig = Figure(figsize=(0.9 * ncols, 1.05 * nrows + 0.35))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, label in zip(axes.ravel(), images, labels_K, strict=False):
        img = img.transpose(1, 2, 0) if img.ndim == 3 and img.shape[0] == 3 else img.squeeze()
        ax.imshow(img, cmap="gray_r" if img.ndim == 2 else None)
        ax.set_title(class_names[label] if class_names else str(label), fontsize=7, pad=2)
    fig.suptitle(title or f"{k} picked sample(s)", fontsize=9)
    fig.subplots_adjust(
        left=0.01,
        right=0.99,
        bottom=0.01,
        top=1 - 0.35 / fig.get_figheight(),
        wspace=0.1,
        hspace=0.35,
    )
    return fig


# -- plotly helpers -----------------------------------------------------------------------------
#: Shared look: white template, legend in a row under the plots so it never covers an axis.
_LAYOUT = {
    "template": "plotly_white",
    "margin": {"t": 70, "b": 40},
    "legend": {"orientation": "h", "x": 0, "y": -0.22},
}


def _map_traces(fig, row=None, col=None, showlegend=True):
    kw = {"row": row, "col": col} if row is not None else {}
    for name, color, size, symbol in (
        ("unlabelled", POOL_COLOR, 4, "circle"),
        ("labelled", LABELED_COLOR, 6, "square"),
        ("picked", PICK_COLOR, 11, "x"),
    ):
        fig.add_scattergl(
            x=[],
            y=[],
            mode="markers",
            name=name,
            marker={"color": color, "size": size, "symbol": symbol},
            legendgroup=name,
            showlegend=showlegend,
            **kw,
        )


def _set_map(traces, layers) -> None:
    for trace, name in zip(traces, ("unlabeled", "labeled", "picked"), strict=True):
        trace.x, trace.y = layers[name][:, 0], layers[name][:, 1]


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


# -- dashboards ---------------------------------------------------------------------------------
class StrategyExplorer:
    """Dataset, strategy, batch-size and round controls over a recorded run.

    Shows the pool on a 2-D map (labelled set, and this round's picks as crosses), the
    histogram of the candidates' acquisition scores (picks in a second colour) and the learning
    curve so far. Changing dataset, strategy or batch size records a new run (cached per
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

        self.rounds = rounds
        self.run_options = run_options
        self._runs: dict[tuple, RecordedRun] = {}
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
            subplot_titles=("pool map", "acquisition scores", "learning curve"),
        )
        _map_traces(fig, 1, 1)
        fig.add_bar(x=[], y=[], name="candidates", marker_color=PALETTE[5], row=1, col=2)
        fig.add_bar(x=[], y=[], name="picked", marker_color=PICK_COLOR, row=1, col=2)
        fig.add_scatter(
            x=[],
            y=[],
            mode="lines+markers",
            name="accuracy",
            line={"color": PALETTE[0]},
            row=1,
            col=3,
        )
        fig.update_layout(barmode="overlay", height=470, **_LAYOUT)
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
        frame = explorer_frame(self.run, self.round.value)
        edges, counts, picked = frame["hist"]
        centers, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        data = self.figure.data
        with self.figure.batch_update():
            _set_map(data[:3], frame["map"])
            data[3].x, data[3].y, data[3].width = centers, counts, width
            data[4].x, data[4].y, data[4].width = centers, picked, width
            data[5].x, data[5].y = frame["curve"]
            self.figure.layout.title = (
                f"{self.strategy.value} on {self.dataset.value}: round {self.round.value}, "
                f"{len(frame['map']['picked_idx'])} picks"
            )


class CompareStrategies:
    """Two strategies side by side on the same dataset and seed: their picks on the pool map,
    the class histogram of each labelled set, and their accuracy, at the chosen round."""

    def __init__(
        self, strategy_a="random", strategy_b="entropy", dataset="digits", rounds=5, **run_options
    ):
        w, go = _widgets()
        from plotly.subplots import make_subplots

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
        _map_traces(fig, 1, 1)
        _map_traces(fig, 1, 2, showlegend=False)
        self._names = [str(c) for c in self.run_a.class_names]
        colors = strategy_colors([strategy_a, strategy_b])
        for s in (strategy_a, strategy_b):
            fig.add_bar(x=[], y=[], name=s, marker_color=colors[s], row=1, col=3)
        fig.update_layout(height=470, **_LAYOUT)
        for col in (1, 2):
            fig.update_xaxes(title_text="map dimension 1 (a.u.)", row=1, col=col)
            fig.update_yaxes(title_text="map dimension 2 (a.u.)", row=1, col=col)
        fig.update_xaxes(title_text="class", type="category", row=1, col=3)
        fig.update_yaxes(title_text="labelled samples (count)", row=1, col=3)
        self.figure = go.FigureWidget(fig)
        self.round.observe(lambda _: self.redraw(), names="value")
        self.widget = w.VBox([self.round, self.figure])
        self.redraw()

    def redraw(self) -> None:
        frame = compare_frame(self.run_a, self.run_b, self.round.value)
        data = self.figure.data
        with self.figure.batch_update():
            _set_map(data[0:3], frame["a"]["map"])
            _set_map(data[3:6], frame["b"]["map"])
            data[6].update(x=self._names, y=frame["a"]["class_counts"])
            data[7].update(x=self._names, y=frame["b"]["class_counts"])
            self.figure.layout.title = (
                f"round {self.round.value}: {frame['a']['strategy']} accuracy "
                f"{frame['a']['accuracy']:.3f}, {frame['b']['strategy']} accuracy "
                f"{frame['b']['accuracy']:.3f}"
            )


class RunPlayer:
    """Replay a ``results.csv`` (from ``alkit bench`` or :func:`run_experiment`) round by round.

    Shows the learning curves of all strategies up to the chosen round, the confusion matrix
    of the chosen (strategy, seed, round), and the images picked in that round (rebuilt from the
    ``config.json`` beside the results; the initial set at round 0).
    """

    def __init__(self, path: str | os.PathLike, class_names=None, max_images: int = 20):
        w, go = _widgets()
        from plotly.subplots import make_subplots

        self.folder = Path(path) if Path(path).is_dir() else Path(path).parent
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
        fig.update_xaxes(title_text="labelled samples (count)", row=1, col=1)
        fig.update_yaxes(title_text="test accuracy (fraction)", row=1, col=1)
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
