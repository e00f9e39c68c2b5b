"""The plain functions behind the teaching dashboards: record a run, and turn control values
into figure data (:func:`record_run`, :func:`explorer_frame`, :func:`compare_frame`,
:func:`player_frame`, :func:`map_layers`, :func:`plot_picked_images`). They hold no widgets, so
tests call them directly and check the numbers; :mod:`alkit.viz.widgets` only wires them to
ipywidgets and plotly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alkit.errors import AlkitError, check_positive_int
from alkit.paths import resolve_run_path
from alkit.viz.curves import summarize_curves
from alkit.viz.embedding import project_2d
from alkit.viz.plots import score_histogram
from alkit.viz.style import MIN_FONT_PT, wrap_label

#: What a pool map can show: the final model's embeddings, or the pool's inputs (the same map
#: for every strategy on a dataset and seed; the raw points for 2-D toy data either way).
MAP_SOURCES = ("embedding", "input")


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
    projection of the final model's penultimate embeddings (``map_source="embedding"``) or of
    the pool's inputs (``"input"``); either way points stay put across rounds. ``raw_2d`` is
    True when the map's axes are the data's own two inputs (draw it with equal aspect).
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
    map_source: str = "embedding"
    raw_2d: bool = False

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
    map_source: str = "embedding",
) -> RecordedRun:
    """Run ``strategy`` for ``rounds`` queries of ``batch_size`` through :func:`run_experiment`
    and record every query (candidates ``M``, scores ``M``, picks ``batch_size``) plus a 2-D map
    of the pool (``projection``: ``umap``, ``tsne`` or ``pca`` of the final model's embeddings,
    or of the pool's inputs with ``map_source="input"``; ignored for 2-D data)."""
    from alkit.loop import ExperimentConfig, run_experiment
    from alkit.train import TrainConfig

    check_positive_int("batch_size", batch_size)
    check_positive_int("rounds", rounds)
    if map_source not in MAP_SOURCES:
        raise AlkitError(f"map_source must be one of {MAP_SOURCES}, got {map_source!r}")
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
            final["raw_2d"] = X.ndim == 2 and X.shape[1] == 2
            raw = final["raw_2d"] or map_source == "input"
            final["features"] = X.reshape(len(X), -1) if raw else state.learner.embed(X)
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
        map_source=map_source,
        raw_2d=bool(final["raw_2d"]),
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


def class_layers(xy_N_2, y_N, n_classes: int) -> list[np.ndarray]:
    """The pool's map points split by true class: entry ``c`` is the ``K_c × 2`` points of
    class ``c`` (empty for an absent class). Drawn under the labelled/picked marks."""
    xy, y = np.asarray(xy_N_2), np.asarray(y_N)
    return [xy[y == c] for c in range(n_classes)]


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
    the labelled set after the query, and ``accuracy`` of the model trained on it. Both maps
    use one projection (``xy``: run a's map), so the picks of the two can be compared point by
    point; record both with ``map_source="input"`` (or on 2-D data) to make it a neutral one.
    """
    if run_a.seed != run_b.seed or run_a.dataset != run_b.dataset:
        raise AlkitError("compare two runs of the same dataset and seed")
    xy = run_a.xy_N_2
    out = {"xy": xy}
    for key, run in (("a", run_a), ("b", run_b)):
        rec = _check_round(run, rnd)
        after = np.concatenate([rec.labeled_before, rec.picked])
        row = run.rows[run.rows["round"] == rnd].iloc[0]
        out[key] = {
            "strategy": run.strategy,
            "map": map_layers(xy, rec.labeled_before, rec.picked),
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

    path = resolve_run_path(folder) / "config.json"
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
    fig = Figure(figsize=(1.0 * ncols, 1.35 * nrows + 0.4))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, label in zip(axes.ravel(), images, labels_K, strict=False):
        img = img.transpose(1, 2, 0) if img.ndim == 3 and img.shape[0] == 3 else img.squeeze()
        ax.imshow(img, cmap="gray_r" if img.ndim == 2 else None)
        name = class_names[label] if class_names else str(label)
        ax.set_title(wrap_label(name, 9), fontsize=MIN_FONT_PT, pad=2)
    fig.suptitle(title or f"{k} picked sample(s)", fontsize=MIN_FONT_PT + 1)
    fig.subplots_adjust(
        left=0.01,
        right=0.99,
        bottom=0.01,
        top=1 - 0.4 / fig.get_figheight(),
        wspace=0.1,
        hspace=0.5,
    )
    return fig
