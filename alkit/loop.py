"""The one active-learning loop that the CLI, the notebooks and the benchmarks all drive.

For each seed and strategy: label an initial set, then for every round train → evaluate →
append a row to ``results.csv`` → query the next batch. Rows are written as soon as a round
ends; re-running the same experiment skips finished (strategy, seed, round) rows and resumes
from the last checkpointed model.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch

from alkit import metrics
from alkit.artifacts import artifact_names
from alkit.artifacts.experiment import (
    build_experiment_artifacts,
    check_experiment_artifacts,
    frozen_splits,
)
from alkit.config_checks import check_choice, check_int, check_number, check_optional
from alkit.data import DataSplits, Pool, build_splits, category_mismatch_initial, load_dataset
from alkit.errors import AlkitError, check_positive_int, unknown_name
from alkit.models import DEFAULT_MODEL, MODELS, build_model
from alkit.progress import tqdm
from alkit.results import COLUMNS, RunStore, check_run_folder
from alkit.strategies import Query, QueryContext, Setup, Strategy, get_strategy
from alkit.strategies.base import spec_from_table
from alkit.train import Learner, TrainConfig, progress_enabled, resolve_device, seed_everything


@dataclass
class ExperimentConfig:
    """Everything that defines an experiment.

    Data: ``dataset``; ``imbalance`` (ratio r) with ``rare_classes`` (default: upper half of the
    classes) as in seed 000, pooled or, with ``imbalance_per_class``, per rare class;
    ``long_tail`` (factor, seed 003 A.5); ``category_mismatch`` (fraction of classes in the
    initial set, seed 003 A.4); ``val_per_class`` for a balanced validation set;
    ``pool_size``/``test_size`` to subsample.
    Model and training: ``model`` (default per dataset), ``model_options`` (keyword arguments of
    the model, e.g. ``{"dropout": 0.25}``), ``train`` (a :class:`~alkit.train.TrainConfig`).
    Loop: ``initial`` labelled samples, ``query`` (an int per round, or a per-round list),
    ``rounds`` query rounds after the initial one, ``seeds``, ``strategies`` (registry specs
    such as ``"entropy"`` or ``"pfk:taps=[x1,x2]"``), ``device``.
    Seed 000 options (default off): ``pretrain="rotation"`` initialises every model but its
    last layer by rotation self-supervision on the unlabelled pool (``pretrain_epochs``, once
    per seed); ``cold_start=True`` lets a strategy with ``cold_start`` support choose the
    ``initial`` set itself before any label exists (round 0 of Alg. 1); the others draw it at
    random as usual.
    Frozen features (seed 002): ``features="simsiam"`` (any artifact with features, see
    :func:`alkit.artifacts.artifact_names`) builds that artifact from the unlabelled pool once
    per seed (cached on disk) and runs the experiment on its ``N × D`` features: pool,
    validation and test sets are encoded by it, and the model defaults to the ``mlp_bn`` head.
    ``artifact_options`` sets artifact options by name, e.g. ``{"simclr": {"epochs": 20}}``;
    strategies get every artifact of the seed through ``QueryContext.artifacts``.

    Every field is checked when the config is made (one line naming the field and its flag);
    what needs the data or the strategies is checked by :func:`preflight`.
    """

    dataset: str = "digits"
    imbalance: float | None = None
    rare_classes: tuple[int, ...] | None = None
    imbalance_per_class: bool = False
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
    features: str | None = None
    artifact_options: dict | None = None

    def __post_init__(self):
        if isinstance(self.train, dict):
            self.train = TrainConfig(**self.train)
        if self.rare_classes is not None:
            if isinstance(self.rare_classes, (str, bytes)) or not isinstance(
                self.rare_classes, Sequence
            ):
                raise AlkitError(
                    f"rare_classes (--rare-classes) must be a list of class numbers, "
                    f"got {self.rare_classes!r}"
                )
            self.rare_classes = tuple(
                check_int("rare_classes", c, low=0) for c in self.rare_classes
            )
        if isinstance(self.seeds, (str, bytes)) or not isinstance(self.seeds, Sequence):
            raise AlkitError(f"seeds must be a list of integers, got {self.seeds!r}")
        self.seeds = tuple(check_int("seeds", s, low=0) for s in self.seeds)
        if isinstance(self.strategies, str):
            self.strategies = (self.strategies,)
        self.strategies = tuple(self.strategies)
        if not isinstance(self.query, (int, np.integer)) or isinstance(self.query, bool):
            if isinstance(self.query, (str, bytes)) or not isinstance(self.query, Sequence):
                raise AlkitError(
                    f"query (--query/--schedule) must be an integer or a list of integers, "
                    f"got {self.query!r}"
                )
            self.query = tuple(self.query)
        self._check_fields()

    def _check_fields(self) -> None:
        if not isinstance(self.dataset, str) or not self.dataset:
            raise AlkitError(f"dataset (--dataset) must be a dataset name, got {self.dataset!r}")
        check_optional(check_number, "imbalance", self.imbalance, low=1.0)
        if self.rare_classes is not None and self.imbalance is None:
            raise AlkitError(
                "rare_classes (--rare-classes) only applies with imbalance (--imbalance R)"
            )
        if self.imbalance_per_class and self.imbalance is None:
            raise AlkitError(
                "imbalance_per_class (--imbalance-per-class) only applies with imbalance "
                "(--imbalance R)"
            )
        check_optional(check_number, "long_tail", self.long_tail, low=0.0, high=1.0, low_open=True)
        if self.imbalance is not None and self.long_tail is not None:
            raise AlkitError("choose either imbalance (--imbalance) or long_tail (--long-tail)")
        check_optional(
            check_number,
            "category_mismatch",
            self.category_mismatch,
            low=0.0,
            high=1.0,
            low_open=True,
        )
        check_int("val_per_class", self.val_per_class, low=0)
        check_optional(check_int, "pool_size", self.pool_size, low=1)
        check_optional(check_int, "test_size", self.test_size, low=1)
        if not isinstance(self.model_options, dict):
            raise AlkitError(
                f"model_options must be a table of options, got {self.model_options!r}"
            )
        check_int("initial", self.initial, low=1)
        check_int("rounds", self.rounds, low=1)
        self.schedule()
        if not self.seeds:
            raise AlkitError("seeds (--seeds) must hold at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise AlkitError(f"seeds (--seeds) must be distinct, got {list(self.seeds)}")
        if not self.strategies:
            raise AlkitError("strategies (--strategies) must name at least one strategy")
        for spec in self.strategies:
            if not isinstance(spec, str) or not spec.strip():
                raise AlkitError(
                    f"strategies (--strategies) holds an empty or non-text spec {spec!r}"
                )
        if len(set(self.strategies)) != len(self.strategies):
            raise AlkitError(
                f"strategies (--strategies) name one spec twice: {list(self.strategies)}"
            )
        check_choice("pretrain", self.pretrain, PRETRAINING)
        check_int("pretrain_epochs", self.pretrain_epochs, low=1)
        if not isinstance(self.cold_start, bool):
            raise AlkitError(
                f"cold_start (--cold-start) must be true or false, got {self.cold_start!r}"
            )
        if self.features is not None:
            check_choice("features", self.features, artifact_names())
            if self.pretrain is not None:
                raise AlkitError(
                    "choose either pretrain (--pretrain, a pretrained network) or features "
                    "(--features, a head on frozen features), not both"
                )
        if self.artifact_options is not None and not (
            isinstance(self.artifact_options, dict)
            and all(isinstance(v, dict) for v in self.artifact_options.values())
        ):
            raise AlkitError(
                "artifact_options (--artifact-option) must map artifact names to tables of "
                f"options, e.g. {{'simclr': {{'epochs': 20}}}}, got {self.artifact_options!r}"
            )
        if not isinstance(self.device, str):
            raise AlkitError(
                f"device (--device) must be 'auto', 'cpu' or 'cuda', got {self.device!r}"
            )

    @property
    def model_name(self) -> str:
        """``model``, else ``mlp_bn`` on frozen features (seed 002), else the dataset's."""
        if self.model:
            return self.model
        return "mlp_bn" if self.features else DEFAULT_MODEL.get(self.dataset, "mlp")

    def schedule(self) -> list[int]:
        """The query size of each round, ``rounds`` long."""
        if isinstance(self.query, (int, np.integer)):
            sizes = [self.query] * self.rounds
        else:
            sizes = list(self.query)
            if not sizes:
                raise AlkitError(
                    "the query schedule (--schedule) is empty: give sizes, e.g. 20,20,100"
                )
            if len(sizes) != self.rounds:
                raise AlkitError(
                    f"the query schedule has {len(sizes)} entries but rounds={self.rounds}; "
                    "give one query size per round"
                )
        for q in sizes:
            check_positive_int("query size", q)
        return [int(q) for q in sizes]

    def to_dict(self) -> dict:
        """Every field as plain JSON types (what ``config.json`` records)."""
        d = asdict(self)
        d["query"] = d["query"] if isinstance(d["query"], int) else list(d["query"])
        return json.loads(json.dumps(d))

    @classmethod
    def from_dict(cls, fields: dict, source: str = "the config") -> ExperimentConfig:
        """Build a config from plain values (a TOML file, a ``config.json``), refusing unknown
        fields by name. ``strategies`` may hold specs or tables ``{name=..., option=...}``."""
        fields = dict(fields)
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(fields) - known)
        if bad:
            raise AlkitError(f"unknown field(s) {bad} in {source}; valid fields: {sorted(known)}")
        train = fields.get("train", {})
        if not isinstance(train, (dict, TrainConfig)):
            raise AlkitError(f"train in {source} must be a table of training fields")
        if isinstance(train, dict):
            known_train = {f.name for f in dataclasses.fields(TrainConfig)}
            bad = sorted(set(train) - known_train)
            if bad:
                raise AlkitError(
                    f"unknown train field(s) {bad} in {source}; valid: {sorted(known_train)}"
                )
            fields["train"] = TrainConfig(**train)
        if "strategies" in fields:
            specs = fields["strategies"]
            specs = [specs] if isinstance(specs, (str, dict)) else list(specs)
            fields["strategies"] = tuple(
                spec_from_table(s) if isinstance(s, dict) else s for s in specs
            )
        for k in ("rare_classes", "seeds", "query"):
            if isinstance(fields.get(k), list):
                fields[k] = tuple(fields[k])
        return cls(**fields)

    def data_key(self) -> dict:
        """The fields that must match for results to be resumed or combined: all but
        :data:`RECORDED_FIELDS`, with the model's name resolved."""
        d = self.to_dict()
        for k in RECORDED_FIELDS:
            d.pop(k)
        d["model"] = self.model_name
        return d


