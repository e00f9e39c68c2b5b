"""LeNet as used by Gudovskiy et al. (seed 000) on MNIST-like 28×28 images."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from alkit.models.base import TappedModel


class LeNet(TappedModel):
    """conv(1→10, k5) → maxpool2 → ReLU [x1]; conv(10→20, k5) → maxpool2 → ReLU [x2];
    fc(→50) → ReLU [x4 = embedding]; fc(50→C).

    The layer layout and the tap names ``x1``, ``x2``, ``x4`` follow the authors' code
    (REFERENCES.md): the L=80 descriptor pools [x1, x2, x4] (10+20+50 channels), L=20 pools [x2].
    Dropout (``p_conv`` after each conv block, ``p_fc`` after fc1) is the MC-dropout
    configuration of the paper's baselines; set both to 0 for a deterministic net.

    Input ``B × in_channels × H × W`` (28×28 gives the 320-wide fc1 of the paper).
    """

    tap_names = ("x1", "x2", "x4", "embedding")

    def __init__(
        self,
        input_shape=(1, 28, 28),
        n_classes: int = 10,
        p_conv: float = 0.25,
        p_fc: float = 0.5,
    ):
        super().__init__()
        c, h, w = input_shape
        if h < 12 or w < 12:
            raise ValueError(f"LeNet needs inputs of at least 12×12 pixels, got {h}×{w}")
        self.conv1 = nn.Conv2d(c, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.drop_conv = nn.Dropout(p_conv)
        flat = 20 * (((h - 4) // 2 - 4) // 2) * (((w - 4) // 2 - 4) // 2)
        self.fc1 = nn.Linear(flat, 50)
        self.drop_fc = nn.Dropout(p_fc)
        self.head = nn.Linear(50, n_classes)

    def forward_taps(self, x):
        x1 = F.relu(F.max_pool2d(self.conv1(x), 2))
        x2 = F.relu(F.max_pool2d(self.conv2(self.drop_conv(x1)), 2))
        x4 = F.relu(self.fc1(torch.flatten(self.drop_conv(x2), 1)))
        logits = self.head(self.drop_fc(x4))
        return logits, {"x1": x1, "x2": x2, "x4": x4, "embedding": x4}
