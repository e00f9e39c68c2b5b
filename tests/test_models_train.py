"""Models expose logits, embeddings and named taps; the Learner is seeded and deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import cached_splits

from alkit.errors import AlkitError
from alkit.models import build_model
from alkit.train import Learner, TrainConfig, resolve_device


@pytest.mark.parametrize(
    "name, shape, taps",
    [
        ("lenet", (1, 28, 28), {"x1": (10, 12, 12), "x2": (20, 4, 4), "x4": (50,)}),
        ("mlp", (1, 8, 8), {"hidden1": (128,)}),
        ("mlp_bn", (256,), {"linear": (64,), "normalized": (64,)}),
        ("resnet10", (3, 32, 32), {"layer4": (256, 4, 4)}),
        ("resnet18", (1, 28, 28), {"layer1": (32, 28, 28)}),
    ],
)
def test_models_give_logits_embeddings_and_taps(name, shape, taps):
    model = build_model(name, shape, n_classes=7).eval()
    x = torch.rand(3, *shape)
    logits, got = model.forward_taps(x)
    assert logits.shape == (3, 7)
    assert set(model.tap_names) == set(got)
    for tap, tap_shape in taps.items():
        assert tuple(got[tap].shape) == (3, *tap_shape)
    emb = model.embed(x)
    assert emb.shape == (3, model.embedding_dim)
    torch.testing.assert_close(model.head(emb), logits)  # embedding feeds the last layer


def test_lenet_matches_the_paper_layout():
    net = build_model("lenet", (1, 28, 28), 10)
    assert net.fc1.in_features == 320 and net.fc1.out_features == 50
    assert net.has_dropout()
    assert not build_model("lenet", (1, 28, 28), 10, p_conv=0, p_fc=0).has_dropout()


def test_unknown_model_lists_valid_names():
    with pytest.raises(
        AlkitError, match="unknown model 'vgg'.*lenet, mlp, mlp_bn, resnet10, resnet18"
    ):
        build_model("vgg", (1, 28, 28), 10)


def _fit(seed, warm=False, fits=1):
    splits = cached_splits("digits")
    torch.manual_seed(0)
    learner = Learner(
        build_model("mlp", (1, 8, 8), 10),
        TrainConfig(epochs=20, min_steps=0, warm_start=warm),
        device="cpu",
        seed=seed,
    )
    for _ in range(fits):
        learner.fit(splits.X_pool[:200], splits.y_pool[:200])
    return learner, splits


def test_fit_is_deterministic_and_learns():
    a, splits = _fit(seed=0)
    b, _ = _fit(seed=0)
    c, _ = _fit(seed=1)
    pa = a.predict_proba(splits.X_test)
    np.testing.assert_array_equal(pa, b.predict_proba(splits.X_test))
    assert not np.array_equal(pa, c.predict_proba(splits.X_test))
    assert pa.shape == (len(splits.y_test), 10)
    np.testing.assert_allclose(pa.sum(1), 1, atol=1e-5)
    assert np.mean(a.predict(splits.X_test) == splits.y_test) > 0.7
    assert a.embed(splits.X_test[:5]).shape == (5, 128)


def test_warm_start_continues_and_cold_start_restarts():
    cold_twice, splits = _fit(seed=0, fits=2)
    warm_twice, _ = _fit(seed=0, warm=True, fits=2)
    cold_once, _ = _fit(seed=0, fits=1)
    x = splits.X_test
    # a cold refit starts from the same initial weights: only the batch order differs
    assert not np.array_equal(warm_twice.predict_logits(x), cold_twice.predict_logits(x))
    assert (
        np.abs(cold_twice.predict_logits(x) - cold_once.predict_logits(x)).mean()
        < np.abs(warm_twice.predict_logits(x) - cold_once.predict_logits(x)).mean()
    )


def test_bad_training_inputs():
    learner, splits = _fit(seed=0, fits=0)
    with pytest.raises(AlkitError, match="mismatched lengths: X=10, y=9"):
        learner.fit(splits.X_pool[:10], splits.y_pool[:9])
    X = splits.X_pool[:10].copy()
    X[3, 0, 0, 0] = np.inf
    with pytest.raises(AlkitError, match="training inputs contains 1 NaN/inf"):
        learner.fit(X, splits.y_pool[:10])
    with pytest.raises(AlkitError, match=r"optimizer \(--optimizer\) must be one of"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(AlkitError, match="device must be 'auto', 'cpu' or 'cuda', got 'tpu'"):
        resolve_device("tpu")