#: Fields ``config.json`` records that are not part of the experiment's identity: a re-run
#: may add strategies or seeds to a folder, or move to another device.
RECORDED_FIELDS = ("strategies", "seeds", "device")


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
    return learner.fit(*pool.training_set(), seed=member_seed)


@dataclass
class Plan:
    """What :func:`preflight` checked and prepared: the query schedule, the strategies by
    spec, and the dataset."""

    schedule: list[int]
    strategies: dict[str, Strategy]
    dataset: object


def seed_splits(config: ExperimentConfig, dataset, seed: int) -> DataSplits:
    """The pool / validation / test splits of ``seed`` that :func:`run_experiment` uses (before
    any frozen-feature encoding)."""
    return build_splits(
        dataset,
        seed=seed,
        val_per_class=config.val_per_class,
        imbalance=config.imbalance,
        rare_classes=config.rare_classes,
        imbalance_per_class=config.imbalance_per_class,
        long_tail_factor=config.long_tail,
        pool_size=config.pool_size,
        test_size=config.test_size,
    )


def _check_budget(config: ExperimentConfig, schedule: list[int], splits: DataSplits) -> None:
    budget = config.initial + sum(schedule)
    if budget > len(splits.y_pool):
        raise AlkitError(
            f"initial + the query schedule need {budget} labels but the pool holds "
            f"{len(splits.y_pool)} samples; lower --initial, --query or --rounds"
        )


