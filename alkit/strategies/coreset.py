"""Core-set selection by greedy k-center on the model's embeddings (Sener & Savarese, ICLR 2018)."""

from __future__ import annotations

import os

import numpy as np
import torch

from alkit.errors import AlkitError
from alkit.kernels import kcenter_greedy
from alkit.kernels.kcenter import BACKENDS
from alkit.strategies.base import Query, QueryContext, Setup, Strategy, register
from alkit.strategies.options import Option
from alkit.strategies.typiclust import FEATURE_SOURCES, feature_requirements, strategy_features


def pool_features(ctx: QueryContext, source: str = "embed") -> torch.Tensor:
    """The whole pool's features, ``N × D``: penultimate embeddings (``"embed"``) or the
    flattened inputs (``"input"``), on the learner's device (the CPU without a learner)."""
    if source == "embed":
        ctx.require_learner("embeddings")
    feats = torch.as_tensor(strategy_features(ctx, source))
    return feats if ctx.learner is None else feats.to(ctx.learner.device)


@register
class CoreSet(Strategy):
    """Greedy k-center (Sener & Savarese 2018, Alg. 1): repeatedly add the unlabelled sample
    farthest from its nearest labelled-or-chosen sample in embedding space
    (``features="embed"``) or input space (``features="input"``: on a frozen-feature
    experiment, the self-supervised features; needs no model).

    Scores: each candidate's Euclidean distance to its nearest labelled sample before the query
    (higher = farther from what is labelled). ``info["radii"]`` holds the distance of each pick
    at the moment it was chosen (non-increasing).
    """

    name = "coreset"
    paper = "Sener & Savarese, ICLR 2018"
    #: with no labelled sample the first centre is the row farthest from the mean
    cold_start = True
    needs = frozenset({"learner"})
    option_specs = {
        "block_rows": Option(int, min=1, none=True, doc="rows per block of the distance pass"),
        "backend": Option(str, choices=BACKENDS, doc="k-center loop: torch, triton or auto"),
        "features": Option(
            str,
            choices=FEATURE_SOURCES,
            doc="k-center on the model's embeddings or the (frozen-feature) inputs",
        ),  # fmt: skip
    }

    def __init__(self, block_rows: int | None = None, backend: str = "auto", features="embed"):
        self.block_rows = block_rows
        self.backend = backend
        self.features = features

    def requirements(self) -> frozenset[str]:
        """No model needed for k-center on the inputs (``features="input"``)."""
        return feature_requirements(self.needs, self.features)

    def preflight(self, setup: Setup) -> None:
        """The needs, and ``backend="triton"`` only where Triton can run (a CUDA device, or
        the interpreter under ``TRITON_INTERPRET=1``)."""
        super().preflight(setup)
        if self.backend == "triton":
            from alkit.kernels.triton_kcenter import triton, triton_usable

            on_cuda = torch.device(setup.device).type == "cuda" and torch.cuda.is_available()
            interpreted = os.environ.get("TRITON_INTERPRET") == "1"
            if triton is None or not triton_usable() or not (on_cuda or interpreted):
                raise AlkitError(
                    "strategy 'coreset' option backend='triton' needs Triton and a CUDA device "
                    f"(the experiment runs on {setup.device}, Triton "
                    f"{'missing' if triton is None else 'installed'}); use backend=torch or auto"
                )

    def select(self, ctx: QueryContext, n: int) -> Query:
        candidates = ctx.unlabeled_idx
        picks, radii, initial = kcenter_greedy(
            pool_features(ctx, self.features),
            ctx.labeled_idx,
            n,
            block_rows=self.block_rows,
            backend=self.backend,
            return_distances=True,
        )
        scores = np.sqrt(initial[candidates])
        return Query(picks, candidates, scores, info={"radii": np.sqrt(radii)})
