"""Fisher-kernel self-supervision for biased pools (Gudovskiy et al., seed 000): ``pfk``, ``pcc``.

Algorithm 1 (variant with a weakly-supervised validation set):

1. take the validation samples the model misclassifies (weak supervision, §4.4);
2. when there are more than ``P`` of them, keep ``P`` centres by farthest-first k-center in the
   similarity space;
3. compute descriptors ``z`` and Fisher scores ``g`` of the unlabelled pool (one forward and one
   backward pass per sample, the pool side labelled by the pseudo-label estimator ``S``), take the
   top-K pool matches of each centre under ``R_zg = R_z ∘ R_g`` (eq. 12), and merge them rank by
   rank into ``P`` distinct pool indices (the authors' code, REFERENCES.md).

The validation side uses its true labels for ``g``. ``P`` is the query size ``n``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
import torch.nn.functional as F

from alkit.errors import AlkitError
from alkit.kernels.fisher import (
    KERNELS,
    fisher_features,
    global_pool,
    kcenter_similarity,
    merge_rank_by_rank,
    pfk_topk,
)
from alkit.kernels.fisher_mc import check_mc_samples, mc_pseudo_labels
from alkit.models import MLP, LeNet, ResNet
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

ESTIMATORS = ("true", "yhat", "mc_trace", "mc_mi", "phat")


def default_taps(model) -> tuple[str, ...]:
    """The multi-scale descriptor taps: LeNet's ``x1, x2, x4`` (L=80, §5.1); for other models
    every tap but the ``embedding`` alias (or the embedding alone when it is the only one)."""
    if isinstance(model, LeNet):
        return ("x1", "x2", "x4")
    taps = tuple(t for t in model.tap_names if t != "embedding")
    return taps or ("embedding",)


def tap_widths(model, x_1) -> dict[str, int]:
    """Channel count of every tap, probed with one eval forward pass of ``x_1`` (``1 × ...``)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        x = torch.as_tensor(np.asarray(x_1), dtype=torch.float32)
        x = x.to(next(model.parameters()).device)
        _, taps = model.forward_taps(x)
    model.train(was_training)
    return {name: global_pool(t).shape[1] for name, t in taps.items()}


def static_tap_widths(model) -> dict[str, int] | None:
    """Channel count of every tap of an alkit model read from its layers (no forward pass, so
    the preflight needs no data); ``None`` for a model type it does not know."""
    if isinstance(model, LeNet):
        widths = {
            "x1": model.conv1.out_channels,
            "x2": model.conv2.out_channels,
            "x4": model.fc1.out_features,
        }
    elif isinstance(model, MLP):
        widths = {f"hidden{k + 1}": layer.out_features for k, layer in enumerate(model.layers)}
    elif isinstance(model, ResNet):
        bns = [
            [m for m in st.modules() if isinstance(m, torch.nn.BatchNorm2d)] for st in model.stages
        ]
        widths = {"stem": model.stem[1].num_features}
        widths.update({f"layer{i + 1}": b[-1].num_features for i, b in enumerate(bns)})
    else:
        return None
    widths["embedding"] = model.head.in_features
    return widths


def taps_for_length(model, length: int, x_1) -> tuple[str, ...]:
    """The descriptor taps whose channels add up to ``length`` (LeNet: 80 → x1, x2, x4;
    20 → x2), the smallest such set first, taps in model order."""
    widths = tap_widths(model, x_1)
    names = [t for t in model.tap_names if t != "embedding"] or ["embedding"]
    for size in range(1, len(names) + 1):
        for combo in itertools.combinations(names, size):
            if sum(widths[t] for t in combo) == length:
                return combo
    raise AlkitError(
        f"no set of taps has descriptor length L={length}; tap widths: "
        f"{ {t: widths[t] for t in names} }"
    )


