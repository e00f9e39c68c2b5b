"""Wasserstein prototypes as a pure-diversity query (Ducoffe's thesis, ch. 9, §9.4, eq. 9.1)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from alkit.kernels.ot import OT_PRESETS, SOLVERS
from alkit.kernels.prototypes import TARGET_SUMMARIES, greedy_wasserstein_prototypes
from alkit.strategies.base import Query, QueryContext, Strategy, candidate_scores, register
from alkit.strategies.options import MAX_CANDIDATES, Option

SPACES = ("embedding", "input", "dwe")
PRESETS = tuple(OT_PRESETS["sinkhorn"])


@register
class WassersteinPrototypes(Strategy):
    """Greedy Wasserstein prototypes (thesis eq. 9.1): add, ``n`` times, the candidate that
    brings the uniform measure on ``labelled ∪ picks`` closest in ``W_p`` to the pool.

    ``S₀`` = the labelled set (at most ``max_start`` of its rows, a seeded subsample), the
    target ``U`` = the whole pool (summarised to ``max_target`` points by ``target_summary``),
    the candidates = a seeded subsample of ``max_candidates`` unlabelled rows; all in the
    model's penultimate embedding (``space="embedding"``), the flattened inputs
    (``space="input"``) or the Deep Wasserstein Embedding of the images (``space="dwe"``, the
    ``dwe`` artifact, ch. 8: with ``p=2`` the ground cost is the DWE's estimate of the images'
    ``W₂²``, a Wasserstein distance between measures of images). Exact EMD by default (seed001 spec §5.3: exact and the fastest on a CPU
    at these sizes); ``solver="sinkhorn"|"ipot"`` with ``preset="thesis"|"converged"``.

    Scores: ``−W_p(S₀ ∪ {x}, U)`` of every scored candidate at the first greedy step (higher =
    brings the labelled set closer to the pool); NaN for candidates outside the subsample.
    ``info["w_curve"]`` holds ``W_p(S_j, U)`` after each pick.
    """

    name = "wproto"
    paper = "Ducoffe 2018 (PhD thesis), ch. 9"
    deterministic = False
    needs: ClassVar[frozenset[str]] = frozenset({"learner"})

    option_specs = {
        "solver": Option(str, choices=SOLVERS, doc="exact EMD, or batched Sinkhorn / IPOT"),
        "preset": Option(str, choices=PRESETS, doc="Sinkhorn/IPOT settings (ignored by EMD)"),
        "max_candidates": MAX_CANDIDATES,
        "max_target": Option(int, min=1, none=True, doc="summarise the pool to this many points"),
        "target_summary": Option(str, choices=TARGET_SUMMARIES, doc="subsample or k-means"),
        "max_start": Option(int, min=1, none=True, doc="subsample the labelled set S₀"),
        "p": Option(float, min=1e-9, doc="ground cost ‖x − u‖^p"),
        "space": Option(
            str, choices=SPACES, doc="model embedding, flattened inputs or the dwe artifact"
        ),
        "workers": Option(int, min=1, doc="EMD threads"),
    }

    def __init__(
        self,
        solver: str = "emd",
        preset: str = "thesis",
        max_candidates: int | None = 256,
        max_target: int | None = 500,
        target_summary: str = "subsample",
        max_start: int | None = 200,
        p: float = 2.0,
        space: str = "embedding",
        workers: int = 1,
    ):
        self.solver, self.preset, self.space, self.p = solver, preset, space, float(p)
        self.max_candidates, self.max_target, self.max_start = max_candidates, max_target, max_start
        self.target_summary = target_summary
        self.workers = workers

    def requirements(self) -> frozenset[str]:
        """A model for ``space="embedding"``, the ``dwe`` artifact for ``space="dwe"``."""
        return {
            "embedding": frozenset(self.needs),
            "input": frozenset(),
            "dwe": frozenset({"artifact:dwe"}),
        }[self.space]

    def _features(self, ctx: QueryContext, idx: np.ndarray) -> np.ndarray:
        if self.space == "embedding":
            return ctx.embed(idx)
        if self.space == "dwe":
            return ctx.artifact("dwe").features[idx]
        return np.asarray(ctx.pool.X[idx], dtype=np.float32).reshape(len(idx), -1)

    def select(self, ctx: QueryContext, n: int) -> Query:
        candidates = ctx.unlabeled_idx
        scored = ctx.subsample(candidates, self.max_candidates, n)
        start = ctx.labeled_idx
        if self.max_start is not None and len(start) > self.max_start:
            start = np.sort(ctx.rng.choice(start, size=self.max_start, replace=False))
        picks, curve, first = greedy_wasserstein_prototypes(
            self._features(ctx, scored),
            self._features(ctx, np.arange(len(ctx.pool))),
            n,
            self._features(ctx, start) if len(start) else None,
            self.solver,
            p=self.p,
            preset=self.preset,
            max_target=self.max_target,
            target_summary=self.target_summary,
            seed=int(ctx.rng.integers(2**31)),
            workers=self.workers,
            return_first_step=True,
        )
        scores = candidate_scores(candidates, scored, -first)
        return Query(scored[picks], candidates, scores, info={"w_curve": curve})
