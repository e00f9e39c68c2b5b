"""Diagonal-covariance Gaussian mixtures fitted by EM in torch (seed 003, §3.2, eq. 1-2).

Everything works in log space (``logsumexp``) in float32 on CPU or GPU. The features are
centred on their mean before fitting (a shift that leaves the mixture unchanged but keeps the
float32 expansion ``Σ_d (z_d − μ_d)² / σ²_d`` accurate), and variances are clamped at a floor.

Shapes: ``Z_N_D`` features, ``K`` components; a :class:`GMMParams` holds ``weights_K``,
``means_K_D`` and ``vars_K_D``. Labels are ``N`` int64 with ``-1`` for unlabelled rows: labelled
rows keep fixed one-hot responsibilities (§3.2), so a fully labelled set needs no EM at all
(:func:`class_statistics`, A.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from alkit.errors import AlkitError, check_finite, check_positive_int

#: Default variance floor (added safety against collapsing components in float32).
VAR_FLOOR = 1e-6


@dataclass
class GMMParams:
    """ψ = (π, μ, σ²) of a diagonal GMM: ``weights_K``, ``means_K_D``, ``vars_K_D`` (tensors)."""

    weights_K: torch.Tensor
    means_K_D: torch.Tensor
    vars_K_D: torch.Tensor

    @property
    def n_components(self) -> int:
        return int(self.weights_K.shape[0])

    def to(self, device=None, dtype=None) -> GMMParams:
        return GMMParams(
            self.weights_K.to(device=device, dtype=dtype),
            self.means_K_D.to(device=device, dtype=dtype),
            self.vars_K_D.to(device=device, dtype=dtype),
        )

    def permute(self, order_K) -> GMMParams:
        """Components reordered so that new component ``k`` is old component ``order_K[k]``."""
        order = torch.as_tensor(np.asarray(order_K), dtype=torch.long, device=self.means_K_D.device)
        return GMMParams(self.weights_K[order], self.means_K_D[order], self.vars_K_D[order])

    def numpy(self) -> dict[str, np.ndarray]:
        return {
            "weights_K": self.weights_K.detach().cpu().numpy(),
            "means_K_D": self.means_K_D.detach().cpu().numpy(),
            "vars_K_D": self.vars_K_D.detach().cpu().numpy(),
        }


def as_features(Z, device=None) -> torch.Tensor:
    """``Z`` (NumPy or torch, ``N × D``) as a float32 tensor on ``device``; checks shape and NaN."""
    Zt = torch.as_tensor(Z)
    if Zt.ndim != 2:
        raise AlkitError(f"features must be 2-D (N × D), got shape {tuple(Zt.shape)}")
    if Zt.is_floating_point() and not bool(torch.isfinite(Zt.sum())):
        check_finite("features", Zt)  # the cheap sum test failed: find and report the bad rows
    return Zt.to(device=device if device is not None else Zt.device, dtype=torch.float32)


def component_log_prob(Z_N_D: torch.Tensor, params: GMMParams) -> torch.Tensor:
    """``log π_k + log N(z_i | μ_k, diag σ²_k)`` for every sample and component: ``N × K``.

    The quadratic form is expanded into matrix products,
    ``Σ_d z²/σ² − 2 Σ_d z μ/σ² + Σ_d μ²/σ²``, so the cost is two ``N × D × K`` matmuls.
    """
    prec_K_D = 1.0 / params.vars_K_D
    D = Z_N_D.shape[1]
    quad_N_K = (
        (Z_N_D * Z_N_D) @ prec_K_D.T
        - 2.0 * Z_N_D @ (params.means_K_D * prec_K_D).T
        + (params.means_K_D**2 * prec_K_D).sum(1)
    )
    log_det_K = torch.log(params.vars_K_D).sum(1)
    log_norm_K = -0.5 * (D * math.log(2 * math.pi) + log_det_K)
    return torch.log(params.weights_K) + log_norm_K - 0.5 * quad_N_K.clamp_min(0.0)


def log_likelihood(Z_N_D, params: GMMParams, chunk_size: int = 65536) -> torch.Tensor:
    """``log p(z; ψ) = log Σ_k π_k N(z | μ_k, σ²_k)`` (eq. 4's ingredient): ``N``, chunked."""
    Z = as_features(Z_N_D, params.means_K_D.device)
    out = [
        torch.logsumexp(component_log_prob(Z[s : s + chunk_size], params), dim=1)
        for s in range(0, len(Z), chunk_size)
    ]
    return torch.cat(out) if out else Z.new_zeros(0)


def log_posterior(Z_N_D, params: GMMParams, chunk_size: int = 65536) -> torch.Tensor:
    """``log p(y = k | z; ψ)`` (eq. 1, the responsibilities): ``N × K``, chunked."""
    Z = as_features(Z_N_D, params.means_K_D.device)
    out = [
        torch.log_softmax(component_log_prob(Z[s : s + chunk_size], params), dim=1)
        for s in range(0, len(Z), chunk_size)
    ]
    return torch.cat(out) if out else Z.new_zeros((0, params.n_components))


def posterior(Z_N_D, params: GMMParams) -> torch.Tensor:
    """``p(y = k | z; ψ)``: ``N × K`` responsibilities (eq. 1)."""
    return log_posterior(Z_N_D, params).exp()


def _stacked_log_prob(ZZ_N_2D: torch.Tensor, params: GMMParams) -> torch.Tensor:
    """:func:`component_log_prob` (``N × K``) from precomputed ``[z², z]`` rows.

    One ``F.linear`` per E-step against the ``K × 2D`` matrix ``[1/σ², −2μ/σ²]`` (the fastest
    of the layouts measured for a small K, see benchmarks/gmm_em.py).
    """
    prec_K_D = 1.0 / params.vars_K_D
    D = prec_K_D.shape[1]
    W_K_2D = torch.cat([prec_K_D, -2.0 * params.means_K_D * prec_K_D], dim=1)
    log_norm_K = -0.5 * (D * math.log(2 * math.pi) + torch.log(params.vars_K_D).sum(1))
    bias_K = (params.means_K_D**2 * prec_K_D).sum(1)
    quad_N_K = torch.nn.functional.linear(ZZ_N_2D, W_K_2D, bias_K)
    return torch.log(params.weights_K) + log_norm_K - 0.5 * quad_N_K.clamp_min(0.0)


def _m_step_stacked(ZZ_N_2D, resp_N_K, var_floor) -> GMMParams:
    nk_K = resp_N_K.sum(0) + 10 * torch.finfo(resp_N_K.dtype).eps
    moments_K_2D = (resp_N_K.T @ ZZ_N_2D) / nk_K[:, None]
    D = ZZ_N_2D.shape[1] // 2
    means_K_D = moments_K_2D[:, D:]
    vars_K_D = (moments_K_2D[:, :D] - means_K_D**2).clamp_min(var_floor)
    weights_K = (nk_K / nk_K.sum()).clamp_min(1e-10)
    return GMMParams(weights_K / weights_K.sum(), means_K_D, vars_K_D)


def _stack_centred(Z_N_D: torch.Tensor, shift_D: torch.Tensor) -> torch.Tensor:
    """``[(z − shift)², z − shift]`` as one ``N × 2D`` buffer (a single allocation)."""
    N, D = Z_N_D.shape
    ZZ_N_2D = torch.empty(N, 2 * D, dtype=Z_N_D.dtype, device=Z_N_D.device)
    torch.sub(Z_N_D, shift_D, out=ZZ_N_2D[:, D:])
    torch.mul(ZZ_N_2D[:, D:], ZZ_N_2D[:, D:], out=ZZ_N_2D[:, :D])
    return ZZ_N_2D


def m_step(Z_N_D: torch.Tensor, resp_N_K: torch.Tensor, var_floor: float = VAR_FLOOR) -> GMMParams:
    """The M-step of §3.2: ``π_k ∝ Σ_i γ_ik``, ``μ_k``, ``σ²_k`` as γ-weighted moments.

    Components with no mass keep a tiny weight (``1e-10``) instead of dividing by zero.
    """
    ZZ_N_2D = _stack_centred(Z_N_D, torch.zeros_like(Z_N_D[0]))
    return _m_step_stacked(ZZ_N_2D, resp_N_K, var_floor)


def _one_hot_rows(labels_N: torch.Tensor, K: int) -> tuple[torch.Tensor, torch.Tensor]:
    labeled = labels_N >= 0
    if (labels_N >= K).any():
        raise AlkitError(f"labels must lie in [-1, {K - 1}], got max {int(labels_N.max())}")
    return labeled, torch.nn.functional.one_hot(labels_N.clamp_min(0), K).float()


def class_statistics(Z_N_D, labels_N, K: int, var_floor: float = VAR_FLOOR) -> GMMParams:
    """Closed-form ψ of a labelled set (A.1): class frequencies, class means, class variances.

    ``labels_N`` in ``[0, K)``. A class absent from the set gets weight ~1e-10 (it then never
    wins a posterior) with the global mean and variance.
    """
    Z = as_features(Z_N_D)
    y = torch.as_tensor(np.asarray(labels_N) if not torch.is_tensor(labels_N) else labels_N)
    y = y.to(Z.device, torch.long)
    if (y < 0).any():
        raise AlkitError("class_statistics needs every row labelled (labels ≥ 0)")
    _, onehot = _one_hot_rows(y, K)
    params = m_step(Z, onehot, var_floor)
    empty = onehot.sum(0) == 0
    if empty.any():
        params.means_K_D[empty] = Z.mean(0)
        params.vars_K_D[empty] = Z.var(0, unbiased=False).clamp_min(var_floor)
    return params


def fit_gmm(
    Z_N_D,
    init: GMMParams,
    n_iter: int = 10,
    labels_N=None,
    var_floor: float = VAR_FLOOR,
    return_history: bool = False,
):
    """EM for a diagonal GMM from ``init`` (eq. 1 E-step, §3.2 M-step), ``n_iter`` iterations.

    Args:
        Z_N_D: features, ``N × D``.
        init: starting ψ (its K is the number of components).
        n_iter: EM iterations (the paper uses 10, A.1).
        labels_N: optional ``N`` ints, ``-1`` = unlabelled; labelled rows keep one-hot
            responsibilities in every iteration.
        var_floor: lower bound of every variance.
        return_history: also return the mean log-likelihood before each M-step (``n_iter``).

    Returns:
        the fitted :class:`GMMParams` (on ``Z``'s device), and the history if asked.
    """
    n_iter = int(n_iter)
    if n_iter < 0:
        raise AlkitError(f"n_iter must be ≥ 0, got {n_iter}")
    Z = as_features(Z_N_D)
    if len(Z) == 0:
        raise AlkitError("cannot fit a GMM on zero samples")
    K = init.n_components
    if init.means_K_D.shape[1] != Z.shape[1]:
        raise AlkitError(
            f"init has dimension {init.means_K_D.shape[1]} but the features have {Z.shape[1]}"
        )
    shift_D = Z.mean(0)
    params = init.to(Z.device, torch.float32)
    params = GMMParams(params.weights_K, params.means_K_D - shift_D, params.vars_K_D)
    labeled = onehot = None
    if labels_N is not None:
        y = torch.as_tensor(np.asarray(labels_N)).to(Z.device, torch.long)
        if y.shape != (len(Z),):
            raise AlkitError(f"labels must have shape ({len(Z)},), got {tuple(y.shape)}")
        labeled, onehot = _one_hot_rows(y, K)
    ZZ_N_2D = _stack_centred(Z, shift_D)  # one matmul per E-step and one per M-step
    history = []
    for _ in range(n_iter):
        log_prob_N_K = _stacked_log_prob(ZZ_N_2D, params)
        # log-sum-exp with one exp: shift by the row max; terms below e^-80 (negligible, and
        # float32 denormals that make exp ~10x slower) are clamped there.
        max_N = log_prob_N_K.max(dim=1).values
        resp_N_K = (log_prob_N_K - max_N[:, None]).clamp_min_(-80.0).exp_()
        sum_N = resp_N_K.sum(1)
        history.append(float((max_N + sum_N.log()).mean()))
        resp_N_K /= sum_N[:, None]
        if labeled is not None:
            resp_N_K = torch.where(labeled[:, None], onehot, resp_N_K)
        params = _m_step_stacked(ZZ_N_2D, resp_N_K, var_floor)
    params = GMMParams(params.weights_K, params.means_K_D + shift_D, params.vars_K_D)
    return (params, history) if return_history else params


def bhattacharyya(p1: GMMParams, p2: GMMParams) -> torch.Tensor:
    """Bhattacharyya distance (eq. 2) between every component of ``p1`` and of ``p2``: ``K1 × K2``.

    With diagonal covariances, ``Σ = (Σ₁ + Σ₂)/2`` and
    ``D_B = ⅛ Σ_d (μ₁ − μ₂)²/Σ_d + ½ Σ_d [log Σ_d − ½ (log Σ₁_d + log Σ₂_d)]``.
    """
    v1, v2 = p1.vars_K_D[:, None, :], p2.vars_K_D[None, :, :]
    avg = 0.5 * (v1 + v2)
    diff = p1.means_K_D[:, None, :] - p2.means_K_D[None, :, :]
    maha = (diff * diff / avg).sum(-1)
    log_ratio = (torch.log(avg) - 0.5 * (torch.log(v1) + torch.log(v2))).sum(-1)
    return 0.125 * maha + 0.5 * log_ratio


def align_components(reference: GMMParams, params: GMMParams) -> np.ndarray:
    """The order of ``params``' components that best matches ``reference`` (§3.2).

    Solves the Hungarian problem (``scipy.optimize.linear_sum_assignment``) on the
    Bhattacharyya cost matrix; ``params.permute(order)[k]`` matches ``reference[k]``.
    """
    cost = bhattacharyya(reference.to("cpu", torch.float64), params.to("cpu", torch.float64))
    rows, cols = linear_sum_assignment(cost.numpy())
    order = np.empty(reference.n_components, dtype=np.int64)
    order[rows] = cols
    return order


def fit_gmm_batched(
    Z_N_D,
    init: GMMParams,
    batch_size: int = 10_000,
    n_iter: int = 10,
    labels_N=None,
    var_floor: float = VAR_FLOOR,
    rng: np.random.Generator | None = None,
) -> GMMParams:
    """Fit one GMM per batch and average ψ across batches after Hungarian re-alignment (§3.2).

    Rows are shuffled by ``rng`` (or kept in order) and cut into batches of ``batch_size``; every
    batch starts EM from ``init``, its components are re-aligned to ``init`` on Bhattacharyya
    distances (eq. 2), and ``π``, ``μ``, ``σ²`` are averaged with weights proportional to the
    batch sizes. One batch (``N ≤ batch_size``) is plain :func:`fit_gmm`.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    Z = as_features(Z_N_D)
    order = rng.permutation(len(Z)) if rng is not None else np.arange(len(Z))
    y = None if labels_N is None else np.asarray(labels_N)
    ref = init.to(Z.device, torch.float32)
    sums, total = None, 0
    for start in range(0, len(Z), batch_size):
        rows = order[start : start + batch_size]
        if start > 0 and len(rows) < batch_size // 4:
            continue  # a small remainder would only add noise to the average
        fitted = fit_gmm(Z[rows], ref, n_iter, None if y is None else y[rows], var_floor)
        fitted = fitted.permute(align_components(ref, fitted))
        w = len(rows)
        parts = (fitted.weights_K * w, fitted.means_K_D * w, fitted.vars_K_D * w)
        sums = parts if sums is None else tuple(a + b for a, b in zip(sums, parts, strict=True))
        total += w
    weights, means, variances = (s / total for s in sums)
    return GMMParams(weights / weights.sum(), means, variances)


def init_from_means(Z_N_D, means_K_D) -> GMMParams:
    """A starting ψ: given means, equal weights and the global per-dimension variance."""
    Z = as_features(Z_N_D)
    means = torch.as_tensor(means_K_D, dtype=torch.float32, device=Z.device)
    K = means.shape[0]
    var_D = Z.var(0, unbiased=False).clamp_min(VAR_FLOOR)
    return GMMParams(torch.full((K,), 1.0 / K, device=Z.device), means, var_D.expand(K, -1).clone())
