"""Deep Wasserstein Embedding (Ducoffe's thesis, ch. 8; Courty, Flamary & Ducoffe, ICLR 2018).

A siamese encoder ``φ`` maps an image histogram (``x ≥ 0``, ``Σx = 1`` on the pixel grid) to
``R^p`` so that ``‖φ(x¹) − φ(x²)‖² ≈ W₂²(x¹, x²)``; a decoder ``ψ`` maps an embedding back to a
histogram (softmax over the pixels). Architecture (A.2.4 and the authors' code, seed001 spec
§4.1):

- ``φ``: conv 1→20, 3×3, same, ReLU → conv 20→5, 5×5, same, ReLU → flatten (5·h·w) →
  Dense 100 (**linear**, as in the code) → Dense p = 50 (linear);
- ``ψ``: Dense 100, ReLU → Dense 5·h·w, ReLU → reshape 5×h×w → conv 5×5, ReLU (10 filters in
  the code, 20 in the thesis: ``decoder_filters``) → conv 3×3 → 1, linear → softmax over h·w.

Not a :class:`~alkit.models.base.TappedModel`: it is not a classifier. Training and the loss of
eq. 8.1 are in :mod:`alkit.dwe_training`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from alkit.errors import AlkitError, check_positive_int


class DWE(nn.Module):
    """Encoder ``φ`` and decoder ``ψ`` for ``height × width`` histograms (inputs
    ``B × 1 × H × W`` or ``B × H·W``)."""

    def __init__(
        self,
        height: int,
        width: int,
        embedding_dim: int = 50,
        hidden: int = 100,
        decoder_filters: int = 10,
    ):
        super().__init__()
        self.height = check_positive_int("height", height)
        self.width = check_positive_int("width", width)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        hw = self.height * self.width
        self.enc_conv1 = nn.Conv2d(1, 20, 3, padding=1)
        self.enc_conv2 = nn.Conv2d(20, 5, 5, padding=2)
        self.enc_fc1 = nn.Linear(5 * hw, check_positive_int("hidden", hidden))
        self.enc_fc2 = nn.Linear(hidden, embedding_dim)
        self.dec_fc1 = nn.Linear(embedding_dim, hidden)
        self.dec_fc2 = nn.Linear(hidden, 5 * hw)
        self.dec_conv1 = nn.Conv2d(
            5, check_positive_int("decoder_filters", decoder_filters), 5, padding=2
        )
        self.dec_conv2 = nn.Conv2d(decoder_filters, 1, 3, padding=1)

    def _as_images(self, x: torch.Tensor) -> torch.Tensor:
        hw = self.height * self.width
        if x.ndim == 2 and x.shape[1] == hw:
            return x.reshape(-1, 1, self.height, self.width)
        if x.ndim == 4 and tuple(x.shape[1:]) == (1, self.height, self.width):
            return x
        raise AlkitError(
            f"DWE takes B × 1 × {self.height} × {self.width} or B × {hw} histograms, "
            f"got shape {tuple(x.shape)}"
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``φ(x)``: ``B × p`` embeddings of histograms ``x``."""
        h = F.relu(self.enc_conv1(self._as_images(x)))
        h = F.relu(self.enc_conv2(h))
        return self.enc_fc2(self.enc_fc1(torch.flatten(h, 1)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``ψ(z)``: ``B × H·W`` histograms (softmax over the pixels, each row sums to 1)."""
        h = F.relu(self.dec_fc2(F.relu(self.dec_fc1(z))))
        h = h.reshape(-1, 5, self.height, self.width)
        logits = self.dec_conv2(F.relu(self.dec_conv1(h)))
        return torch.softmax(torch.flatten(logits, 1), dim=1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """Predicted ``W₂²(x¹, x²) = ‖φ(x¹) − φ(x²)‖²``, shape ``B``."""
        return (self.encode(x1) - self.encode(x2)).square().sum(dim=1)
