"""The MLP head NTKCPL trains on frozen self-supervised features (seed 002, §5–6)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from alkit.models.base import TappedModel


class MLPBN(TappedModel):
    """Flatten → Linear(D, H) → BatchNorm1d(H) → ReLU → Linear(H, C), no dropout.

    Seed 002 trains this head ("MLP64": ``hidden=64``; 512 for other sets) on frozen SSL
    features. Taps (all ``B × H``): ``linear`` (pre-BN ``W₁x + b₁``), ``normalized`` (after BN,
    before ReLU) and ``embedding`` (``h``, the input of the last layer, as spec §10 says).
    """

    tap_names = ("linear", "normalized", "embedding")

    def __init__(self, input_shape=(64,), n_classes: int = 10, hidden: int = 64):
        super().__init__()
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"mlp_bn hidden must be a positive integer, got {hidden!r}")
        self.fc1 = nn.Linear(math.prod(input_shape), hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.head = nn.Linear(hidden, n_classes)

    def forward_taps(self, x):
        pre = self.fc1(torch.flatten(x, 1))
        normed = self.bn(pre)
        h = F.relu(normed)
        return self.head(h), {"linear": pre, "normalized": normed, "embedding": h}
