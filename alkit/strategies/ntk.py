"""NTK look-ahead strategies: NTKCPL (seed 002, Wen, Pizarro & Williams 2023) and LookAhead
(Mohamadi, Bae & Sutherland, NeurIPS 2022), the baseline it compares with.

Both stand in for "retrain the classifier on L ∪ {x}" with kernel regression at t = ∞ under the
traced NTK of an MLP head on the pool's inputs (on a frozen-feature experiment these are the
self-supervised features), scored as rank-one updates (:mod:`alkit.kernels.ntk_lookahead`).

- ``ntkcpl`` (Alg. 1): cluster pseudo-labels (CPL, Alg. 2, :mod:`alkit.kernels.cpl`) on the
  trained head's embedding (``cpl_features="al"``, NTKCPL(al)) or on the inputs
  (``"self"``, NTKCPL(self)); a freshly initialised head with one output per cluster; ``b``
  greedy picks, each minimising the 0-1 disagreement between the NTK predictions and the CPL
  over the candidate set (eq. 4). Cold start: with no labels the CPL is k-means into ``b``
  clusters and no trained model is needed.
- ``lookahead``: the pNTK of the *trained* network with f_0 = its outputs; each candidate is
  added with its pseudo-label (the network's argmax); the ``b`` candidates whose addition
  changes the predictions most (lowest agreement with the pseudo-labels, or the ``t_softmax``
  distance) are queried in one batch.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import numpy as np
import torch

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels.cpl import CLUSTER_RULES, CONSTRAINTS, cpl_generation, n_cpl_clusters
from alkit.kernels.kmeans import kmeans
from alkit.kernels.ntk import (
    BN_MODES,
    PNTKFactors,
    check_head_params,
    empirical_ntk,
    fresh_pntk_factors,
    head_params,
    pntk_factors,
    pntk_matrix,
)
from alkit.kernels.ntk_lookahead import (
    check_ntk_memory,
    greedy_ntk_select,
    lookahead_risk,
    lookahead_softmax_change,
    ntk_posterior,
)
from alkit.strategies.base import (
    Query,
    QueryContext,
    Setup,
    Strategy,
    candidate_scores,
    register,
    top_n,
)
from alkit.strategies.options import MAX_CANDIDATES, Option


def _flat(X) -> np.ndarray:
    X = np.asarray(X)
    return X.reshape(len(X), -1)


def _onehot(labels, k: int) -> torch.Tensor:
    out = torch.zeros(len(labels), k, dtype=torch.float64)
    out[torch.arange(len(labels)), torch.as_tensor(np.asarray(labels, dtype=np.int64))] = 1.0
    return out


class _NTKStrategy(Strategy):
    """Shared: the candidate cap and its memory check (the ``M × M`` float64 posterior)."""

    max_candidates: int | None

    def preflight(self, setup: Setup) -> None:
        """The needs of :class:`Strategy`, then the memory of the ``M × M`` kernel on the
        experiment's pool (``setup.n_pool``)."""
        super().preflight(setup)
        if setup.n_pool:
            self.check_memory(setup.n_pool)

    def check_memory(self, n_pool: int) -> None:
        """Raise now if this strategy's ``M × M`` kernel cannot fit ``ALKIT_NTK_MAX_BYTES`` on a
        pool of ``n_pool`` rows (M = min(max_candidates, n_pool))."""
        n_pool = check_positive_int("n_pool", n_pool)
        m = n_pool if self.max_candidates is None else min(self.max_candidates, n_pool)
        check_ntk_memory(m, 8, who=f"strategy {self.name!r}")

    def _candidates(self, ctx: QueryContext, n: int) -> tuple[np.ndarray, np.ndarray]:
        unlabeled = ctx.unlabeled_idx
        check_ntk_memory(
            min(len(unlabeled), self.max_candidates or len(unlabeled)), 8, f"strategy {self.name!r}"
        )
        return unlabeled, ctx.subsample(unlabeled, self.max_candidates, n)


def _kernel(fa, fb, block_rows) -> torch.Tensor:
    if isinstance(fa, PNTKFactors):
        return pntk_matrix(fa, fb, block_rows)
    return fa.kernel_with(fb)


