"""DeepFool Active Learning, ``dfal`` (Ducoffe & Precioso 2018; thesis ch. 4, Method 4.2.1).

Query the unlabelled samples closest to the decision boundary, the distance being approximated
by the norm of their DeepFool adversarial perturbation (:mod:`alkit.kernels.deepfool`), smallest
first. DFAL also trains on the adversarial copies of the picks with their source's oracle label
("one label amounts to two examples", §4.2): the strategy returns them in
``Query.info["synthetic_X"]`` with their sources in ``Query.info["synthetic_source"]``; the loop
adds them to the pool with :meth:`~alkit.data.pool.Pool.add_synthetic` after labelling the picks
(the oracle never counts them). ``add_adversarial=False`` is the thesis's ``DFAL_`` ablation
(Fig. 4.3–4.4; ``aaq`` vs ``saaq`` in the code): the same picks, no copies.

Scores (higher = more wanted): ``−‖r‖`` for candidates whose label flipped; a candidate that
never flipped within ``max_iter`` steps (the code's ``+inf`` norm) gets ``min(finite scores) − 1``,
so it ranks last and stays finite. Only picks whose label flipped get an adversarial copy.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from alkit.kernels.deepfool import NORMS, deepfool
from alkit.strategies.base import Query, QueryContext, Strategy, candidate_scores, register, top_n
from alkit.strategies.options import MAX_CANDIDATES, Option


def perturbation_scores(norm_M: np.ndarray) -> np.ndarray:
    """``−norm`` where finite; ``min(finite) − 1`` where infinite (never flipped); ``M``."""
    norm = np.asarray(norm_M, dtype=np.float64)
    finite = np.isfinite(norm)
    scores = -norm
    floor = scores[finite].min() - 1.0 if finite.any() else -1.0
    return np.where(finite, scores, floor)


@register
class DFAL(Strategy):
    """DeepFool Active Learning: smallest adversarial perturbation first (thesis ch. 4).

    Options: ``max_candidates`` (code: a random subset of 300; None: the whole unlabelled pool),
    ``max_iter`` (10), ``overshoot`` η (0.02, DeepFool's published value; the authors' code uses
    0, where an iterate lands on the linearised boundary and whether it "flips" depends on
    rounding), ``norm`` ``"l2"`` (default) or ``"linf"`` (the code's ``generate_sample`` default),
    ``add_adversarial`` (False: ``DFAL_``), ``block_rows`` (DeepFool chunk size).

    ``info``: ``scored`` (pool indices), ``norm``, ``flipped``, ``target``, ``iters`` (per scored
    candidate) and, with ``add_adversarial``, ``synthetic_X`` (``S × ...`` float32 adversarial
    inputs of the flipped picks, unclipped) and ``synthetic_source`` (their pool indices).
    """

    name = "dfal"
    paper = "Ducoffe & Precioso 2018; Ducoffe PhD thesis ch. 4 (seed 001)"
    deterministic = False
    needs: ClassVar[frozenset[str]] = frozenset({"learner"})

    option_specs = {
        "max_candidates": MAX_CANDIDATES,
        "max_iter": Option(int, min=1, doc="DeepFool iterations at most"),
        "overshoot": Option(float, min=0.0, doc="0.02 as DeepFool; the thesis code uses 0"),
        "norm": Option(str, choices=NORMS, doc="l2 or linf perturbations"),
        "add_adversarial": Option(bool, doc="train on the picks' adversarial copies (DFAL)"),
        "block_rows": Option(int, min=1, none=True, doc="rows per DeepFool block"),
    }

    def __init__(
        self,
        max_candidates: int | None = 300,
        max_iter: int = 10,
        overshoot: float = 0.02,
        norm: str = "l2",
        add_adversarial: bool = True,
        block_rows: int | None = None,
    ):
        self.max_candidates = max_candidates
        self.max_iter = max_iter
        self.overshoot = float(overshoot)
        self.norm = norm
        self.add_adversarial = add_adversarial
        self.block_rows = block_rows

    def select(self, ctx: QueryContext, n: int) -> Query:
        learner = ctx.require_learner(self.name)
        candidates = ctx.unlabeled_idx
        scored = ctx.subsample(candidates, self.max_candidates, n)
        result = deepfool(
            learner.model,
            ctx.pool.X[scored],
            max_iter=self.max_iter,
            overshoot=self.overshoot,
            norm=self.norm,
            block_rows=self.block_rows,
            progress=learner.progress,
        )
        scores = candidate_scores(candidates, scored, perturbation_scores(result.norm_B))
        picks = candidates[top_n(scores, n)]
        info = {
            "scored": scored,
            "norm": result.norm_B,
            "flipped": result.flipped_B,
            "target": result.target_B,
            "iters": result.iters_B,
        }
        if self.add_adversarial:
            rows = np.searchsorted(scored, picks)
            rows = rows[result.flipped_B[rows]]
            info["synthetic_X"] = result.x_adv_B[rows].numpy()
            info["synthetic_source"] = scored[rows]
        return Query(picks, candidates, scores, info=info)
