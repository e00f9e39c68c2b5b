"""The pfk / pcc strategies (seed 000): Algorithm 1, the pseudo-label estimators, the bias claim."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from conftest import cached_dataset, make_context, requires_fashion

from alkit.data import Pool, build_splits
from alkit.errors import AlkitError
from alkit.models import build_model
from alkit.strategies import QueryContext, get_strategy
from alkit.strategies.fisher import nearest_validation_labels, taps_for_length
from alkit.train import Learner, TrainConfig, seed_everything


def test_pfk_query_returns_p_distinct_unlabelled_indices_and_documents_algorithm_1():
    ctx = make_context(seed=0)
    q = get_strategy("pfk").query(ctx, 15)
    assert len(np.unique(q.indices)) == 15 and not ctx.pool.labeled_mask[q.indices].any()
    info = q.info
    assert len(info["centres"]) == min(15, info["n_misclassified"])
    wrong = ctx.learner.predict(ctx.X_val) != ctx.y_val
    assert wrong[info["centres"]].all(), "every centre must be a misclassified validation sample"
    # the selection is the rank-by-rank merge of the centres' match lists
    merged, seen = [], set()
    for rank in range(info["match_indices"].shape[1]):
        for idx in info["match_indices"][:, rank]:
            if idx not in seen and len(merged) < 15:
                seen.add(idx)
                merged.append(idx)
    np.testing.assert_array_equal(q.indices, merged)
    # each centre's matches are its best pool samples under the kernel, best first
    assert (np.diff(info["match_values"], axis=1) <= 0).all()
    picked_scores = q.scores[np.searchsorted(q.candidates, q.indices)]
    assert np.isfinite(picked_scores).all()


def test_true_estimator_uses_the_hidden_labels_and_yhat_the_predictions():
    ctx = make_context(seed=0)
    q = get_strategy("pfk:estimator=true").query(ctx, 5)
    np.testing.assert_array_equal(q.info["pseudo_labels"], ctx.pool.oracle.peek(q.info["scored"]))
    assert ctx.pool.oracle.n_queries == len(ctx.labeled_idx), "peeking must not count as queries"
    q = get_strategy("pfk:estimator=yhat").query(ctx, 5)
    np.testing.assert_array_equal(
        q.info["pseudo_labels"], ctx.learner.predict(ctx.pool.X[q.info["scored"]])
    )


def test_phat_returns_the_label_of_a_validation_twin():
    ctx = make_context(seed=0)
    # a pool made of copies of the validation images: p̂(y, z) must find each twin's label
    order = np.random.default_rng(0).permutation(len(ctx.y_val))
    twin_pool = Pool(ctx.X_val[order], ctx.y_val[order])
    twin_ctx = QueryContext(twin_pool, ctx.learner, np.random.default_rng(0), ctx.X_val, ctx.y_val)
    q = get_strategy("pfk:estimator=phat").query(twin_ctx, 5)
    np.testing.assert_array_equal(q.info["pseudo_labels"], ctx.y_val[order])


def test_nearest_validation_labels_walks_the_validation_set_in_blocks():
    import torch

    rng = torch.Generator().manual_seed(0)
    zv, z = torch.randn(11, 6, generator=rng), torch.randn(4, 6, generator=rng)
    y_val = np.arange(11) % 3
    want = y_val[(z @ zv.T).argmax(1).numpy()]
    for block in (1, 3, 100):
        got = nearest_validation_labels(z, zv, y_val, block=block)
        np.testing.assert_array_equal(got.numpy(), want)


def test_pcc_needs_forward_passes_only_and_options_are_checked():
    ctx = make_context(seed=0)
    q = get_strategy("pcc").query(ctx, 5)
    assert q.info["passes"]["backward"] == 0
    assert q.info["passes"]["forward"] == len(ctx.y_val) + len(ctx.unlabeled_idx)
    with pytest.raises(AlkitError, match="estimator must be one of"):
        get_strategy("pfk:estimator=oracle")
    with pytest.raises(AlkitError, match="kernel must be one of"):
        get_strategy("pfk:kernel=rbf")
    no_val = make_context(seed=0)
    no_val.X_val = no_val.y_val = None
    with pytest.raises(AlkitError, match="validation set"):
        get_strategy("pfk").query(no_val, 3)


def test_descriptor_length_picks_the_paper_taps_on_lenet():
    net = build_model("lenet", (1, 28, 28), 10)
    x = np.zeros((1, 1, 28, 28), np.float32)
    assert taps_for_length(net, 80, x) == ("x1", "x2", "x4")
    assert taps_for_length(net, 20, x) == ("x2",)
    with pytest.raises(AlkitError, match="L=33"):
        taps_for_length(net, 33, x)


@functools.cache
def _biased_round1_context(seed: int):
    """Fashion-MNIST, 100× imbalance on 5-9, a 4,000 subsample of the pool, LeNet trained on 50
    random labels: the state of round 1."""
    splits = build_splits(
        cached_dataset("fashion_mnist"),
        seed=seed,
        val_per_class=20,
        imbalance=100,
        pool_size=4000,
        test_size=100,
    )
    pool = Pool(splits.X_pool, splits.y_pool)
    pool.label(np.random.default_rng(seed).choice(len(pool), 50, replace=False))
    seed_everything(seed)
    net = build_model("lenet", splits.X_pool.shape[1:], 10)
    learner = Learner(net, TrainConfig(epochs=10, min_steps=150), device="cpu", seed=seed)
    learner.fit(pool.X[pool.labeled_idx], pool.labeled_y)
    return pool, learner, splits


@requires_fashion
def test_pfk_phat_selects_more_rare_classes_than_random_under_100x_imbalance():
    shares = {"pfk": [], "random": []}
    for seed in range(3):
        pool, learner, splits = _biased_round1_context(seed)
        for name in shares:
            ctx = QueryContext(
                pool, learner, np.random.default_rng(seed), splits.X_val, splits.y_val, round=1
            )
            q = get_strategy(name).query(ctx, 50)
            shares[name].append(np.isin(pool.oracle.peek(q.indices), range(5, 10)).mean())
    pfk, rnd = np.mean(shares["pfk"]), np.mean(shares["random"])
    assert pfk > rnd + 0.05, shares


@pytest.mark.parametrize("metric", ["mc_trace", "mc_mi"])
def test_mc_estimators_label_the_scored_pool_and_count_k_times_d_passes(metric):
    ctx = make_context(seed=0)
    n_mc = 4 if metric == "mc_trace" else 257  # mc_mi: the 128-wide tap needs K ≥ 257
    q = get_strategy(f"pfk:estimator={metric}:max_candidates=40:n_mc={n_mc}").query(ctx, 5)
    scored, n_val = q.info["scored"], len(ctx.y_val)
    assert len(scored) == 40 and len(q.info["pseudo_labels"]) == 40
    assert set(q.indices) <= set(scored)
    n_classes = ctx.learner.predict_proba(ctx.X_val[:1]).shape[1]
    assert q.info["passes"]["forward"] == n_val + 40 + n_mc * 40
    assert q.info["passes"]["backward"] == n_val + 40 + n_mc * n_classes * 40