def _posterior(theta_src, rows_M, rows_L, F0_S_K, Y_L_K, ridge_rel: float, block_rows):
    """F and A over the candidates (rows ``rows_M`` of ``theta_src``) given the labelled rows
    ``rows_L``; λ = ``ridge_rel`` × mean diag Θ_LL (Θ_MM when L is empty)."""
    fM, fL = theta_src.rows(rows_M), theta_src.rows(rows_L)
    m, n = len(rows_M), len(rows_L)
    theta_MM = _kernel(fM, fM, block_rows)
    theta_ML = _kernel(fM, fL, block_rows) if n else torch.zeros(m, 0, dtype=torch.float64)
    theta_LL = _kernel(fL, fL, block_rows) if n else torch.zeros(0, 0, dtype=torch.float64)
    scale = float(theta_LL.diagonal().mean()) if n else float(theta_MM.diagonal().mean())
    F0_M = F0_S_K[torch.as_tensor(rows_M)]
    R_L = Y_L_K - F0_S_K[torch.as_tensor(rows_L)] if n else Y_L_K
    return ntk_posterior(
        theta_MM,
        theta_ML,
        theta_LL,
        R_L,
        F0_M,
        ridge_rel * scale,
        overwrite=True,
        block_rows=block_rows,
    )


@register
class NTKCPL(_NTKStrategy):
    """NTKCPL (Wen, Pizarro & Williams 2023, Alg. 1 with Alg. 2).

    Options: ``cpl_features`` ``"al"`` (the trained head's embedding, NTKCPL(al)) or ``"self"``
    (the pool inputs = the frozen self-supervised features, NTKCPL(self)); ``c_max`` the cluster
    cap (paper: 100 for CIFAR-10); ``c0`` the initial cluster count of Alg. 2 (the initial budget
    b_0; paper 20); ``n_clusters`` ``"half_labels"`` (§3.4) or ``"half_query"`` (§4);
    ``max_candidates`` M (paper 10,000); ``ridge`` λ relative to the mean diagonal of Θ_LL;
    ``f0`` ``"head"`` (the fresh head's outputs) or ``"zero"``; ``bn`` ``"pool"`` (BatchNorm in
    eval mode with the pool's pre-activation mean and variance), ``"identity"`` (running stats
    0 and 1) or ``"none"`` (no BatchNorm layer); ``hidden`` the head width (paper MLP64);
    ``constraints`` of the constrained k-means; ``picks_per_step`` (1 = Alg. 1); ``prune`` the
    exact margin pruning of the scoring (same picks; on FMNIST PCA features 9-17% of the
    candidate-row pairs need the K-wide argmax: a step 2.6-4× faster at M ≥ 3,000, see
    benchmarks/results/ntkcpl_cost.json); ``diagnostics`` adds oracle-peeked purities to ``info``
    (never used for the picks, not counted as queries).

    Scores: minus the look-ahead risk of each candidate at the first greedy step (NaN outside
    the candidate set M). ``info``: ``cpl`` (cluster of each candidate), ``n_clusters``,
    ``confusing_counts`` (per cluster, after splitting), ``risk_trace`` (the risk each pick was
    chosen with), ``coverage_estimate`` (fraction of the remaining rows of M where the NTK
    prediction agrees with the CPL after the picks; ``coverage_estimate_initial`` before),
    ``ridge``, ``scored`` (the pool indices of M) and, with diagnostics, ``cpl_purity`` (over the
    pool) and ``pick_purity`` (picks whose true label is their cluster's dominant one).
    """

    name = "ntkcpl"
    paper = "Wen, Pizarro & Williams, arXiv 2306.04099 (2023)"
    deterministic = False
    cold_start = True
    needs: ClassVar[frozenset[str]] = frozenset({"learner"})

    option_specs = {
        "cpl_features": Option(
            str, choices=("al", "self"), doc="CPL on the head's embedding or the inputs"
        ),
        "c_max": Option(int, min=1, doc="the largest number of CPL clusters"),
        "c0": Option(int, min=1, doc="clusters of the first constrained k-means (b_0)"),
        "n_clusters": Option(str, choices=CLUSTER_RULES, doc="cluster-count rule (§3.4 or §4)"),
        "max_candidates": MAX_CANDIDATES,
        "ridge": Option(float, min=0.0, doc="ridge of K_LL relative to its mean diagonal"),
        "f0": Option(str, choices=("head", "zero"), doc="prior outputs: a fresh head, or zero"),
        "bn": Option(str, choices=BN_MODES, doc="BatchNorm of the fresh head"),
        "hidden": Option(int, min=1, doc="width of the fresh MLP head"),
        "constraints": Option(str, choices=CONSTRAINTS, doc="pairwise constraints of Alg. 2"),
        "picks_per_step": Option(int, min=1, doc="picks per greedy step"),
        "prune": Option(bool, doc="exact margin pruning of the risk scoring"),
        "block_rows": Option(int, min=1, none=True, doc="candidate rows per scoring block"),
        "max_iter": Option(int, min=1, doc="k-means iterations"),
        "diagnostics": Option(bool, doc="record CPL purity and coverage in info"),
        "progress": Option(bool, none=True, doc="progress bar of the greedy steps"),
    }

    def __init__(
        self,
        cpl_features: str = "al",
        c_max: int = 100,
        c0: int = 20,
        n_clusters: str = "half_labels",
        max_candidates: int | None = 10000,
        ridge: float = 1e-5,
        f0: str = "head",
        bn: str = "pool",
        hidden: int = 64,
        constraints: str = "cannot",
        picks_per_step: int = 1,
        prune: bool = True,
        block_rows: int | None = None,
        max_iter: int = 100,
        diagnostics: bool = True,
        progress: bool | None = None,
    ):
        self.cpl_features = cpl_features
        self.c_max = c_max
        self.c0 = c0
        self.n_clusters = n_clusters
        self.max_candidates = max_candidates
        self.ridge = float(ridge)
        self.f0 = f0
        self.bn = bn
        self.hidden = hidden
        self.constraints = constraints
        self.picks_per_step = picks_per_step
        self.prune = prune
        self.block_rows = block_rows
        self.max_iter = max_iter
        self.diagnostics = diagnostics
        self.progress = progress
        if self.max_candidates is not None:
            check_ntk_memory(self.max_candidates, 8, who=f"strategy {self.name!r}")

    # -- Alg. 1 lines 3-8 -------------------------------------------------------------------
    def cluster_pseudo_labels(self, ctx: QueryContext, n: int, seed: int) -> dict:
        """The CPL of every pool row (``labels``, ``N``) and Alg. 2's bookkeeping."""
        N = len(ctx.pool)
        L, yL = ctx.labeled_idx, ctx.labeled_y
        k = n_cpl_clusters(len(L), n, self.c0, self.c_max, self.n_clusters)
        if len(L) == 0:
            _, labels = kmeans(_flat(ctx.pool.X), k, seed=seed, max_iter=self.max_iter)
            return {"labels": labels, "confusing": np.zeros(k, np.int64), "split_order": []}
        ctx.require_learner(f"{self.name} (Alg. 2 needs the model's predictions)")
        feats = ctx.embed(np.arange(N)) if self.cpl_features == "al" else _flat(ctx.pool.X)
        y_pred = ctx.predict_proba(np.arange(N)).argmax(1).astype(np.int64)
        y_pred[L] = yL
        c0 = min(self.c0, k)
        n_classes = len(np.unique(yL))
        if self.constraints != "none" and c0 < n_classes:
            raise AlkitError(
                f"c0={c0} initial clusters cannot separate the {n_classes} labelled classes "
                f"under cannot-link constraints; set c0 ≥ {n_classes} (the paper uses b_0 = 20)"
            )
        return cpl_generation(feats, y_pred, c0, k, L, yL, self.constraints, seed, self.max_iter)

    def select(self, ctx: QueryContext, n: int) -> Query:
        from alkit.train import progress_enabled

        unlabeled, cand = self._candidates(ctx, n)
        L = ctx.labeled_idx
        seed = int(ctx.rng.integers(2**31))
        cpl = self.cluster_pseudo_labels(ctx, n, seed)
        labels = np.asarray(cpl["labels"], dtype=np.int64)
        k = int(labels.max()) + 1
        X = _flat(ctx.pool.X).astype(np.float64)
        rows = np.concatenate([cand, L])
        factors = fresh_pntk_factors(X, k, self.hidden, self.bn, seed + 1, rows)
        F0 = (
            factors.outputs_N_C
            if self.f0 == "head"
            else torch.zeros(len(rows), k, dtype=torch.float64)
        )
        pos_M, pos_L = np.arange(len(cand)), np.arange(len(cand), len(rows))
        post = _posterior(
            factors, pos_M, pos_L, F0, _onehot(labels[L], k), self.ridge, self.block_rows
        )
        y_M = labels[cand]
        coverage0 = float((post.F_M_K.argmax(1).numpy() == y_M).mean())
        res = greedy_ntk_select(
            post,
            y_M,
            n,
            block_rows=self.block_rows,
            prune=self.prune,
            picks_per_step=self.picks_per_step,
            progress=progress_enabled(self.progress) and len(cand) >= 2000,
        )
        picks = cand[res.picks]
        rest = np.ones(len(cand), dtype=bool)
        rest[res.picks] = False
        agree = res.posterior.F_M_K.argmax(1).numpy() == y_M
        info = {
            "cpl": labels[unlabeled],
            "n_clusters": k,
            "confusing_counts": np.asarray(cpl["confusing"]),
            "split_order": list(cpl["split_order"]),
            "risk_trace": res.risk_trace,
            "coverage_estimate": float(agree[rest].mean()) if rest.any() else 1.0,
            "coverage_estimate_initial": coverage0,
            "ridge": res.posterior.ridge,
            "jitter": post.info.get("jitter", 0.0),
            "scored": cand,
        }
        if self.diagnostics:
            info.update(_purities(ctx, labels, picks))
        scores = candidate_scores(unlabeled, cand, -res.first_risk_M.astype(np.float64))
        return Query(picks, unlabeled, scores, info=info)


