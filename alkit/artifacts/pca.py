"""PCA features: the CI stand-in for self-supervised features (seed 002 spec §8).

Reported as "frozen features, not self-supervised": a linear projection of the flattened pool
onto its top principal directions, whitened by default (64-d).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from alkit.artifacts.registry import Built, Option, register_artifact
from alkit.errors import AlkitError


class Projection(nn.Module):
    """``(flatten(x) − mean_D) @ W_D_K``, optionally L2-normalised: inputs ``B × ...`` → ``B × K``."""

    def __init__(self, mean_D: torch.Tensor, W_D_K: torch.Tensor, normalize: bool = False):
        super().__init__()
        self.register_buffer("mean", mean_D.float())
        self.register_buffer("weight", W_D_K.float())
        self.normalize = normalize

    def forward(self, x):
        z = (torch.flatten(x, 1) - self.mean) @ self.weight
        return nn.functional.normalize(z, dim=1) if self.normalize else z


def pca_fit(X_N_D: np.ndarray, dim: int, whiten: bool = True, block_rows: int = 8192):
    """Mean ``D`` and projection ``D × dim`` of the top ``dim`` principal directions of
    ``X_N_D`` (covariance accumulated in float64 over row blocks; O(D²) memory). Each direction's
    sign makes its largest-magnitude loading positive; ``whiten`` divides by ``sqrt(λ_k)``.
    Returns ``(mean_D, W_D_dim, eigenvalues_dim, total_variance)``."""
    X = np.asarray(X_N_D, dtype=np.float32).reshape(len(X_N_D), -1)
    N, D = X.shape
    if dim > min(N, D):
        raise AlkitError(
            f"option dim of artifact 'pca' must be ≤ min(N, D) = {min(N, D)}, got {dim}"
        )
    mean = X.mean(0, dtype=np.float64)
    cov = np.zeros((D, D))
    for s in range(0, N, block_rows):
        block = X[s : s + block_rows].astype(np.float64) - mean
        cov += block.T @ block
    cov /= max(N - 1, 1)
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1][:dim]
    evals, W = np.maximum(evals[order], 0.0), evecs[:, order]
    W *= np.sign(W[np.abs(W).argmax(0), np.arange(dim)])
    if whiten:
        W = W / np.sqrt(evals + 1e-8 * max(evals[0], 1e-12))
    return torch.from_numpy(mean), torch.from_numpy(W), evals, float(np.trace(cov))


def _pca_encoder(options: dict, input_shape, state: dict) -> nn.Module:
    st = state["projection"]
    module = Projection(st["mean"], st["weight"], options["normalize"])
    module.load_state_dict(st)
    return module


@register_artifact(
    "pca",
    options={
        "dim": Option(64, int, "number of principal components", low=1),
        "whiten": Option(True, bool, "divide each component by its standard deviation"),
        "normalize": Option(False, bool, "L2-normalise the projected features"),
    },
    kind="frozen features, not self-supervised",
    description="principal components of the flattened pool (the CI stand-in for SSL features)",
    encoder=_pca_encoder,
)
def build_pca(X_pool, options, *, seed, device, progress):
    """PCA of ``X_pool`` (``N × ...``, flattened); features ``N × dim``; meta
    ``explained_variance`` (the top eigenvalues) and ``explained_fraction``."""
    mean, W, evals, total = pca_fit(X_pool, options["dim"], options["whiten"])
    module = Projection(mean, W, options["normalize"])
    with torch.no_grad():
        feats = torch.cat([module(torch.from_numpy(X_pool[s : s + 8192]))
                           for s in range(0, len(X_pool), 8192)])  # fmt: skip
    return Built(
        state={"projection": module.state_dict()},
        features=feats.numpy(),
        meta={
            "explained_variance": evals.tolist(),
            "explained_fraction": float(evals.sum() / total) if total > 0 else math.nan,
        },
    )
