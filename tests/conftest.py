"""Shared fixtures: real data (digits, Fashion-MNIST) and trained small models, built once."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile

import numpy as np
import pytest

os.environ.setdefault("ALKIT_PROGRESS", "0")
# artifacts built by tests go to a fresh folder, never the user's ~/.cache/alkit; it is
# removed when the test session ends
if "ALKIT_CACHE" not in os.environ:
    _TEST_CACHE = tempfile.mkdtemp(prefix="alkit-test-cache-")
    os.environ["ALKIT_CACHE"] = _TEST_CACHE
    atexit.register(shutil.rmtree, _TEST_CACHE, ignore_errors=True)

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def fashion_available() -> bool:
    from alkit.data.datasets import _find_idx_dir

    return _find_idx_dir("fashion-mnist", (FASHION_DIR,), "train-images-idx3-ubyte") is not None


requires_fashion = pytest.mark.skipif(
    not fashion_available(),
    reason="Fashion-MNIST files missing: apt-get install dataset-fashion-mnist (make test does)",
)


@functools.cache
def cached_dataset(name: str):
    from alkit.data import load_dataset

    return load_dataset(name)


@functools.cache
def cached_splits(dataset: str, imbalance=None, pool_size=None, val_per_class=10, seed=0):
    from alkit.data import build_splits

    return build_splits(
        cached_dataset(dataset),
        seed=seed,
        val_per_class=val_per_class,
        imbalance=imbalance,
        pool_size=pool_size,
        test_size=2000,
    )


@functools.cache
def _trained_state(dataset: str, model: str | None, n_labeled: int, imbalance, pool_size):
    from alkit.data import Pool
    from alkit.models import DEFAULT_MODEL, build_model
    from alkit.train import Learner, TrainConfig, seed_everything

    splits = cached_splits(dataset, imbalance, pool_size)
    pool = Pool(splits.X_pool, splits.y_pool)
    labeled = np.random.default_rng(123).choice(len(pool), n_labeled, replace=False)
    pool.label(labeled)
    seed_everything(0)
    net = build_model(model or DEFAULT_MODEL[dataset], splits.X_pool.shape[1:], splits.n_classes)
    learner = Learner(net, TrainConfig(epochs=30, min_steps=200), device="cpu", seed=0)
    learner.fit(pool.X[pool.labeled_idx], pool.labeled_y)
    return labeled, learner


#: options of the tests' seed-004 artifacts: a WGAN-GP (MLP, width 16: hidden 64) of 200
#: generator steps at lr 1e-3 (1e-4, the paper's, needs thousands of steps), an auto-encoder of
#: 5 epochs
TINY_GAN = {"iterations": 200, "width": 16, "lr": 1e-3}
TINY_AE = {"epochs": 5}


@functools.cache
def tiny_gan_artifacts(dataset: str = "digits", imbalance=None, pool_size=None) -> dict:
    """Seed 004's artifacts on the unlabelled pool through the artifact stage (built once and
    cached, as the loop builds them): ``{"wgan_gp": Artifact, "autoencoder": Artifact}``."""
    from alkit.artifacts import build_artifact

    X = cached_splits(dataset, imbalance, pool_size).X_pool
    key = {"dataset": dataset, "imbalance": imbalance, "pool_size": pool_size}
    return {
        name: build_artifact(
            name, X, data_key=key, seed=0, options=opts, device="cpu", progress=False
        )  # fmt: skip
        for name, opts in (("wgan_gp", TINY_GAN), ("autoencoder", TINY_AE))
    }


def make_context(
    seed: int = 0,
    dataset: str = "digits",
    model: str | None = None,
    n_labeled: int = 40,
    imbalance=None,
    pool_size=None,
    artifacts: bool = False,
):
    """A fresh QueryContext on real data with a trained model (the model is trained once and
    shared; the Pool is new, so a test may label without affecting others). ``artifacts=True``
    attaches :func:`tiny_gan_artifacts` as ``ctx.artifacts``."""
    from alkit.data import Pool
    from alkit.strategies import QueryContext

    splits = cached_splits(dataset, imbalance, pool_size)
    labeled, learner = _trained_state(dataset, model, n_labeled, imbalance, pool_size)
    pool = Pool(splits.X_pool, splits.y_pool, labeled_idx=labeled)
    ctx = QueryContext(
        pool,
        learner,
        rng=np.random.default_rng(seed),
        X_val=splits.X_val,
        y_val=splits.y_val,
        round=1,
    )
    if artifacts:
        ctx.artifacts = dict(tiny_gan_artifacts(dataset, imbalance, pool_size))
    return ctx


@pytest.fixture
def digits_context():
    return make_context
