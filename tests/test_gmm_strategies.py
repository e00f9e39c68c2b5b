"""Seed 003 selection (§3.5, eq. 4-5): I_Like, the rank-sum, balanced k-means picks, behaviour."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from conftest import cached_splits, make_context, requires_fashion
from scipy.stats import rankdata
from strategy_template import check_strategy_contract

from alkit.data import Pool
from alkit.errors import AlkitError
from alkit.kernels.gmm import GMMParams, class_statistics, fit_gmm
from alkit.models import build_model
from alkit.strategies import QueryContext, get_strategy
from alkit.strategies.gmm import (
    average_ranks,
    balanced_kmeans_pick,
    likelihood_gap,
    parse_metrics,
    rank_sum,
)
from alkit.train import Learner, TrainConfig, seed_everything


def test_i_like_sign_on_a_constructed_2d_case():
    rng = np.random.default_rng(0)
    # labelled mass around (0, 0); unlabelled mass around (0, 0) and, mostly, (6, 0)
    z_L = rng.normal([0, 0], 0.7, (200, 2)).astype(np.float32)
    z_UL = np.concatenate(
        [rng.normal([0, 0], 0.7, (100, 2)), rng.normal([6, 0], 0.7, (400, 2))]
    ).astype(np.float32)
    psi_L = class_statistics(z_L, np.zeros(200, int), 1)
    init = GMMParams(
        torch.tensor([0.5, 0.5]),
        torch.tensor([[0.0, 0.0], [5.0, 1.0]]),
        torch.ones(2, 2),
    )
    psi_UL = fit_gmm(z_UL, init, 20)
    gap = likelihood_gap(np.array([[6.0, 0.0], [0.0, 0.0]], np.float32), psi_L, psi_UL)
    assert gap[0] > 0, "unlabelled mass dominates at (6, 0): I_Like must be positive"
    assert gap[1] < 0, "labelled mass dominates at (0, 0): I_Like must be negative"


def test_rank_sum_equals_scipy_rankdata_sum():
    rng = np.random.default_rng(1)
    metrics = {
        "like": rng.normal(size=500),
        "dis": rng.integers(0, 20, 500).astype(float),  # many ties
        "ent": rng.random(500),
    }
    expected = sum(rankdata(v) for v in metrics.values())
    np.testing.assert_allclose(rank_sum(metrics), expected)
    np.testing.assert_allclose(average_ranks(metrics["dis"]), rankdata(metrics["dis"]))


def test_parse_metrics_rejects_unknown_names():
    assert parse_metrics("like+ent") == ("like", "ent")
    for bad in ("", "like+like", "foo", "like+margin"):
        with pytest.raises(AlkitError, match="metrics must be"):
            parse_metrics(bad)


def test_balanced_kmeans_pick_balances_pseudo_classes():
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(200, 4))
    pseudo = np.r_[np.zeros(150, int), np.ones(40, int), np.full(10, 2)]
    picks = balanced_kmeans_pick(emb, pseudo, 30, seed=0)
    assert len(np.unique(picks)) == 30
    np.testing.assert_array_equal(np.bincount(pseudo[picks], minlength=3), [10, 10, 10])
    # a class with too few candidates passes its share on
    picks = balanced_kmeans_pick(emb, pseudo, 45, seed=0)
    counts = np.bincount(pseudo[picks], minlength=3)
    assert counts[2] == 10 and counts.sum() == 45 and abs(counts[0] - counts[1]) <= 1


@functools.cache
def _aligned_state():
    """A digits MLP trained with Reg + a short alignment stage (critic attached)."""
    splits = cached_splits("digits", None, None)
    labeled = np.random.default_rng(123).choice(len(splits.y_pool), 40, replace=False)
    pool = Pool(splits.X_pool, splits.y_pool, labeled_idx=labeled)
    seed_everything(0)
    net = build_model("mlp", splits.X_pool.shape[1:], splits.n_classes)
    cfg = TrainConfig(
        epochs=5,
        min_steps=60,
        gmm_reg=1e-4,
        gmm_align_steps=40,
        gmm_options={"subset": 50, "refresh_every": 20, "em_iters": 5},
    )
    learner = Learner(net, cfg, device="cpu", seed=0)
    learner.fit(pool.X[labeled], pool.labeled_y, X_unlabeled=pool.X[pool.unlabeled_idx])
    return labeled, learner


def _aligned_context(seed=0):
    splits = cached_splits("digits", None, None)
    labeled, learner = _aligned_state()
    pool = Pool(splits.X_pool, splits.y_pool, labeled_idx=labeled)
    return QueryContext(pool, learner, rng=np.random.default_rng(seed), round=1)


def test_gmm_hybrid_full_contract_with_attached_critic():
    ctx = _aligned_context()
    assert ctx.gmm_state is not None
    # Scoring every candidate with n=10, each pseudo-class among the top 100 may get a quota of
    # one pick, and a one-cluster k-means picks the class mean's nearest point whatever the
    # seed: the batch is then deterministic given the critic (see GMMHybrid's docstring), which
    # is what another machine's training gave. The seed check needs a part that uses the
    # generator on every machine: the max_candidates subset.
    check_strategy_contract("gmm_hybrid:max_candidates=400", _aligned_context, n=10)
    q = get_strategy("gmm_hybrid").query(_aligned_context(), 10)
    assert set(q.info) == {"I_Like", "I_Dis", "I_Ent"}
    scored = ~np.isnan(q.scores)
    expected = sum(rankdata(q.info[k][scored]) for k in q.info)
    np.testing.assert_allclose(q.scores[scored], expected)


@pytest.mark.parametrize("metrics", ["like", "dis", "ent", "like+dis", "like+ent", "dis+ent"])
def test_fig13_ablations_run_and_top_n_without_diversity(metrics):
    strat = get_strategy(f"gmm_hybrid:metrics={metrics}:diversify=false")
    q = strat.query(_aligned_context(), 8)
    assert set(q.info) == {f"I_{m.capitalize()}" for m in metrics.split("+")}
    order = np.argsort(-np.nan_to_num(q.scores, nan=-np.inf), kind="stable")[:8]
    np.testing.assert_array_equal(np.sort(q.indices), np.sort(q.candidates[order]))


def test_gmm_hybrid_without_critic_says_how_to_get_one():
    with pytest.raises(AlkitError, match="gmm_align_steps"):
        get_strategy("gmm_hybrid").query(make_context(), 5)


def test_max_candidates_restricts_scoring():
    ctx = make_context()
    q = get_strategy("gmm_like:max_candidates=300").query(ctx, 10)
    assert np.isfinite(q.scores).sum() == 300
    assert np.isfinite(q.scores[np.searchsorted(q.candidates, q.indices)]).all()


@requires_fashion
def test_gmm_hybrid_picks_are_class_balanced_by_pseudo_label_on_imbalanced_fashion():
    """100× imbalance (classes 5-9 rare), the I_Like + I_Ent ablation (I_Dis needs the critic,
    too slow for a test): the picks are spread evenly over the pseudo-classes (§3.5), unlike
    entropy's. Whether that reaches the rare classes depends on the model: with the fixture's
    LeNet (100 labels) it predicts no rare class, and gmm_hybrid's rare share was 0-1 % vs
    random's 1 % (cosine-decay training) or 0-3 % (constant rate); see the claims report."""
    for seed in range(2):
        ctx = make_context(
            seed=seed, dataset="fashion_mnist", n_labeled=100, imbalance=100, pool_size=10000
        )
        counts = {}
        for spec in ("gmm_hybrid:metrics=like+ent", "entropy"):
            picks = get_strategy(spec).query(ctx, 100).indices
            pseudo = ctx.predict_proba(picks).argmax(1)
            counts[spec] = np.bincount(pseudo)[np.unique(pseudo)]
        balanced = counts["gmm_hybrid:metrics=like+ent"]
        assert balanced.max() - balanced.min() <= 1, counts
        assert np.ptp(counts["entropy"]) > 1, counts


def test_unlabelled_init_seeds_absent_classes_far_from_labelled_means():
    from alkit.gmm_training import unlabelled_init

    rng = np.random.default_rng(0)
    z_L = rng.normal(0, 1, (60, 2)).astype(np.float32)
    y_L = np.repeat([0, 1], 30)
    z_UL = np.concatenate([rng.normal(0, 1, (200, 2)), [[20.0, 20.0]]]).astype(np.float32)
    psi_L = class_statistics(z_L, y_L, 3)
    init = unlabelled_init(psi_L, torch.as_tensor(z_L), y_L, torch.as_tensor(z_UL))
    np.testing.assert_allclose(init.means_K_D[2].numpy(), [20.0, 20.0])
    torch.testing.assert_close(init.means_K_D[:2], psi_L.means_K_D[:2])
