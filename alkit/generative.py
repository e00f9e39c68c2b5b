"""Training the generative models of seed 004 on the unlabelled pool: WGAN-GP and the auto-encoder.

Both functions see only images, never labels: they are the preprocessing of ASAL (Alg. 1,
"Train the generator G and the feature extractor F") and are registered as the artifacts
``wgan_gp`` and ``autoencoder`` (trained once per pool, cached).

WGAN-GP (Gulrajani et al. 2017, the recipe the paper follows, spec seed004 §1):

    L_D = E[D(G(z))] − E[D(x)] + λ·E[(‖∇_x̂ D(x̂)‖₂ − 1)²],  x̂ = εx + (1−ε)G(z), ε ~ U[0, 1]
    L_G = −E[D(G(z))]

with λ = 10, 5 critic steps per generator step, Adam(1e-4, β = (0.5, 0.9)), batch 50. The
gradient penalty is shared with seed 003's GMM critic (:mod:`alkit.gmm_training`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from alkit.errors import AlkitError, check_finite, check_positive_int
from alkit.models.generative import LATENT_DIM, build_autoencoder, build_gan
from alkit.progress import tqdm
from alkit.train import progress_enabled, resolve_device


def gradient_penalty(critic, real_B: torch.Tensor, fake_B: torch.Tensor):
    """WGAN-GP penalty on random interpolates ``x̂ = ε·real + (1 − ε)·fake`` (one ε per row).

    Works for any sample shape (``B × D`` features or ``B × C × H × W`` images); the gradient
    norm is taken over all non-batch dimensions. Returns ``(penalty, grad_norm_B)``:
    ``E[(‖∇D(x̂)‖ − 1)²]`` with the graph kept (double backprop) and the detached norms.
    """
    n = min(len(real_B), len(fake_B))
    eps = torch.rand(n, *([1] * (real_B.dim() - 1)), device=real_B.device)
    mixed = (eps * real_B[:n] + (1 - eps) * fake_B[:n]).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    norm = grad.flatten(1).norm(dim=1)
    return ((norm - 1) ** 2).mean(), norm.detach()


@dataclass
class TrainedGAN:
    """A trained WGAN-GP: what the ``wgan_gp`` artifact holds (generator, critic, per-step log)."""

    generator: torch.nn.Module
    critic: torch.nn.Module
    log: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class TrainedAutoencoder:
    """A trained auto-encoder: what the ``autoencoder`` artifact holds (model, per-epoch log)."""

    autoencoder: torch.nn.Module
    log: dict[str, list[float]] = field(default_factory=dict)


def _as_images(X_N) -> torch.Tensor:
    X = torch.as_tensor(np.asarray(X_N), dtype=torch.float32)
    if X.dim() < 2 or len(X) == 0:
        raise AlkitError(f"training needs a non-empty N × ... array, got shape {tuple(X.shape)}")
    check_finite("training images", X)
    return X


def _check_positive_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise AlkitError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _batches(n: int, batch: int, gen: torch.Generator):
    """Endless mini-batch indices: shuffled epochs, the last partial batch dropped."""
    while True:
        order = torch.randperm(n, generator=gen)
        for s in range(0, n - batch + 1, batch):
            yield order[s : s + batch]


def train_wgan_gp(
    X_N,
    *,
    seed: int = 0,
    iterations: int = 2000,
    batch_size: int = 50,
    n_critic: int = 5,
    gp_weight: float = 10.0,
    lr: float = 1e-4,
    betas: tuple[float, float] = (0.5, 0.9),
    latent_dim: int = LATENT_DIM,
    width: int = 64,
    arch: str = "auto",
    bounded: bool | None = None,
    device="auto",
    progress: bool | None = None,
) -> tuple[torch.nn.Module, torch.nn.Module, dict[str, list[float]]]:
    """Train a WGAN-GP on unlabelled samples ``X_N`` (``N × C × H × W`` images or ``N × D``).

    Each of the ``iterations`` generator steps follows ``n_critic`` critic steps on fresh real
    batches of ``batch_size`` (shuffled epochs) and fresh ``z ~ N(0, I)``. Architectures come
    from :func:`~alkit.models.generative.build_gan` (``width`` = DIM of the reference code;
    ``bounded=None`` keeps the generator's sigmoid when every input lies in [0, 1]).

    Returns ``(generator, critic, log)``, both models in eval mode on ``device``; ``log`` holds
    one value per generator step of ``critic_loss`` (L_D of the last critic step), ``gp`` (its
    penalty, before ×λ), ``wasserstein`` (the estimate E D(x) − E D(G(z)) of that step) and
    ``generator_loss``. Everything random comes from ``seed``; the global RNG is left as it was.
    """
    X = _as_images(X_N)
    iterations = check_positive_int("iterations", iterations)
    n_critic = check_positive_int("n_critic", n_critic)
    batch = min(check_positive_int("batch_size", batch_size), len(X))
    gp_weight = float(gp_weight)
    if not gp_weight >= 0:
        raise AlkitError(f"gp_weight must be ≥ 0, got {gp_weight!r}")
    lr = _check_positive_float("lr", lr)
    if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
        raise AlkitError(f"betas must be two numbers in [0, 1), got {betas!r}")
    if bounded is None:
        bounded = bool(X.min() >= 0 and X.max() <= 1)
    dev = resolve_device(device)
    log: dict[str, list[float]] = {
        "critic_loss": [],
        "gp": [],
        "wasserstein": [],
        "generator_loss": [],
    }
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(int(seed))
        G, D = build_gan(X.shape[1:], latent_dim, width, arch, bounded)
        G, D = G.to(dev).train(), D.to(dev).train()
        opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=tuple(betas))
        opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=tuple(betas))
        batches = _batches(len(X), batch, torch.Generator().manual_seed(int(seed)))
        bar = tqdm(
            range(iterations), desc="WGAN-GP", leave=False, disable=not progress_enabled(progress)
        )
        for it in bar:
            D.requires_grad_(True)
            for _ in range(n_critic):
                real = X[next(batches)].to(dev)
                with torch.no_grad():
                    fake = G(torch.randn(batch, latent_dim, device=dev))
                gp, _ = gradient_penalty(D, real, fake)
                w_est = D(real).mean() - D(fake).mean()
                loss_d = -w_est + gp_weight * gp
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
            D.requires_grad_(False)
            loss_g = -D(G(torch.randn(batch, latent_dim, device=dev))).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            log["critic_loss"].append(loss_d.item())
            log["gp"].append(gp.item())
            log["wasserstein"].append(w_est.item())
            log["generator_loss"].append(loss_g.item())
            if it % 50 == 0 or it == iterations - 1:
                bar.set_postfix(W=f"{log['wasserstein'][-1]:.3f}", gp=f"{log['gp'][-1]:.3f}")
        D.requires_grad_(True)
    return G.eval(), D.eval(), log


def train_autoencoder(
    X_N,
    *,
    seed: int = 0,
    epochs: int = 40,
    batch_size: int = 100,
    lr: float = 1e-3,
    channels=(3, 6, 12),
    code_dim: int = 16,
    arch: str = "auto",
    bounded: bool | None = None,
    device="auto",
    progress: bool | None = None,
) -> tuple[torch.nn.Module, dict[str, list[float]]]:
    """Train an auto-encoder on unlabelled samples ``X_N`` by ``Σ_x ‖x − ψ(φ(x))‖²`` (§3.2).

    Adam(``lr``), shuffled mini-batches of ``batch_size``, ``epochs`` passes (A.1: 40 epochs,
    batch 100, lr 1e-3 on MNIST; ``channels=(1, 2, 4)`` is the binary runs' Table 4 ÷ 3).
    The model comes from :func:`~alkit.models.generative.build_autoencoder`.

    Returns ``(autoencoder, log)``: the model in eval mode on ``device`` and ``log["loss"]``,
    the mean per-sample squared reconstruction error of each epoch.
    """
    X = _as_images(X_N)
    epochs = check_positive_int("epochs", epochs)
    batch = min(check_positive_int("batch_size", batch_size), len(X))
    lr = _check_positive_float("lr", lr)
    if bounded is None:
        bounded = bool(X.min() >= 0 and X.max() <= 1)
    dev = resolve_device(device)
    log: dict[str, list[float]] = {"loss": []}
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(int(seed))
        ae = build_autoencoder(X.shape[1:], channels, code_dim, arch, bounded).to(dev).train()
        opt = torch.optim.Adam(ae.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(int(seed))
        bar = tqdm(
            range(epochs), desc="auto-encoder", leave=False, disable=not progress_enabled(progress)
        )
        for _ in bar:
            order = torch.randperm(len(X), generator=gen)
            total = 0.0
            for s in range(0, len(X), batch):
                xb = X[order[s : s + batch]].to(dev)
                loss = (ae(xb) - xb).pow(2).flatten(1).sum(1).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(xb)
            log["loss"].append(total / len(X))
            bar.set_postfix(loss=f"{log['loss'][-1]:.3f}")
    return ae.eval(), log
