"""A small ResNet (ResNet-10 by default) for 28×28 and 32×32 images."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from alkit.models.base import TappedModel


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch norm and an identity (or 1×1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(TappedModel):
    """CIFAR-style ResNet: 3×3 stem, four stages of basic blocks, global average pooling.

    ``blocks=(1, 1, 1, 1)`` is ResNet-10 (the SVHN model of seed 000), ``(2, 2, 2, 2)`` ResNet-18.
    Taps: ``stem``, ``layer1`` … ``layer4`` (``B × C × H × W``) and ``embedding`` (``B × widths[-1]``).
    Input ``B × C × H × W`` with H, W ≥ 8 (28×28 and 32×32 are the intended sizes).
    """

    tap_names = ("stem", "layer1", "layer2", "layer3", "layer4", "embedding")

    def __init__(
        self,
        input_shape=(3, 32, 32),
        n_classes: int = 10,
        blocks=(1, 1, 1, 1),
        widths=(32, 64, 128, 256),
        dropout: float = 0.0,
    ):
        super().__init__()
        c_in = input_shape[0]
        self.stem = nn.Sequential(
            nn.Conv2d(c_in, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        stages, c = [], widths[0]
        for i, (n, w) in enumerate(zip(blocks, widths, strict=True)):
            layers = [
                BasicBlock(c if j == 0 else w, w, 2 if (i > 0 and j == 0) else 1) for j in range(n)
            ]
            stages.append(nn.Sequential(*layers))
            c = w
        self.stages = nn.ModuleList(stages)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c, n_classes)

    def forward_taps(self, x):
        taps = {"stem": self.stem(x)}
        h = taps["stem"]
        for i, stage in enumerate(self.stages):
            h = stage(h)
            taps[f"layer{i + 1}"] = h
        emb = torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)
        taps["embedding"] = emb
        return self.head(self.dropout(emb)), taps
