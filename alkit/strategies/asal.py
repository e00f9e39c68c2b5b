"""ASAL: adversarial sampling for active learning (Mayer & Timofte, WACV 2020; seed 004, Alg. 1).

Each query (the classifier h_θ is already trained by the loop):

1. draw ``S`` latents z₀ ~ N(0, I) and raise the classifier's entropy of G(z) by Adam
   (eq. 1, :func:`alkit.kernels.latent.ascend_entropy`);
2. map the synthetic samples through a fixed feature map F, centre and project with the PCA
   fitted on the pool (§3.2: ``F_PCA(x) = P(F(x) − μ)``);
3. label their nearest unlabelled pool samples, without replacement (eq. 2,
   :meth:`alkit.kernels.nn_index.NearestIndex.match`), served in descending synthetic entropy.

Feature spaces (§3.2): ``gray`` (pixels), ``auto`` (the auto-encoder's code), ``disc`` (the
critic's last hidden layer) and ``cls`` (the classifier's penultimate layer: it changes every
round, so the pool is re-featurised each query, O(N); an analysis control only). The pool
features, PCA and index of the fixed spaces are computed on the first query and reused while the
pool array and the artifact stay the same objects.

Variants (App. C, Fig. 16): ``oversample=r`` generates ``r·n`` samples, matches them all and
keeps the ``n`` matched real samples of highest classifier entropy ("ASAL-generate");
``neighbors=k`` keeps ``k`` matches per synthetic sample and re-ranks them the same way
("ASAL-neighbors"). Both cost O(r·n) or O(k·n) classifier passes, independent of the pool size.

The generator, critic and auto-encoder are artifacts trained once on the unlabelled pool
(``wgan_gp``, ``autoencoder``); the strategy reads them from ``ctx.artifacts`` and never trains.
"""

from __future__ import annotations

import copy
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from alkit.artifacts import Artifact, load_trained
from alkit.errors import AlkitError
from alkit.kernels.blocks import block_bytes
from alkit.kernels.latent import OBJECTIVES, Z_PROJECTIONS, ascend_entropy, module_device
from alkit.kernels.nn_index import BACKENDS, NearestIndex
from alkit.kernels.pca import PCA, fit_pca_streamed, project_streamed
from alkit.strategies.base import Query, QueryContext, Strategy, candidate_scores, register
from alkit.strategies.options import Option
from alkit.strategies.uncertainty import entropy

FEATURE_SPACES = ("gray", "auto", "disc", "cls")


def gan_artifacts(ctx: QueryContext, features: str):
    """``(generator, critic, autoencoder or None)`` from the context's artifacts ``wgan_gp``
    and, for ``features="auto"``, ``autoencoder``: :class:`~alkit.artifacts.Artifact` entries as
    the loop builds them (rebuilt once by :func:`~alkit.artifacts.load_trained`), or objects
    with attributes ``generator``/``critic`` and ``autoencoder``; an :class:`AlkitError`
    naming what is missing otherwise."""
    found = getattr(ctx, "artifacts", None) or {}
    names = ["wgan_gp"] + (["autoencoder"] if features == "auto" else [])
    missing = [name for name in names if found.get(name) is None]
    if missing:
        raise AlkitError(
            f"asal (features={features!r}) needs the artifact(s) {missing}, trained once on the "
            f"unlabelled pool: the loop builds them when asal runs in an experiment, "
            f"`alkit pretrain wgan_gp` builds them ahead; the query context holds "
            f"{sorted(found) or 'no artifacts'}"
        )
    gan, ae = (
        load_trained(found[name]) if isinstance(found[name], Artifact) else found[name]
        for name in ("wgan_gp", "autoencoder" if len(names) > 1 else "wgan_gp")
    )
    return gan.generator, gan.critic, ae.autoencoder if len(names) > 1 else None


@dataclass
class FeatureStore:
    """The precomputed side of sample matching: the PCA and the index over the pool's ``S``."""

    pca: PCA
    index: NearestIndex
    timing: dict[str, float]


@contextmanager
def _eval(*modules):
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, mode in zip(modules, modes, strict=True):
            m.train(mode)


