"""Edge cases inside strategies and kernels (issue 9 §4): each gives an alkit error or a correct
result, never a numpy/torch traceback or silently wrong picks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import cached_splits, make_context

from alkit.data import Pool
from alkit.errors import AlkitError
from alkit.kernels import (
    badge_pairwise_sqdist,
    badge_seeding,
    kcenter_greedy,
    kmeans,
    kmeans_pp_seeding,
    knn,
    min_sqdist,
    pairwise_sqeuclidean,
)
from alkit.kernels.kcenter import farthest_from_mean
from alkit.models import build_model
from alkit.strategies import QueryContext, get_strategy
from alkit.strategies.uncertainty import margin
from alkit.train import Learner, TrainConfig, seed_everything


def unlabelled_context(seed: int = 0) -> QueryContext:
    """The shared trained digits model over a pool where nothing is labelled."""
    ctx = make_context(seed=seed)
    return QueryContext(
        Pool(ctx.pool.X, ctx.pool.oracle.peek(np.arange(len(ctx.pool)))),
        ctx.learner,
        rng=np.random.default_rng(seed),
        round=0,
    )


def test_embed_and_predict_of_no_rows_have_the_right_shape():
    ctx = unlabelled_context()
    assert ctx.embed([]).shape == (0, ctx.learner.model.embedding_dim)
    assert ctx.predict_proba(np.array([], dtype=np.int64)).shape == (0, 10)
    np.testing.assert_allclose(ctx.embed([0, 1]), ctx.learner.embed(ctx.pool.X[:2]), atol=1e-5)


@pytest.mark.parametrize("spec", ["gmm_like", "gmm_hybrid:metrics=like+ent"])
def test_gmm_likelihood_without_labelled_samples_says_so(spec):
    with pytest.raises(AlkitError, match="needs at least one labelled sample: ψ_L"):
        get_strategy(spec).query(unlabelled_context(), 5)


def test_gmm_hybrid_without_likelihood_runs_without_labelled_samples():
    q = get_strategy("gmm_hybrid:metrics=ent:diversify=false").query(unlabelled_context(), 5)
    assert len(np.unique(q.indices)) == 5
    np.testing.assert_allclose(q.info["I_Ent"][q.indices], np.sort(q.info["I_Ent"])[::-1][:5])


def test_margin_of_a_one_class_model():
    np.testing.assert_allclose(margin(np.ones((4, 1))), 0.0, atol=0)
    np.testing.assert_allclose(margin(np.array([[0.25], [1.0]])), [0.75, 0.0])
    with pytest.raises(AlkitError, match="C ≥ 1"):
        margin(np.zeros((3, 0)))

    splits = cached_splits("digits")
    labeled = np.flatnonzero(splits.y_pool == 3)[:20]
    pool = Pool(splits.X_pool, np.zeros_like(splits.y_pool), labeled_idx=labeled)
    seed_everything(0)
    learner = Learner(
        build_model("mlp", splits.X_pool.shape[1:], 1),
        TrainConfig(epochs=1, min_steps=5),
        device="cpu",
    )
    learner.fit(pool.X[labeled], pool.labeled_y)
    ctx = QueryContext(pool, learner, rng=np.random.default_rng(0))
    q = get_strategy("margin").query(ctx, 6)
    assert len(np.unique(q.indices)) == 6
    np.testing.assert_allclose(q.scores, 0.0, atol=1e-6)  # one class: nothing is uncertain


HUGE = 3e19  # squared norms ≈ 1e39·D: beyond float32


def huge_features(n=12, d=4, seed=0):
    return (np.random.default_rng(seed).normal(size=(n, d)) * HUGE).astype(np.float32)


@pytest.mark.parametrize(
    "call",
    [
        lambda X: kcenter_greedy(X, [0], 3),
        lambda X: kcenter_greedy(X, [], 3),
        lambda X: kmeans(X, 3),
        lambda X: kmeans_pp_seeding(X, 3, np.random.default_rng(0)),
        lambda X: badge_seeding(
            X, np.full((len(X), 2), 0.5, np.float32), 3, np.random.default_rng(0)
        ),
        lambda X: badge_pairwise_sqdist(X, np.full((len(X), 2), 0.5), X[:2], np.ones((2, 2))),
        lambda X: knn(X, None, k=2),
        lambda X: min_sqdist(X, X[:2]),
        lambda X: pairwise_sqeuclidean(X, X[:2]),
    ],
    ids=[
        "kcenter",
        "kcenter_unlabelled",
        "kmeans",
        "kmeans_pp",
        "badge",
        "badge_dist",
        "knn",
        "min_sqdist",
        "pairwise",
    ],
)
def test_features_whose_squared_norms_overflow_float32_are_refused(call):
    X = huge_features()
    assert np.isfinite(X).all() and ((X.astype(np.float64) ** 2).sum(1) > 3.4e38).all()
    with pytest.raises(AlkitError, match="overflows float32.*rescale"):
        call(X)


def test_large_but_safe_features_still_give_exact_kcenter_picks():
    X = huge_features() * np.float32(1e-3)  # ≈ 3e16: squared norms ≈ 1e34, finite distances
    picks, radii, _ = kcenter_greedy(X, [0], 4, return_distances=True)
    assert len(np.unique(picks)) == 4 and 0 not in picks and np.isfinite(radii).all()


@pytest.mark.parametrize("spec", ["coreset", "badge", "kmeans"])
def test_strategies_on_overflowing_embeddings_give_an_alkit_error(spec, monkeypatch):
    ctx = make_context()
    # monkeypatch undoes this after the test: the learner is cached and shared with others
    monkeypatch.setattr(ctx.learner, "embed", lambda X: np.full((len(X), 8), HUGE, np.float32))
    with pytest.raises(AlkitError, match="overflows float32"):
        get_strategy(spec).query(ctx, 5)


def largest_allocation(fn) -> int:
    """The largest single CPU allocation (bytes) any torch op makes while ``fn()`` runs."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
        fn()
    return max(e.cpu_memory_usage for e in prof.events())


@pytest.mark.parametrize("labeled", [[], [3, 500, 4000]])
def test_kcenter_allocates_no_copy_of_the_features(labeled, monkeypatch):
    # row blocks of 64 KiB: every temporary stays far below one copy of X (2 MiB)
    monkeypatch.setenv("ALKIT_BLOCK_BYTES", str(64 * 1024))
    X = torch.randn(8192, 64, generator=torch.Generator().manual_seed(0))
    picks = kcenter_greedy(X, labeled, 5)
    assert len(np.unique(picks)) == 5
    assert largest_allocation(lambda: kcenter_greedy(X, labeled, 5)) < X.numel() * 4 // 8


def test_blocked_farthest_from_mean_equals_the_direct_formula():
    X = torch.randn(1000, 7, generator=torch.Generator().manual_seed(1))
    want = int(torch.argmax(((X - X.mean(0)) ** 2).sum(1)))
    for rows in (None, 1, 33):
        assert farthest_from_mean(X, rows) == want
