"""The one active-learning loop that the CLI, the notebooks and the benchmarks all drive.

For each seed and strategy: label an initial set, then for every round train → evaluate →
append a row to ``results.csv`` → query the next batch. Rows are written as soon as a round
ends; re-running the same experiment skips finished (strategy, seed, round) rows and resumes
from the last checkpointed model.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from alkit import metrics
from alkit.data import DataSplits, Pool, build_splits, category_mismatch_initial, load_dataset
from alkit.errors import AlkitError, check_positive_int, unknown_name
from alkit.models import DEFAULT_MODEL, MODELS, build_model
from alkit.pretrain import rotation_pretrain
from alkit.results import COLUMNS, RunStore
from alkit.strategies import Query, QueryContext, Strategy, get_strategy
from alkit.train import Learner, TrainConfig, progress_enabled, resolve_device, seed_everything


@dataclass
class ExperimentConfig:
    """Everything that defines an experiment.

    Data: ``dataset``; ``imbalance`` (ratio r) with ``rare_classes`` (default: upper half of the
    classes) as in seed 000; ``long_tail`` (factor, seed 003 A.5); ``category_mismatch``
    (fraction of classes in the initial set, seed 003 A.4); ``val_per_class`` for a balanced
    validation set; ``pool_size``/``test_size`` to subsample.
    Model and training: ``model`` (default per dataset), ``model_options``, ``train``.
    Loop: ``initial`` labelled samples, ``query`` (an int per round, or a per-round list),
    ``rounds`` query rounds after the initial one, ``seeds``, ``strategies`` (registry specs
    such as ``"entropy"`` or ``"entropy:max_candidates=1000"``), ``device``.
    Seed 000 options (default off): ``pretrain="rotation"`` initialises every model but its
    last layer by rotation self-supervision on the unlabelled pool (``pretrain_epochs``, once
    per seed); ``cold_start=True`` lets a strategy with ``cold_start`` support choose the
    ``initial`` set itself before any label exists (round 0 of Alg. 1); the others draw it at
    random as usual.
    """

    dataset: str = "digits"
    imbalance: float | None = None
    rare_classes: tuple[int, ...] | None = None
    long_tail: float | None = None
    category_mismatch: float | None = None
    val_per_class: int = 0
    pool_size: int | None = None
    test_size: int | None = None
    model: str | None = None
    model_options: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    initial: int = 50
    query: int | Sequence[int] = 10
    rounds: int = 10
    seeds: Sequence[int] = (0, 1, 2)
    strategies: Sequence[str] = ("random", "entropy")
    device: str = "auto"
    pretrain: str | None = None
    pretrain_epochs: int = 8
    cold_start: bool = False

    def __post_init__(self):
        if isinstance(self.train, dict):
            self.train = TrainConfig(**self.train)
        if self.rare_classes is not None:
            self.rare_classes = tuple(int(c) for c in self.rare_classes)
        self.seeds = tuple(int(s) for s in self.seeds)
        self.strategies = tuple(self.strategies)
        if not isinstance(self.query, int):
            self.query = tuple(int(q) for q in self.query)
        if self.pretrain not in PRETRAINING:
            raise AlkitError(f"pretrain must be one of {PRETRAINING}, got {self.pretrain!r}")

    @property
    def model_name(self) -> str:
        return self.model or DEFAULT_MODEL.get(self.dataset, "mlp")

    def schedule(self) -> list[int]:
        """The query size of each round, ``rounds`` long."""
        if isinstance(self.query, int):
            sizes = [self.query] * self.rounds
        else:
            sizes = list(self.query)
            if len(sizes) != self.rounds:
                raise AlkitError(
                    f"the query schedule has {len(sizes)} entries but rounds={self.rounds}; "
                    "give one query size per round"
                )
        for q in sizes:
            check_positive_int("query size", q)
        return sizes

    def data_key(self) -> dict:
        """The fields that must match for results to be resumed or combined."""
        d = asdict(self)
        for k in ("seeds", "strategies", "device"):
            d.pop(k)
        d["query"] = list(d["query"]) if not isinstance(d["query"], int) else d["query"]
        d["model"] = self.model_name
        for k, default in (("pretrain", None), ("pretrain_epochs", 8), ("cold_start", False)):
            if d[k] == default:  # keeps the key of results written before these options
                d.pop(k)
        return json.loads(json.dumps(d))


PRETRAINING = (None, "rotation")


@dataclass
class RoundState:
    """What ``on_round`` callbacks receive after each round (for notebooks and widgets)."""

    strategy: str
    seed: int
    round: int
    pool: Pool
    learner: Learner
    splits: DataSplits
    query: Query | None
    row: dict


def parse_schedule(text: str) -> list[int]:
    """Parse ``"20,20,100"`` into ``[20, 20, 100]`` with a clear error on bad entries."""
    parts = [p.strip() for p in text.split(",")]
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise AlkitError(
            f"could not parse schedule {text!r}: give comma-separated positive integers, "
            "e.g. 20,20,100"
        ) from None
    if not sizes or any(s <= 0 for s in sizes):
        raise AlkitError(f"schedule {text!r} must hold positive integers only, e.g. 20,20,100")
    return sizes


def initial_indices(config: ExperimentConfig, y_pool: np.ndarray, seed: int) -> np.ndarray:
    """The initial labelled set of a seed: the same for every strategy (a fair comparison)."""
    n = config.initial
    if n > len(y_pool):
        raise AlkitError(f"initial={n} is larger than the pool ({len(y_pool)} samples)")
    if config.category_mismatch is not None:
        return category_mismatch_initial(y_pool, n, config.category_mismatch, seed=seed)
    rng = np.random.default_rng([seed, 0x1A1])
    return np.sort(rng.choice(len(y_pool), size=n, replace=False))


def _unlabeled_kwargs(config: ExperimentConfig, pool: Pool) -> dict:
    """The unlabelled pool for trainers that use it (seed 003's alignment stage), else nothing."""
    if config.train.gmm_align_steps:
        return {"X_unlabeled": pool.X[pool.unlabeled_idx]}
    return {}


def _fit_seed(seed: int, rnd: int) -> int:
    return seed * 10_007 + rnd


def train_member(config: ExperimentConfig, splits: DataSplits, pool: Pool, seed, rnd, member):
    """A fresh Learner for deep-ensemble member ``member`` of round ``rnd``: the experiment's
    model and TrainConfig, initialised and fitted with seeds derived from (seed, rnd, member),
    trained on the current labelled set. The global torch RNG state is left as it was."""
    member_seed = _fit_seed(seed, rnd) * 1_009 + member
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(member_seed)
        model = build_model(
            config.model_name, splits.X_pool.shape[1:], splits.n_classes, **config.model_options
        )
    learner = Learner(model, config.train, device=config.device, seed=member_seed, progress=False)
    return learner.fit(pool.X[pool.labeled_idx], pool.labeled_y, seed=member_seed)


def run_experiment(
    config: ExperimentConfig,
    out: str | os.PathLike | None = None,
    progress: bool | None = None,
    on_round: Callable[[RoundState], None] | None = None,
) -> pd.DataFrame:
    """Run (or resume) an experiment; return all its rows as a DataFrame.

    With ``out``, rows go to ``out/results.csv`` as each round ends and the latest model of
    each (strategy, seed) is checkpointed, so calling again with the same config resumes.
    ``on_round(state)`` is called after every round with a :class:`RoundState`.
    """
    check_positive_int("initial", config.initial)
    schedule = config.schedule()
    if not config.seeds:
        raise AlkitError("seeds must hold at least one seed")
    strategies = {spec: get_strategy(spec) for spec in config.strategies}
    if config.model_name not in MODELS:
        raise unknown_name("model", config.model_name, MODELS)
    dataset = load_dataset(config.dataset)
    store = RunStore(out, config.data_key())
    show = progress_enabled(progress)
    for seed in config.seeds:
        splits = build_splits(
            dataset,
            seed=seed,
            val_per_class=config.val_per_class,
            imbalance=config.imbalance,
            rare_classes=config.rare_classes,
            long_tail_factor=config.long_tail,
            pool_size=config.pool_size,
            test_size=config.test_size,
        )
        budget = config.initial + sum(schedule)
        if budget > len(splits.y_pool):
            raise AlkitError(
                f"initial + the query schedule need {budget} labels but the pool holds "
                f"{len(splits.y_pool)} samples; lower --initial, --query or --rounds"
            )
        pending = [s for s in strategies if len(store.previous(s, seed)) < len(schedule) + 1]
        pretrained = _pretrained_state(config, splits, seed, show) if pending else None
        for spec, strategy in strategies.items():
            _run_one(
                config, spec, strategy, seed, splits, schedule, store, show, on_round, pretrained
            )
    return pd.DataFrame(store.rows, columns=list(COLUMNS))


def _build_seed_model(config: ExperimentConfig, splits: DataSplits, seed: int):
    seed_everything(seed)
    return build_model(
        config.model_name, splits.X_pool.shape[1:], splits.n_classes, **config.model_options
    )


def _pretrained_state(config: ExperimentConfig, splits: DataSplits, seed: int, show: bool):
    """The seed's rotation-pretrained weights (shared by all strategies of the seed), or None."""
    if config.pretrain is None:
        return None
    model = _build_seed_model(config, splits, seed)
    rotation_pretrain(
        model,
        splits.X_pool,
        epochs=config.pretrain_epochs,
        seed=seed,
        device=resolve_device(config.device),
        progress=show,
    )
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _context(config, pool, learner, splits, seed: int, rnd: int) -> QueryContext:
    """The query context of round ``rnd``: its own seeded generator, the validation set when the
    experiment has one, and a trainer for deep-ensemble members."""
    return QueryContext(
        pool,
        learner,
        rng=np.random.default_rng([seed, rnd]),
        X_val=splits.X_val if len(splits.y_val) else None,
        y_val=splits.y_val if len(splits.y_val) else None,
        round=rnd,
        train_fn=functools.partial(train_member, config, splits, pool, seed, rnd),
    )


def _initial_query(config, strategy, pool, learner, splits, seed) -> Query | None:
    """Round 0: the strategy's own cold-start pick when asked for and supported, else None."""
    if not (config.cold_start and getattr(strategy, "cold_start", False)):
        pool.label(initial_indices(config, splits.y_pool, seed))
        return None
    query = strategy.query(_context(config, pool, learner, splits, seed, 0), config.initial)
    pool.label(query.indices)
    return query


def _run_one(
    config, spec, strategy: Strategy, seed, splits, schedule, store, show, on_round, pretrained
):
    previous = store.previous(spec, seed)
    if len(previous) == len(schedule) + 1:
        return
    pool = Pool(splits.X_pool, splits.y_pool)
    model = _build_seed_model(config, splits, seed)
    if pretrained is not None:
        model.load_state_dict(pretrained)
    learner = Learner(model, config.train, device=config.device, seed=seed, progress=False)
    initial_query, initial_s, start = None, 0.0, 0
    if not previous:
        t0 = time.perf_counter()
        initial_query = _initial_query(config, strategy, pool, learner, splits, seed)
        initial_s = time.perf_counter() - t0 if initial_query is not None else 0.0
    else:  # every row records its labels; round 0's are the initial set, whoever chose it
        for row in previous:
            pool.label(row["selected"])
        last = previous[-1]["round"]
        ckpt = store.checkpoint_path(spec, seed, last)
        if ckpt.exists():
            # our own checkpoint; it pickles the GMM critic, so it is not weights-only
            state = torch.load(ckpt, map_location=learner.device, weights_only=False)
            learner.load_state_dict(state)
        elif config.train.warm_start:
            raise AlkitError(
                f"cannot resume {spec} seed {seed} with warm start: checkpoint {ckpt} is missing"
            )
        else:
            learner.fit(
                pool.X[pool.labeled_idx],
                pool.labeled_y,
                seed=_fit_seed(seed, last),
                **_unlabeled_kwargs(config, pool),
            )
        start = last + 1
    bar = tqdm(
        range(start, len(schedule) + 1),
        desc=f"{spec} seed {seed}",
        leave=False,
        disable=not show,
    )
    for rnd in bar:
        query, select_s = (initial_query, initial_s) if rnd == 0 else (None, 0.0)
        if rnd > 0:
            ctx = _context(config, pool, learner, splits, seed, rnd)
            t0 = time.perf_counter()
            query = strategy.query(ctx, schedule[rnd - 1])
            select_s = time.perf_counter() - t0
            pool.label(query.indices)
        t0 = time.perf_counter()
        learner.fit(
            pool.X[pool.labeled_idx],
            pool.labeled_y,
            seed=_fit_seed(seed, rnd),
            **_unlabeled_kwargs(config, pool),
        )
        train_s = time.perf_counter() - t0
        y_pred = learner.predict(splits.X_test)
        n_classes = splits.n_classes
        row = {
            "dataset": config.dataset,
            "strategy": spec,
            "seed": seed,
            "round": rnd,
            "n_labeled": int(pool.labeled_mask.sum()),
            "n_queried": 0 if query is None or rnd == 0 else len(query.indices),
            "accuracy": metrics.accuracy(splits.y_test, y_pred),
            "per_class_accuracy": metrics.per_class_accuracy(
                splits.y_test, y_pred, n_classes
            ).tolist(),
            "confusion": metrics.confusion_matrix(splits.y_test, y_pred, n_classes).tolist(),
            "class_counts": np.bincount(pool.labeled_y, minlength=n_classes).tolist(),
            "select_seconds": round(select_s, 4),
            "train_seconds": round(train_s, 4),
            "selected": (pool.labeled_idx if rnd == 0 or query is None else query.indices).tolist(),
        }
        store.save(row, learner)
        if on_round is not None:
            on_round(RoundState(spec, seed, rnd, pool, learner, splits, query, row))
