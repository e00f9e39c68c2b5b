"""Data loaders on the real digits and Fashion-MNIST files, bias transforms, Pool and Oracle."""

from __future__ import annotations

import gzip
import socket

import numpy as np
import pytest
from conftest import cached_dataset, requires_fashion

from alkit.data import (
    Pool,
    build_splits,
    category_mismatch_initial,
    class_imbalance,
    load_dataset,
    long_tail,
    read_idx,
)
from alkit.errors import AlkitError, DatasetUnavailableError


def test_digits_shapes_and_split():
    ds = cached_dataset("digits")
    assert ds.X_train.shape[1:] == (1, 8, 8) and ds.X_train.dtype == np.float32
    assert len(ds.X_train) + len(ds.X_test) == 1797
    assert 0.0 <= ds.X_train.min() and ds.X_train.max() <= 1.0
    assert set(np.unique(ds.y_test)) == set(range(10))
    again = load_dataset("digits")
    np.testing.assert_array_equal(ds.y_train, again.y_train)


@requires_fashion
def test_fashion_mnist_from_debian_files():
    ds = cached_dataset("fashion_mnist")
    assert ds.X_train.shape == (60000, 1, 28, 28)
    assert ds.X_test.shape == (10000, 1, 28, 28)
    np.testing.assert_array_equal(np.bincount(ds.y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(ds.y_test), [1000] * 10)
    assert ds.class_names[9] == "Ankle boot"
    assert 0.0 <= ds.X_train.min() and ds.X_train.max() <= 1.0


@requires_fashion
def test_fashion_imbalance_ratio_achieved():
    ds = cached_dataset("fashion_mnist")
    splits = build_splits(ds, seed=0, val_per_class=1000, imbalance=100, rare_classes=range(5, 10))
    counts = np.bincount(splits.y_pool, minlength=10)
    np.testing.assert_array_equal(counts[:5], [5000] * 5)  # 6000 minus the validation share
    assert counts[5:].sum() == 25000 // 100
    assert (counts[5:] > 0).all()  # a pooled draw still reaches every rare class
    np.testing.assert_array_equal(np.bincount(splits.y_val), [1000] * 10)


def test_class_imbalance_pooled_and_per_class():
    y = np.repeat(np.arange(10), 200)
    kept = class_imbalance(y, range(5, 10), ratio=10, seed=0)
    counts = np.bincount(y[kept], minlength=10)
    assert counts[:5].tolist() == [200] * 5 and counts[5:].sum() == 100
    per = class_imbalance(y, range(5, 10), ratio=10, seed=0, per_class=True)
    assert np.bincount(y[per], minlength=10)[5:].tolist() == [20] * 5
    assert np.array_equal(kept, class_imbalance(y, range(5, 10), ratio=10, seed=0))
    assert not np.array_equal(kept, class_imbalance(y, range(5, 10), ratio=10, seed=1))
    with pytest.raises(AlkitError, match="ratio must be a finite number ≥ 1, got 0.5"):
        class_imbalance(y, [5], 0.5)
    with pytest.raises(AlkitError, match=r"subset of the classes 0…9, got \[12\]"):
        class_imbalance(y, [12], 10)


def test_long_tail_is_exponential():
    y = np.repeat(np.arange(10), 1000)
    counts = np.bincount(y[long_tail(y, factor=0.1, seed=0)], minlength=10)
    expected = [int(1000 * 0.1 ** (c / 9)) for c in range(10)]
    assert counts.tolist() == expected
    assert counts[0] / counts[-1] == pytest.approx(10, rel=0.01)
    with pytest.raises(AlkitError, match=r"factor must be in \(0, 1\], got 2"):
        long_tail(y, factor=2)


def test_category_mismatch_initial_uses_first_70_percent_of_classes():
    y = np.repeat(np.arange(10), 50)
    idx = category_mismatch_initial(y, 40, fraction=0.7, seed=0)
    assert len(np.unique(idx)) == 40
    assert set(np.unique(y[idx])) <= set(range(7))
    with pytest.raises(AlkitError, match="larger than the 350 samples"):
        category_mismatch_initial(y, 351)


def test_read_idx_plain_and_gzipped(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 0x08, 3]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    (tmp_path / "a-idx3-ubyte").write_bytes(header + arr.tobytes())
    with gzip.open(tmp_path / "b-idx3-ubyte.gz", "wb") as f:
        f.write(header + arr.tobytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "a-idx3-ubyte"), arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "b-idx3-ubyte.gz"), arr)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DatasetUnavailableError, match="not an IDX file"):
        read_idx(tmp_path / "bad")


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(
        AlkitError, match="unknown dataset 'cifar11'.*cifar10, digits, fashion_mnist"
    ):
        load_dataset("cifar11")


def test_offline_dataset_says_how_to_get_it(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", offline)  # a machine without network
    monkeypatch.setenv("ALKIT_DATA", str(tmp_path))
    with pytest.raises(DatasetUnavailableError, match="not available offline.*internet access"):
        load_dataset("cifar10")
    monkeypatch.setattr("alkit.data.datasets.FASHION_MNIST_DIRS", (str(tmp_path / "none"),))
    with pytest.raises(DatasetUnavailableError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist")


def test_splits_are_deterministic_by_seed():
    ds = cached_dataset("digits")
    a = build_splits(ds, seed=3, val_per_class=5, pool_size=500)
    b = build_splits(ds, seed=3, val_per_class=5, pool_size=500)
    c = build_splits(ds, seed=4, val_per_class=5, pool_size=500)
    np.testing.assert_array_equal(a.y_pool, b.y_pool)
    np.testing.assert_array_equal(a.X_val, b.X_val)
    assert not np.array_equal(a.X_pool, c.X_pool)
    assert len(a.y_pool) == 500 and np.bincount(a.y_val).tolist() == [5] * 10


def test_pool_reveals_labels_only_when_queried():
    y = np.arange(20) % 4
    pool = Pool(np.zeros((20, 3), np.float32), y, labeled_idx=[0, 5])
    assert pool.labeled_y.tolist() == [0, 1]
    assert pool.oracle.n_queries == 2
    assert pool.label([7, 2]).tolist() == [3, 2]
    assert pool.labeled_idx.tolist() == [0, 2, 5, 7]
    assert len(pool.unlabeled_idx) == 16
    with pytest.raises(AlkitError, match=r"indices \[5\] are already labelled"):
        pool.label([5])
    with pytest.raises(AlkitError, match="must be distinct"):
        pool.label([8, 8])
    with pytest.raises(AlkitError, match=r"outside the pool 0…19"):
        pool.label([20])
    assert pool.labeled_idx.tolist() == [0, 2, 5, 7]  # failed calls changed nothing


def test_pool_rejects_bad_inputs():
    with pytest.raises(AlkitError, match="pool is empty"):
        Pool(np.zeros((0, 3), np.float32), np.zeros(0))
    X = np.ones((4, 2), np.float32)
    X[2, 1] = np.nan
    with pytest.raises(AlkitError, match=r"pool inputs contains 1 NaN/inf.*rows: \[2\]"):
        Pool(X, np.zeros(4))
    with pytest.raises(AlkitError, match="mismatched lengths: pool inputs=3, oracle labels=4"):
        Pool(np.ones((3, 2), np.float32), np.zeros(4))
