"""Distribution-aware selection with Gaussian mixtures (seed 003, §3.5, eq. 4-5).

``gmm_like`` queries the top of I_Like = log p(z;ψ_UL) − log p(z;ψ_L) (eq. 4). ``gmm_hybrid``
ranks the candidates by I_Total, the sum of the ranks of I_Like, I_Dis (the critic of the
alignment stage) and I_Ent (eq. 5), keeps the ``candidate_factor · n`` best, and picks ``n`` of
them class-balanced by pseudo-label and diversified by k-means (one pick per cluster, nearest
the centroid). The ablations of Fig. 13 are the option ``metrics`` of ``gmm_hybrid``:
``"like"``, ``"dis"``, ``"ent"``, ``"like+dis"``, ``"like+ent"``, ``"dis+ent"`` or the default
``"like+dis+ent"``.

ψ_L comes in closed form from the labelled embeddings and ψ_UL from EM started at ψ_L (absent
classes seeded farthest-first, A.4), refitted at query time on the final features.
"""

from __future__ import annotations

import numpy as np
import torch

from alkit.errors import AlkitError
from alkit.gmm_training import fit_psi
from alkit.kernels.gmm import log_likelihood
from alkit.kernels.kmeans import kmeans, nearest_to_centres
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
from alkit.strategies.uncertainty import entropy

METRICS = ("like", "dis", "ent")


def likelihood_gap(z_N_D, psi_L, psi_UL) -> np.ndarray:
    """I_Like (eq. 4): ``log p(z; ψ_UL) − log p(z; ψ_L)`` for each row, ``N`` float64.

    Positive where the unlabelled mixture explains ``z`` better than the labelled one.
    """
    gap = log_likelihood(z_N_D, psi_UL).double() - log_likelihood(z_N_D, psi_L).double()
    return gap.cpu().numpy()


def average_ranks(values_N: np.ndarray) -> np.ndarray:
    """Ranks 1..N of ``values_N`` (larger value → larger rank), ties sharing their mean rank."""
    values = np.asarray(values_N, dtype=np.float64)
    uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    return ((upper - counts + 1 + upper) / 2.0)[inverse]


def rank_sum(metrics: dict[str, np.ndarray]) -> np.ndarray:
    """I_Total (eq. 5): the sum over metrics of each candidate's rank, ``N`` float64."""
    return np.sum([average_ranks(v) for v in metrics.values()], axis=0)


def parse_metrics(spec: str) -> tuple[str, ...]:
    """``"like+dis+ent"`` → ``("like", "dis", "ent")``; unknown or repeated names raise."""
    names = tuple(s.strip() for s in str(spec).split("+") if s.strip())
    bad = [m for m in names if m not in METRICS]
    if not names or bad or len(set(names)) != len(names):
        raise AlkitError(
            f"strategy 'gmm_hybrid': option metrics={spec!r} is not allowed; metrics must be "
            f"distinct names from {', '.join(METRICS)} joined by '+', e.g. like+ent"
        )
    return names