def preflight(config: ExperimentConfig, out: str | os.PathLike | None = None) -> Plan:
    """Check everything that can be checked before a model trains, and write nothing.

    Builds every strategy (its options are checked), loads the dataset, checks the classes,
    the budget against the pool, the model and its options, the device, every strategy's needs
    (:meth:`~alkit.strategies.Strategy.preflight`: a validation set, dropout, a critic, …), a
    cold start's need for pretraining, and the output folder (:func:`check_run_folder`).
    Raises :class:`AlkitError` with one line on the first problem.
    """
    schedule = config.schedule()
    strategies = {spec: get_strategy(spec) for spec in config.strategies}
    if config.model_name not in MODELS:
        raise unknown_name("model", config.model_name, MODELS)
    device = resolve_device(config.device)
    dataset = load_dataset(config.dataset)
    if config.rare_classes is not None:
        bad = [c for c in config.rare_classes if c >= dataset.n_classes]
        if bad:
            raise AlkitError(
                f"rare_classes (--rare-classes) {bad} are not classes of {config.dataset} "
                f"(0 … {dataset.n_classes - 1})"
            )
    splits = seed_splits(config, dataset, config.seeds[0])
    _check_budget(config, schedule, splits)
    with torch.random.fork_rng(devices=[]):
        try:
            model = build_model(
                config.model_name, splits.X_pool.shape[1:], splits.n_classes,
                **config.model_options,
            )  # fmt: skip
        except TypeError as exc:
            raise AlkitError(
                f"model_options {config.model_options} do not fit model "
                f"{config.model_name!r}: {exc}"
            ) from None
    artifacts = check_experiment_artifacts(
        config, strategies.values(), splits.X_pool.shape[1:], splits.n_classes
    )
    setup = Setup(
        model=model,
        has_validation=len(splits.y_val) > 0,
        train=config.train,
        cold_start=config.cold_start,
        pretrain=config.pretrain,
        device=device,
        artifacts=frozenset(artifacts),
        features=config.features,
        n_pool=len(splits.y_pool),
    )
    for spec, strategy in strategies.items():
        strategy.preflight(setup)
        uses_model = "learner" in strategy.requirements() and strategy.cold_start_uses_model
        cold = config.cold_start and getattr(strategy, "cold_start", False)
        if cold and uses_model and not config.pretrain:
            raise AlkitError(
                f"--cold-start without --pretrain: {spec} would choose the initial set with "
                "an untrained network; add --pretrain rotation (seed 000's protocol), give it "
                "features=input where it has that option, or drop --cold-start"
            )
    if out is not None:
        check_run_folder(out, config.data_key(), RECORDED_FIELDS)
    return Plan(schedule, strategies, dataset)