def _purities(ctx: QueryContext, labels_N: np.ndarray, picks: np.ndarray) -> dict:
    """Oracle diagnostics (``Oracle.peek``, not queries): the CPL's purity over the pool and
    the fraction of picks whose true label is the dominant true label of their cluster."""
    y = ctx.pool.oracle.peek(np.arange(len(ctx.pool)))
    k = int(labels_N.max()) + 1
    table = np.zeros((k, int(y.max()) + 1), dtype=np.int64)
    np.add.at(table, (labels_N, y), 1)
    dominant = table.argmax(1)
    return {
        "cpl_purity": float(table.max(1).sum() / len(y)),
        "pick_purity": float(np.mean(dominant[labels_N[picks]] == y[picks])),
    }


@register
class LookAhead(_NTKStrategy):
    """LookAhead (Mohamadi, Bae & Sutherland, NeurIPS 2022; the authors' code, spec §4).

    The traced NTK of the trained network (closed form for a 2-layer head, ``torch.func``
    otherwise; ``kernel="closed_form"|"empirical"|"auto"``) with f_0 = the network's outputs,
    float64, t = ∞, over a random ``max_candidates`` subset (4,000) of the unlabelled pool. Each
    candidate is added with its pseudo-label (the network's argmax) and all are scored against
    the same L (batch mode). ``objective="pseudo_contrastive"``: agreement of the look-ahead
    predictions with the pseudo-labels over the subset, the lowest queried;
    ``"t_softmax"``: ``‖softmax(log Π(F⁽ʲ⁾)/T) − softmax(log Π(f_0)/T)‖``, the highest queried.
    ``ridge=None`` follows the code: 0 before cycle 5, then ``1e-5·(1 + cycle − 5)`` × mean
    diag Θ_LL (cycle = round − 1); a number fixes the relative ridge. ``prune``: the exact
    margin pruning of :func:`~alkit.kernels.ntk_lookahead.lookahead_risk`.

    Scores: minus the agreement (``pseudo_contrastive``) or the distance (``t_softmax``); NaN
    outside the subset. ``info``: ``scored`` (the subset), ``ridge``, ``kernel``.
    """

    name = "lookahead"
    paper = "Mohamadi, Bae & Sutherland, NeurIPS 2022"
    deterministic = False
    needs: ClassVar[frozenset[str]] = frozenset({"learner"})

    option_specs = {
        "max_candidates": MAX_CANDIDATES,
        "objective": Option(
            str, choices=("pseudo_contrastive", "t_softmax"), doc="look-ahead objective"
        ),
        "ridge": Option(
            float, min=0.0, none=True, doc="relative ridge (none: the authors' schedule)"
        ),
        "temperature": Option(float, min=1e-12, doc="softmax temperature of t_softmax"),
        "kernel": Option(str, choices=("auto", "closed_form", "empirical"), doc="NTK computation"),
        "prune": Option(bool, doc="exact margin pruning of the risk scoring"),
        "block_rows": Option(int, min=1, none=True, doc="candidate rows per scoring block"),
    }

    def __init__(
        self,
        max_candidates: int | None = 4000,
        objective: str = "pseudo_contrastive",
        ridge: float | None = None,
        temperature: float = 1.0,
        kernel: str = "auto",
        prune: bool = True,
        block_rows: int | None = None,
    ):
        self.max_candidates = max_candidates
        self.prune = prune
        self.objective = objective
        self.ridge = None if ridge is None else float(ridge)
        self.temperature = float(temperature)
        self.kernel = kernel
        self.block_rows = block_rows
        if self.max_candidates is not None:
            check_ntk_memory(self.max_candidates, 8, who=f"strategy {self.name!r}")

    def relative_ridge(self, cycle: int) -> float:
        """The ridge relative to mean diag Θ_LL at AL cycle ``cycle`` (spec §4)."""
        if self.ridge is not None:
            return self.ridge
        return 0.0 if cycle < 5 else 1e-5 * (1 + (cycle - 5))

    def _factors(self, model, X_S):
        if self.kernel != "empirical":
            try:
                params = head_params(model)
                check_head_params(model, params, X_S)
                return pntk_factors(X_S, params), "closed_form"
            except AlkitError:
                if self.kernel == "closed_form":
                    raise
        return _EmpiricalKernel(model, X_S, self.block_rows), "empirical"

    def select(self, ctx: QueryContext, n: int) -> Query:
        learner = ctx.require_learner(self.name)
        unlabeled, cand = self._candidates(ctx, n)
        L = ctx.labeled_idx
        rows = np.concatenate([cand, L])
        X_S = ctx.pool.X[rows]
        src, kernel = self._factors(learner.model, X_S)
        F0 = src.outputs_N_C
        C = F0.shape[1]
        pos_M, pos_L = np.arange(len(cand)), np.arange(len(cand), len(rows))
        post = _posterior(
            src,
            pos_M,
            pos_L,
            F0,
            _onehot(ctx.labeled_y, C),
            self.relative_ridge(max(ctx.round - 1, 0)),
            self.block_rows,
        )
        pseudo = F0[: len(cand)].argmax(1)
        positions = np.arange(len(cand))
        if self.objective == "pseudo_contrastive":
            wrong = lookahead_risk(
                post.F_M_K,
                post.A_M_M,
                pseudo,
                positions,
                post.ridge,
                exclude_self=False,
                block_rows=self.block_rows,
            )
            values = -(len(cand) - wrong.numpy()).astype(np.float64)
        else:
            values = lookahead_softmax_change(
                post.F_M_K,
                post.A_M_M,
                pseudo,
                positions,
                post.ridge,
                F0[: len(cand)],
                self.temperature,
                self.block_rows,
            ).numpy()
        picks = cand[top_n(values, n)]
        scores = candidate_scores(unlabeled, cand, values)
        info = {"scored": cand, "ridge": post.ridge, "kernel": kernel}
        return Query(picks, unlabeled, scores, info=info)


