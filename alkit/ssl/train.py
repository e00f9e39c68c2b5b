"""SimSiam and SimCLR training on an unlabelled pool of small images.

- SimCLR (Chen et al., ICML 2020): two augmented views, a projector ``g``, and the NT-Xent loss
  (eq. 1 of the paper) over the ``2B`` projections at temperature τ.
- SimSiam (Chen & He, CVPR 2021): two views, projector ``f`` and predictor ``h``; the loss is
  ``−½ [cos(p₁, sg(z₂)) + cos(p₂, sg(z₁))]`` (eq. 3–4, ``sg`` = stop-gradient).

Both keep the backbone output (not the projection) as the features. Training never sees a label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alkit.errors import AlkitError, check_positive_int
from alkit.progress import tqdm
from alkit.ssl.augment import Augment
from alkit.ssl.encoders import Normalized, build_backbone, mlp
from alkit.train import progress_enabled, resolve_device

METHODS = ("simclr", "simsiam")
OPTIMIZERS = ("adam", "sgd")


def nt_xent(z1_B_P: torch.Tensor, z2_B_P: torch.Tensor, tau: float = 0.5) -> torch.Tensor:
    """SimCLR's NT-Xent loss (Chen et al. 2020, eq. 1), averaged over the ``2B`` anchors.

    Row ``i`` of ``z1`` and row ``i`` of ``z2`` are the positive pair; the other ``2B − 2``
    projections of the batch are the negatives. Cosine similarity over τ; ``B × P`` inputs.
    """
    z = F.normalize(torch.cat([z1_B_P, z2_B_P]), dim=1)
    sim = z @ z.T / tau
    sim.fill_diagonal_(float("-inf"))
    B = len(z1_B_P)
    targets = torch.cat([torch.arange(B, 2 * B), torch.arange(B)]).to(z.device)
    return F.cross_entropy(sim, targets)


def simsiam_loss(p1, p2, z1, z2) -> torch.Tensor:
    """SimSiam's symmetric negative cosine with stop-gradient on the projections (Chen & He
    2021, eq. 4): ``−½ [cos(p₁, sg(z₂)) + cos(p₂, sg(z₁))]``, all ``B × P``; minimum −1."""
    return -0.5 * (
        F.cosine_similarity(p1, z2.detach(), dim=1).mean()
        + F.cosine_similarity(p2, z1.detach(), dim=1).mean()
    )


@dataclass
class SSLConfig:
    """One self-supervised training run (defaults: seed 002 spec §8, SimCLR on Fashion-MNIST)."""

    method: str = "simclr"
    backbone: str = "cnn"
    width: int = 32
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    proj_dim: int = 128
    tau: float = 0.5
    augment: Augment = field(default_factory=Augment)

    def __post_init__(self):
        if self.method not in METHODS:
            raise AlkitError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        if self.optimizer not in OPTIMIZERS:
            raise AlkitError(f"optimizer must be one of {list(OPTIMIZERS)}, got {self.optimizer!r}")
        for name in ("width", "epochs", "batch_size", "proj_dim"):
            check_positive_int(name, getattr(self, name))
        if self.batch_size < 2:
            raise AlkitError(f"batch_size must be ≥ 2 for two-view training, got {self.batch_size}")


@dataclass
class SSLResult:
    """The trained modules (on the CPU, eval mode) and the mean loss of each epoch."""

    backbone: nn.Module
    heads: dict[str, nn.Module]
    losses: list[float]

    @property
    def encoder(self) -> nn.Module:
        """Inputs ``B × C × H × W`` → L2-normalised backbone features ``B × D``."""
        return Normalized(self.backbone).eval()


def build_heads(config: SSLConfig, in_dim: int) -> dict[str, nn.Module]:
    """SimCLR: ``projector`` Linear–BN–ReLU–Linear to ``proj_dim``. SimSiam: ``projector``
    Linear–BN–ReLU–Linear–BN and ``predictor`` Linear–BN–ReLU–Linear with a bottleneck of
    ``proj_dim // 4`` (the paper's 2048 → 512 → 2048 shape, scaled down)."""
    hidden = max(in_dim, config.proj_dim)
    if config.method == "simclr":
        return {"projector": mlp((in_dim, hidden, config.proj_dim))}
    bottleneck = max(config.proj_dim // 4, 1)
    return {
        "projector": mlp((in_dim, hidden, config.proj_dim), last_bn=True),
        "predictor": mlp((config.proj_dim, bottleneck, config.proj_dim)),
    }


def train_ssl(
    X_N, config: SSLConfig, seed: int = 0, device="cpu", progress: bool | None = None
) -> SSLResult:
    """Train a backbone on unlabelled images ``X_N`` (``N × C × H × W`` in [0, 1]).

    Each step draws two augmented views of a batch (:class:`~alkit.ssl.augment.Augment`) and
    minimises :func:`nt_xent` (SimCLR) or :func:`simsiam_loss` (SimSiam). Adam, or SGD with
    momentum 0.9; either way a cosine learning-rate decay over all steps. Batches are
    ``batch_size`` images (the last, smaller one is dropped when there are more than one).
    The global torch RNG seeds the weights; a generator seeded by ``seed`` draws the batch order
    and the views, so the same seed gives the same modules on the CPU.
    """
    X = torch.as_tensor(np.asarray(X_N), dtype=torch.float32)
    if X.dim() != 4:
        raise AlkitError(f"self-supervised training needs images N×C×H×W, got {tuple(X.shape)}")
    dev = resolve_device(device)
    backbone = build_backbone(config.backbone, tuple(X.shape[1:]), config.width).to(dev)
    heads = {k: m.to(dev) for k, m in build_heads(config, backbone.out_dim).items()}
    params = [*backbone.parameters(), *(p for m in heads.values() for p in m.parameters())]
    if config.optimizer == "adam":
        opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    N = len(X)
    batch = min(config.batch_size, N)
    steps_per_epoch = max(N // batch, 1)
    total = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    )
    gen = torch.Generator().manual_seed(int(seed))
    losses = []
    modules = [backbone, *heads.values()]
    bar = tqdm(range(config.epochs), desc=f"{config.method} pretraining", leave=False,
               disable=not progress_enabled(progress))  # fmt: skip
    for _ in bar:
        for m in modules:
            m.train()
        order = torch.randperm(N, generator=gen)
        total_loss = 0.0
        for step in range(steps_per_epoch):
            xb = X[order[step * batch : (step + 1) * batch]].to(dev)
            v1, v2 = config.augment(xb, gen), config.augment(xb, gen)
            h = backbone(torch.cat([v1, v2]))
            z = heads["projector"](h)
            z1, z2 = z[: len(xb)], z[len(xb) :]
            if config.method == "simclr":
                loss = nt_xent(z1, z2, config.tau)
            else:
                p = heads["predictor"](z)
                loss = simsiam_loss(p[: len(xb)], p[len(xb) :], z1, z2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item()
        losses.append(total_loss / steps_per_epoch)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
    for m in modules:
        m.cpu().eval()
    return SSLResult(backbone, {k: m for k, m in heads.items()}, losses)


@torch.no_grad()
def encode_images(encoder: nn.Module, X_N, batch_size: int = 1024, device="cpu") -> np.ndarray:
    """``encoder`` (eval mode) applied to ``X_N`` in batches: ``N × D`` float32."""
    dev = resolve_device(device)
    encoder = encoder.to(dev).eval()
    X = np.asarray(X_N, dtype=np.float32)
    out = [encoder(torch.from_numpy(X[s : s + batch_size]).to(dev)).float().cpu()
           for s in range(0, len(X), batch_size)]  # fmt: skip
    encoder.cpu()
    return torch.cat(out).numpy()
