"""Behaviour of the baseline strategies: BALD/varR formulas, MC dropout with BatchNorm in eval,
deep ensembles through the loop's train_fn, TypiClust on a hand-built set, and core-set / BADGE
finding rare classes on imbalanced Fashion-MNIST."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import torch
from conftest import requires_fashion
from scipy.stats import entropy as scipy_entropy
from torch import nn

from alkit.data import Pool, build_splits, load_dataset
from alkit.errors import AlkitError
from alkit.loop import ExperimentConfig, run_experiment, train_member
from alkit.models import TappedModel, build_model
from alkit.strategies import QueryContext, get_strategy
from alkit.strategies.bayesian import bald, mc_dropout_probs, variation_ratio
from alkit.strategies.typiclust import typicality, typiclust_select
from alkit.train import Learner, TrainConfig


def test_bald_is_entropy_of_mean_minus_mean_entropy():
    # two confident samples that disagree: BALD = log 2; identical samples: BALD = 0
    disagree = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    agree = np.array([[[0.5, 0.5]], [[0.5, 0.5]]])
    np.testing.assert_allclose(bald(disagree), [np.log(2)], atol=1e-8)
    np.testing.assert_allclose(bald(agree), [0.0], atol=1e-8)
    p = np.random.default_rng(0).dirichlet(np.ones(4), size=(7, 5))  # S=7, N=5, C=4
    want = scipy_entropy(p.mean(0), axis=1) - scipy_entropy(p, axis=2).mean(0)
    np.testing.assert_allclose(bald(p), want, atol=1e-7)
    assert np.all(bald(p) >= -1e-9)


def test_variation_ratio_formula():
    # predicted classes over S=5 passes: [0, 0, 1, 2, 0] → 1 − 3/5; [1]*5 → 0
    onehot = np.eye(3)[np.array([[0, 1], [0, 1], [1, 1], [2, 1], [0, 1]])] * 0.7 + 0.1
    np.testing.assert_allclose(variation_ratio(onehot), [0.4, 0.0], atol=1e-12)
    p = np.random.default_rng(1).dirichlet(np.ones(3), size=(9, 50))
    modal = np.array([np.bincount(col, minlength=3).max() for col in p.argmax(2).T])
    np.testing.assert_allclose(variation_ratio(p), 1 - modal / 9)


class _BNDropoutNet(TappedModel):
    tap_names = ("embedding",)

    def __init__(self, p=0.5):
        super().__init__()
        self.fc = nn.Linear(64, 32)
        self.bn = nn.BatchNorm1d(32)
        self.drop = nn.Dropout(p)
        self.head = nn.Linear(32, 10)

    def forward_taps(self, x):
        h = torch.relu(self.bn(self.fc(torch.flatten(x, 1))))
        return self.head(self.drop(h)), {"embedding": h}


def test_mc_dropout_keeps_batchnorm_in_eval_and_is_seeded():
    X = load_dataset("digits").X_train[:200]
    torch.manual_seed(0)
    net = _BNDropoutNet()
    net.bn.running_mean.fill_(0.3)
    learner = Learner(net, device="cpu")
    before = net.bn.running_mean.clone()
    p1 = mc_dropout_probs(learner, X, 6, seed=5)
    p2 = mc_dropout_probs(learner, X, 6, seed=5)
    assert p1.shape == (6, 200, 10)
    np.testing.assert_array_equal(p1, p2)  # same seed, same masks
    assert not np.allclose(p1[0], p1[1])  # dropout is on
    torch.testing.assert_close(net.bn.running_mean, before)  # BatchNorm stayed in eval
    assert not net.training and not net.drop.training
    np.testing.assert_allclose(p1.sum(2), 1, atol=1e-5)
    # without dropout: one deterministic pass, which is the eval-mode prediction
    learner0 = Learner(_BNDropoutNet(p=0.0), device="cpu")
    p0 = mc_dropout_probs(learner0, X, 6, seed=5)
    assert p0.shape == (1, 200, 10)
    np.testing.assert_allclose(p0[0], learner0.predict_proba(X), atol=1e-6)


@functools.cache
def _digits_setup():
    config = ExperimentConfig(
        dataset="digits", train=TrainConfig(epochs=5, min_steps=60), pool_size=600
    )
    splits = build_splits(load_dataset("digits"), seed=0, pool_size=600, test_size=200)
    return config, splits


def _ensemble_context(calls):
    config, splits = _digits_setup()
    pool = Pool(splits.X_pool, splits.y_pool, labeled_idx=np.arange(0, 600, 15))
    learner = train_member(config, splits, pool, 0, 1, 0)

    def train_fn(member):
        calls.append(member)
        return train_member(config, splits, pool, 0, 1, member)

    return QueryContext(pool, learner, rng=np.random.default_rng(0), round=1, train_fn=train_fn)


def test_ensemble_members_are_cached_independent_learners():
    calls = []
    ctx = _ensemble_context(calls)
    members = ctx.ensemble(3)
    assert len(members) == 3 and members[0] is ctx.learner
    assert ctx.ensemble(2) == members[:2] and calls == [1, 2]
    X = ctx.pool.X[ctx.unlabeled_idx[:50]]
    p = [m.predict_proba(X) for m in members]
    assert not np.allclose(p[1], p[2])  # independently initialised
    # a member is reproducible from its seed
    again = train_member(*_digits_setup(), ctx.pool, 0, 1, 1)
    np.testing.assert_allclose(again.predict_proba(X), p[1], atol=1e-6)
    with pytest.raises(AlkitError, match="needs a context with train_fn"):
        QueryContext(ctx.pool, ctx.learner).ensemble(2)


def test_ensemble_strategies_use_all_members():
    calls = []
    ctx = _ensemble_context(calls)
    strategy = get_strategy("varratio:n_samples=4:n_members=3")
    probs = strategy.sample_probs(ctx, ctx.unlabeled_idx[:30])
    assert probs.shape == (12, 30, 10)  # E·T samples pooled
    q = strategy.query(ctx, 5)
    assert len(set(q.indices)) == 5 and calls == [1, 2]
    q = get_strategy("bald:n_samples=3:n_members=2").query(ctx, 5)
    assert np.isfinite(q.scores).all()


def test_loop_runs_a_deep_ensemble_baseline(tmp_path):
    config = ExperimentConfig(
        dataset="digits",
        train=TrainConfig(epochs=3, min_steps=30),
        pool_size=400,
        test_size=200,
        initial=20,
        query=10,
        rounds=1,
        seeds=(0,),
        strategies=("varratio:n_samples=3:n_members=2",),
    )
    df = run_experiment(config, out=tmp_path, progress=False)
    assert len(df) == 2 and df["n_labeled"].tolist() == [20, 30]


def test_mc_dropout_needs_dropout_or_members():
    ctx = _ensemble_context([])
    ctx.learner.model.dropout.p = 0.0
    with pytest.raises(AlkitError, match="has no dropout"):
        get_strategy("bald").query(ctx, 3)


def test_typiclust_picks_most_typical_point_of_least_covered_cluster():
    rng = np.random.default_rng(0)

    # three clusters in directions 0°, 120°, 240° (TypiClust L2-normalises): A holds two
    # labelled points, B one, C none; C's centre point is surrounded by a tight core
    def blob(angle, n, spread):
        a = angle + rng.normal(0, spread, n)
        return np.c_[np.cos(a), np.sin(a)]

    A, B = blob(0.0, 20, 0.1), blob(2.1, 20, 0.1)
    C = np.r_[blob(4.2, 12, 0.25), blob(4.2, 8, 0.005)]
    X = np.r_[A, B, C].astype(np.float32)
    labels = np.repeat([0, 1, 2], 20)
    labeled = [0, 1, 20]
    picks, typ, _ = typiclust_select(X, labeled, 1, cluster_labels_N=labels)
    core = np.arange(52, 60)
    assert picks[0] in core
    assert picks[0] == 40 + np.argmax(typicality(X[40:] / 1.0))
    # the next two go to B (one labelled) then to A and B alternately by coverage
    picks, typ, _ = typiclust_select(X, labeled, 3, cluster_labels_N=labels)
    assert labels[picks].tolist() == [2, 1, 2]
    assert picks[1] == 20 + np.argmax(np.where(np.arange(20) == 0, -np.inf, typ[20:40]))
    # k-means finds the same three clusters on its own
    picks_km, _, labels_km = typiclust_select(X, labeled, 1, max_clusters=3)
    assert picks_km[0] in core and len(np.unique(labels_km)) == 3


def test_typiclust_skips_small_clusters_until_needed():
    X = np.r_[np.c_[np.ones(10), np.zeros(10)], np.c_[np.zeros(3), np.ones(3)]].astype(np.float32)
    X += np.random.default_rng(1).normal(0, 0.01, X.shape).astype(np.float32)
    labels = np.r_[np.zeros(10, int), np.ones(3, int)]
    picks, _, _ = typiclust_select(X, [0, 1], 9, cluster_labels_N=labels)
    assert set(labels[picks[:8]]) == {0} and labels[picks[8]] == 1


RARE = (5, 6, 7, 8, 9)


@functools.cache
def _fashion_round(seed: int):
    """A trained LeNet after 100 random labels on a 3,000-sample pool with 100× imbalance."""
    splits = build_splits(
        load_dataset("fashion_mnist"),
        seed=seed,
        imbalance=100,
        rare_classes=RARE,
        pool_size=3000,
        test_size=100,
    )
    torch.manual_seed(seed)
    net = build_model("lenet", splits.X_pool.shape[1:], 10)
    learner = Learner(net, TrainConfig(epochs=5, min_steps=100), device="cpu", seed=seed)
    rng = np.random.default_rng(seed)
    labeled = rng.choice(len(splits.y_pool), 100, replace=False)
    learner.fit(splits.X_pool[labeled], splits.y_pool[labeled])
    return splits, learner, labeled


@requires_fashion
def test_coreset_and_badge_find_more_rare_classes_than_random():
    counts = {"random": [], "coreset": [], "badge": []}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models: one thread is faster than two on a busy machine
    try:
        # 5 trained models × 4 query seeds (BADGE and random draw at random; core-set does not)
        for seed, draw in itertools.product(range(5), range(4)):
            splits, learner, labeled = _fashion_round(seed)
            for name in counts:
                pool = Pool(splits.X_pool, splits.y_pool, labeled_idx=labeled)
                ctx = QueryContext(pool, learner, rng=np.random.default_rng([seed, draw]))
                picks = get_strategy(name).query(ctx, 100).indices
                counts[name].append(np.isin(splits.y_pool[picks], RARE).sum())
    finally:
        torch.set_num_threads(threads)
    mean = {k: float(np.mean(v)) for k, v in counts.items()}
    # the rare classes hold ≈1% of the pool: random finds ≈1 in 100 picks
    assert mean["coreset"] > mean["random"] + 2, mean
    # BADGE's lead is smaller (≈2 vs ≈1 rare picks per 100): the issue asks for more on the mean
    assert mean["badge"] > mean["random"], mean