@register
class ASAL(Strategy):
    """Generate high-entropy samples with a GAN and label their nearest real pool samples.

    Options (all checked here): ``features`` (gray | auto | disc | cls), ``pca_dim`` (50; capped at
    the feature width), ``steps`` (100 Adam steps), ``lr`` (0.01, not given by the paper),
    ``latent_batch`` (latents optimised per batch; None = all at once), ``objective`` (entropy |
    margin), ``z_project`` (None | sphere), ``index`` (kdtree | brute | faiss | pynndescent),
    ``neighbors`` (k matches per synthetic sample), ``oversample`` (r·n synthetic samples),
    ``match_k`` (neighbours fetched per match before re-querying), ``pca_fit_rows`` (fit the
    PCA on a fixed random subset of this many pool rows; None = all), ``feature_batch`` (images
    per network pass), ``block_rows`` (brute-force block size).

    Scores: for plain ASAL −(distance to the synthetic sample matched), for the re-ranking
    variants the matched sample's entropy; NaN for every candidate not retrieved (scoring all
    would cost O(N)). ``info``: ``synthetic`` (the generated samples), ``latents``,
    ``entropy_synthetic``, ``entropy_trace`` ((steps+1) × S), ``matched`` (S × k pool indices),
    ``entropy_matched``, ``match_distance``, ``match_rank``, ``n_collisions`` (matches whose
    nearest pool sample was labelled or taken), ``pick_entropy`` and ``timing`` (seconds per
    phase: features_pool, pca_fit, project_pool, index_build on the query that builds the
    store, then ascent, generate, features_synthetic, match, rerank, total).
    """

    name = "asal"
    paper = "Mayer & Timofte, WACV 2020 (seed 004)"
    deterministic = False
    needs: ClassVar[frozenset[str]] = frozenset({"learner", "artifact:wgan_gp"})

    option_specs = {
        "features": Option(
            str, choices=FEATURE_SPACES, doc="matching space (gray, auto, disc, cls)"
        ),
        "pca_dim": Option(int, min=1, doc="PCA dimensions of the matching space (paper: 50)"),
        "steps": Option(int, min=1, doc="Adam steps of the latent ascent (eq. 1)"),
        "lr": Option(float, min=1e-12, doc="learning rate of the latent ascent"),
        "latent_batch": Option(int, min=1, none=True, doc="latents per ascent batch"),
        "objective": Option(str, choices=OBJECTIVES, doc="entropy, or margin (binary linear)"),
        "z_project": Option(
            str,
            choices=tuple(z for z in Z_PROJECTIONS if z),
            none=True,
            doc="keep latents on the sphere",
        ),  # fmt: skip
        "index": Option(str, choices=BACKENDS, doc="nearest-neighbour backend"),
        "neighbors": Option(int, min=1, doc="pool matches per synthetic sample (appendix)"),
        "oversample": Option(int, min=1, doc="synthetic samples per pick (appendix)"),
        "match_k": Option(int, min=1, doc="neighbours fetched per query while matching"),
        "pca_fit_rows": Option(int, min=2, none=True, doc="pool rows the PCA is fitted on"),
        "feature_batch": Option(int, min=1, doc="rows per feature pass"),
        "block_rows": Option(int, min=1, none=True, doc="rows per brute-force block"),
    }

    def __init__(
        self,
        features: str = "gray",
        pca_dim: int = 50,
        steps: int = 100,
        lr: float = 0.01,
        latent_batch: int | None = None,
        objective: str = "entropy",
        z_project: str | None = None,
        index: str = "kdtree",
        neighbors: int = 1,
        oversample: int = 1,
        match_k: int = 10,
        pca_fit_rows: int | None = None,
        feature_batch: int = 1024,
        block_rows: int | None = None,
    ):
        self.features = features
        self.pca_dim = pca_dim
        self.steps = steps
        self.lr = float(lr)
        self.latent_batch = latent_batch
        self.objective = objective
        self.z_project = z_project
        self.index = index
        self.neighbors = neighbors
        self.oversample = oversample
        self.match_k = match_k
        self.pca_fit_rows = pca_fit_rows
        self.feature_batch = feature_batch
        self.block_rows = block_rows
        self._store_key: tuple = ()
        self._store: FeatureStore | None = None
        self._moved: dict[int, tuple[torch.nn.Module, torch.nn.Module]] = {}

    def requirements(self) -> frozenset[str]:
        """The GAN always; the auto-encoder too when matching in its code space."""
        extra = {"artifact:autoencoder"} if self.features == "auto" else set()
        return frozenset(self.needs | extra)

    def preflight(self, setup) -> None:
        """The needs, and a classifier of the pool's images: the GAN generates images, so the
        model cannot read frozen features (``--features``)."""
        super().preflight(setup)
        if setup.features is not None:
            raise AlkitError(
                f"strategy 'asal' feeds generated images to the classifier, but the experiment "
                f"trains it on frozen {setup.features!r} features (--features); run asal "
                "without --features"
            )

    def __repr__(self) -> str:
        return f"ASAL(features={self.features!r}, index={self.index!r})"

    # -- helpers ------------------------------------------------------------------------------
    def _on(self, module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """``module`` itself when it lives on ``device``, else a cached copy moved there (the
        artifact is shared and is not moved in place)."""
        if module_device(module) == device:
            return module
        held = self._moved.get(id(module))
        if held is None or held[0] is not module:
            held = (module, copy.deepcopy(module).to(device))
            self._moved[id(module)] = held
        return held[1]

    def _feature_map(self, learner, critic, autoencoder):
        """F: a batch of samples (on the learner's device) → ``B × D_F`` features, plus the
        modules to hold in eval mode while it runs."""
        if self.features == "gray":
            return (lambda x: torch.flatten(x, 1)), ()
        if self.features == "disc":
            return critic.features, (critic,)
        if self.features == "auto":
            return autoencoder.encode, (autoencoder,)
        return learner.model.embed, (learner.model,)

    def _pool_block_fn(self, X, rows: np.ndarray | None, fmap, modules, device):
        """``block_fn(start, stop)`` → features of pool rows ``rows[start:stop]`` (all rows when
        ``rows`` is None), computed in batches of ``feature_batch`` images."""

        def block_fn(start: int, stop: int) -> torch.Tensor:
            out = []
            for s in range(start, stop, self.feature_batch):
                e = min(stop, s + self.feature_batch)
                sel = slice(s, e) if rows is None else rows[s:e]
                xb = torch.as_tensor(np.asarray(X[sel]), dtype=torch.float32, device=device)
                with _eval(*modules):
                    out.append(fmap(xb).float())
            return torch.cat(out)

        return block_fn

    def _build_store(self, X, fmap, modules, device) -> FeatureStore:
        """Features of the whole pool → PCA (fitted once) → ``S`` (``N × K``) → index."""
        timing: dict[str, float] = {}
        n = len(X)
        t0 = time.perf_counter()
        all_fn = self._pool_block_fn(X, None, fmap, modules, device)
        width = all_fn(0, 1).shape[1]
        k = min(self.pca_dim, width, n)
        fit_rows = None
        if self.pca_fit_rows is not None and self.pca_fit_rows < n:
            fit_rows = np.sort(np.random.default_rng(0).choice(n, self.pca_fit_rows, False))
        held = None
        if fit_rows is None and n * width * 4 <= 2 * block_bytes():
            held = all_fn(0, n)  # small enough: one feature pass, kept for the projection
            timing["features_pool"] = time.perf_counter() - t0
            t0 = time.perf_counter()

            def fn(start: int, stop: int) -> torch.Tensor:
                return held[start:stop]

            pca = fit_pca_streamed(fn, n, k)
            timing["pca_fit"] = time.perf_counter() - t0
        else:  # wide features: two streamed passes, never the whole N × D_F matrix
            fit_fn = (
                all_fn
                if fit_rows is None
                else self._pool_block_fn(X, fit_rows, fmap, modules, device)
            )
            pca = fit_pca_streamed(fit_fn, n if fit_rows is None else len(fit_rows), k)
            timing["features_pool"], timing["pca_fit"] = 0.0, time.perf_counter() - t0
            fn = all_fn
        t0 = time.perf_counter()
        S = project_streamed(fn, n, pca)
        timing["project_pool"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        index = NearestIndex(S, self.index, seed=0, block_rows=self.block_rows)
        timing["index_build"] = time.perf_counter() - t0
        return FeatureStore(pca, index, timing)

    def _feature_store(self, ctx, fmap, modules, device, key_objects) -> tuple[FeatureStore, bool]:
        """The cached store for this pool and these artifacts (``cls``: always rebuilt)."""
        key = (ctx.pool.X, *key_objects)
        same = (
            self._store is not None
            and len(ctx.pool) == self._store.index.n
            and all(a is b for a, b in zip(key, self._store_key, strict=True))
        )
        if self.features != "cls" and same:
            return self._store, False
        store = self._build_store(ctx.pool.X, fmap, modules, device)
        if self.features != "cls":
            self._store_key, self._store = key, store
        return store, True

    # -- the query ----------------------------------------------------------------------------
    def select(self, ctx: QueryContext, n: int) -> Query:
        t_start = time.perf_counter()
        generator, critic, autoencoder = gan_artifacts(ctx, self.features)
        latent_dim = getattr(generator, "latent_dim", None)
        if not isinstance(latent_dim, int):
            raise AlkitError("the wgan_gp generator must expose latent_dim (its input width)")
        learner = ctx.require_learner(self.name)
        device = learner.device
        generator = self._on(generator, device)
        critic = self._on(critic, device)
        autoencoder = None if autoencoder is None else self._on(autoencoder, device)
        fmap, modules = self._feature_map(learner, critic, autoencoder)
        store, built = self._feature_store(
            ctx, fmap, modules, device, (generator, critic, autoencoder)
        )
        timing = dict(store.timing) if built else {}

        candidates = ctx.unlabeled_idx
        n_free = len(candidates)
        per = self.neighbors
        n_syn = max(-(-n // per), min(n * self.oversample, n_free // per))
        if n_syn * per > n_free:  # too few free samples for k matches each: match one each
            n_syn, per = min(n * self.oversample, n_free), 1
        z0 = ctx.rng.standard_normal((n_syn, latent_dim)).astype(np.float32)

        t0 = time.perf_counter()
        ascent = ascend_entropy(
            generator,
            learner.model,
            z0,
            steps=self.steps,
            lr=self.lr,
            objective=self.objective,
            z_project=self.z_project,
            batch_size=self.latent_batch,
        )
        timing["ascent"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with _eval(generator):
            synthetic = torch.cat(
                [
                    generator(ascent.z_S_L[s : s + self.feature_batch])
                    for s in range(0, n_syn, self.feature_batch)
                ]  # fmt: skip
            )
        timing["generate"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with _eval(*modules):
            f_syn = store.pca.transform(fmap(synthetic).float())
        timing["features_synthetic"] = time.perf_counter() - t0

        ent_syn = ascent.entropy_T_S[-1].double().cpu().numpy()
        order = np.argsort(-ent_syn, kind="stable")
        t0 = time.perf_counter()
        matching = store.index.match(
            f_syn, exclude_N=ctx.pool.labeled_mask, order=order, per_query=per, k0=self.match_k
        )
        timing["match"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        matched = matching.indices_Q_p
        ent_matched = entropy(ctx.predict_proba(matched.ravel())).reshape(matched.shape)
        served = matched[order].ravel()  # in the order the synthetic samples were served
        if per == 1 and n_syn == n:
            picks = served
            values = -matching.distances_Q_p[order].ravel()
        else:  # ASAL-generate / ASAL-neighbors: the n most uncertain matched real samples
            ent_served = ent_matched[order].ravel()
            picks = served[np.argsort(-ent_served, kind="stable")[:n]]
            values = ent_served
        timing["rerank"] = time.perf_counter() - t0
        srt = np.argsort(served)
        scores = candidate_scores(candidates, served[srt], np.asarray(values)[srt])
        timing["total"] = time.perf_counter() - t_start

        pick_ent = entropy(ctx.predict_proba(picks))
        info = {
            "feature_space": self.features,
            "synthetic": synthetic.detach().cpu().numpy(),
            "latents": ascent.z_S_L.cpu().numpy(),
            "entropy_synthetic": ent_syn,
            "entropy_trace": ascent.entropy_T_S.double().cpu().numpy(),
            "matched": matched,
            "entropy_matched": ent_matched,
            "match_distance": matching.distances_Q_p,
            "match_rank": matching.ranks_Q_p,
            "n_collisions": int((matching.ranks_Q_p > 0).sum()),
            "pick_entropy": float(pick_ent.mean()),
            "pca_dim": store.pca.n_components,
            "store_built": built,
            "timing": timing,
        }
        return Query(picks, candidates, scores, info)
