"""Models with named feature taps, and their registry."""

from __future__ import annotations

from collections.abc import Callable

from alkit.errors import unknown_name
from alkit.models.base import TappedModel
from alkit.models.lenet import LeNet
from alkit.models.mlp import MLP
from alkit.models.mlp_bn import MLPBN
from alkit.models.resnet import ResNet
from alkit.models.textcnn import TextCNN

MODELS: dict[str, Callable[..., TappedModel]] = {
    "lenet": LeNet,
    "mlp": MLP,
    "mlp_bn": MLPBN,
    "resnet10": lambda input_shape, n_classes, **kw: ResNet(
        input_shape, n_classes, (1, 1, 1, 1), **kw
    ),
    "resnet18": lambda input_shape, n_classes, **kw: ResNet(
        input_shape, n_classes, (2, 2, 2, 2), **kw
    ),
    "textcnn": TextCNN,
}

#: The model each dataset uses when none is named.
DEFAULT_MODEL = {
    "digits": "mlp",
    "blobs": "mlp",
    "moons": "mlp",
    "fashion_mnist": "lenet",
    "fashion_mnist_5v7": "lenet",
    "fashion_mnist_2v4": "lenet",
    "mnist": "lenet",
    "cifar10": "resnet10",
    "svhn": "resnet10",
    "fortunes": "textcnn",
}


def model_names() -> list[str]:
    return sorted(MODELS)


def build_model(name: str, input_shape, n_classes: int, **options) -> TappedModel:
    """Build a registered model for inputs of ``input_shape`` (without the batch dim)."""
    if name not in MODELS:
        raise unknown_name("model", name, MODELS)
    return MODELS[name](input_shape=tuple(input_shape), n_classes=n_classes, **options)


__all__ = [
    "LeNet",
    "MLP",
    "MLPBN",
    "MODELS",
    "ResNet",
    "TappedModel",
    "TextCNN",
    "build_model",
    "model_names",
]