class _EmpiricalKernel:
    """Kernel source for models that are not a 2-layer head: the ``torch.func`` pNTK on rows
    of ``X_S`` (float64 copy of the model), with the same ``rows``/``outputs_N_C`` interface as
    :class:`~alkit.kernels.ntk.PNTKFactors` (used through :func:`_kernel`)."""

    def __init__(self, model, X_S, block_rows, idx=None):
        self.model = copy.deepcopy(model).to("cpu", torch.float64).eval()
        self.X = torch.as_tensor(np.asarray(X_S), dtype=torch.float64)
        self.idx = np.arange(len(self.X)) if idx is None else np.asarray(idx)
        self.block_rows = block_rows
        with torch.no_grad():
            self.outputs_N_C = self.model(self.X[torch.as_tensor(self.idx)])

    def __len__(self) -> int:
        return len(self.idx)

    def rows(self, idx):
        out = copy.copy(self)
        out.idx = self.idx[np.asarray(idx, dtype=np.int64)]
        out.outputs_N_C = self.outputs_N_C[torch.as_tensor(np.asarray(idx, dtype=np.int64))]
        return out

    def kernel_with(self, other) -> torch.Tensor:
        return empirical_ntk(
            self.model,
            self.X[self.idx],
            other.X[other.idx],
            trace=True,
            block_rows=self.block_rows,
        )
