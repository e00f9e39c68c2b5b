"""Dataset loaders and their registry.

Each loader returns a :class:`Dataset` with a train part (the future pool and validation set) and a
test part. Images are float32 in [0, 1] with shape ``N × C × H × W``; toy sets are ``N × 2``.
Nothing here downloads at test time: the embedded digits and Debian's Fashion-MNIST files are
read locally, and torchvision downloads are attempted only when the files are not on disk.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alkit.errors import DatasetUnavailableError, unknown_name

FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist",)
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass
class Dataset:
    """A labelled dataset split into train and test parts.

    Attributes:
        name: registry name.
        X_train: ``N × ...`` float32 inputs (images ``N × C × H × W`` in [0, 1]).
        y_train: ``N`` int64 labels in ``0 … n_classes-1``.
        X_test, y_test: the held-out test part, same layout.
        class_names: one name per class.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...] = field(default=())

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.X_train.shape[1:])


_LOADERS: dict[str, Callable[..., Dataset]] = {}


def register_dataset(name: str):
    """Decorator that adds a loader to the dataset registry under ``name``."""

    def wrap(fn):
        _LOADERS[name] = fn
        return fn

    return wrap


def dataset_names() -> list[str]:
    """The registered dataset names, sorted."""
    return sorted(_LOADERS)


def load_dataset(name: str, **kwargs) -> Dataset:
    """Load a registered dataset by name (see :func:`dataset_names`)."""
    if name not in _LOADERS:
        raise unknown_name("dataset", name, _LOADERS)
    return _LOADERS[name](**kwargs)


@register_dataset("digits")
def digits(test_fraction: float = 1 / 3, seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 handwritten digits (8×8, 10 classes), embedded in the package.

    There is no official test split: a stratified ``test_fraction`` is held out with ``seed``.
    Returns images ``N × 1 × 8 × 8`` scaled to [0, 1].
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    X = (bunch.images.astype(np.float32) / 16.0)[:, None]
    y = bunch.target.astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=test_fraction, stratify=y, random_state=seed
    )
    return Dataset("digits", X_tr, y_tr, X_te, y_te, tuple(str(c) for c in range(10)))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not, into a NumPy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DatasetUnavailableError(f"{path} is not an IDX file (bad magic number)")
    dtype = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtype:
        raise DatasetUnavailableError(f"{path}: unknown IDX type code {data[2]:#x}")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=dtype[data[2]], offset=4 + 4 * ndim).reshape(shape)


def _find_idx_dir(subdir: str, defaults: tuple[str, ...], stem: str) -> Path | None:
    candidates = []
    if os.environ.get("ALKIT_DATA"):
        root = Path(os.environ["ALKIT_DATA"])
        candidates += [root / subdir, root]
    candidates += [Path(d) for d in defaults]
    for d in candidates:
        if (d / f"{stem}.gz").exists() or (d / stem).exists():
            return d
    return None


def _idx_file(d: Path, stem: str) -> Path:
    return d / f"{stem}.gz" if (d / f"{stem}.gz").exists() else d / stem


def _mnist_like_from_dir(d: Path, name: str, class_names: tuple[str, ...]) -> Dataset:
    def images(stem):
        return (read_idx(_idx_file(d, stem)).astype(np.float32) / 255.0)[:, None]

    def labels(stem):
        return read_idx(_idx_file(d, stem)).astype(np.int64)

    return Dataset(
        name,
        images("train-images-idx3-ubyte"),
        labels("train-labels-idx1-ubyte"),
        images("t10k-images-idx3-ubyte"),
        labels("t10k-labels-idx1-ubyte"),
        class_names,
    )


def _torchvision_download(name: str, cls_name: str, hint: str, **kwargs):
    root = Path(os.environ.get("ALKIT_DATA", Path.home() / ".cache" / "alkit"))
    try:
        import torchvision.datasets as tvd

        cls = getattr(tvd, cls_name)
        return [cls(root=str(root), download=True, **kw) for kw in kwargs["splits"]]
    except Exception as exc:  # offline, or torchvision missing
        raise DatasetUnavailableError(
            f"dataset {name!r} is not available offline and could not be downloaded "
            f"({type(exc).__name__}: {exc}). {hint}"
        ) from exc


@register_dataset("fashion_mnist")
def fashion_mnist() -> Dataset:
    """Fashion-MNIST (60,000 train + 10,000 test, 28×28 grey, 10 classes).

    Read from the four IDX .gz files in ``$ALKIT_DATA/fashion-mnist``, ``$ALKIT_DATA`` or
    Debian's ``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``);
    downloaded through torchvision only when no files are found and the machine is online.
    """
    d = _find_idx_dir("fashion-mnist", FASHION_MNIST_DIRS, "train-images-idx3-ubyte")
    if d is not None:
        return _mnist_like_from_dir(d, "fashion_mnist", FASHION_MNIST_CLASSES)
    hint = (
        "Install Debian's package with 'apt-get install dataset-fashion-mnist', put the IDX "
        "files in $ALKIT_DATA/fashion-mnist, or run on a machine with internet access."
    )
    train, test = _torchvision_download(
        "fashion_mnist", "FashionMNIST", hint, splits=[{"train": True}, {"train": False}]
    )
    return _from_torchvision("fashion_mnist", train, test, FASHION_MNIST_CLASSES)


