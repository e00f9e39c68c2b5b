"""PCA of ASAL's sample matching (Mayer & Timofte 2020, §3.2): ``F_PCA(x) = P(F(x) − μ)``.

``μ`` is the pool mean of the features and ``P`` (``K × D``) the top-``K`` principal directions
of the pool (not whitened), fitted once. Two exact fits that agree up to round-off:

- :func:`fit_pca`: SVD of the centred ``N × D`` matrix held in memory (the reference);
- :func:`fit_pca_streamed`: the ``D × D`` covariance accumulated over row blocks produced on
  demand (float64, shifted by the first block's mean against cancellation), then its
  eigendecomposition, so wide features (the critic's 4096-d ``disc`` layer at 1M images) are
  never held whole: memory ``O(D² + block·D)``.

Signs follow scikit-learn's convention: each component's largest-magnitude entry is positive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels.blocks import as_float_tensor, check_block_rows, map_row_blocks


@dataclass
class PCA:
    """A fitted projection.

    Attributes:
        mean_D: the feature mean μ, ``D`` (float32).
        components_K_D: the principal directions P, rows of unit norm, ``K × D`` (float32).
        explained_variance_K: the variance along each direction (sample variance, ``N − 1``),
            ``K`` float64, non-increasing.
    """

    mean_D: torch.Tensor
    components_K_D: torch.Tensor
    explained_variance_K: torch.Tensor

    @property
    def n_components(self) -> int:
        return len(self.components_K_D)

    def transform(self, X_N_D, block_rows: int | None = None) -> torch.Tensor:
        """``(X − μ) Pᵀ``, ``N × K`` float32, in row blocks, on the PCA's device."""
        X = as_float_tensor("X_N_D", X_N_D, device=self.mean_D.device)
        if X.shape[1] != self.mean_D.shape[0]:
            raise AlkitError(
                f"X_N_D has {X.shape[1]} features but the PCA was fitted on {len(self.mean_D)}"
            )
        rows = check_block_rows(block_rows, X.shape[1])
        blocks = map_row_blocks(
            lambda s, e: (X[s:e] - self.mean_D) @ self.components_K_D.T, len(X), rows
        )
        return torch.cat(blocks) if blocks else X.new_zeros((0, self.n_components))

    def to(self, device) -> PCA:
        return PCA(
            self.mean_D.to(device),
            self.components_K_D.to(device),
            self.explained_variance_K.to(device),
        )


def _fix_signs(components_K_D: torch.Tensor) -> torch.Tensor:
    """Flip each row so that its largest-magnitude entry is positive (scikit-learn's rule)."""
    idx = components_K_D.abs().argmax(dim=1)
    signs = torch.sign(components_K_D.gather(1, idx[:, None]))
    signs[signs == 0] = 1
    return components_K_D * signs


def _check_k(k, n_rows: int, dim: int) -> int:
    k = check_positive_int("k", k)
    if k > min(n_rows, dim):
        raise AlkitError(
            f"k={k} principal components need at least k rows and k features, got {n_rows} × {dim}"
        )
    return k


def fit_pca(X_N_D, k: int) -> PCA:
    """Exact PCA by the SVD of the centred data held in memory (float64): the top-``k``
    directions of ``X_N_D`` (``N × D``). Use :func:`fit_pca_streamed` for wide or large data."""
    X = as_float_tensor("X_N_D", X_N_D).double()
    k = _check_k(k, len(X), X.shape[1])
    mean = X.mean(dim=0)
    _, s, vh = torch.linalg.svd(X - mean, full_matrices=False)
    var = s[:k] ** 2 / max(1, len(X) - 1)
    return PCA(mean.float(), _fix_signs(vh[:k]).float(), var)


def fit_pca_streamed(
    block_fn: Callable[[int, int], torch.Tensor],
    n_rows: int,
    k: int,
    block_rows: int | None = None,
) -> PCA:
    """Exact PCA from the streamed covariance of rows ``block_fn(start, stop)`` (``B × D``).

    ``block_fn`` is called once per block of ``block_rows`` rows covering ``0 … n_rows`` (plus
    once on the first 256 rows); it may compute features on the fly, e.g. a critic pass over a
    block of images. The scatter ``Σ (x − c)(x − c)ᵀ`` is accumulated in float64 around a pilot
    mean ``c`` (of those 256 rows), then corrected to the true mean; the top-``k`` eigenvectors
    of ``C = S / (N − 1)`` are P.
    """
    n_rows = check_positive_int("n_rows", n_rows)
    probe = as_float_tensor("features", block_fn(0, min(n_rows, 256)))
    dim, device = probe.shape[1], probe.device
    rows = check_block_rows(block_rows, dim)
    k = _check_k(k, n_rows, dim)
    shift = probe.double().mean(dim=0)
    total = torch.zeros(dim, dtype=torch.float64, device=device)
    scatter = torch.zeros(dim, dim, dtype=torch.float64, device=device)
    for start in range(0, n_rows, rows):
        stop = min(n_rows, start + rows)
        xc = as_float_tensor("features", block_fn(start, stop), device=device).double() - shift
        total += xc.sum(dim=0)
        scatter += xc.T @ xc
    mean_c = total / n_rows
    cov = (scatter - n_rows * torch.outer(mean_c, mean_c)) / max(1, n_rows - 1)
    evals, evecs = torch.linalg.eigh(cov)
    order = torch.argsort(evals, descending=True)[:k]
    comps = _fix_signs(evecs[:, order].T)
    return PCA((mean_c + shift).float(), comps.float(), evals[order].clamp_min(0.0))


def project_streamed(
    block_fn: Callable[[int, int], torch.Tensor],
    n_rows: int,
    pca: PCA,
    block_rows: int | None = None,
) -> torch.Tensor:
    """``F_PCA`` of rows produced by ``block_fn(start, stop)``: ``n_rows × K`` float32 on the
    PCA's device; only one block of raw features is alive at a time."""
    rows = check_block_rows(block_rows, len(pca.mean_D))
    blocks = map_row_blocks(lambda s, e: pca.transform(block_fn(s, e), rows), n_rows, rows)
    return torch.cat(blocks)
