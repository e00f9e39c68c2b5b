"""Backbones and heads for self-supervised training on small images.

The features an artifact keeps are the **backbone output** (not the projector's), L2-normalised,
as TypiClust and NTKCPL do (seed 002 spec §8).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from alkit.errors import AlkitError
from alkit.models import build_model


class ConvEncoder(nn.Module):
    """A small CNN: stages of [3×3 conv → BatchNorm → ReLU], each but the last followed by a
    2×2 max-pool while the maps are ≥ 4 pixels wide, then global average pooling.

    ``B × C × H × W`` → ``B × widths[-1]``. With ``width=32`` the stages are 32, 64, 128, 256
    channels: 28×28 maps shrink 28 → 14 → 7 → 3, 8×8 maps 8 → 4 → 2.
    """

    def __init__(self, in_channels: int = 1, width: int = 32, stages: int = 4):
        super().__init__()
        self.widths = tuple(width * 2**i for i in range(stages))
        layers, c = [], in_channels
        for w in self.widths:
            layers.append(nn.Sequential(nn.Conv2d(c, w, 3, padding=1, bias=False),
                                        nn.BatchNorm2d(w), nn.ReLU(inplace=True)))  # fmt: skip
            c = w
        self.stages = nn.ModuleList(layers)

    @property
    def out_dim(self) -> int:
        return self.widths[-1]

    def forward(self, x):
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.stages) - 1 and min(x.shape[-2:]) >= 4:
                x = F.max_pool2d(x, 2)
        return x.mean(dim=(2, 3))


class ModelBody(nn.Module):
    """A registered alkit model (e.g. ``resnet10``) without its last layer: its ``embed``."""

    def __init__(self, name: str, input_shape):
        super().__init__()
        self.model = build_model(name, input_shape, 1)
        self.out_dim = self.model.embedding_dim

    def forward(self, x):
        return self.model.embed(x)


BACKBONES = ("cnn", "resnet10", "resnet18")


def build_backbone(name: str, input_shape, width: int = 32) -> nn.Module:
    """``cnn`` (:class:`ConvEncoder` of base ``width``) or ``resnet10``/``resnet18`` (alkit's
    CIFAR-style ResNet body) for inputs ``C × H × W``; the module has ``out_dim``."""
    if len(input_shape) != 3:
        raise AlkitError(f"self-supervised backbones need images C×H×W, got shape {input_shape}")
    if name == "cnn":
        return ConvEncoder(input_shape[0], width)
    if name in BACKBONES:
        return ModelBody(name, input_shape)
    raise AlkitError(f"backbone must be one of {list(BACKBONES)}, got {name!r}")


def mlp(dims, last_bn: bool = False) -> nn.Sequential:
    """Linear → BatchNorm → ReLU between consecutive ``dims``; the last Linear has no ReLU and,
    with ``last_bn``, a BatchNorm without affine parameters (SimSiam's projector)."""
    layers = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        last = i == len(dims) - 2
        layers.append(nn.Linear(a, b, bias=last and not last_bn))
        if not last:
            layers += [nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
        elif last_bn:
            layers.append(nn.BatchNorm1d(b, affine=False))
    return nn.Sequential(*layers)


class Normalized(nn.Module):
    """``backbone(x)`` L2-normalised along the feature axis: ``B × ...`` → ``B × D``."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x):
        return F.normalize(self.backbone(x), dim=1)
