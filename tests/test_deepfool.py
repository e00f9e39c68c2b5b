"""Batched DeepFool (kernels/deepfool.py), DFAL (thesis ch. 4) and the pool's synthetic examples."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch
from conftest import cached_dataset, make_context, requires_fashion
from strategy_template import check_strategy_contract

from alkit.data.pool import Pool
from alkit.errors import AlkitError
from alkit.kernels.deepfool import deepfool
from alkit.models import LeNet
from alkit.strategies import get_strategy
from alkit.strategies.adversarial import perturbation_scores


def linear_classifier(D=5, C=4, seed=0) -> torch.nn.Linear:
    torch.manual_seed(seed)
    return torch.nn.Linear(D, C).double().float()


def closed_form(model: torch.nn.Linear, x: np.ndarray, dual_ord) -> np.ndarray:
    """min_{k≠k̂} |f_k − f_k̂| / ‖w_k − w_k̂‖_* for a linear classifier (NumPy, float64)."""
    W = model.weight.detach().double().numpy()
    b = model.bias.detach().double().numpy()
    f = x.astype(np.float64) @ W.T + b
    out = []
    for fi in f:
        k = fi.argmax()
        d = [
            abs(fi[j] - fi[k]) / np.linalg.norm(W[j] - W[k], ord=dual_ord)
            for j in range(len(fi))
            if j != k
        ]
        out.append(min(d))
    return np.array(out)


@pytest.mark.parametrize("norm, dual_ord", [("l2", 2), ("linf", 1)])
def test_one_step_on_a_linear_classifier_is_the_closed_form_distance(norm, dual_ord):
    model = linear_classifier()
    x = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32)
    result = deepfool(model, x, overshoot=0.02, norm=norm)
    assert result.flipped_B.all()
    np.testing.assert_array_equal(result.iters_B, 1)
    np.testing.assert_allclose(result.norm_B / 1.02, closed_form(model, x, dual_ord), rtol=1e-4)
    with torch.no_grad():
        assert (model(result.x_adv_B).argmax(1).numpy() != result.label_B).all()


def test_every_finite_norm_point_of_a_relu_mlp_is_misclassified():
    ctx = make_context()
    model = ctx.learner.model
    x = ctx.pool.X[ctx.unlabeled_idx[:200]]
    for norm in ("l2", "linf"):
        result = deepfool(model, x, norm=norm)
        with torch.no_grad():
            adv = model(result.x_adv_B).argmax(1).numpy()
            src = model(torch.as_tensor(x)).argmax(1).numpy()
        finite = np.isfinite(result.norm_B)
        assert finite.mean() > 0.9
        np.testing.assert_array_equal(result.label_B, src)
        assert (adv[finite] != src[finite]).all()
        np.testing.assert_array_equal(adv, result.target_B)
        assert (result.iters_B >= 1).all() and result.iters_B.max() <= 10
        # the norm measures x_adv − x₀ (never clipped)
        delta = (result.x_adv_B - torch.as_tensor(x)).flatten(1).double()
        size = delta.norm(dim=1) if norm == "l2" else delta.abs().amax(dim=1)
        np.testing.assert_allclose(
            result.norm_B[finite], size.numpy()[finite], rtol=1e-4, atol=1e-6
        )


@functools.cache
def fashion_lenet():
    """An untrained LeNet in float64 (so that batch composition cannot move a row across a
    boundary by rounding) and 24 Fashion-MNIST images."""
    torch.manual_seed(0)
    model = LeNet(p_conv=0.0, p_fc=0.0).double().eval()
    x = cached_dataset("fashion_mnist").X_train[:24].astype(np.float64)
    return model, x


@requires_fashion
def test_lenet_adversarial_points_are_misclassified_and_batched_equals_a_loop():
    model, x = fashion_lenet()
    batched = deepfool(model, x, max_iter=10)
    assert batched.flipped_B.all()
    with torch.no_grad():
        assert (model(batched.x_adv_B).argmax(1).numpy() != batched.label_B).all()
    loop = [deepfool(model, x[i : i + 1]) for i in range(len(x))]
    np.testing.assert_array_equal(batched.iters_B, [r.iters_B[0] for r in loop])
    np.testing.assert_array_equal(batched.target_B, [r.target_B[0] for r in loop])
    np.testing.assert_allclose(batched.norm_B, [r.norm_B[0] for r in loop], rtol=1e-4)
    torch.testing.assert_close(
        batched.x_adv_B, torch.cat([r.x_adv_B for r in loop]), rtol=1e-4, atol=1e-5
    )


def test_chunked_equals_unchunked_and_rows_do_not_interact():
    ctx = make_context()
    model = copy.deepcopy(ctx.learner.model).double()
    x = ctx.pool.X[ctx.unlabeled_idx[:90]]
    whole = deepfool(model, x)
    chunked = deepfool(model, x, block_rows=7)
    perm = np.random.default_rng(0).permutation(len(x))
    shuffled = deepfool(model, x[perm], block_rows=16)
    for other, order in ((chunked, np.arange(len(x))), (shuffled, np.argsort(perm))):
        np.testing.assert_array_equal(other.flipped_B[order], whole.flipped_B)
        np.testing.assert_array_equal(other.iters_B[order], whole.iters_B)
        np.testing.assert_allclose(other.norm_B[order], whole.norm_B, rtol=1e-9)
    assert whole.flipped_B.all()


def test_without_overshoot_some_iterates_stay_on_a_logit_tie():
    """η = 0 (the authors' code) lands each step on the linearised boundary: whether the label
    flips depends on rounding, so some rows never count as flipped (spec §2.1)."""
    ctx = make_context()
    x = ctx.pool.X[ctx.unlabeled_idx[:200]]
    flat = deepfool(ctx.learner.model, x, overshoot=0.0)
    assert 0.5 < flat.flipped_B.mean() < 1.0
    assert deepfool(ctx.learner.model, x).flipped_B.mean() > flat.flipped_B.mean()


def test_deepfool_leaves_the_model_as_it_was():
    ctx = make_context()
    model = copy.deepcopy(ctx.learner.model)
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    deepfool(model, ctx.pool.X[:5])
    assert model.training and [p.requires_grad for p in model.parameters()] == flags
    for p, g in zip(model.parameters(), grads, strict=True):
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"max_iter": 0}, "max_iter"),
        ({"overshoot": -0.1}, "overshoot"),
        ({"norm": "l1"}, "norm"),
        ({"block_rows": 0}, "block_rows"),
    ],
)
def test_deepfool_rejects_bad_arguments(kwargs, match):
    with pytest.raises(AlkitError, match=match):
        deepfool(linear_classifier(), np.zeros((3, 5), np.float32), **kwargs)


# -- DFAL ---------------------------------------------------------------------------------------
def test_perturbation_scores_rank_unflipped_rows_last():
    np.testing.assert_allclose(
        perturbation_scores(np.array([0.5, np.inf, 0.1, 2.0])), [-0.5, -3.0, -0.1, -2.0]
    )
    np.testing.assert_allclose(perturbation_scores(np.array([np.inf, np.inf])), [-1.0, -1.0])


def test_dfal_picks_the_smallest_perturbations_and_returns_their_copies():
    ctx = make_context()
    query = get_strategy("dfal", max_candidates=120).query(ctx, 10)
    info = query.info
    assert len(info["scored"]) == 120 and np.isfinite(query.scores).sum() == 120
    smallest = info["scored"][np.argsort(info["norm"], kind="stable")[:10]]
    np.testing.assert_array_equal(np.sort(query.indices), np.sort(smallest))
    rows = np.searchsorted(info["scored"], info["synthetic_source"])
    assert info["flipped"][rows].all() and set(info["synthetic_source"]) <= set(query.indices)
    assert info["synthetic_X"].shape == (len(rows), *ctx.pool.X.shape[1:])
    with torch.no_grad():
        adv = ctx.learner.model(torch.as_tensor(info["synthetic_X"])).argmax(1).numpy()
    np.testing.assert_array_equal(adv, info["target"][rows])
    ablation = get_strategy("dfal:add_adversarial=false", max_candidates=120).query(
        make_context(), 10
    )
    np.testing.assert_array_equal(ablation.indices, query.indices)
    assert "synthetic_X" not in ablation.info


def test_dfal_contract_with_the_linf_norm_and_no_overshoot():
    check_strategy_contract("dfal", make_context, options={"norm": "linf", "overshoot": 0})


@pytest.mark.parametrize(
    "options, match",
    [
        ({"max_candidates": 0}, "max_candidates"),
        ({"max_iter": 0}, "max_iter"),
        ({"overshoot": -1}, "option overshoot"),
        ({"norm": "l1"}, "option norm"),
        ({"add_adversarial": "yes"}, "option add_adversarial"),
        ({"block_rows": -2}, "block_rows"),
    ],
)
def test_dfal_rejects_bad_options(options, match):
    with pytest.raises(AlkitError, match=match):
        get_strategy("dfal", **options)


# -- synthetic examples in the pool ------------------------------------------------------------
def test_synthetic_copies_take_their_sources_labels_and_cost_no_query():
    ctx = make_context()
    pool = ctx.pool
    queries = pool.oracle.n_queries
    query = get_strategy("dfal", max_candidates=120).query(ctx, 10)
    pool.label(query.indices)
    assert pool.oracle.n_queries == queries + 10
    pool.add_synthetic(query.info["synthetic_X"], query.info["synthetic_source"])
    assert pool.oracle.n_queries == queries + 10
    S = len(query.info["synthetic_source"])
    assert pool.n_synthetic == S > 0 and len(pool) == len(ctx.pool.X)
    np.testing.assert_array_equal(pool.synthetic_y, pool.oracle.peek(pool.synthetic_source))
    X, y = pool.training_set()
    assert len(X) == len(y) == len(pool.labeled_idx) + S
    np.testing.assert_array_equal(X[-S:], query.info["synthetic_X"])
    np.testing.assert_array_equal(y[:-S], pool.labeled_y)
    # a second round appends
    pool.add_synthetic(query.info["synthetic_X"][:1], query.info["synthetic_source"][:1])
    assert pool.n_synthetic == S + 1


def test_add_synthetic_rejects_unlabelled_sources_and_bad_shapes():
    X = np.random.default_rng(0).random((6, 1, 2, 2)).astype(np.float32)
    pool = Pool(X, np.arange(6) % 2, labeled_idx=[0, 1])
    assert pool.n_synthetic == 0 and pool.synthetic_X.shape == (0, 1, 2, 2)
    X_train, y_train = pool.training_set()
    np.testing.assert_array_equal(y_train, [0, 1])
    with pytest.raises(AlkitError, match="not labelled"):
        pool.add_synthetic(X[:1], [3])
    with pytest.raises(AlkitError, match="outside the pool"):
        pool.add_synthetic(X[:1], [6])
    with pytest.raises(AlkitError, match="synthetic inputs must be"):
        pool.add_synthetic(X[:2, :, :1], [0, 1])
    with pytest.raises(AlkitError, match="NaN"):
        pool.add_synthetic(np.full((1, 1, 2, 2), np.nan), [0])
    assert pool.n_synthetic == 0
