"""Adversarial sample generation of ASAL (Mayer & Timofte 2020, §3.1, eq. 1): gradient ascent of
the classifier's entropy over the generator's latent codes.

    maximize_z  (H ∘ h_θ)(G(z)),   H(q) = −Σ_i q_i log q_i

All ``S`` latents move in one batch (§4.2) with Adam for ``steps`` steps. The objective is the
**sum** over the batch, so each latent's gradient, and hence (Adam being element-wise) its whole
trajectory, is independent of the others and of the batch size. Generator and classifier run in
eval mode (dropout off, BatchNorm running statistics) and their weights get no gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from alkit.errors import AlkitError, check_finite, check_positive_int

OBJECTIVES = ("entropy", "margin")
Z_PROJECTIONS = (None, "sphere")


@dataclass
class LatentAscent:
    """The result of :func:`ascend_entropy`.

    Attributes:
        z_S_L: the final latents, ``S × L``.
        entropy_T_S: the classifier's entropy of ``G(z)`` before each step and after the last,
            ``(steps + 1) × S`` (row 0 is the start).
        path_T_S_L: the latents at every step, ``(steps + 1) × S × L`` when ``record_path``,
            else None.
    """

    z_S_L: torch.Tensor
    entropy_T_S: torch.Tensor
    path_T_S_L: torch.Tensor | None = None


def entropy_of_logits(logits_B_C: torch.Tensor) -> torch.Tensor:
    """Softmax entropy ``−Σ_c p_c log p_c`` (nats) of each row, ``B``; differentiable."""
    logp = torch.log_softmax(logits_B_C, dim=1)
    return -(logp.exp() * logp).sum(dim=1)


def top2_logit_gap(logits_B_C: torch.Tensor) -> torch.Tensor:
    """``l_(1) − l_(2)``: the gap between the two largest logits, ``B``. For a binary linear
    model this is ``|wᵀx + b|`` with ``w = w₁ − w₀`` (the minimum-distance objective, App. Fig. 8)."""
    top2 = torch.topk(logits_B_C, 2, dim=1).values
    return top2[:, 0] - top2[:, 1]


def _project(z: torch.Tensor) -> torch.Tensor:
    """Rescale each row to norm √L (the typical set of N(0, I_L))."""
    return z * (math.sqrt(z.shape[1]) / z.norm(dim=1, keepdim=True).clamp_min(1e-12))


def ascend_entropy(
    generator: torch.nn.Module,
    classifier: torch.nn.Module,
    z0_S_L,
    steps: int = 100,
    lr: float = 0.01,
    objective: str = "entropy",
    z_project: str | None = None,
    record_path: bool = False,
    batch_size: int | None = None,
) -> LatentAscent:
    """Maximise the entropy of ``classifier(generator(z))`` over ``z`` (eq. 1), all rows at once.

    Args:
        generator: G, ``S × L`` latents → samples the classifier takes.
        classifier: h_θ, samples → logits ``S × C`` (an alkit model's ``forward``).
        z0_S_L: the start, ``S × L`` (array or tensor; the paper draws z₀ ~ N(0, I)).
        steps: Adam steps (§4.2: 100).
        lr: Adam's learning rate (not given by the paper; spec default 0.01).
        objective: ``"entropy"`` minimises ``−Σ_s H(h(G(z_s)))``; ``"margin"`` minimises
            ``Σ_s (l_(1) − l_(2))``, the minimum-distance objective of the binary linear runs.
        z_project: None, or ``"sphere"`` to rescale every latent to ‖z‖ = √L after each step.
        record_path: keep every step's latents (for plots of trajectories).
        batch_size: optimise the latents in chunks of this many rows (the paper's CIFAR-10
            runs use ten batches of 100); the sum objective makes the result the same.

    Returns:
        :class:`LatentAscent` on the generator's device (the classifier must live there too). Both modules are put in eval mode for
        the ascent and restored to their previous mode afterwards; their ``.grad`` are untouched.
    """
    steps = check_positive_int("steps", steps)
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise AlkitError(f"lr must be a positive number, got {lr!r}")
    if objective not in OBJECTIVES:
        raise AlkitError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if z_project not in Z_PROJECTIONS:
        raise AlkitError(f"z_project must be one of {Z_PROJECTIONS}, got {z_project!r}")
    z0 = torch.as_tensor(np.asarray(z0_S_L) if not torch.is_tensor(z0_S_L) else z0_S_L)
    if z0.dim() != 2 or len(z0) == 0:
        raise AlkitError(f"z0_S_L must be a non-empty S × L array, got shape {tuple(z0.shape)}")
    check_finite("z0_S_L", z0)
    chunk = len(z0) if batch_size is None else check_positive_int("batch_size", batch_size)
    parts = [
        _ascend_chunk(
            generator, classifier, z0[s : s + chunk], steps, lr, objective, z_project, record_path
        )  # fmt: skip
        for s in range(0, len(z0), max(1, chunk))
    ]
    return LatentAscent(
        torch.cat([p.z_S_L for p in parts]),
        torch.cat([p.entropy_T_S for p in parts], dim=1),
        torch.cat([p.path_T_S_L for p in parts], dim=1) if record_path else None,
    )


def module_device(*modules: torch.nn.Module) -> torch.device:
    """The device of the first parameter found in ``modules`` (CPU for parameter-free ones)."""
    for m in modules:
        for p in m.parameters():
            return p.device
    return torch.device("cpu")


def _ascend_chunk(generator, classifier, z0, steps, lr, objective, z_project, record_path):
    device = module_device(generator, classifier)
    z = z0.to(device=device, dtype=torch.float32).clone()
    if z_project == "sphere":
        z = _project(z)
    z.requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    modes = (generator.training, classifier.training)
    generator.eval()
    classifier.eval()
    entropies, path = [], [z.detach().clone()] if record_path else None
    try:
        for step in range(steps + 1):
            logits = classifier(generator(z))
            ent = entropy_of_logits(logits)
            entropies.append(ent.detach())
            if step == steps:
                break
            loss = -ent.sum() if objective == "entropy" else top2_logit_gap(logits).sum()
            (grad,) = torch.autograd.grad(loss, z)
            z.grad = grad
            opt.step()
            if z_project == "sphere":
                with torch.no_grad():
                    z.copy_(_project(z))
            if record_path:
                path.append(z.detach().clone())
    finally:
        generator.train(modes[0])
        classifier.train(modes[1])
    return LatentAscent(
        z.detach(),
        torch.stack(entropies),
        torch.stack(path) if record_path else None,
    )
