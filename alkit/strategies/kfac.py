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

The Wasserstein diversity post-step of eq. 5.15 is not part of this strategy yet.

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
from alkit.strategies.base import Query, QueryContext, Strategy, candidate_scores, register
from alkit.strategies.options import MAX_CANDIDATES, Option


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
    ):
        self.max_candidates = max_candidates
        self.damping = float(damping)
        self.relative_damping = relative_damping
        self.fisher = fisher
        self.objective = objective
        self.conv_bias = conv_bias
        self.unlabeled_dropout = unlabeled_dropout
        self.batch_size = batch_size

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
        order, gains = kfac_greedy(
            phi,
            t,
            state.base_psi_L,
            state.base_tau_L,
            n,
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
        return Query(scored[order], candidates, scores, info=info)
