"""The artifacts that seeds 004 and 001 add: ``wgan_gp``, ``autoencoder`` and ``dwe``, built from
the unlabelled pool, cached, reloaded, and handed to ``asal`` and ``wproto`` by the loop."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch
from conftest import TINY_AE, TINY_GAN, cached_splits, requires_fashion

from alkit.artifacts import build_artifact, encode, load_trained
from alkit.artifacts.experiment import build_experiment_artifacts
from alkit.data import load_dataset
from alkit.dwe_training import image_histograms
from alkit.errors import AlkitError
from alkit.generative import TrainedAutoencoder, TrainedGAN
from alkit.kernels.ot import grid_coordinates, ground_cost
from alkit.loop import ExperimentConfig, preflight, run_experiment, seed_splits
from alkit.train import TrainConfig

KEY = {"dataset": "digits"}
TINY_DWE = {"pool": 1, "n_pairs": 300, "epochs": 4, "embedding_dim": 8, "hidden": 32}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ALKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def pool(n=300):
    return cached_splits("digits").X_pool[:n]


def build(name, options, n=300, **kw):
    return build_artifact(name, pool(n), data_key=KEY, seed=0, options=options, device="cpu",
                          progress=False, **kw)  # fmt: skip


def test_wgan_gp_reloads_from_the_cache_as_the_same_networks():
    art = build("wgan_gp", {**TINY_GAN, "iterations": 20})
    again = build("wgan_gp", {**TINY_GAN, "iterations": 20})
    assert not art.meta["cache_hit"] and again.meta["cache_hit"]
    assert art.features is None and set(art.state) == {"generator", "critic"}
    log = art.meta["log"]  # every 10th of 20 generator steps
    assert set(log) == {"critic_loss", "gp", "wasserstein", "generator_loss"}
    assert len(log["gp"]) == 2 and np.isfinite(log["wasserstein"]).all()
    gan = load_trained(art)
    assert isinstance(gan, TrainedGAN) and load_trained(art) is gan  # rebuilt once
    assert not gan.generator.training and not gan.critic.training
    z = torch.randn(5, gan.generator.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        x, x_again = gan.generator(z), load_trained(again).generator(z)
    assert x.shape == (5, 1, 8, 8) and float(x.min()) >= 0 and float(x.max()) <= 1  # sigmoid
    torch.testing.assert_close(x, x_again, rtol=0, atol=0)
    # its encoder is the critic's last hidden layer (ASAL's "disc" space)
    with torch.no_grad():
        disc = gan.critic.features(torch.from_numpy(pool(7)))
    np.testing.assert_allclose(encode(art, pool(7)), disc.numpy(), rtol=1e-5, atol=1e-6)


def test_the_autoencoder_stores_the_pool_codes_its_encoder_recomputes():
    art = build("autoencoder", {**TINY_AE, "epochs": 2})
    assert isinstance(load_trained(art), TrainedAutoencoder)
    assert art.features.shape == (300, 16) and len(art.meta["losses"]) == 2
    np.testing.assert_allclose(encode(art, pool()), art.features, rtol=1e-5, atol=1e-5)


def test_generative_options_are_checked_before_training():
    blobs = load_dataset("blobs").X_train  # 2-D points outside [0, 1]
    for name in ("wgan_gp", "autoencoder"):
        with pytest.raises(
            AlkitError, match=rf"output of artifact '{name}' is 'sigmoid'.*identity"
        ):
            build_artifact(name, blobs, data_key={"dataset": "blobs"}, seed=0, cache=False)
    gan = build_artifact("wgan_gp", blobs, data_key={"dataset": "blobs"}, seed=0, cache=False,
                         options={"iterations": 3, "width": 4, "output": "identity"})  # fmt: skip
    assert load_trained(gan).generator(torch.zeros(2, 128)).shape == (2, 2)
    for options, message in [
        ({"channels": "3,0"}, r"option channels of artifact 'autoencoder' must be positive"),
        ({"channels": "a,b"}, r"separated by commas.*got 'a,b'"),
        ({"epochs": 0}, r"option epochs of artifact 'autoencoder' must be an integer ≥ 1"),
    ]:
        with pytest.raises(AlkitError, match=message):
            build("autoencoder", options)
    with pytest.raises(AlkitError, match=r"option arch of artifact 'wgan_gp' must be one of"):
        build("wgan_gp", {"arch": "resnet"})


def test_dwe_embeds_histograms_and_its_encoder_matches_the_stored_features():
    art = build("dwe", TINY_DWE, n=200)
    assert art.features.shape == (200, 8)
    assert art.meta["grid"] == [8, 8] and -1 <= art.meta["val_correlation"] <= 1
    np.testing.assert_allclose(encode(art, pool(200)), art.features, rtol=1e-4, atol=1e-4)
    # the encoder normalises and sum-pools like image_histograms: a scaled image embeds the same
    x = pool(3)
    np.testing.assert_allclose(encode(art, 3 * x), encode(art, x), rtol=1e-4, atol=1e-5)
    with pytest.raises(AlkitError, match=r"'dwe' needs grey images 1 × H × W"):
        build_artifact("dwe", np.random.default_rng(0).random((20, 3, 8, 8), np.float32), data_key=KEY,
                       seed=0, cache=False)  # fmt: skip


def test_dwe_at_a_pooled_grid_tracks_exact_w2():
    """28×28 images sum-pooled to 7×7: after a short training the embedding distances of
    unseen pairs rank like exact W₂² (measured Spearman ≈ 0.9 on one thread)."""
    X = cached_splits("digits").X_pool[:400]
    X28 = torch.nn.functional.interpolate(torch.from_numpy(X), size=(28, 28)).numpy()
    art = build_artifact("dwe", X28[:300], data_key=KEY, seed=0, device="cpu", progress=False,
                         options={"pool": 4, "n_pairs": 1500, "epochs": 15})  # fmt: skip
    assert art.meta["grid"] == [7, 7]
    new = X28[300:]
    hist = image_histograms(new, 4)
    C = ground_cost(grid_coordinates(7, 7), grid_coordinates(7, 7), dtype=torch.float64).numpy()
    i, j = np.arange(0, 50), np.arange(50, 100)
    exact = np.array([ot.emd2(hist[a], hist[b], C) for a, b in zip(i, j, strict=True)])
    f = encode(art, new)
    pred = ((f[i] - f[j]) ** 2).sum(1)
    ranks = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    assert np.corrcoef(ranks(pred), ranks(exact))[0, 1] > 0.6


def _loop_config(**kw) -> ExperimentConfig:
    fields = dict(
        dataset="digits",
        initial=20,
        query=10,
        rounds=1,
        seeds=(0,),
        strategies=("random", "asal:steps=5", "asal:features=auto:steps=5", "wproto:space=dwe"),
        artifact_options={
            "wgan_gp": {**TINY_GAN, "iterations": 50},
            "autoencoder": {**TINY_AE, "epochs": 2},
            "dwe": TINY_DWE,
        },
        train=TrainConfig(epochs=2, min_steps=20),
        device="cpu",
    )
    return ExperimentConfig(**(fields | kw))


def test_the_loop_builds_the_artifacts_once_and_asal_and_wproto_use_them(tmp_path, cache_dir):
    config = _loop_config()
    assert preflight(config).strategies  # nothing is refused
    seen = {}

    def record(state):
        seen[(state.strategy, state.round)] = (state.query, state.pool.labeled_idx.copy())

    rows = run_experiment(config, out=tmp_path / "run", progress=False, on_round=record)
    assert len(rows) == 4 * 2
    for spec in config.strategies:
        query, _ = seen[(spec, 1)]
        _, initial = seen[(spec, 0)]
        assert len(np.unique(query.indices)) == 10 and not np.isin(query.indices, initial).any()
    assert np.isfinite(rows["pick_entropy"][rows["round"] > 0]).all()
    built = sorted(p.parent.name for p in cache_dir.rglob("*.pt"))
    assert built == ["autoencoder", "dwe", "wgan_gp"]  # one entry each, shared by the strategies
    # another experiment on the same split finds them in the cache
    plan = preflight(config)
    splits = seed_splits(config, plan.dataset, 0)
    arts = build_experiment_artifacts(config, splits, 0, plan.strategies.values(), progress=False)
    assert sorted(arts) == built and all(a.meta["cache_hit"] for a in arts.values())


def test_preflight_names_a_bad_artifact_option_before_any_work(tmp_path):
    bad = _loop_config(artifact_options={"wgan_gp": {"iterations": 0}})
    with pytest.raises(AlkitError, match=r"option iterations of artifact 'wgan_gp' must be"):
        run_experiment(bad, out=tmp_path / "never", progress=False)
    frozen = _loop_config(features="pca", artifact_options={"pca": {"dim": 8}})
    with pytest.raises(AlkitError, match=r"'asal' feeds generated images .* frozen 'pca'"):
        run_experiment(frozen, out=tmp_path / "never", progress=False)
    assert not (tmp_path / "never").exists()


@requires_fashion
def test_the_two_class_fashion_sets_keep_only_their_classes():
    ds = load_dataset("fashion_mnist_5v7")
    assert ds.class_names == ("Sandal", "Sneaker")
    assert ds.X_train.shape == (12000, 1, 28, 28) and ds.X_test.shape == (2000, 1, 28, 28)
    assert np.bincount(ds.y_train).tolist() == [6000, 6000]
    full = load_dataset("fashion_mnist")
    np.testing.assert_array_equal(ds.X_test[ds.y_test == 1], full.X_test[full.y_test == 7])
