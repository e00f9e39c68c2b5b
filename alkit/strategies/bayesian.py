"""MC-dropout and deep-ensemble uncertainty: BALD and variation ratio.

Gal, Islam & Ghahramani (ICML 2017), §3: ``T`` stochastic forward passes with dropout on
approximate samples of the posterior predictive; Beluch et al. (CVPR 2018): a deep ensemble of
``E`` independently initialised members. Here the two combine as in seed 000 (``E`` members ×
``K = T`` passes each, all ``S = E·T`` samples pooled); BatchNorm stays in eval mode.

* BALD (Houlsby et al. 2011, eq. 2 of Gal et al.): ``I[y; ω | x] = H[ E_s p_s ] − E_s H[p_s]``.
* Variation ratio (Freeman 1965, eq. in Gal et al. §3): ``1 − f_m / S`` with ``f_m`` the number
  of samples whose predicted class is the modal one.
* Max entropy (Gal et al. §3): ``H[mean_s p_s]``, the entropy of the MC-averaged predictive
  distribution (``entropy`` is its deterministic one-pass version).
"""

from __future__ import annotations

import numpy as np
import torch

from alkit.errors import AlkitError
from alkit.models import MLP
from alkit.strategies.base import Query, QueryContext, Strategy, candidate_scores, register
from alkit.strategies.options import MAX_CANDIDATES, Option

EPS = 1e-10


def _entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    return -(p * np.log(p + EPS)).sum(axis=axis)


def bald(probs_S_N_C: np.ndarray) -> np.ndarray:
    """Mutual information ``H[mean_s p_s] − mean_s H[p_s]`` (nats) of each of ``N`` samples.

    ``probs_S_N_C``: ``S`` stochastic predictions of ``N`` samples over ``C`` classes.
    """
    p = np.asarray(probs_S_N_C, dtype=np.float64)
    return _entropy(p.mean(axis=0)) - _entropy(p).mean(axis=0)


def predictive_entropy(probs_S_N_C: np.ndarray) -> np.ndarray:
    """``H[mean_s p_s]`` (nats) of each of ``N`` samples: the entropy of the predictive
    distribution averaged over the ``S`` stochastic passes (Gal et al. 2017, "Max Entropy")."""
    return _entropy(np.asarray(probs_S_N_C, dtype=np.float64).mean(axis=0))


def variation_ratio(probs_S_N_C: np.ndarray) -> np.ndarray:
    """``1 − f_m / S``: the fraction of the ``S`` predictions that disagree with the modal class."""
    p = np.asarray(probs_S_N_C)
    S, N, C = p.shape
    votes = np.zeros((N, C), dtype=np.int64)
    np.add.at(votes, (np.arange(N)[None, :].repeat(S, 0), p.argmax(axis=2)), 1)
    return 1.0 - votes.max(axis=1) / S


@torch.no_grad()
def mc_dropout_probs(learner, X, n_samples: int, seed: int) -> np.ndarray:
    """``n_samples`` softmax outputs with dropout on and BatchNorm in eval mode: ``T × N × C``.

    The dropout masks come from ``seed`` (the global torch RNG state is left unchanged). A model
    without dropout gives one deterministic pass (``1 × N × C``). A model that holds a dropout
    layer with ``p > 0`` but never calls it in its forward pass (e.g. ``MLP(hidden=())``) would
    give ``T`` equal passes, i.e. round-off noise as BALD scores: that raises
    :class:`AlkitError` instead.
    """
    model = learner.model
    dropouts = [m for m in model.modules() if isinstance(m, torch.nn.modules.dropout._DropoutNd)]
    active = [m for m in dropouts if m.p > 0]
    T = n_samples if active else 1
    devices = [learner.device] if learner.device.type == "cuda" else []
    calls = []
    hooks = [m.register_forward_hook(lambda *_: calls.append(1)) for m in active]
    model.eval()
    try:
        for m in dropouts:
            m.train()
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            out = [_softmax_batches(learner, X) for _ in range(T)]
    finally:
        model.eval()
        for h in hooks:
            h.remove()
    if active and len(X) and not calls:
        raise AlkitError(
            f"model {type(model).__name__} holds dropout layers with p > 0 but its forward pass "
            "never applies them, so MC-dropout passes would all be equal; use a model that "
            "applies dropout or a deep ensemble (n_members > 1)"
        )
    return np.stack(out)


