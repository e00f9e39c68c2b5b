"""The strategy contract (DESIGN.md): ``query(ctx, n) -> Query``, plus the name registry.

A strategy turns a :class:`QueryContext` into scores and a batch. It never trains, loads data
or plots. Scores follow one convention everywhere: **higher means more wanted**.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from alkit.data.pool import Pool
from alkit.errors import AlkitError, check_finite, check_positive_int, unknown_name
from alkit.strategies.options import Option, parse_spec, parse_value

#: the words a strategy's :attr:`Strategy.needs` may hold (plus ``"artifact:<name>"``)
NEEDS = ("learner", "validation", "dropout", "critic", "features")


@dataclass
class Query:
    """The result of one query.

    Attributes:
        indices: ``n`` distinct unlabelled pool indices, in the order they were chosen.
        candidates: the pool indices the strategy could choose from (the unlabelled pool at
            query time), ``M``.
        scores: the acquisition score of each candidate, ``M`` float64, higher = more wanted;
            NaN for candidates the strategy did not score.
        info: optional extras a notebook may plot (e.g. per-metric scores, cluster ids).
    """

    indices: np.ndarray
    candidates: np.ndarray
    scores: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


class QueryContext:
    """Everything a strategy may look at, with model outputs computed lazily and cached.

    Args:
        pool: the :class:`~alkit.data.pool.Pool` (labelled mask and revealed labels).
        learner: the trained :class:`~alkit.train.Learner` (``None`` for model-free strategies).
        rng: the seeded generator every random choice must come from.
        X_val, y_val: a labelled validation set, for methods that use one (seed 000).
        round: the AL round being queried (1 for the first query after the initial set).
        train_fn: optional ``train_fn(member) -> Learner`` that builds and fits a fresh model
            (the experiment's model and TrainConfig, initialised from a seed derived from
            ``member``) on the labelled set; :meth:`ensemble` uses it for deep ensembles.
        artifacts: ``name → Artifact`` built from the unlabelled pool for this seed
            (:mod:`alkit.artifacts`): those the strategy declared as ``"artifact:<name>"`` in
            its ``needs``, and the experiment's own (``pretrain``, ``features``).
    """

    def __init__(
        self,
        pool: Pool,
        learner=None,
        rng=None,
        X_val=None,
        y_val=None,
        round: int = 0,
        train_fn=None,
        artifacts=None,
    ):
        self.pool = pool
        self.artifacts = dict(artifacts or {})
        self.learner = learner
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.X_val = X_val
        self.y_val = y_val
        self.round = round
        self.train_fn = train_fn
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._members: list = []

    @property
    def labeled_idx(self) -> np.ndarray:
        return self.pool.labeled_idx

    @property
    def unlabeled_idx(self) -> np.ndarray:
        return self.pool.unlabeled_idx

    @property
    def labeled_y(self) -> np.ndarray:
        return self.pool.labeled_y

    @property
    def gmm_state(self):
        """Seed 003's ψ_L, ψ_UL and critic left by the trainer (``learner.gmm_state``), or None."""
        return getattr(self.learner, "gmm_state", None)

    def artifact(self, name: str):
        """The artifact ``name`` of this seed; a clear error when the experiment built none."""
        if name not in self.artifacts:
            raise AlkitError(
                f"this context holds no artifact {name!r} (it has {sorted(self.artifacts)}); "
                f"declare needs = {{'artifact:{name}'}} on the strategy so the loop builds it"
            )
        return self.artifacts[name]

    def require_learner(self, who: str):
        if self.learner is None:
            raise AlkitError(f"strategy {who!r} needs a trained model, but the context has none")
        return self.learner

    def _cached(self, key: str, fn, idx) -> np.ndarray:
        """Rows ``idx`` of a per-pool array, computing only the rows not cached yet.

        An empty ``idx`` gives a ``0 × ...`` array of the right trailing shape (the first pool
        row is computed once to learn it when nothing is cached yet).
        """
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        if key in self._cache:
            values, done = self._cache[key]
        else:
            values, done = None, np.zeros(len(self.pool), dtype=bool)
        if idx.size == 0 and values is None:
            if len(self.pool) == 0:
                return np.zeros((0,))
            return self._cached(key, fn, np.zeros(1, dtype=np.int64))[:0]
        missing = np.unique(idx[~done[idx]])
        if missing.size:
            computed = fn(self.pool.X[missing])
            check_finite(f"model output {key!r}", computed)
            if values is None:
                values = np.zeros((len(self.pool), *computed.shape[1:]), dtype=computed.dtype)
            values[missing] = computed
            done[missing] = True
            self._cache[key] = (values, done)
        return values[idx]

    def predict_proba(self, idx) -> np.ndarray:
        """Class probabilities of pool rows ``idx``: ``len(idx) × C`` (cached)."""
        return self._cached("proba", self.require_learner("predict_proba").predict_proba, idx)

    def embed(self, idx) -> np.ndarray:
        """Penultimate embeddings of pool rows ``idx``: ``len(idx) × D`` (cached)."""
        return self._cached("embed", self.require_learner("embed").embed, idx)

    def ensemble(self, n_members: int) -> list:
        """``n_members`` learners for deep ensembles (Beluch et al. 2018): member 0 is
        :attr:`learner`, members 1… are trained by :attr:`train_fn` (cached across calls)."""
        n_members = check_positive_int("n_members", n_members)
        members = [self.require_learner("ensemble")]
        if n_members > 1 and self.train_fn is None:
            raise AlkitError(
                f"a deep ensemble of {n_members} members needs a context with train_fn "
                "(run_experiment sets it); use n_members=1 for MC dropout on the trained model"
            )
        while len(self._members) < n_members - 1:
            self._members.append(self.train_fn(len(self._members) + 1))
        return members + self._members[: n_members - 1]

    def subsample(
        self, candidates: np.ndarray, max_candidates: int | None, n: int = 0
    ) -> np.ndarray:
        """A sorted random subset of ``candidates`` of size ``max_candidates``; all of them when
        ``max_candidates`` is None, covers them all, or is smaller than the batch size ``n``."""
        if max_candidates is None or max_candidates >= len(candidates) or max_candidates < n:
            return candidates
        return np.sort(self.rng.choice(candidates, size=max_candidates, replace=False))


