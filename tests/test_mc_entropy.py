"""mc_entropy: the MC-dropout form of the entropy baseline (Gal et al. 2017, "Max Entropy")."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_context
from scipy.stats import entropy as scipy_entropy

from alkit.errors import AlkitError
from alkit.models import build_model
from alkit.strategies import get_strategy
from alkit.strategies.bayesian import bald, mc_dropout_probs, predictive_entropy
from alkit.strategies.uncertainty import entropy


def test_predictive_entropy_is_the_entropy_of_the_mean_and_bald_plus_expected_entropy():
    p = np.random.default_rng(0).dirichlet(np.ones(4), size=(7, 5))  # S=7, N=5, C=4
    want = scipy_entropy(p.mean(0), axis=1)
    np.testing.assert_allclose(predictive_entropy(p), want, atol=1e-8)
    expected_entropy = scipy_entropy(p, axis=2).mean(0)
    np.testing.assert_allclose(predictive_entropy(p), bald(p) + expected_entropy, atol=1e-8)


def test_mc_entropy_scores_the_dropout_average_of_a_trained_model():
    ctx = make_context(seed=0)  # digits MLP with dropout 0.25, trained
    q = get_strategy("mc_entropy:n_samples=8").query(ctx, 10)
    cand = q.candidates
    # the same masks: the strategy draws its seed as the first integer of ctx.rng
    seed = int(np.random.default_rng(0).integers(2**31))
    probs = mc_dropout_probs(ctx.learner, ctx.pool.X[cand], 8, seed)
    np.testing.assert_allclose(q.scores, predictive_entropy(probs), rtol=1e-6, atol=1e-9)
    assert not np.allclose(q.scores, entropy(ctx.predict_proba(cand)), atol=1e-3)
    assert set(q.indices) == set(cand[np.argsort(-q.scores)[:10]])
    again = get_strategy("mc_entropy:n_samples=8").query(make_context(seed=0), 10)
    np.testing.assert_array_equal(q.indices, again.indices)


def test_mc_entropy_needs_dropout_or_an_ensemble():
    ctx = make_context(seed=0)
    ctx.learner = type(ctx.learner)(build_model("mlp", (1, 8, 8), 10, dropout=0.0), device="cpu")
    with pytest.raises(AlkitError, match="no dropout"):
        get_strategy("mc_entropy").query(ctx, 3)
