"""A multilayer perceptron: the default model for small inputs and the head for frozen features."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from alkit.models.base import TappedModel


class MLP(TappedModel):
    """Flatten → [Linear → ReLU → Dropout] × len(hidden) → Linear.

    Taps ``hidden1 … hiddenK`` are the post-ReLU activations (``B × hidden[k]``); ``embedding`` is
    the last of them. With ``hidden=()`` it is a linear classifier whose embedding is its input.
    Input ``B × ...`` (flattened); used for 8×8 digits, toy 2-D sets and as the MLP head on frozen
    self-supervised features (NTKCPL, seed 002).
    """

    def __init__(
        self, input_shape=(64,), n_classes: int = 10, hidden=(128,), dropout: float = 0.25
    ):
        super().__init__()
        dims = [math.prod(input_shape), *hidden]
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dims[-1], n_classes)
        self.tap_names = (*(f"hidden{k + 1}" for k in range(len(hidden))), "embedding")

    def forward_taps(self, x):
        h = torch.flatten(x, 1)
        taps = {}
        for k, layer in enumerate(self.layers):
            h = F.relu(layer(h))
            taps[f"hidden{k + 1}"] = h
            h = self.dropout(h)
        taps["embedding"] = taps[f"hidden{len(self.layers)}"] if self.layers else h
        return self.head(h), taps
