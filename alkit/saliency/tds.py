"""Text Deconvolution Saliency (Ducoffe's thesis, ch. 12.3, Fig. 12.2; the ``hyperdeep`` code's
``deconv_model``).

The post-ReLU, pre-pool feature map ``A`` (``B × F × (L − k + 1)``) of the text CNN's
convolution is projected back onto the embedding space by a transposed convolution whose kernel
is the trained convolution kernel ``W`` (``F × d × k``; not transposed over the non-isotropic
axes, no switches, no bias), a ReLU is applied, and the result is summed over the embedding
axis: one score per word,

    ``D_{s,j} = ReLU(Σ_f Σ_k A_{s−k,f} W_{f,j,k})``,  ``TDS_s = Σ_j D_{s,j}``.

Without the ReLU the projection is the adjoint of the convolution:
``⟨conv1d(E, W), A⟩ = ⟨E, conv_transpose1d(A, W)⟩``. TDS is class-agnostic and non-negative.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from alkit.data.text import PAD
from alkit.errors import AlkitError


def deconvolve(feature_map_B_F_T: torch.Tensor, conv_weight_F_d_k: torch.Tensor) -> torch.Tensor:
    """The transposed convolution of a feature map with the convolution kernel: ``B × d × L``
    with ``L = T + k − 1`` (the adjoint of ``conv1d(·, W)`` without bias)."""
    if feature_map_B_F_T.ndim != 3 or conv_weight_F_d_k.ndim != 3:
        raise AlkitError(
            "deconvolve takes a B × F × T feature map and an F × d × k kernel, got shapes "
            f"{tuple(feature_map_B_F_T.shape)} and {tuple(conv_weight_F_d_k.shape)}"
        )
    return F.conv_transpose1d(feature_map_B_F_T, conv_weight_F_d_k)


@torch.no_grad()
def tds(
    model,
    tokens_B_L,
    relu_out: bool = True,
    mask_pad: bool = True,
    batch_size: int = 256,
) -> np.ndarray:
    """Deconvolution saliency of every token: ``B × L`` float32 (thesis §12.3).

    Args:
        model: a :class:`~alkit.models.textcnn.TextCNN` (its ``conv`` tap is the post-ReLU
            feature map, its ``conv`` layer the kernel).
        tokens_B_L: token ids (array or tensor).
        relu_out: the ReLU on the projection (the code's; False gives the signed adjoint).
        mask_pad: set PAD positions to 0.
        batch_size: rows per forward pass.
    """
    tokens = torch.as_tensor(np.asarray(tokens_B_L))
    if tokens.ndim != 2:
        raise AlkitError(f"tokens must be B × L ids, got shape {tuple(tokens.shape)}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    weight = model.conv.weight
    out = []
    try:
        for start in range(0, len(tokens), batch_size):
            xb = tokens[start : start + batch_size].to(device)
            _, taps = model.forward_taps(xb)
            D = deconvolve(taps["conv"], weight)
            if relu_out:
                D = F.relu(D)
            sal = D.sum(dim=1)
            if mask_pad:
                sal = sal.masked_fill(model.token_ids(xb) == PAD, 0.0)
            out.append(sal.float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, tokens.shape[1]), np.float32)


def token_zscores(zscores_C_V: np.ndarray, tokens_B_L, classes_B) -> np.ndarray:
    """The z-score of each token for one class per row (e.g. the CNN's predicted class):
    ``B × L`` float64, 0 at PAD (to compare with :func:`tds`, thesis Fig. 12.4)."""
    z = np.asarray(zscores_C_V, dtype=np.float64)
    tokens = np.asarray(tokens_B_L, dtype=np.int64)
    classes = np.asarray(classes_B, dtype=np.int64).reshape(-1)
    if len(classes) != len(tokens):
        raise AlkitError(f"{len(tokens)} token rows but {len(classes)} classes")
    out = z[classes[:, None], tokens]
    out[tokens == PAD] = 0.0
    return out
