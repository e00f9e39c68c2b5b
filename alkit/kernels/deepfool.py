"""Batched DeepFool (Moosavi-Dezfooli et al., CVPR 2016) for DFAL (Ducoffe thesis ch. 4, Method
4.2.1).

DeepFool runs on the **logits** ``f: R^D → R^C`` in eval mode. With ``k̂ = argmax f(x₀)``, while
the label of the current iterate is still ``k̂`` and fewer than ``max_iter`` steps were taken:

* ``w'_k = ∇f_k(x_i) − ∇f_k̂(x_i)`` and ``f'_k = f_k(x_i) − f_k̂(x_i)`` for every ``k ≠ k̂``;
* L2: ``l̂ = argmin_k |f'_k| / ‖w'_k‖₂`` and ``r_i = |f'_l̂| / ‖w'_l̂‖₂² · w'_l̂``;
  L∞ (the authors' ``generate_sample_infinity``): ``l̂ = argmin_k |f'_k| / ‖w'_k‖₁`` and
  ``r_i = |f'_l̂| / ‖w'_l̂‖₁ · sign(w'_l̂)``;
* ``x_{i+1} = x₀ + (1 + η) Σ_{j≤i} r_j`` (the overshoot ``η`` is applied to every iterate, as in
  DeepFool's published code, so that the iterate crosses the linearised boundary instead of
  landing on a logit tie).

The closest class ``l̂`` is re-chosen at every iteration (a popular toolkit's DeepFool never
updates it; that implementation is not a reference). The perturbation is not clipped to the
input range (the authors' code does not clip).

Batched form (spec §2.3): every iteration makes one forward pass over the rows still active and
one Jacobian of the ``C`` logits for all of them (``C`` vector-Jacobian products on one graph,
gradients taken with respect to the input only); rows whose label flipped leave the batch. Rows
are processed in chunks of ``block_rows`` so that the ``B × C × D`` Jacobian stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from alkit.errors import AlkitError, check_finite, check_positive_int
from alkit.kernels.blocks import check_block_rows
from alkit.progress import tqdm

NORMS = ("l2", "linf")


@dataclass
class DeepFoolResult:
    """DeepFool on ``B`` inputs.

    Attributes:
        norm_B: ``‖x_adv − x₀‖`` in the chosen norm (float64); ``+inf`` where the label never
            flipped within ``max_iter`` steps.
        x_adv_B: ``x₀ + (1 + η) Σ r_i``, shaped like the input (the model's dtype, on the CPU),
            for every row
            (for rows that never flipped: the last iterate).
        flipped_B: whether the label of ``x_adv`` differs from the source label.
        label_B: the source label ``k̂ = argmax f(x₀)``.
        target_B: the label of ``x_adv`` (equal to ``label_B`` where it never flipped).
        iters_B: DeepFool steps taken (linearisations; 0 never happens for a row that flipped).
    """

    norm_B: np.ndarray
    x_adv_B: torch.Tensor
    flipped_B: np.ndarray
    label_B: np.ndarray
    target_B: np.ndarray
    iters_B: np.ndarray


def _logits_and_jacobian(model: nn.Module, x_B_D: torch.Tensor, shape) -> tuple:
    """Logits ``B × C`` and their Jacobian with respect to the input, ``B × C × D``."""
    x = x_B_D.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x.view(len(x), *shape))
        C = logits.shape[1]
        rows = [
            torch.autograd.grad(logits[:, c].sum(), x, retain_graph=c < C - 1)[0] for c in range(C)
        ]
    return logits.detach(), torch.stack(rows, dim=1)


def _step(logits_B_C, jac_B_C_D, label_B, norm: str):
    """One DeepFool step for rows whose iterate still has label ``label_B``.

    Returns ``(r_B_D, movable_B)``; ``movable`` is False for rows where every ``w'_k`` vanishes
    (a flat region: no direction to follow).
    """
    B = len(label_B)
    ar = torch.arange(B, device=logits_B_C.device)
    f_diff = logits_B_C - logits_B_C[ar, label_B][:, None]  # B × C, ≤ 0
    w_diff = jac_B_C_D - jac_B_C_D[ar, label_B][:, None, :]  # B × C × D
    w_norm = w_diff.norm(p=2 if norm == "l2" else 1, dim=2)  # B × C
    ratio = f_diff.abs() / w_norm
    ratio[ar, label_B] = torch.inf
    ratio = torch.where(w_norm > 0, ratio, torch.full_like(ratio, torch.inf))
    best_ratio, closest = ratio.min(dim=1)
    w = w_diff[ar, closest]  # B × D
    if norm == "l2":
        r = (best_ratio / w_norm[ar, closest])[:, None] * w
    else:
        r = best_ratio[:, None] * torch.sign(w)
    movable = torch.isfinite(best_ratio)
    return torch.where(movable[:, None], r, torch.zeros_like(r)), movable


def _deepfool_rows(model, x0_B_D, shape, max_iter, overshoot, norm):
    """DeepFool on one chunk of rows (flattened inputs ``B × D``)."""
    B = len(x0_B_D)
    device = x0_B_D.device
    r_tot = torch.zeros_like(x0_B_D)
    iters = torch.zeros(B, dtype=torch.long, device=device)
    label = torch.zeros(B, dtype=torch.long, device=device)
    target = torch.zeros(B, dtype=torch.long, device=device)
    flipped = torch.zeros(B, dtype=torch.bool, device=device)
    active = torch.arange(B, device=device)
    for it in range(max_iter + 1):
        x_it = x0_B_D[active] + (1 + overshoot) * r_tot[active]
        if it == max_iter:  # last check only: no further step is allowed
            with torch.no_grad():
                logits = model(x_it.view(len(x_it), *shape))
            jac = None
        else:
            logits, jac = _logits_and_jacobian(model, x_it, shape)
        pred = logits.argmax(dim=1)
        if it == 0:
            label[active] = pred
        target[active] = pred
        done = pred != label[active]
        flipped[active[done]] = True
        keep = ~done
        if jac is None or not bool(keep.any()):
            break
        active, logits, jac = active[keep], logits[keep], jac[keep]
        r, movable = _step(logits, jac, label[active], norm)
        r_tot[active] += r
        iters[active] += movable.long()
        active = active[movable]
        if len(active) == 0:
            break
    x_adv = x0_B_D + (1 + overshoot) * r_tot
    delta = (1 + overshoot) * r_tot.double()
    size = delta.norm(dim=1) if norm == "l2" else delta.abs().amax(dim=1)
    size = torch.where(flipped, size, torch.full_like(size, torch.inf))
    return size, x_adv, flipped, label, target, iters


def deepfool(
    model: nn.Module,
    x_B,
    max_iter: int = 10,
    overshoot: float = 0.02,
    norm: str = "l2",
    block_rows: int | None = None,
    progress: bool | None = None,
) -> DeepFoolResult:
    """DeepFool perturbations of ``B`` inputs ``x_B`` (``B × ...``, array or tensor) against
    ``model``'s logits; see the module docstring for the iteration (DFAL, thesis §4.2).

    Args:
        model: a classifier returning logits ``B × C``; it runs in eval mode (restored after),
            on its own device and in its own floating dtype, and its parameters are not
            differentiated.
        max_iter: the most DeepFool steps per row (thesis and code: 10).
        overshoot: ``η`` (DeepFool's published 0.02 by default; the authors' DFAL code uses 0).
        norm: ``"l2"`` (default, the code's ``generate``) or ``"linf"``.
        block_rows: rows per chunk (default: a ``B × C × D`` Jacobian of about 256 MiB).
        progress: a ``tqdm.auto`` bar over chunks (``None``: follow ``ALKIT_PROGRESS``).

    Returns a :class:`DeepFoolResult`.
    """
    max_iter = check_positive_int("max_iter", max_iter)
    if isinstance(overshoot, bool) or not isinstance(overshoot, (int, float)) or overshoot < 0:
        raise AlkitError(f"overshoot must be a number ≥ 0, got {overshoot!r}")
    if norm not in NORMS:
        raise AlkitError(f"norm must be one of {NORMS}, got {norm!r}")
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(x_B) if not torch.is_tensor(x_B) else x_B)
    if x.ndim < 2 or len(x) == 0:
        raise AlkitError(f"x_B must be a non-empty B × ... batch, got shape {tuple(x.shape)}")
    check_finite("DeepFool inputs", x)
    shape = tuple(x.shape[1:])
    dtype = next(model.parameters()).dtype
    x = x.reshape(len(x), -1).to(dtype if dtype.is_floating_point else torch.float32)
    D = x.shape[1]
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    n_classes = None
    model.eval()
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        if block_rows is None:
            with torch.no_grad():
                n_classes = model(x[:1].to(device).view(1, *shape)).shape[1]
        rows = check_block_rows(block_rows, n_classes * D if n_classes else D)
        starts = range(0, len(x), rows)
        from alkit.train import progress_enabled

        show = progress_enabled(progress) and len(starts) > 1
        parts = [
            _deepfool_rows(
                model, x[s : s + rows].to(device), shape, max_iter, float(overshoot), norm
            )
            for s in tqdm(starts, desc="DeepFool", leave=False, disable=not show)
        ]
    finally:
        for p, flag in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)
    size, x_adv, flipped, label, target, iters = (torch.cat(t) for t in zip(*parts, strict=True))
    return DeepFoolResult(
        norm_B=size.cpu().numpy(),
        x_adv_B=x_adv.cpu().view(len(x_adv), *shape),
        flipped_B=flipped.cpu().numpy(),
        label_B=label.cpu().numpy(),
        target_B=target.cpu().numpy(),
        iters_B=iters.cpu().numpy(),
    )