def parse_taps(taps) -> tuple[str, ...] | None:
    """``"x1,x2"`` or a sequence → a tuple of names (``None`` stays ``None``)."""
    if taps is None:
        return None
    if isinstance(taps, str):
        return tuple(t.strip() for t in taps.split(",") if t.strip())
    return tuple(taps)


def nearest_validation_labels(z_B_L: torch.Tensor, zv_M_L: torch.Tensor, y_val_M, block=4096):
    """p̂(y, z): the label of the most similar validation sample under ``R_z`` (§4.3).

    ``z_B_L`` and ``zv_M_L`` are standardised descriptors; the validation side is walked in
    blocks. Returns ``B`` labels (int64 tensor).
    """
    best_v = torch.full((len(z_B_L),), -math.inf)
    best_i = torch.zeros(len(z_B_L), dtype=torch.long)
    for start in range(0, len(zv_M_L), block):
        r = z_B_L.cpu() @ zv_M_L[start : start + block].T
        v, i = r.max(1)
        better = v > best_v
        best_v[better], best_i[better] = v[better], i[better] + start
    return torch.as_tensor(np.asarray(y_val_M))[best_i]


class _FisherStrategy(Strategy):
    paper = "Gudovskiy et al., CVPR-W 2020 (seed 000)"
    deterministic = True
    #: can select before any label exists (round 0 after rotation pretraining, Alg. 1 line 1)
    cold_start = True
    needs = frozenset({"learner", "validation"})
    option_specs = {
        "kernel": Option(str, choices=KERNELS, doc="rzg (eq. 12), sum (authors' code), rz"),
        "estimator": Option(str, choices=ESTIMATORS, doc="pool-side pseudo-label estimator S"),
        "taps": Option(list, none=True, doc="descriptor taps, e.g. [x1,x2,x4]"),
        "length": Option(int, min=1, none=True, doc="descriptor length L (picks the taps)"),
        "top_k": Option(int, min=1, doc="pool matches per centre"),
        "n_mc": Option(
            int, min=1, doc="Monte-Carlo perturbations K of the mc_* estimators (mc_mi: ≥ 2L_j+1)"
        ),
        "max_candidates": MAX_CANDIDATES,
        "block_size": Option(int, min=1, doc="pool columns per similarity block"),
        "batch_size": Option(int, min=1, doc="samples per forward/backward batch"),
        "mc_degrees": Option(float, min=0.0, doc="rotation range of the MC perturbations"),
        "mc_noise": Option(float, min=0.0, doc="noise std of the MC perturbations"),
        "mc_centred": Option(
            bool,
            doc="tr(C_zg) centred over the K samples (measured at chance; default: per sample)",
        ),
        "mc_standardize": Option(bool, doc="standardise z and g per sample and scale (eq. 6)"),
    }

    def __init__(
        self,
        kernel: str = "rzg",
        estimator: str = "phat",
        taps=None,
        length: int | None = None,
        top_k: int = 32,
        n_mc: int = 128,
        max_candidates: int | None = None,
        block_size: int = 4096,
        batch_size: int = 256,
        mc_degrees: float = 5.0,
        mc_noise: float = 0.05,
        mc_centred: bool = False,
        mc_standardize: bool = True,
    ):
        if taps is not None and length is not None:
            raise AlkitError(
                f"strategy {self.name!r}: give either taps or length, not both "
                f"(got taps={taps!r}, length={length!r})"
            )
        self.kernel = kernel
        self.estimator = estimator
        self.taps = parse_taps(taps)
        self.length = length
        self.top_k = top_k
        self.n_mc = n_mc
        self.max_candidates = max_candidates
        self.block_size = block_size
        self.batch_size = batch_size
        self.mc_degrees = mc_degrees
        self.mc_noise = mc_noise
        self.mc_centred = mc_centred
        self.mc_standardize = mc_standardize

    def preflight(self, setup: Setup) -> None:
        """The needs, and taps (or a length L) that the experiment's model has."""
        super().preflight(setup)
        model = setup.model
        names = tuple(model.tap_names)
        if self.taps is not None:
            missing = [t for t in self.taps if t not in names]
            if missing:
                raise AlkitError(
                    f"strategy {self.name!r}: taps {missing} are not taps of model "
                    f"{type(model).__name__}; its taps are {list(names)}"
                )
        if self.length is not None:
            widths = static_tap_widths(model)
            if widths is not None:
                usable = [t for t in names if t != "embedding"] or ["embedding"]
                sizes = {
                    sum(widths[t] for t in combo)
                    for k in range(1, len(usable) + 1)
                    for combo in itertools.combinations(usable, k)
                }
                if self.length not in sizes:
                    raise AlkitError(
                        f"strategy {self.name!r}: no set of taps of model "
                        f"{type(model).__name__} has descriptor length L={self.length}; its "
                        f"taps and widths are { {t: widths[t] for t in usable} }"
                    )
        if self.estimator == "mc_mi":  # enough MC samples for the widest tap's covariance
            widths = static_tap_widths(model)
            if widths is not None and self.length is None:
                taps = self.taps if self.taps is not None else default_taps(model)
                check_mc_samples(self.n_mc, [widths[t] for t in taps], option="n_mc")

    def resolve_taps(self, model, x_1) -> tuple[str, ...]:
        if self.taps is not None:
            return self.taps
        if self.length is not None:
            return taps_for_length(model, int(self.length), x_1)
        return default_taps(model)

    def _pool_labels(self, ctx, model, X_pool, scored, taps, zv_M_L, y_val, n_classes):
        """The pool-side labels for ``g`` under estimator ``S`` (§4.3); passes it cost."""
        if self.kernel == "rz":
            return None, {}
        if self.estimator == "yhat":
            return "yhat", {}
        if self.estimator == "true":
            return ctx.pool.oracle.peek(scored), {}
        if self.estimator == "phat":
            return (lambda z, logits: nearest_validation_labels(z, zv_M_L, y_val)), {}
        if self.estimator == "mc_mi":
            widths = tap_widths(model, X_pool[:1])
            check_mc_samples(self.n_mc, [widths[t] for t in taps], option="n_mc")
        labels, _, backward_per = mc_pseudo_labels(
            model,
            X_pool,
            taps,
            n_classes,
            metric=self.estimator,
            k=self.n_mc,
            max_degrees=self.mc_degrees,
            noise_std=self.mc_noise,
            seed=int(ctx.rng.integers(2**31)),
            centred=self.mc_centred,
            standardize=self.mc_standardize,
        )
        n = len(scored)
        return labels, {"forward": self.n_mc * n, "backward": backward_per * n}

    def select(self, ctx: QueryContext, n: int) -> Query:
        learner = ctx.require_learner(self.name)
        if ctx.X_val is None or ctx.y_val is None or len(ctx.y_val) == 0:
            raise AlkitError(
                f"strategy {self.name!r} needs a labelled validation set: set --val-per-class N "
                "(TOML: val_per_class) with N ≥ 1"
            )
        model, device = learner.model, learner.device
        y_val = np.asarray(ctx.y_val, dtype=np.int64)
        taps = self.resolve_taps(model, ctx.X_val[:1])
        with_g = self.kernel != "rz"

        # Alg. 1 lines 3-7: misclassified validation subset, k-center to at most n centres
        val = fisher_features(
            model, ctx.X_val, taps, y_val if with_g else None, self.batch_size, device
        )
        losses = F.cross_entropy(val.logits_N_C, torch.as_tensor(y_val), reduction="none")
        wrong = np.flatnonzero(val.logits_N_C.argmax(1).numpy() != y_val)
        centres_from = wrong if len(wrong) else np.arange(len(y_val))
        zv, gv = val.z_N_L[centres_from], None if val.g_N_L is None else val.g_N_L[centres_from]
        if len(centres_from) > n:
            first = int(torch.argmax(losses[centres_from]))
            keep = kcenter_similarity(zv, n, gv, self.kernel, first=first)
            centres, zv = centres_from[keep], zv[keep]
            gv = None if gv is None else gv[keep]
        else:
            centres = centres_from

        # lines 8-10: pool descriptors and Fisher scores, top-K per centre, rank-by-rank merge
        candidates = ctx.unlabeled_idx
        scored = ctx.subsample(candidates, self.max_candidates, n)
        X_pool = ctx.pool.X[scored]
        n_classes = val.logits_N_C.shape[1]
        labels, mc_passes = self._pool_labels(
            ctx, model, X_pool, scored, taps, val.z_N_L, y_val, n_classes
        )
        pool = fisher_features(model, X_pool, taps, labels, self.batch_size, device)
        k = max(self.top_k, -(-n // len(centres)))
        values, match_pos, best = pfk_topk(
            zv, pool.z_N_L, gv, pool.g_N_L, self.kernel, k, self.block_size
        )
        picked = merge_rank_by_rank(match_pos.numpy(), n)
        if len(picked) < n:  # too few distinct matches: fill with the best-scoring rest
            taken = set(picked.tolist())
            rest = [p for p in top_n(best.double().numpy(), len(scored)) if p not in taken]
            picked = np.concatenate([picked, np.asarray(rest[: n - len(picked)], np.int64)])

        scores = candidate_scores(candidates, scored, best.double().numpy())
        info = {
            "taps": taps,
            "blocks": pool.blocks,
            "kernel": self.kernel,
            "estimator": self.estimator,
            "n_misclassified": int(len(wrong)),
            "centres": centres,
            "match_indices": scored[match_pos.numpy()],
            "match_values": values.numpy(),
            "pseudo_labels": None if pool.labels_N is None else pool.labels_N.numpy(),
            "scored": scored,
            "passes": {
                "forward": val.n_forward + pool.n_forward + mc_passes.get("forward", 0),
                "backward": val.n_backward + pool.n_backward + mc_passes.get("backward", 0),
            },
        }
        return Query(scored[picked], candidates, scores, info)


@register
class PFK(_FisherStrategy):
    """Practical Fisher kernel ``R_zg`` (eq. 12) with Algorithm 1 and pseudo-label estimator S.

    Options: ``kernel`` (``"rzg"`` = R_z ∘ R_g, the paper; ``"sum"`` = R_z + R_g, the authors'
    code; ``"rz"`` = PCC), ``estimator`` S (``"phat"`` p̂(y, z) from the nearest validation
    sample, ``"yhat"`` the model's argmax, ``"mc_trace"`` / ``"mc_mi"`` Monte-Carlo over
    ``n_mc`` perturbations (128, the authors' K; ``mc_mi`` needs ``n_mc ≥ 2 L_j + 1`` for the
    widest tap; ``mc_centred=True`` centres the trace over the K samples instead of per sample,
    ``mc_standardize=False`` skips the eq. 6 standardisation: see
    :mod:`alkit.kernels.fisher_mc`), ``"true"`` the hidden labels — an ablation that peeks at
    the oracle),
    ``taps`` (comma-separated) or ``length`` L, ``top_k`` matches per centre (32),
    ``max_candidates`` to score a random pool subset, ``block_size`` pool columns per block.
    """

    name = "pfk"


@register
class PCC(_FisherStrategy):
    """Pearson-correlation descriptor matching ``R_z`` (eq. 6) with Algorithm 1: forward passes
    only (Table 1: ``M + N̂``)."""

    name = "pcc"

    def __init__(
        self,
        taps=None,
        length: int | None = None,
        top_k: int = 32,
        max_candidates: int | None = None,
        block_size: int = 4096,
        batch_size: int = 256,
    ):
        super().__init__(
            kernel="rz",
            estimator="yhat",
            taps=taps,
            length=length,
            top_k=top_k,
            max_candidates=max_candidates,
            block_size=block_size,
            batch_size=batch_size,
        )
