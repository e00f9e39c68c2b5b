"""Softmax uncertainty scores, strategy specs, and entropy beating random on digits."""

from __future__ import annotations

import numpy as np
import pytest

from alkit.errors import AlkitError
from alkit.loop import ExperimentConfig, run_experiment
from alkit.metrics import area_under_curve
from alkit.strategies import get_strategy
from alkit.strategies.uncertainty import entropy, least_confidence, margin

PROBS = np.array([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2], [1.0, 0.0, 0.0]])


def test_score_formulas():
    np.testing.assert_allclose(least_confidence(PROBS), [0.3, 0.6, 0.0], atol=1e-12)
    np.testing.assert_allclose(margin(PROBS), [0.5, 1.0, 0.0], atol=1e-12)
    expected = [
        -(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1)),
        -(2 * 0.4 * np.log(0.4) + 0.2 * np.log(0.2)),
        0.0,
    ]
    np.testing.assert_allclose(entropy(PROBS), expected, atol=1e-12)


def test_entropy_picks_the_highest_entropy_candidates(digits_context):
    ctx = digits_context()
    q = get_strategy("entropy").query(ctx, 15)
    order = np.argsort(-q.scores, kind="stable")[:15]
    np.testing.assert_array_equal(q.indices, q.candidates[order])
    expected = entropy(ctx.predict_proba(ctx.unlabeled_idx))
    np.testing.assert_allclose(q.scores, expected)


def test_max_candidates_scores_a_subset(digits_context):
    q = get_strategy("margin:max_candidates=100").query(digits_context(), 10)
    assert np.isfinite(q.scores).sum() == 100
    assert np.isfinite(q.scores[np.searchsorted(q.candidates, q.indices)]).all()


def test_strategy_spec_errors():
    with pytest.raises(
        AlkitError,
        match="unknown strategy 'entrpy'; valid strategy names are: .*entropy.*least_confidence",
    ):
        get_strategy("entrpy")
    with pytest.raises(AlkitError, match=r"unknown option\(s\) \['k'\].*max_candidates"):
        get_strategy("entropy:k=3")
    with pytest.raises(AlkitError, match="must look like key=value"):
        get_strategy("entropy:max_candidates")


def test_nan_model_outputs_are_rejected(digits_context, monkeypatch):
    ctx = digits_context()
    # monkeypatch undoes this after the test: the learner is cached and shared with others
    monkeypatch.setattr(
        ctx.learner, "predict_proba", lambda X: np.full((len(X), 10), np.nan, np.float32)
    )
    with pytest.raises(AlkitError, match="model output 'proba' contains"):
        get_strategy("entropy").query(ctx, 5)


def test_entropy_beats_random_on_digits():
    """Mean area under the learning curve over 3 seeds (uncertainty sampling's claim)."""
    config = ExperimentConfig(
        dataset="digits",
        initial=50,
        query=10,
        rounds=15,
        seeds=(0, 1, 2),
        strategies=("random", "entropy"),
        device="cpu",
    )
    results = run_experiment(config, progress=False)
    auc = {
        s: np.mean([area_under_curve(g["n_labeled"], g["accuracy"]) for _, g in r.groupby("seed")])
        for s, r in results.groupby("strategy")
    }
    assert auc["entropy"] > auc["random"] + 0.005, auc
