"""The artifact stage: label-free builders, typed options, the disk cache, rotation unchanged."""

from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest
import torch
from conftest import cached_splits

from alkit.artifacts import (
    Built,
    Option,
    artifact_names,
    build_artifact,
    clear_entries,
    encode,
    list_entries,
    load_module,
    record_quality,
    register_artifact,
)
from alkit.artifacts.registry import _ARTIFACTS
from alkit.data import Oracle, Pool
from alkit.errors import AlkitError
from alkit.models import build_model
from alkit.pretrain import rotation_pretrain
from alkit.train import seed_everything

KEY = {"dataset": "digits", "pool_size": None}
TINY_SIMCLR = {"epochs": 1, "width": 4, "batch_size": 64, "proj_dim": 16, "flip": False}


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ALKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def counting_artifact():
    """A registered test artifact that counts its builds and records what it was given."""
    calls = []

    @register_artifact("test_counting", options={"sleep": Option(0.0, float, low=0.0)},
                       kind="test", description="counts builds")  # fmt: skip
    def build(X_pool, options, *, seed, device, progress):
        calls.append(type(X_pool))
        time.sleep(options["sleep"])
        return Built(features=X_pool.reshape(len(X_pool), -1)[:, :3] * (seed + 1))

    yield calls
    _ARTIFACTS.pop("test_counting")


def digits_pool(n=300):
    return cached_splits("digits").X_pool[:n]


class RaisingOracle(Oracle):
    """An oracle whose every label access fails the test."""

    def label(self, idx):
        raise AssertionError("an artifact builder asked for labels")

    def peek(self, idx):
        raise AssertionError("an artifact builder peeked at labels")


class SealedPool:
    """A pool that only shows its inputs: any other attribute (labels, oracle) raises."""

    def __init__(self, pool):
        self.X = pool.X
        self._pool = pool

    def __getattr__(self, name):
        raise AssertionError(f"an artifact builder read pool.{name}")


TINY = {
    "rotation": {"model": "mlp", "epochs": 1},
    "pca": {"dim": 8},
    "wgan_gp": {"iterations": 3, "width": 4},
    "autoencoder": {"epochs": 1},
    "dwe": {"pool": 1, "n_pairs": 40, "epochs": 1, "embedding_dim": 4, "hidden": 8},
}


@pytest.mark.parametrize("name", artifact_names())
def test_a_builder_sees_the_pool_inputs_only(name):
    X = digits_pool(128)
    pool = SealedPool(Pool(X, RaisingOracle(np.zeros(len(X), dtype=np.int64))))
    options = TINY.get(name, {**TINY_SIMCLR, "batch_size": 32})
    art = build_artifact(name, pool, data_key=KEY, seed=0, options=options, progress=False)
    assert art.meta["cache_hit"] is False and art.state
    if name not in ("rotation", "wgan_gp"):
        assert art.features.shape[0] == len(X) and art.features.dtype == np.float32


def test_builders_get_a_plain_array_and_may_not_ask_for_labels(counting_artifact):
    pool = Pool(digits_pool(50), np.zeros(50, dtype=np.int64))
    build_artifact("test_counting", pool, data_key=KEY, seed=0)
    assert counting_artifact == [np.ndarray]
    with pytest.raises(AlkitError, match=r"takes \['y'\].*inputs only"):
        register_artifact("leaky", options={}, kind="", description="")(
            lambda X_pool, options, y, *, seed, device, progress: Built()
        )
    assert "leaky" not in artifact_names()


def test_options_are_typed_and_range_checked():
    X = digits_pool(50)
    for options, message in [
        ({"dim": 0}, r"option dim of artifact 'pca' must be an integer ≥ 1, got 0"),
        ({"dim": 2.5}, r"option dim of artifact 'pca' must be an integer ≥ 1, got 2\.5"),
        ({"whiten": "yes"}, r"option whiten of artifact 'pca' must be true or false"),
        ({"dims": 3}, r"unknown option\(s\) \['dims'\] for artifact 'pca'; valid options"),
    ]:
        with pytest.raises(AlkitError, match=message) as err:
            build_artifact("pca", X, data_key=KEY, seed=0, options=options)
        assert "\n" not in str(err.value)
    with pytest.raises(AlkitError, match="must be one of \\['adam', 'sgd'\\], got 'lbfgs'"):
        build_artifact("simclr", X, data_key=KEY, seed=0, options={"optimizer": "lbfgs"})
    with pytest.raises(
        AlkitError, match=r"lr of artifact 'simsiam' must be a number in \[1e-12, 10.0\]"
    ):
        build_artifact("simsiam", X, data_key=KEY, seed=0, options={"lr": -1.0})
    with pytest.raises(AlkitError, match="unknown artifact 'jigsaw'; valid artifact names are"):
        build_artifact("jigsaw", X, data_key=KEY, seed=0)


