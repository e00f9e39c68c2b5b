"""Monte-Carlo pseudo-label estimators of seed 000 (Gudovskiy et al., §4.3).

An unlabelled image is perturbed ``K`` times (small rotations and additive noise, §5.1); each
copy gives a descriptor ``z_k`` and, for every class ``d``, a pooled Fisher score
``g_k(d) = φ(∂ log p(1_d | x_k) / ∂tap)``. The pseudo-label is ``argmax_d S(d)`` with

- ``S = tr(C_zg)``: the linear correlation of features and Fisher scores (:func:`mc_trace_score`);
- ``S = I(z; g) = ½ log(|C_zz| |C_gg| / |C_[z;g]|)`` under a Gaussian model, with Cholesky
  log-determinants in float64, summed over scale blocks (:func:`blockwise_mutual_information`).

What these estimators measure on trained models, and why, is recorded by
``benchmarks/mc_pseudo_labels.py``: with the Fisher-score sign the trace reproduces ``ŷ``
(smoothed over the perturbations); the Gaussian MI stays well below it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from alkit.errors import AlkitError, check_positive_int
from alkit.kernels.fisher import _show, check_taps, global_pool, standardize_blocks
from alkit.progress import tqdm


def mc_trace_score(
    z_K_L: torch.Tensor, g_K_D_L: torch.Tensor, centred: bool = False
) -> torch.Tensor:
    """``S(d) = tr(C_zg(d))`` over ``K`` perturbations, one value per class ``d``: ``D``.

    ``z_K_L`` are the descriptors of the ``K`` perturbed copies and ``g_K_D_L`` their Fisher
    scores for every class ``d`` (§4.3). With ``centred=False`` (the default) the score is
    ``Σ_k Σ_l z_{k,l} g_{k,d,l}``: on descriptors and scores standardised per sample (eq. 6,
    zero mean over the ``L`` dimensions) it is the sum over the K samples of each sample's
    cross-covariance over the descriptor dimensions, i.e. of ``L ×`` the Pearson correlation
    between ``z_k`` and ``g_k(d)`` ("maximizes linear correlation between features and Fisher
    scores", §4.3); it is also the authors' code (REFERENCES.md).
    ``centred=True`` centres over the K samples instead, ``Σ_l Cov_k(z_l, g_{d,l})``: for a tap
    feeding a linear layer the class-dependent part of ``g(d)`` (``∇ logit_d = W_d``) is the same
    for every k, so this centring removes it; measured near or below chance
    (``benchmarks/mc_pseudo_labels.py``), kept as an option for that ablation.
    """
    if not centred:
        return torch.einsum("kl,kdl->d", z_K_L, g_K_D_L)
    zc = z_K_L - z_K_L.mean(0, keepdim=True)
    gc = g_K_D_L - g_K_D_L.mean(0, keepdim=True)
    return torch.einsum("kl,kdl->d", zc, gc) / max(len(z_K_L) - 1, 1)


def _cholesky_logdet(cov: torch.Tensor) -> torch.Tensor:
    return 2.0 * torch.log(torch.diagonal(torch.linalg.cholesky(cov), dim1=-2, dim2=-1)).sum(-1)


def gaussian_mutual_information(
    z_K_L: torch.Tensor, g_K_L: torch.Tensor, ridge: float = 1e-6
) -> torch.Tensor:
    """``I(z; g) = ½ [log|C_zz| + log|C_gg| − log|C_[z;g]|]`` under a Gaussian model (§4.3).

    Covariances are taken over the ``K`` samples (unbiased, ``K − 1``) in float64, with
    ``ridge · I`` added so that they stay positive definite when ``K`` is small; the
    log-determinants come from Cholesky factors. Batched: leading axes of ``z``/``g`` beyond
    the last two are kept (``... × K × L`` → ``...``).
    """
    z = z_K_L.to(torch.float64)
    g = g_K_L.to(torch.float64)
    joint = torch.cat([z, g], -1)
    joint = joint - joint.mean(-2, keepdim=True)
    cov = joint.transpose(-1, -2) @ joint / max(joint.shape[-2] - 1, 1)
    cov = cov + ridge * torch.eye(cov.shape[-1], dtype=torch.float64)
    lz = z.shape[-1]
    return 0.5 * (
        _cholesky_logdet(cov[..., :lz, :lz])
        + _cholesky_logdet(cov[..., lz:, lz:])
        - _cholesky_logdet(cov)
    )


def blockwise_mutual_information(
    z_K_L: torch.Tensor, g_K_L: torch.Tensor, blocks: Sequence[int], ridge: float = 1e-6
) -> torch.Tensor:
    """``Σ_j I(z^j; g^j)``: the Gaussian mutual information of each scale block, summed.

    The multi-scale descriptor is a list of per-scale vectors ``z^j`` whose kernels add up over
    scales (eq. 6, ``R_z = Σ_j``); the MI is taken the same way, so each covariance is
    ``2 L_j × 2 L_j`` rather than ``2L × 2L`` (LeNet L=80: 100 instead of 160 dimensions, which
    the authors' K=128 samples can estimate, REFERENCES.md). Exact when the scales are
    independent. ``... × K × L`` → ``...``.
    """
    out = 0.0
    for z_part, g_part in zip(
        torch.split(z_K_L, list(blocks), -1), torch.split(g_K_L, list(blocks), -1), strict=True
    ):
        out = out + gaussian_mutual_information(z_part, g_part, ridge)
    return out


def check_mc_samples(k: int, blocks: Sequence[int], option: str = "k") -> None:
    """Refuse an ``I(z; g)`` estimate from too few samples: the joint sample covariance of a
    ``2 L_j``-dimensional block from ``K`` samples has rank at most ``K − 1``, so with
    ``K − 1 < 2 L_j`` its determinant is the ridge's, not the data's."""
    need = 2 * max(blocks) + 1
    if k < need:
        raise AlkitError(
            f"{option}={k} is too few samples for mc_mi: the largest descriptor block has "
            f"L_j={max(blocks)}, so its 2·L_j-dimensional covariance needs {option} ≥ {need} "
            "(K − 1 ≥ 2 L_j); raise it or use taps with fewer channels"
        )


def perturb(x_B: torch.Tensor, k: int, max_degrees: float, noise_std: float, generator):
    """``k`` perturbed copies of each image: uniform ±``max_degrees`` rotations plus Gaussian
    noise of std ``noise_std`` (§5.1: "uniform ±5° image rotations and Gaussian additive
    noise"). ``B × C × H × W`` → ``B × k × C × H × W``.
    """
    b = len(x_B)
    rep = x_B.repeat_interleave(k, 0)
    angle = (torch.rand(b * k, generator=generator) * 2 - 1) * math.radians(max_degrees)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(b * k, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    grid = F.affine_grid(theta, list(rep.shape), align_corners=False)
    out = F.grid_sample(rep, grid, align_corners=False, padding_mode="zeros")
    out = out + noise_std * torch.randn(out.shape, generator=generator)
    return out.view(b, k, *x_B.shape[1:])


def mc_pseudo_labels(
    model,
    X,
    taps: Sequence[str],
    n_classes: int,
    metric: str = "mc_mi",
    k: int = 128,
    max_degrees: float = 5.0,
    noise_std: float = 0.05,
    seed: int = 0,
    ridge: float = 1e-6,
    centred: bool = False,
    standardize: bool = True,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Monte-Carlo pseudo-labels ``argmax_d S(d)`` (§4.3) for images ``X`` (``N × C × H × W``).

    Each image gets ``k`` perturbed copies (one forward pass each; K=128 in the authors' code)
    and, per class ``d``, the pooled Fisher score ``g_k(d) = φ(∂ log p(1_d | x_k) / ∂tap)``
    (``D`` backward passes over the copies; Table 1: ``K·D`` passes per sample). The Fisher
    score is the gradient of the log-likelihood (eq. 9-10, Jaakkola & Haussler), i.e. minus the
    gradient of the cross-entropy loss: the sign matters to ``tr(C_zg)`` (for the tap feeding
    the last layer ``Σ_k z_k · g_k(d) = Σ_k logit_d(x_k) − E_p[logit]`` up to the biases, which
    the loss gradient would turn into the least likely class), not to ``I(z; g)``.

    ``metric="mc_trace"`` scores ``tr(C_zg(d))`` (:func:`mc_trace_score`; ``centred`` picks
    its variant), ``"mc_mi"`` the Gaussian ``I(z; g(d))`` summed over scale blocks
    (:func:`blockwise_mutual_information`), which needs ``k ≥ 2 max_j L_j + 1``
    (:func:`check_mc_samples`). ``standardize`` standardises ``z`` and ``g`` per sample and
    scale block first (eq. 6; without it the MI cannot tell classes apart: the class enters the
    head tap's score only as the constant shift ``−W_d``, which covariances ignore).

    Returns ``labels_N``, ``scores_N_D`` and the number of backward passes (per sample).
    """
    if metric not in ("mc_trace", "mc_mi"):
        raise AlkitError(f"metric must be 'mc_trace' or 'mc_mi', got {metric!r}")
    taps = check_taps(model, taps)
    k = check_positive_int("k", k)
    gen = torch.Generator().manual_seed(int(seed))
    was_training = model.training
    model.eval()
    scores = []
    per_batch = max(1, 256 // k)

    def prepare(values: torch.Tensor, blocks) -> torch.Tensor:
        return standardize_blocks(values, blocks) if standardize else values

    try:
        for start in tqdm(range(0, len(X), per_batch), desc="MC pseudo-labels", leave=False,
                          disable=not _show(len(X), 200)):  # fmt: skip
            x = torch.as_tensor(np.asarray(X[start : start + per_batch]), dtype=torch.float32)
            b = len(x)
            xk = perturb(x, k, max_degrees, noise_std, gen).flatten(0, 1).requires_grad_(True)
            logits, tap_values = model.forward_taps(xk)
            acts = [tap_values[t] for t in taps]
            blocks = tuple(a.shape[1] for a in acts)
            if metric == "mc_mi":
                check_mc_samples(k, blocks)
            z = prepare(torch.cat([global_pool(a) for a in acts], 1), blocks)
            g_per_class = []
            for d in range(n_classes):
                target = torch.full((b * k,), d, dtype=torch.long)
                log_lik = -F.cross_entropy(logits, target, reduction="sum")
                grads = torch.autograd.grad(log_lik, acts, retain_graph=d < n_classes - 1)
                g = torch.cat([global_pool(gr) for gr in grads], 1)
                g_per_class.append(prepare(g, blocks))
            g_B_D_K_L = torch.stack(g_per_class, 1).detach().view(b, k, n_classes, -1)
            g_B_D_K_L = g_B_D_K_L.transpose(1, 2)
            z_B_K_L = z.detach().view(b, k, -1)
            if metric == "mc_trace":
                scores += [
                    mc_trace_score(z_B_K_L[i], g_B_D_K_L[i].transpose(0, 1), centred)
                    for i in range(b)
                ]
            else:
                zd = z_B_K_L.unsqueeze(1).expand(-1, n_classes, -1, -1)
                scores += list(blockwise_mutual_information(zd, g_B_D_K_L, blocks, ridge))
    finally:
        model.train(was_training)
    scores_N_D = torch.stack(scores).double().numpy()
    return scores_N_D.argmax(1).astype(np.int64), scores_N_D, k * n_classes