def run_experiment(
    config: ExperimentConfig,
    out: str | os.PathLike | None = None,
    progress: bool | None = None,
    on_round: Callable[[RoundState], None] | None = None,
) -> pd.DataFrame:
    """Run (or resume) an experiment; return all its rows as a DataFrame.

    :func:`preflight` runs first, so a bad experiment fails before any work and writes
    nothing. With ``out``, the folder is locked for this process, rows go to
    ``out/results.csv`` as each round ends and the latest model of each (strategy, seed) is
    checkpointed, so calling again with the same config resumes (DESIGN.md, "Run folders are
    data"). ``on_round(state)`` is called after every round this call runs (rounds resumed
    from the folder are not replayed: read them with :func:`alkit.results.read_results`).
    ``progress``: True draws progress bars, False is silent, None draws them when a person
    watches (a terminal or a notebook) and otherwise prints one line per finished run.
    """
    plan = preflight(config, out)
    bars = progress_enabled(progress)
    lines = not bars and progress is not False and os.environ.get("ALKIT_PROGRESS") != "0"
    with RunStore(out, config.data_key(), config.to_dict()) as store:
        for seed in config.seeds:
            splits = seed_splits(config, plan.dataset, seed)
            _check_budget(config, plan.schedule, splits)
            n_rounds = len(plan.schedule) + 1
            pending = [s for s in plan.strategies if len(store.previous(s, seed)) < n_rounds]
            if not pending:
                continue
            artifacts = build_experiment_artifacts(
                config, splits, seed, plan.strategies.values(), progress=bars
            )
            if config.features is not None:
                splits = frozen_splits(splits, artifacts[config.features], config.device)
            for spec, strategy in plan.strategies.items():
                t0 = time.perf_counter()
                ran = _run_one(
                    config, spec, strategy, seed, splits, plan.schedule, store, bars,
                    on_round, artifacts,
                )  # fmt: skip
                if ran and lines:
                    last = store.previous(spec, seed)[-1]
                    print(
                        f"alkit: {spec} seed {seed}: {n_rounds} rounds, {last['n_labeled']} "
                        f"labels, accuracy {last['accuracy']:.4f} "
                        f"({time.perf_counter() - t0:.1f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
    return pd.DataFrame(store.rows, columns=list(COLUMNS))


def _build_seed_model(config: ExperimentConfig, splits: DataSplits, seed: int):
    seed_everything(seed)
    return build_model(
        config.model_name, splits.X_pool.shape[1:], splits.n_classes, **config.model_options
    )


def _context(config, pool, learner, splits, seed: int, rnd: int, artifacts) -> QueryContext:
    """The query context of round ``rnd``: its own seeded generator, the validation set when the
    experiment has one, a trainer for deep-ensemble members and the seed's artifacts."""
    return QueryContext(
        pool,
        learner,
        rng=np.random.default_rng([seed, rnd]),
        X_val=splits.X_val if len(splits.y_val) else None,
        y_val=splits.y_val if len(splits.y_val) else None,
        round=rnd,
        train_fn=functools.partial(train_member, config, splits, pool, seed, rnd),
        artifacts=artifacts,
    )


def _initial_query(config, strategy, pool, learner, splits, seed, artifacts) -> Query | None:
    """Round 0: the strategy's own cold-start pick when asked for and supported, else None."""
    if not (config.cold_start and getattr(strategy, "cold_start", False)):
        pool.label(initial_indices(config, splits.y_pool, seed))
        return None
    ctx = _context(config, pool, learner, splits, seed, 0, artifacts)
    query = strategy.query(ctx, config.initial)
    pool.label(query.indices)
    return query


def _fit(learner: Learner, pool: Pool, config: ExperimentConfig, seed: int, rnd: int) -> None:
    """Fit round ``rnd``'s model on the labelled set and any synthetic examples."""
    learner.fit(*pool.training_set(), seed=_fit_seed(seed, rnd), **_unlabeled_kwargs(config, pool))


def _mean_entropy(ctx: QueryContext, picks: np.ndarray) -> float:
    """The mean predictive entropy of ``picks`` under the model that chose them
    (:func:`alkit.metrics.pick_entropy`, recorded for every strategy); NaN without a model."""
    if ctx.learner is None:
        return float("nan")
    return metrics.pick_entropy(ctx.predict_proba(picks))


def _run_one(
    config, spec, strategy: Strategy, seed, splits, schedule, store, show, on_round, artifacts
):
    """Run the rounds of one strategy × seed not in ``store`` yet; False when all were."""
    previous = store.previous(spec, seed)
    if len(previous) == len(schedule) + 1:
        return False
    pool = Pool(splits.X_pool, splits.y_pool)
    model = _build_seed_model(config, splits, seed)
    if config.pretrain is not None:  # every layer but the last (seed 000), from the artifact
        model.load_state_dict(artifacts[config.pretrain].state["model"])
    learner = Learner(model, config.train, device=config.device, seed=seed, progress=False)
    initial_query, initial_s, start = None, 0.0, 0
    if not previous:
        t0 = time.perf_counter()
        initial_query = _initial_query(config, strategy, pool, learner, splits, seed, artifacts)
        initial_s = time.perf_counter() - t0 if initial_query is not None else 0.0
    else:  # every row records its labels; round 0's are the initial set, whoever chose it
        for row in previous:
            pool.label(row["selected"])
        last = previous[-1]["round"]
        X_S, source_S = store.load_synthetic(spec, seed, last)
        expected = previous[-1]["n_train"] - previous[-1]["n_labeled"]
        if len(source_S) != expected:
            raise AlkitError(
                f"cannot resume {spec} seed {seed}: its rows record {expected} synthetic "
                f"training examples but {len(source_S)} are on disk (synthetic/); they cannot "
                "be re-derived without the old model: restore the folder or use another --out"
            )
        if expected:
            pool.add_synthetic(X_S, source_S)
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
            _fit(learner, pool, config, seed, last)
        start = last + 1
    bar = tqdm(
        range(start, len(schedule) + 1),
        desc=f"{spec} seed {seed}",
        leave=False,
        disable=not show,
    )
    for rnd in bar:
        query, select_s = (initial_query, initial_s) if rnd == 0 else (None, 0.0)
        pick_entropy = float("nan")
        if rnd > 0:
            ctx = _context(config, pool, learner, splits, seed, rnd, artifacts)
            t0 = time.perf_counter()
            query = strategy.query(ctx, schedule[rnd - 1])
            select_s = time.perf_counter() - t0
            pick_entropy = _mean_entropy(ctx, query.indices)
            pool.label(query.indices)
            if "synthetic_X" in query.info:  # DFAL's adversarial copies (DESIGN.md)
                pool.add_synthetic(query.info["synthetic_X"], query.info["synthetic_source"])
                store.save_synthetic(spec, seed, rnd, pool)
        t0 = time.perf_counter()
        _fit(learner, pool, config, seed, rnd)
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
            "n_train": int(pool.labeled_mask.sum()) + pool.n_synthetic,
            "accuracy": metrics.accuracy(splits.y_test, y_pred),
            "per_class_accuracy": metrics.per_class_accuracy(
                splits.y_test, y_pred, n_classes
            ).tolist(),
            "confusion": metrics.confusion_matrix(splits.y_test, y_pred, n_classes).tolist(),
            "class_counts": np.bincount(pool.labeled_y, minlength=n_classes).tolist(),
            "select_seconds": round(select_s, 4),
            "train_seconds": round(train_s, 4),
            "selected": (pool.labeled_idx if rnd == 0 or query is None else query.indices).tolist(),
            "pick_entropy": pick_entropy,
        }
        store.save(row, learner)
        if on_round is not None:
            on_round(RoundState(spec, seed, rnd, pool, learner, splits, query, row))
    return True
