"""Dropout Query-by-Committee (Ducoffe thesis ch. 3): batchwise masks, head re-fit, eq. 3.2–3.3."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import cached_dataset, make_context, requires_fashion
from strategy_template import check_strategy_contract

from alkit.errors import AlkitError
from alkit.kernels.committee import (
    committee_label,
    fit_linear_head,
    hidden_layers,
    kept_count,
    masked,
    masked_head_inputs,
    soft_margin,
    unit_masks,
    vote_disagreement,
)
from alkit.models import MLP, LeNet
from alkit.strategies import get_strategy


@functools.cache
def fashion_images(n: int = 6) -> np.ndarray:
    return cached_dataset("fashion_mnist").X_train[:n]


def lenet(seed: int = 0) -> LeNet:
    torch.manual_seed(seed)
    return LeNet(p_conv=0.0, p_fc=0.0).eval()


def test_hidden_layers_skip_input_and_output():
    mlp = MLP((64,), 10, hidden=(32, 16))
    assert [(n, u) for n, _, u in hidden_layers(mlp)] == [("layers.0", 32), ("layers.1", 16)]
    assert [(n, u) for n, _, u in hidden_layers(lenet())] == [
        ("conv1", 10),
        ("conv2", 20),
        ("fc1", 50),
    ]


@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 0.75])
def test_each_member_keeps_an_exact_count_per_layer(p):
    masks = unit_masks(lenet(), 4, p, np.random.default_rng(0))
    for name, units in (("conv1", 10), ("conv2", 20), ("fc1", 50)):
        m = masks[name].numpy()
        assert m.shape == (4, units)
        assert ((m != 0).sum(axis=1) == units - int(np.floor(p * units))).all()
        np.testing.assert_allclose(np.unique(m[m != 0]), [1 / (1 - p)], rtol=1e-6)
    assert kept_count(50, 0.5) == 25 and kept_count(7, 0.5) == 4


@requires_fashion
def test_dropped_channels_vanish_from_every_later_layer():
    model = lenet()
    x = torch.as_tensor(fashion_images())
    masks = unit_masks(model, 2, 0.5, np.random.default_rng(1))
    member = {name: masks[name][1] for name in masks}
    with torch.no_grad():
        _, full = model.forward_taps(x)
        with masked(model, member):
            _, taps = model.forward_taps(x)
    # first hidden layer: scaling commutes with max-pool and ReLU
    m1 = member["conv1"].view(1, -1, 1, 1)
    torch.testing.assert_close(taps["x1"], full["x1"] * m1, rtol=1e-5, atol=1e-6)
    for tap, layer in (("x2", "conv2"), ("x4", "fc1")):
        dropped = member[layer] == 0
        assert dropped.sum() == len(dropped) - kept_count(len(dropped), 0.5)
        assert (taps[tap][:, dropped] == 0).all()
    # the hooks are gone after the context
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.forward_taps(x)[0])
        torch.testing.assert_close(model.forward_taps(x)[1]["x4"], full["x4"])


@requires_fashion
def test_a_mask_is_shared_by_every_input_of_a_batch():
    model = lenet()
    x = fashion_images()
    batch = np.concatenate([x[:3], x[:1]])
    masks = unit_masks(model, 3, 0.5, np.random.default_rng(2))
    feats = masked_head_inputs(model, masks, batch, batch_size=4)
    assert feats.shape == (3, 4, 50)
    # the same input gets the same member output wherever it sits in the batch ...
    torch.testing.assert_close(feats[:, 0], feats[:, 3], rtol=0, atol=0)
    # ... and whichever batch it comes with
    alone = masked_head_inputs(model, masks, x[1:2], batch_size=1)
    torch.testing.assert_close(alone[:, 0], feats[:, 1], rtol=1e-5, atol=1e-6)
    # members differ from each other; the same seed gives the same masks
    assert not torch.equal(feats[0], feats[1])
    again = unit_masks(model, 3, 0.5, np.random.default_rng(2))
    other = unit_masks(model, 3, 0.5, np.random.default_rng(3))
    assert all(torch.equal(masks[k], again[k]) for k in masks)
    assert not all(torch.equal(masks[k], other[k]) for k in masks)


def test_eq_3_3_on_a_hand_written_committee():
    probs = np.array(
        [  # member 1
            [[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.5, 0.3, 0.2]],
            # member 2
            [[0.5, 0.3, 0.2], [0.2, 0.2, 0.6], [0.1, 0.6, 0.3]],
            # member 3
            [[0.2, 0.6, 0.2], [0.3, 0.1, 0.6], [0.3, 0.3, 0.4]],
        ]
    )
    # sample 0: votes 0,0,1 → LABEL 0; sample 1: all vote 2; sample 2: one vote each, the
    # summed probabilities (0.9, 1.2, 0.9) break the tie → LABEL 1
    np.testing.assert_array_equal(committee_label(probs), [0, 2, 1])
    np.testing.assert_allclose(soft_margin(probs), [0.6 - 0.2, 0.0, 0.2 + 0.0 + 0.1])
    np.testing.assert_array_equal(vote_disagreement(probs), [1, 0, 2])


def test_a_model_without_hidden_layers_gives_identical_members():
    torch.manual_seed(0)
    linear = MLP((64,), 10, hidden=()).eval()
    assert (
        hidden_layers(linear) == [] and unit_masks(linear, 3, 0.5, np.random.default_rng(0)) == {}
    )
    x = np.random.default_rng(0).random((4, 64), dtype=np.float32)
    feats = masked_head_inputs(linear, {}, x, n_members=3)
    assert feats.shape == (3, 4, 64) and torch.equal(feats[0], feats[2])
    with pytest.raises(AlkitError, match="n_members"):
        masked_head_inputs(linear, {}, x)


def test_fitting_a_member_head_lowers_its_labelled_loss():
    ctx = make_context()
    model = ctx.learner.model
    masks = unit_masks(model, 3, 0.5, np.random.default_rng(0))
    feats = masked_head_inputs(model, masks, ctx.pool.X[ctx.labeled_idx])
    y = torch.as_tensor(ctx.labeled_y)
    W0, b0 = model.head.weight, model.head.bias
    W, b = fit_linear_head(feats, ctx.labeled_y, W0, b0, steps=50, lr=1e-2)
    W_same, _ = fit_linear_head(feats, ctx.labeled_y, W0, b0, steps=0)
    torch.testing.assert_close(W_same[2], W0.detach())
    for k in range(3):
        before = F.cross_entropy(feats[k] @ W0.detach().T + b0.detach(), y)
        after = F.cross_entropy(feats[k] @ W[k].T + b[k], y)
        assert after < before


@pytest.mark.parametrize("score", ["soft", "vote"])
def test_p_zero_gives_a_committee_that_always_agrees(score):
    query = get_strategy("dqbc", p=0.0, score=score).query(make_context(), 10)
    np.testing.assert_array_equal(query.scores, 0.0)


def test_dqbc_scores_are_the_kernels_and_the_picks_the_top_scores():
    query = get_strategy("dqbc", n_members=4).query(make_context(), 10)
    info = query.info
    assert info["probs"].shape == (4, len(info["scored"]), 10)
    np.testing.assert_allclose(info["soft"], soft_margin(info["probs"]))
    assert (info["soft"] >= 0).all() and (info["soft"] > 0).any()
    picked = query.scores[np.searchsorted(query.candidates, query.indices)]
    assert picked.min() >= np.sort(query.scores)[-10]
    vote = get_strategy("dqbc", n_members=4, score="vote").query(make_context(), 10)
    np.testing.assert_array_equal(vote.scores, vote.info["vote"])


def test_dqbc_scores_only_its_candidate_subset():
    query = get_strategy("dqbc", max_candidates=60).query(make_context(), 10)
    assert np.isfinite(query.scores).sum() == 60
    assert np.isin(query.indices, query.info["scored"]).all()


def test_dqbc_contract_with_the_vote_score():
    check_strategy_contract("dqbc", make_context, options={"score": "vote", "n_members": 3})


@pytest.mark.parametrize(
    "options, match",
    [
        ({"p": 1.0}, "option p"),
        ({"p": -0.1}, "option p"),
        ({"score": "hard"}, "option score"),
        ({"n_members": 0}, "n_members"),
        ({"finetune_steps": -1}, "finetune_steps"),
        ({"finetune_lr": 0}, "finetune_lr"),
        ({"max_candidates": 0}, "max_candidates"),
    ],
)
def test_dqbc_rejects_bad_options(options, match):
    with pytest.raises(AlkitError, match=match):
        get_strategy("dqbc", **options)