def balanced_kmeans_pick(
    emb_M_D: np.ndarray, pseudo_M: np.ndarray, n: int, seed: int
) -> np.ndarray:
    """Pick ``n`` of ``M`` candidates: an equal share per pseudo-class (a class with too few
    candidates passes the rest of its share on), and inside each class one candidate per
    k-means cluster, the one nearest its centre (§3.5, after ALFA-Mix / BADGE; k-means and
    the nearest-distinct search are :mod:`alkit.kernels.kmeans`). Returns ``n`` distinct
    positions into the candidate arrays.
    """
    classes = np.unique(pseudo_M)
    avail = {c: int((pseudo_M == c).sum()) for c in classes}
    quota = dict.fromkeys(classes, 0)
    left = n
    while left > 0:
        open_classes = [c for c in classes if avail[c] > quota[c]]
        share = max(1, left // len(open_classes))
        for c in open_classes:
            take = min(share, avail[c] - quota[c], left)
            quota[c] += take
            left -= take
            if left == 0:
                break
    picks = []
    for c in classes:
        members = np.flatnonzero(pseudo_M == c)
        q = quota[c]
        if q == 0:
            continue
        if q >= len(members):
            picks.append(members)
            continue
        centres_q_D, _ = kmeans(emb_M_D[members], q, seed=seed)
        picks.append(members[nearest_to_centres(emb_M_D[members], centres_q_D)])
    return np.concatenate(picks).astype(np.int64)


class _GMMBase(Strategy):
    paper = "Distribution-aware AL via Gaussian mixtures (seed 003)"
    needs = frozenset({"learner"})
    option_specs = {
        "max_candidates": MAX_CANDIDATES,
        "em_iters": Option(int, min=1, doc="EM iterations of ψ_UL at query time"),
    }

    def __init__(self, max_candidates: int | None = None, em_iters: int = 10):
        self.max_candidates = max_candidates
        self.em_iters = em_iters

    def uses_likelihood(self) -> bool:
        """Whether the scores need ψ_L, which is fitted on the labelled embeddings."""
        return True

    def preflight(self, setup: Setup) -> None:
        """The needs, and no cold start when ψ_L is used: it needs labelled samples."""
        super().preflight(setup)
        if setup.cold_start and self.uses_likelihood():
            raise AlkitError(
                f"strategy {self.name!r} fits ψ_L on the labelled samples and cannot choose the "
                "cold-start round (none are labelled yet); drop --cold-start for it"
            )

    def _scored(self, ctx: QueryContext, n: int):
        candidates = ctx.unlabeled_idx
        scored = ctx.subsample(candidates, self.max_candidates, n)
        return candidates, scored

    def _psi(self, ctx: QueryContext, scored: np.ndarray):
        K = ctx.require_learner(self.name).model.head.out_features
        if len(ctx.labeled_idx) == 0:
            raise AlkitError(
                f"strategy {self.name!r} needs at least one labelled sample: ψ_L (eq. 4) is "
                "fitted on the labelled embeddings, and none is labelled yet"
            )
        z_L = torch.as_tensor(ctx.embed(ctx.labeled_idx))
        z_UL = torch.as_tensor(ctx.embed(scored))
        return fit_psi(z_L, torch.as_tensor(ctx.labeled_y), z_UL, K, self.em_iters)


@register
class GMMLike(_GMMBase):
    """Query the top of I_Like (eq. 4): likely under ψ_UL, unlikely under ψ_L."""

    name = "gmm_like"

    def select(self, ctx: QueryContext, n: int) -> Query:
        candidates, scored = self._scored(ctx, n)
        psi_L, psi_UL = self._psi(ctx, scored)
        scores = candidate_scores(
            candidates, scored, likelihood_gap(ctx.embed(scored), psi_L, psi_UL)
        )
        return Query(candidates[top_n(scores, n)], candidates, scores)


@register
class GMMHybrid(_GMMBase):
    """Rank-sum of I_Like, I_Dis, I_Ent (eq. 5), then class-balanced k-means picks (§3.5).

    Options: ``metrics`` (the Fig. 13 ablations, see the module docstring); ``candidate_factor``
    (the top ``candidate_factor · n`` by I_Total are clustered; 1 or ``diversify=False`` gives the
    plain top-n); ``max_candidates`` (score a random subset of the pool); ``em_iters``.
    I_Dis needs the critic that ``TrainConfig(gmm_align_steps=...)`` leaves on the Learner; a
    ``metrics`` without ``dis`` works with any trainer.

    Randomness: ``ctx.rng`` draws the ``max_candidates`` subset and seeds the k-means inside
    each pseudo-class. A pseudo-class whose quota is one pick gets a single cluster, whose
    centre is the class mean whatever the seed; so when every pseudo-class among the top
    ``candidate_factor · n`` gets at most one pick (e.g. ``n`` ≤ the number of pseudo-classes
    there) and every candidate is scored, the batch is deterministic given the trained model
    and critic. It is still flagged ``deterministic = False``, because the general case
    depends on the seed.
    """

    name = "gmm_hybrid"
    deterministic = False
    needs = frozenset({"learner", "critic"})
    option_specs = {
        "metrics": Option(str, doc="'+'-joined subset of like, dis, ent (Fig. 13 ablations)"),
        "candidate_factor": Option(int, min=1, doc="cluster the top candidate_factor·n"),
        "diversify": Option(bool, doc="class-balanced k-means picks among the top (§3.5)"),
    }

    def __init__(
        self,
        metrics: str = "like+dis+ent",
        candidate_factor: int = 10,
        diversify: bool = True,
        max_candidates: int | None = None,
        em_iters: int = 10,
    ):
        super().__init__(max_candidates, em_iters)
        self.metrics = parse_metrics(metrics)
        self.candidate_factor = candidate_factor
        self.diversify = diversify

    def requirements(self) -> frozenset[str]:
        """The critic only when I_Dis is among the metrics."""
        return self.needs if "dis" in self.metrics else self.needs - {"critic"}

    def uses_likelihood(self) -> bool:
        return "like" in self.metrics

    def select(self, ctx: QueryContext, n: int) -> Query:
        candidates, scored = self._scored(ctx, n)
        if "dis" in self.metrics and ctx.gmm_state is None:
            raise AlkitError(
                "gmm_hybrid with I_Dis needs the critic of the alignment stage: train with "
                "TrainConfig(gmm_align_steps=...) or drop 'dis' from metrics (e.g. metrics=like+ent)"
            )
        z = ctx.embed(scored)
        values: dict[str, np.ndarray] = {}
        if "like" in self.metrics:
            psi_L, psi_UL = self._psi(ctx, scored)
            values["like"] = likelihood_gap(z, psi_L, psi_UL)
        if "dis" in self.metrics:
            values["dis"] = ctx.gmm_state.critic_scores(z)
        probs = ctx.predict_proba(scored)
        if "ent" in self.metrics:
            values["ent"] = entropy(probs)
        total = rank_sum(values)
        order = top_n(total, len(total))
        if self.diversify and self.candidate_factor > 1:
            top = order[: min(len(order), self.candidate_factor * n)]
            seed = int(ctx.rng.integers(2**31 - 1))
            chosen = top[balanced_kmeans_pick(z[top], probs[top].argmax(1), n, seed)]
        else:
            chosen = order[:n]
        pos = np.searchsorted(candidates, scored)
        scores = np.full(len(candidates), np.nan)
        scores[pos] = total
        info = {f"I_{k.capitalize()}": np.full(len(candidates), np.nan) for k in values}
        for k, v in values.items():
            info[f"I_{k.capitalize()}"][pos] = v
        return Query(scored[chosen], candidates, scores, info)
