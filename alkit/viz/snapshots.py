"""The model of every round, kept for the Fisher-kernel notebook's plots and widgets.

:func:`snapshot_recorder` is an ``on_round`` callback that keeps a :class:`FisherSnapshot` per
round and, given the run folder, also saves the round's weights there
(``<folder>/snapshots/<strategy>__seed<seed>__round<r>.pt``). A re-run over a finished folder
does not train again and never calls ``on_round`` for the finished rounds, so
:func:`load_snapshots` rebuilds the missing snapshots from the folder: the weights it saved, the
labelled set and result row of each round from ``results.csv``, and the splits from the config.
"""

from __future__ import annotations

import copy
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from alkit.results import atomic_write_bytes

SNAPSHOT_DIR = "snapshots"


@dataclass
class FisherSnapshot:
    """The state after one round: the model, the labelled indices, the splits and the row.

    ``rare_classes``: the experiment's rare classes (``()`` when its pool is not imbalanced).
    """

    round: int
    model: torch.nn.Module
    labeled_idx: np.ndarray
    splits: object
    row: dict
    rare_classes: tuple[int, ...] = ()


def rare_classes_of(config, n_classes: int) -> tuple[int, ...]:
    """The rare classes of an :class:`~alkit.loop.ExperimentConfig`: ``config.rare_classes``,
    else the upper half of the classes (as :func:`~alkit.data.build_splits` does) when the pool
    is imbalanced, else none."""
    if config is None or config.imbalance is None:
        return ()
    if config.rare_classes is not None:
        return tuple(int(c) for c in config.rare_classes)
    return tuple(range(n_classes // 2, n_classes))


def snapshot_path(folder, strategy: str, seed: int, rnd: int) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.=-]+", "_", strategy)
    return Path(folder) / SNAPSHOT_DIR / f"{safe}__seed{seed}__round{rnd}.pt"


def snapshot_recorder(
    store: dict,
    key=None,
    strategy: str | None = None,
    config=None,
    folder: str | os.PathLike | None = None,
):
    """An ``on_round`` callback for :func:`~alkit.loop.run_experiment` that keeps a
    :class:`FisherSnapshot` per round in ``store[(key, round)]`` (only rows of ``strategy`` when
    given; the first seed only). ``config`` supplies the rare classes; with ``folder`` (the
    run's ``out``) the weights are also saved for :func:`load_snapshots`."""

    def on_round(state):
        if strategy is not None and state.strategy != strategy:
            return
        if (key, state.round) in store:
            return
        model = copy.deepcopy(state.learner.model).cpu().eval()
        store[(key, state.round)] = FisherSnapshot(
            state.round,
            model,
            state.pool.labeled_idx.copy(),
            state.splits,
            state.row,
            rare_classes_of(config, state.splits.n_classes),
        )
        if folder is not None:
            path = snapshot_path(folder, state.strategy, state.seed, state.round)
            path.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            torch.save(model.state_dict(), buf)
            atomic_write_bytes(path, buf.getvalue())

    return on_round


def splits_of(config, seed: int):
    """The :class:`~alkit.data.DataSplits` that :func:`~alkit.loop.run_experiment` builds for
    ``config`` and ``seed``."""
    from alkit.data import load_dataset
    from alkit.loop import seed_splits

    return seed_splits(config, load_dataset(config.dataset), seed)


def load_snapshots(
    folder: str | os.PathLike, config, store: dict, key=None, strategy: str | None = None
) -> dict:
    """Fill ``store[(key, round)]`` for every round of ``strategy`` (default: the config's
    first) and the config's first seed that ``folder`` holds saved weights of and ``store``
    lacks; return ``store``.

    Rows (``row``, and the labelled set = the ``selected`` indices of rounds ``0 … r``) come
    from ``folder/results.csv`` via :func:`alkit.results.read_results`.
    """
    from alkit.models import build_model
    from alkit.results import read_results

    strategy = strategy or config.strategies[0]
    seed = config.seeds[0]
    results = read_results(folder)
    rows = results[(results["strategy"] == strategy) & (results["seed"] == seed)]
    rows = rows.sort_values("round")
    splits = None
    for _, row in rows.iterrows():
        rnd = int(row["round"])
        path = snapshot_path(folder, strategy, seed, rnd)
        if (key, rnd) in store or not path.exists():
            continue
        if splits is None:
            splits = splits_of(config, seed)
        model = build_model(
            config.model_name, splits.X_pool.shape[1:], splits.n_classes, **config.model_options
        )
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        labeled = np.concatenate(
            [np.asarray(s, dtype=np.int64) for s in rows[rows["round"] <= rnd]["selected"]]
        )
        store[(key, rnd)] = FisherSnapshot(
            rnd,
            model.eval(),
            np.sort(labeled),
            splits,
            row.to_dict(),
            rare_classes_of(config, splits.n_classes),
        )
    return store


def select_on_snapshot(snapshot: FisherSnapshot, estimator="phat", length=80, n=None, seed=0):
    """Re-run one PFK selection (Alg. 1) on a snapshot; returns ``(query, ctx)``."""
    from alkit.data import Pool
    from alkit.strategies import QueryContext, get_strategy
    from alkit.train import Learner

    splits = snapshot.splits
    pool = Pool(splits.X_pool, splits.y_pool, labeled_idx=snapshot.labeled_idx)
    learner = Learner(snapshot.model, device="cpu")
    ctx = QueryContext(pool, learner, np.random.default_rng(seed), splits.X_val, splits.y_val)
    n = n or max(1, int(snapshot.row.get("n_queried") or 10))
    spec = f"pfk:estimator={estimator}:length={length}"
    return get_strategy(spec).query(ctx, min(n, len(pool.unlabeled_idx))), ctx