def test_the_cache_gives_the_same_bytes_and_a_new_entry_per_key(cache_dir):
    X = digits_pool()
    first = build_artifact("simclr", X, data_key=KEY, seed=0, options=TINY_SIMCLR, progress=False)
    original = first.path.read_bytes()
    hit = build_artifact("simclr", X, data_key=KEY, seed=0, options=TINY_SIMCLR)
    assert hit.meta["cache_hit"] and hit.key == first.key and hit.path == first.path
    np.testing.assert_array_equal(hit.features, first.features)
    assert hit.meta["losses"] == first.meta["losses"]
    assert clear_entries() == 1 and not first.path.exists()
    rebuilt = build_artifact("simclr", X, data_key=KEY, seed=0, options=TINY_SIMCLR)
    assert not rebuilt.meta["cache_hit"]
    assert rebuilt.path.read_bytes() == original  # a deterministic rebuild: byte for byte

    keys = {first.key}
    for kwargs in [
        {"options": {**TINY_SIMCLR, "tau": 0.2}},
        {"data_key": {**KEY, "pool_size": 200}},
        {"seed": 1},
        {"X": X[::-1]},
    ]:
        args = {"data_key": KEY, "seed": 0, "options": TINY_SIMCLR, "X": X} | kwargs
        art = build_artifact("simclr", args.pop("X"), progress=False, **args)
        assert not art.meta["cache_hit"] and art.key not in keys
        keys.add(art.key)
    assert len(list_entries("simclr")) == 5
    assert {e["key"] for e in list_entries()} == keys


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "garbage"])
def test_a_damaged_cache_file_is_detected_and_rebuilt_never_used(damage):
    X = digits_pool()
    art = build_artifact("pca", X, data_key=KEY, seed=0, options={"dim": 8})
    good = art.path.read_bytes()
    bad = {
        "truncate": good[: len(good) // 2],
        "flip_byte": good[:-10] + bytes([good[-10] ^ 0xFF]) + good[-9:],
        "garbage": b"not a torch file",
    }[damage]
    art.path.write_bytes(bad)
    with pytest.warns(RuntimeWarning, match="rebuilding the artifact"):
        again = build_artifact("pca", X, data_key=KEY, seed=0, options={"dim": 8})
    assert not again.meta["cache_hit"]
    np.testing.assert_array_equal(again.features, art.features)
    assert art.path.read_bytes() == good
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build_artifact("pca", X, data_key=KEY, seed=0, options={"dim": 8}).meta["cache_hit"]


def test_two_concurrent_builds_of_one_entry_build_it_once(counting_artifact):
    X = digits_pool(40)
    results = []

    def run():
        results.append(build_artifact("test_counting", X, data_key=KEY, seed=0,
                                      options={"sleep": 0.3}))  # fmt: skip

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(counting_artifact) == 1
    assert sorted(r.meta["cache_hit"] for r in results) == [False, True]


def test_rotation_through_the_artifact_stage_equals_the_old_pretraining():
    X = digits_pool(200)
    seed = 3
    seed_everything(seed)  # the loop's recipe before the artifact stage existed
    model = build_model("mlp", X.shape[1:], 10)
    report = rotation_pretrain(model, X, epochs=2, seed=seed, progress=False)
    art = build_artifact("rotation", X, data_key=KEY, seed=seed, progress=False,
                         options={"model": "mlp", "epochs": 2})  # fmt: skip
    expected = model.state_dict()
    assert set(art.state["model"]) == set(expected)
    for k, v in expected.items():
        torch.testing.assert_close(art.state["model"][k], v, rtol=0, atol=0)
    assert art.meta["losses"] == report.losses
    emb = encode(art, X[:20])
    torch.testing.assert_close(torch.from_numpy(emb), model.eval().embed(torch.from_numpy(X[:20])))


def test_pca_features_encode_new_inputs_and_store_quality():
    splits = cached_splits("digits")
    art = build_artifact("pca", splits.X_pool, data_key=KEY, seed=0, options={"dim": 16})
    assert art.kind == "frozen features, not self-supervised"
    np.testing.assert_allclose(encode(art, splits.X_pool), art.features, atol=1e-4)
    feats = art.features.astype(np.float64)
    np.testing.assert_allclose(np.cov(feats.T), np.eye(16), atol=1e-3)  # whitened
    with pytest.raises(AlkitError, match=r"encodes inputs of shape \(1, 8, 8\), got \(64,\)"):
        encode(art, splits.X_test.reshape(len(splits.X_test), -1))
    payload = art.path.read_bytes()
    record_quality(art, {"knn_accuracy": np.float64(0.9)})
    again = build_artifact("pca", splits.X_pool, data_key=KEY, seed=0, options={"dim": 16})
    assert again.meta["quality"] == {"knn_accuracy": 0.9}
    assert art.path.read_bytes() == payload
    assert list_entries("pca")[0]["quality"] == {"knn_accuracy": 0.9}
    assert isinstance(load_module(art), torch.nn.Module)


def test_building_leaves_the_global_generators_as_they_were():
    import random

    torch.manual_seed(5)
    random.seed(5)
    expected = (torch.rand(3), random.random())
    torch.manual_seed(5)
    random.seed(5)
    build_artifact("rotation", digits_pool(64), data_key=KEY, seed=0, cache=False,
                   options={"model": "mlp", "epochs": 1}, progress=False)  # fmt: skip
    torch.testing.assert_close(torch.rand(3), expected[0])
    assert random.random() == expected[1]
