"""The interface every alkit model offers: logits, a penultimate embedding, and named taps."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

import torch
from torch import nn


class TappedModel(nn.Module, metaclass=ABCMeta):
    """A classifier whose forward pass also returns its named intermediate activations.

    Subclasses implement :meth:`forward_taps`, returning ``(logits_B_C, taps)`` where ``taps``
    maps each name of :attr:`tap_names` to its activation (``B × C × H × W`` for conv maps,
    ``B × D`` for vectors). The tap ``"embedding"`` is always the penultimate feature, the input
    of the last linear layer :attr:`head`.
    """

    tap_names: tuple[str, ...] = ()
    head: nn.Linear

    @abstractmethod
    def forward_taps(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(logits_B_C, {tap name: activation})`` for a batch ``x``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_taps(x)[0]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features, ``B × D`` with ``D = head.in_features``."""
        return self.forward_taps(x)[1]["embedding"]

    @property
    def embedding_dim(self) -> int:
        return self.head.in_features

    def has_dropout(self) -> bool:
        """True when the model holds a dropout layer with p > 0 (needed by MC-dropout)."""
        return any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in self.modules())