def candidate_scores(candidates_M: np.ndarray, scored_S: np.ndarray, values_S) -> np.ndarray:
    """Scores aligned with ``candidates_M`` (sorted): ``values_S`` at the scored subset
    ``scored_S`` (sorted, a subset of the candidates), NaN elsewhere; ``M`` float64."""
    scores = np.full(len(candidates_M), np.nan)
    scores[np.searchsorted(candidates_M, scored_S)] = values_S
    return scores


def top_n(scores_M: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` highest scores, best first; NaN ranks last, ties by position."""
    key = np.where(np.isnan(scores_M), -np.inf, scores_M)
    return np.argsort(-key, kind="stable")[:n]


#: the command-line flag (and TOML field) that supplies each need; every preflight message
#: names it so the user can fix the command
FLAGS = {
    "learner": "--model",
    "validation": "--val-per-class N (TOML: val_per_class)",
    "dropout": "a model with dropout > 0 (--model, or --model-option dropout=0.25)",
    "critic": "--gmm-align-steps N (TOML: gmm_align_steps; the paper uses 10000)",
    "features": "--features NAME (TOML: features)",
}


@dataclass(frozen=True)
class Setup:
    """What an experiment will provide, known before any training (the preflight's input).

    The loop builds it once per experiment; :meth:`Strategy.preflight` refuses a strategy the
    experiment cannot satisfy, before the first model trains.

    Attributes:
        model: the experiment's :class:`~alkit.models.TappedModel`, built but untrained, or
            ``None`` for a model-free experiment.
        has_validation: whether a labelled validation set exists (``val_per_class > 0``).
        train: the :class:`~alkit.train.TrainConfig` of every fit.
        cold_start: round 0 is chosen by the strategy itself (no labels yet).
        pretrain: the self-supervised pretraining recipe (e.g. ``"rotation"``) or ``None``.
        device: the ``torch.device`` the learner runs on.
        artifacts: names of the artifacts the experiment builds (empty today).
        features: the name of the frozen-feature artifact the model reads, or ``None``.
        n_pool: the size of the pool (for strategies whose memory grows with it), if known.
    """

    model: Any
    has_validation: bool
    train: Any
    cold_start: bool
    pretrain: str | None
    device: Any
    artifacts: frozenset[str] = frozenset()
    features: str | None = None
    n_pool: int | None = None


def check_needs(strategy: Strategy, needs, setup: Setup) -> None:
    """Raise one :class:`AlkitError` line, naming the flag to fix, for the first word of
    ``needs`` (see :data:`NEEDS`) that ``setup`` cannot satisfy."""
    who = f"strategy {strategy.name!r}"
    model = setup.model
    for word in sorted(needs):
        if word == "learner" and model is None:
            raise AlkitError(f"{who} needs a model, but the experiment has none; set {FLAGS[word]}")
        if word == "validation" and not setup.has_validation:
            raise AlkitError(
                f"{who} needs a labelled validation set, but the experiment has none; "
                f"set {FLAGS[word]} with N ≥ 1"
            )
        if word == "dropout" and (model is None or not model.has_dropout()):
            kind = "no model" if model is None else f"model {type(model).__name__}"
            raise AlkitError(
                f"{who} uses MC dropout, but {kind} has no dropout layer with p > 0 (its passes "
                f"would all be equal); use {FLAGS[word]} or a deep ensemble "
                f"({strategy.name}:n_members=5)"
            )
        if word == "critic" and int(getattr(setup.train, "gmm_align_steps", 0) or 0) <= 0:
            raise AlkitError(
                f"{who} needs the critic of the GMM alignment stage, but gmm_align_steps is 0; "
                f"set {FLAGS[word]}"
            )
        if word == "features" and setup.features is None:
            raise AlkitError(
                f"{who} needs frozen features, but the experiment has none; set {FLAGS[word]}"
            )
        if word.startswith("artifact:") and word.split(":", 1)[1] not in setup.artifacts:
            name = word.split(":", 1)[1]
            have = ", ".join(sorted(setup.artifacts)) or "none"
            raise AlkitError(
                f"{who} needs the artifact {name!r}, but the experiment builds {have}; "
                "add it to the experiment's artifacts"
            )


class Strategy(ABC):
    """Base class of every strategy.

    Subclasses set :attr:`name` and :attr:`paper`, take their options as keyword arguments in
    ``__init__`` (its signature documents them), declare each option's type and range once in
    :attr:`option_specs` (checked here at construction, whichever way the strategy is built),
    declare what they need from the experiment in :attr:`needs` (checked by :meth:`preflight`
    before any training) and implement :meth:`select`. :meth:`query` checks the request and the
    result, so every strategy rejects bad input the same way.
    """

    name: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    #: False when the picks depend on ``ctx.rng`` (so another seed gives another batch).
    deterministic: ClassVar[bool] = True
    #: what the strategy needs from the experiment: words of :data:`NEEDS` or
    #: ``"artifact:<name>"``; :meth:`requirements` may drop some for the chosen options.
    needs: ClassVar[frozenset[str]] = frozenset()
    #: each ``__init__`` keyword's :class:`~alkit.strategies.options.Option` (merged along the
    #: class hierarchy, so a subclass declares only what it adds or changes).
    option_specs: ClassVar[dict[str, Option]] = {}

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        specs = cls.all_option_specs()
        try:
            bound = inspect.signature(cls.__init__).bind(self, *args, **kwargs)
        except TypeError:
            bad = sorted(set(kwargs) - set(cls.option_names()))
            raise AlkitError(
                f"unknown option(s) {bad or list(args)} for strategy {cls.name!r}; "
                f"valid options: {cls.option_names() or 'none'}"
            ) from None
        bound.apply_defaults()
        for key, value in bound.arguments.items():
            if key in specs:
                specs[key].check(cls.name, key, value)
        return self

    @classmethod
    def all_option_specs(cls) -> dict[str, Option]:
        """The declared options of this class and its bases (a subclass's declaration wins)."""
        out: dict[str, Option] = {}
        for klass in reversed(cls.__mro__):
            out.update(klass.__dict__.get("option_specs", {}))
        return out

    @classmethod
    def option_names(cls) -> list[str]:
        """The keyword options ``__init__`` accepts, in signature order (``[]`` for none)."""
        params = inspect.signature(cls.__init__).parameters.values()
        return [
            p.name
            for p in params
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def requirements(self) -> frozenset[str]:
        """What this instance needs: :attr:`needs`, less what its options make unnecessary."""
        return frozenset(self.needs)

    def preflight(self, setup: Setup) -> None:
        """Raise :class:`AlkitError` (one line naming the flag to fix) when the experiment
        described by ``setup`` cannot run this strategy; called before any training.

        The default checks :meth:`requirements`; subclasses extend it (taps, backends).
        """
        check_needs(self, self.requirements(), setup)

    def query(self, ctx: QueryContext, n: int) -> Query:
        """Choose ``n`` unlabelled pool indices; see :class:`Query`."""
        n = check_positive_int("n", n)
        unlabeled = ctx.unlabeled_idx
        if unlabeled.size == 0:
            raise AlkitError("the unlabelled pool is empty: every sample is already labelled")
        if n > unlabeled.size:
            raise AlkitError(
                f"n={n} is larger than the unlabelled pool ({unlabeled.size} samples); "
                f"ask for at most {unlabeled.size}"
            )
        result = self.select(ctx, n)
        idx = ctx.pool.check_unlabeled(result.indices)
        if len(idx) != n:
            raise AssertionError(f"{self.name} returned {len(idx)} indices instead of {n}")
        if len(result.scores) != len(result.candidates):
            raise AssertionError(f"{self.name} returned scores that do not match its candidates")
        return result

    @abstractmethod
    def select(self, ctx: QueryContext, n: int) -> Query:
        """Score the candidates and choose ``n`` of them (the strategy's own work)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: add a strategy to the registry under ``cls.name``."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"strategy name {cls.name!r} is empty or already registered")
    bad = [w for w in cls.needs if w not in NEEDS and not w.startswith("artifact:")]
    if bad:
        raise ValueError(f"strategy {cls.name!r} declares unknown needs {bad}; use {NEEDS}")
    _REGISTRY[cls.name] = cls
    return cls


def strategy_names() -> list[str]:
    """The registered strategy names, sorted."""
    return sorted(_REGISTRY)


def strategy_class(name: str) -> type[Strategy]:
    if name not in _REGISTRY:
        raise unknown_name("strategy", name, _REGISTRY)
    return _REGISTRY[name]


def _spec_value(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_spec_value(v) for v in value) + "]"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def spec_from_table(table: dict) -> str:
    """A TOML/JSON strategy table ``{"name": "pfk", "taps": ["x1", "x2"], "top_k": 16}`` as the
    spec string ``"pfk:taps=[x1,x2]:top_k=16"`` that :func:`get_strategy` reads."""
    table = dict(table)
    name = table.pop("name", None)
    if not isinstance(name, str) or not name:
        raise AlkitError(f"a strategy table needs a 'name' entry, got {table!r}")
    return ":".join([name, *(f"{k}={_spec_value(v)}" for k, v in table.items())])


def get_strategy(spec: str, **options) -> Strategy:
    """Build a strategy from ``"name"`` or ``"name:key=value:key=[a,b]"`` plus keyword options.

    Spec values are read with each option's declared type (see
    :mod:`alkit.strategies.options` for the syntax); keyword ``options`` (from Python or a TOML
    table) are taken as they are and override the spec's. Unknown names and unknown options
    raise an error that lists the valid ones; a bad value raises one naming what is allowed.
    """
    name, pairs = parse_spec(spec)
    cls = strategy_class(name)
    specs = cls.all_option_specs()
    allowed = cls.option_names()
    parsed = {}
    for key, text in pairs:
        if key not in allowed:
            continue
        parsed[key] = specs[key].parse(name, key, text) if key in specs else parse_value(text)
    given = [k for k, _ in pairs] + list(options)
    bad = sorted(set(given) - set(allowed))
    if bad:
        raise AlkitError(
            f"unknown option(s) {bad} for strategy {name!r}; valid options: {allowed or 'none'}"
        )
    return cls(**{**parsed, **options})