def _from_torchvision(name, train, test, class_names) -> Dataset:
    def arrays(ds):
        data = ds.data.numpy() if hasattr(ds.data, "numpy") else np.asarray(ds.data)
        X = data.astype(np.float32) / 255.0
        X = X[:, None] if X.ndim == 3 else X
        if X.shape[-1] == 3:  # CIFAR stores N×H×W×C
            X = X.transpose(0, 3, 1, 2)
        raw = getattr(ds, "targets", None)
        raw = getattr(ds, "labels", None) if raw is None else raw
        return np.ascontiguousarray(X), np.asarray(raw, dtype=np.int64)

    X_tr, y_tr = arrays(train)
    X_te, y_te = arrays(test)
    return Dataset(name, X_tr, y_tr, X_te, y_te, tuple(class_names))


_ONLINE_HINT = "It is downloaded through torchvision: run on a machine with internet access."


def class_subset(ds: Dataset, classes, name: str) -> Dataset:
    """The train and test images of ``classes`` only, relabelled ``0 … k-1`` in the given order
    (class names kept): e.g. ASAL's binary tasks (seed 004, §4.1: MNIST 5 vs 7)."""
    classes = [int(c) for c in classes]
    lookup = np.full(ds.n_classes, -1, dtype=np.int64)
    lookup[classes] = np.arange(len(classes))
    keep_tr = np.isin(ds.y_train, classes)
    keep_te = np.isin(ds.y_test, classes)
    return Dataset(
        name,
        np.ascontiguousarray(ds.X_train[keep_tr]),
        lookup[ds.y_train[keep_tr]],
        np.ascontiguousarray(ds.X_test[keep_te]),
        lookup[ds.y_test[keep_te]],
        tuple(ds.class_names[c] for c in classes),
    )


@register_dataset("fashion_mnist_5v7")
def fashion_mnist_5v7() -> Dataset:
    """Fashion-MNIST sandal (5) vs sneaker (7): 12,000 + 2,000 images, labels 0/1. The binary
    task of seed 004's CPU reproduction, mirroring the paper's MNIST 5 vs 7."""
    return class_subset(fashion_mnist(), (5, 7), "fashion_mnist_5v7")


@register_dataset("fashion_mnist_2v4")
def fashion_mnist_2v4() -> Dataset:
    """Fashion-MNIST pullover (2) vs coat (4): the hard binary case (seed 004 spec §5)."""
    return class_subset(fashion_mnist(), (2, 4), "fashion_mnist_2v4")


@register_dataset("mnist")
def mnist() -> Dataset:
    """MNIST digits (60,000 + 10,000, 28×28). IDX files in ``$ALKIT_DATA/mnist`` or online."""
    d = _find_idx_dir("mnist", (), "train-images-idx3-ubyte")
    if d is not None:
        return _mnist_like_from_dir(d, "mnist", tuple(str(c) for c in range(10)))
    train, test = _torchvision_download(
        "mnist", "MNIST", _ONLINE_HINT, splits=[{"train": True}, {"train": False}]
    )
    return _from_torchvision("mnist", train, test, [str(c) for c in range(10)])


@register_dataset("cifar10")
def cifar10() -> Dataset:
    """CIFAR-10 (50,000 + 10,000, 3×32×32), through torchvision (online only)."""
    train, test = _torchvision_download(
        "cifar10", "CIFAR10", _ONLINE_HINT, splits=[{"train": True}, {"train": False}]
    )
    return _from_torchvision("cifar10", train, test, train.classes)


@register_dataset("svhn")
def svhn() -> Dataset:
    """SVHN (73,257 + 26,032, 3×32×32), through torchvision (online only)."""
    train, test = _torchvision_download(
        "svhn", "SVHN", _ONLINE_HINT, splits=[{"split": "train"}, {"split": "test"}]
    )
    return _from_torchvision("svhn", train, test, [str(c) for c in range(10)])


@register_dataset("blobs")
def blobs(n_samples: int = 1500, n_classes: int = 4, seed: int = 0) -> Dataset:
    """Toy 2-D Gaussian blobs for teaching plots: inputs ``N × 2``, a third held out for test."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(
        n_samples, n_features=2, centers=n_classes, cluster_std=1.6, random_state=seed
    )
    return _toy("blobs", X, y, n_classes)


@register_dataset("moons")
def moons(n_samples: int = 1500, noise: float = 0.2, seed: int = 0) -> Dataset:
    """Toy 2-D two-moons set for teaching plots: inputs ``N × 2``, a third held out for test."""
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples, noise=noise, random_state=seed)
    return _toy("moons", X, y, 2)


def _toy(name: str, X: np.ndarray, y: np.ndarray, n_classes: int) -> Dataset:
    X = X.astype(np.float32)
    y = y.astype(np.int64)
    n_test = len(X) // 3
    return Dataset(
        name,
        X[n_test:],
        y[n_test:],
        X[:n_test],
        y[:n_test],
        tuple(str(c) for c in range(n_classes)),
    )
