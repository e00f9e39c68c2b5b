"""BalNet, ``balnet``: Bayesian batch AL with the KFAC Fisher trace (Ducoffe thesis ch. 5).

Method 5.1.1: query the batch ``B`` that maximises ``Tr(I_{A∪B} I_A⁻¹)`` (eq. 5.11), with the
Fisher information in KFAC form so that the criterion separates into per-layer products of
traces (eq. 5.20) and becomes the set function of A.3.2, maximised greedily. Kernels:
:mod:`alkit.kernels.kfac`.

* labelled side: true labels, dropout off (the authors' code);
* candidates: argmax pseudo-labels of the trained model (``fisher="empirical"``, the code) or the
  expected Fisher under the predictive distribution (``fisher="expected"``);
* damping: relative ``λ·tr(Ψ)/d`` (default 1e-3); ``damping=1e-10, relative_damping=False`` is
  the code's inverse of ``Ψ + 1e-10 I``;
* ``objective``: ``"max"`` (eq. 5.11 / A.3.2, default), ``"code_min"`` (the newer Keras code's
  argmin with the ``α_l (φ + t)`` term) or ``"code_covering"`` (the older Theano code).

Wasserstein post-step (eq. 5.15, §9.4), ``wasserstein=M > 0``: the greedy pre-selects
``n·M`` candidates, then greedy Wasserstein prototypes
(:func:`~alkit.kernels.prototypes.greedy_wasserstein_prototypes`, exact EMD) keep the ``n`` of
them that bring ``A ∪ B̃`` closest in ``W₂`` to the pool, from ``S₀ = A``; the space is the
model's embedding (``w_space="embedding"``; the thesis only says "Euclidean") or the inputs.

Scores (higher = more wanted): each candidate's greedy value at the first step (for ``"max"``,
``f({i})``); the batch itself is the greedy's pick order.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from alkit.errors import AlkitError
from alkit.kernels.kfac import (
    CONV_BIAS,
    FISHERS,
    OBJECTIVES,
    greedy_values,
    kfac_blocks,
    kfac_factors,
    kfac_greedy,
    kfac_sample_traces,
    kfac_state,
)
from alkit.kernels.prototypes import greedy_wasserstein_prototypes
from alkit.strategies.base import Query, QueryContext, Strategy, candidate_scores, register
from alkit.strategies.options import MAX_CANDIDATES, Option

W_SPACES = ("embedding", "input")


@register
class BalNet(Strategy):
    """BalNet: greedy maximisation of the KFAC trace ``Tr(I_{A∪B} I_A⁻¹)`` (thesis ch. 5).

    Options: ``max_candidates`` (code: a random 1000), ``damping`` and ``relative_damping``,
    ``fisher`` (``"empirical"`` | ``"expected"``), ``objective`` (``"max"`` | ``"code_min"`` |
    ``"code_covering"``), ``conv_bias`` (``"homogeneous"`` | ``"exact"``), ``unlabeled_dropout``
    (the code computes the candidates' factors with dropout on), ``batch_size``.

    ``info``: ``scored`` (pool indices), ``phi`` and ``t`` (``M × L`` per-sample traces),
    ``layers`` (block names), ``base_psi``/``base_tau`` (``L``), ``order`` (positions in
    ``scored`` in pick order) and ``gains`` (greedy value of each pick).
    """

    name = "balnet"
    paper = "Ducoffe PhD thesis ch. 5, eq. 5.11/5.20 (seed 001)"
    deterministic = False
    needs: ClassVar[frozenset[str]] = frozenset({"learner"})

    option_specs = {
        "max_candidates": MAX_CANDIDATES,
        "damping": Option(float, min=0.0, doc="λ added to each KFAC factor"),
        "relative_damping": Option(bool, doc="λ relative to the factor's mean eigenvalue"),
        "fisher": Option(str, choices=FISHERS, doc="candidate side: empirical or expected"),
        "objective": Option(str, choices=OBJECTIVES, doc="the thesis's or the code's objective"),
        "conv_bias": Option(str, choices=CONV_BIAS, doc="how a conv bias enters the factors"),
        "unlabeled_dropout": Option(bool, doc="dropout on in the candidates' passes"),
        "batch_size": Option(int, min=1, doc="rows per KFAC pass"),
        "wasserstein": Option(int, min=0, doc="eq. 5.15: pre-select n·M, keep n W-prototypes"),
        "w_space": Option(str, choices=W_SPACES, doc="space of the Wasserstein post-step"),
        "w_max_target": Option(int, min=1, none=True, doc="pool points of the W target"),
        "w_max_start": Option(int, min=1, none=True, doc="labelled points of S₀"),
    }

    def __init__(
        self,
        max_candidates: int | None = 1000,
        damping: float = 1e-3,
        relative_damping: bool = True,
        fisher: str = "empirical",
        objective: str = "max",
        conv_bias: str = "homogeneous",
        unlabeled_dropout: bool = False,
        batch_size: int = 64,
        wasserstein: int = 0,
        w_space: str = "embedding",
        w_max_target: int | None = 500,
        w_max_start: int | None = 200,
    ):
        self.max_candidates = max_candidates
        self.damping = float(damping)
        self.relative_damping = relative_damping
        self.fisher = fisher
        self.objective = objective
        self.conv_bias = conv_bias
        self.unlabeled_dropout = unlabeled_dropout
        self.batch_size = batch_size
        self.wasserstein, self.w_space = wasserstein, w_space
        self.w_max_target, self.w_max_start = w_max_target, w_max_start

    def select(self, ctx: QueryContext, n: int) -> Query:
        learner = ctx.require_learner(self.name)
        model = learner.model
        if len(ctx.labeled_idx) == 0:
            raise AlkitError("balnet needs a labelled set: I_A is the Fisher of the labelled data")
        candidates = ctx.unlabeled_idx
        scored = ctx.subsample(candidates, self.max_candidates, n)
        blocks = kfac_blocks(model, self.conv_bias)
        factors = kfac_factors(
            model, ctx.pool.X[ctx.labeled_idx], ctx.labeled_y, self.conv_bias, self.batch_size
        )
        state = kfac_state(
            factors, blocks, len(ctx.labeled_idx), self.damping, self.relative_damping
        )
        pseudo = ctx.predict_proba(scored).argmax(axis=1)
        phi, t = kfac_sample_traces(
            model,
            ctx.pool.X[scored],
            state,
            y=pseudo,
            fisher=self.fisher,
            batch_size=self.batch_size,
            dropout=self.unlabeled_dropout,
            seed=int(ctx.rng.integers(2**31)),
        )
        n_params = sum(p.numel() for p in model.parameters())
        n_pre = min(len(scored), n * self.wasserstein) if self.wasserstein else n
        order, gains = kfac_greedy(
            phi,
            t,
            state.base_psi_L,
            state.base_tau_L,
            n_pre,
            self.objective,
            n_labeled=state.n_labeled,
            d_psi_L=state.d_psi_L,
            d_tau_L=state.d_tau_L,
            n_params=n_params,
        )
        zeros = np.zeros(len(blocks))
        alpha = state.n_labeled * state.d_psi_L * state.d_tau_L
        first = greedy_values(
            phi,
            t,
            zeros,
            zeros,
            state.base_psi_L,
            state.base_tau_L,
            self.objective,
            alpha,
            state.n_labeled,
            n_params,
            0,
        )
        scores = candidate_scores(candidates, scored, first)
        info = {
            "scored": scored,
            "phi": phi,
            "t": t,
            "layers": [b.name for b in blocks],
            "base_psi": state.base_psi_L,
            "base_tau": state.base_tau_L,
            "order": order,
            "gains": gains,
        }
        picks = scored[order]
        if self.wasserstein:
            picks = self._wasserstein_post_step(ctx, picks, n, info)
        return Query(picks, candidates, scores, info=info)

    def _features(self, ctx: QueryContext, idx: np.ndarray) -> np.ndarray:
        if self.w_space == "embedding":
            return ctx.embed(idx)
        return np.asarray(ctx.pool.X[idx], dtype=np.float32).reshape(len(idx), -1)

    def _wasserstein_post_step(self, ctx, preselected, n: int, info: dict) -> np.ndarray:
        """Eq. 5.15: ``n`` greedy Wasserstein prototypes among the ``n·M`` pre-selected rows,
        from ``S₀`` = the labelled set (at most ``w_max_start`` rows) towards the pool (at
        most ``w_max_target`` points)."""
        start = ctx.labeled_idx
        if self.w_max_start is not None and len(start) > self.w_max_start:
            start = np.sort(ctx.rng.choice(start, size=self.w_max_start, replace=False))
        keep, curve = greedy_wasserstein_prototypes(
            self._features(ctx, preselected),
            self._features(ctx, np.arange(len(ctx.pool))),
            n,
            self._features(ctx, start),
            "emd",
            max_target=self.w_max_target,
            seed=int(ctx.rng.integers(2**31)),
        )
        info["preselected"] = preselected
        info["w_curve"] = curve
        return preselected[keep]