def _softmax_batches(learner, X) -> np.ndarray:
    """Softmax outputs of ``X`` in the model's current train/eval mode: ``N × C`` float32."""
    outs = []
    for start in range(0, len(X), learner.inference_batch_size):
        xb = torch.as_tensor(np.asarray(X[start : start + learner.inference_batch_size]))
        logits = learner.model(xb.to(learner.device, torch.float32))
        outs.append(torch.softmax(logits, dim=1).float().cpu())
    return torch.cat(outs).numpy()


class _Bayesian(Strategy):
    deterministic = False
    score_fn = staticmethod(bald)
    needs = frozenset({"learner", "dropout"})
    option_specs = {
        "n_samples": Option(int, min=1, doc="stochastic passes T per member"),
        "n_members": Option(int, min=1, doc="ensemble members E (1: MC dropout alone)"),
        "max_candidates": MAX_CANDIDATES,
    }

    def __init__(self, n_samples: int = 20, n_members: int = 1, max_candidates: int | None = None):
        self.n_samples = n_samples
        self.n_members = n_members
        self.max_candidates = max_candidates

    def requirements(self) -> frozenset[str]:
        """A deep ensemble (``n_members > 1``) draws its spread from the members: no dropout."""
        return self.needs - {"dropout"} if self.n_members > 1 else self.needs

    def preflight(self, setup) -> None:
        """The needs, and for MC dropout a model that applies its dropout: an
        ``MLP(hidden=())`` holds a dropout layer that its forward pass never calls."""
        super().preflight(setup)
        model = setup.model
        if "dropout" in self.requirements() and isinstance(model, MLP) and not model.layers:
            raise AlkitError(
                f"strategy {self.name!r} uses MC dropout, but model MLP has no hidden layer, so "
                "its dropout is never applied; use hidden layers or "
                f"{self.name}:n_members=5 (a deep ensemble)"
            )

    def sample_probs(self, ctx: QueryContext, idx: np.ndarray) -> np.ndarray:
        """``S × len(idx) × C`` predictions pooled over ensemble members and dropout passes."""
        members = ctx.ensemble(self.n_members)
        if self.n_members == 1 and not members[0].model.has_dropout():
            raise AlkitError(
                f"{self.name} with n_members=1 is MC dropout, but the model has no dropout; "
                "use a model with dropout or n_members > 1 (a deep ensemble)"
            )
        seed = int(ctx.rng.integers(2**31))
        X = ctx.pool.X[idx]
        return np.concatenate(
            [mc_dropout_probs(m, X, self.n_samples, seed + k) for k, m in enumerate(members)]
        )

    def select(self, ctx: QueryContext, n: int) -> Query:
        candidates = ctx.unlabeled_idx
        scored = ctx.subsample(candidates, self.max_candidates, n)
        scores = candidate_scores(candidates, scored, self.score_fn(self.sample_probs(ctx, scored)))
        # ties (varR takes only S + 1 values) are broken at random, not by pool position
        tie = ctx.rng.random(len(candidates))
        order = np.lexsort((tie, -np.where(np.isnan(scores), -np.inf, scores)))
        return Query(candidates[order[:n]], candidates, scores)


@register
class BALD(_Bayesian):
    """BALD: the mutual information between the label and the weights (MC dropout / ensemble)."""

    name = "bald"
    paper = "Gal, Islam & Ghahramani, ICML 2017 (BALD, Houlsby et al. 2011)"
    score_fn = staticmethod(bald)


@register
class VariationRatio(_Bayesian):
    """Variation ratio: how often the stochastic predictions disagree with their mode."""

    name = "varratio"
    paper = "Gal, Islam & Ghahramani, ICML 2017; Beluch et al., CVPR 2018 (ensembles)"
    score_fn = staticmethod(variation_ratio)


@register
class MCEntropy(_Bayesian):
    """Max entropy with MC dropout: the entropy of the predictive distribution averaged over
    ``n_samples`` dropout passes (× ``n_members`` ensemble members), the stronger form of the
    ``entropy`` baseline that seed 000 compares against."""

    name = "mc_entropy"
    paper = "Gal, Islam & Ghahramani, ICML 2017 (Max Entropy)"
    score_fn = staticmethod(predictive_entropy)
