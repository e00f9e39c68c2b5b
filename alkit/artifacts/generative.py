"""Seed 004's preprocessing as artifacts: ``wgan_gp`` (generator + critic) and ``autoencoder``.

ASAL (Mayer & Timofte 2020, Alg. 1, "Train the generator G and the feature extractor F") trains
both once on the unlabelled pool; here they are cached like every artifact, so a run, a notebook
and ``alkit pretrain wgan_gp`` (for example on a GPU, to reuse on a laptop) share one entry.

- ``wgan_gp``: :func:`alkit.generative.train_wgan_gp` (λ = 10, 5 critic steps per generator
  step, Adam 1e-4, β = (0.5, 0.9), batch 50; the Table 5 networks for ``C × 28 × 28`` images,
  MLPs otherwise). State ``generator``, ``critic``; meta ``log`` (critic loss, penalty,
  Wasserstein estimate and generator loss per generator step, every ``log_every``-th kept).
  Its encoder is the critic's last hidden layer (ASAL's ``disc`` space); no pool features are
  stored (4096 wide at DIM 64), the encoder computes them.
- ``autoencoder``: :func:`alkit.generative.train_autoencoder` (Table 4, Adam 1e-3, batch 100,
  40 epochs). State ``autoencoder``; features: the pool's codes ``N × K`` (ASAL's ``auto``).

:func:`alkit.artifacts.load_trained` rebuilds a :class:`~alkit.generative.TrainedGAN` /
:class:`~alkit.generative.TrainedAutoencoder`, which is what ``asal`` reads from the query context.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from alkit.artifacts.registry import Built, Option, register_artifact
from alkit.errors import AlkitError
from alkit.generative import TrainedAutoencoder, TrainedGAN, train_autoencoder, train_wgan_gp
from alkit.models.generative import AE_ARCHS, GAN_ARCHS, LATENT_DIM, build_autoencoder, build_gan

OUTPUTS = ("sigmoid", "identity")


def _bounded(name: str, options: dict, X) -> bool:
    """True for a ``sigmoid`` output layer; refuses it, before training, for inputs outside
    [0, 1] (2-D toys need ``output=identity``)."""
    if options["output"] == "identity":
        return False
    low, high = float(np.min(X)), float(np.max(X))
    if low < 0 or high > 1:
        raise AlkitError(
            f"option output of artifact {name!r} is 'sigmoid', but the pool's inputs span "
            f"[{low:.3g}, {high:.3g}], outside [0, 1]; use output=identity"
        )
    return True


_GAN_OPTIONS = {
    "iterations": Option(2000, int, "generator steps (Table 3: 40k–200k on a GPU)", low=1),
    "batch_size": Option(50, int, "real and fake samples per critic step", low=2),
    "n_critic": Option(5, int, "critic steps per generator step", low=1),
    "gp_weight": Option(10.0, float, "gradient-penalty weight λ", low=0.0, high=1e6),
    "lr": Option(1e-4, float, "Adam learning rate of both networks", low=1e-12, high=1.0),
    "beta1": Option(0.5, float, "Adam β₁", low=0.0, high=0.999),
    "beta2": Option(0.9, float, "Adam β₂", low=0.0, high=0.9999),
    "latent_dim": Option(LATENT_DIM, int, "width of z ~ N(0, I)", low=1),
    "width": Option(64, int, "DIM of the reference code (32 is ~4× cheaper on a CPU)", low=1),
    "arch": Option("auto", str, "conv28 (Table 5) for 28×28 images, or mlp", choices=GAN_ARCHS),
    "output": Option(
        "sigmoid", str, "generator output (identity for data outside [0, 1])", choices=OUTPUTS
    ),
    "log_every": Option(10, int, "keep every k-th generator step of the training log", low=1),
}


def _gan_modules(options: dict, input_shape) -> tuple[nn.Module, nn.Module]:
    return build_gan(
        input_shape,
        options["latent_dim"],
        options["width"],
        options["arch"],
        options["output"] != "identity",
    )


def _load_gan(options: dict, input_shape, state: dict) -> TrainedGAN:
    generator, critic = _gan_modules(options, input_shape)
    generator.load_state_dict(state["generator"])
    critic.load_state_dict(state["critic"])
    return TrainedGAN(generator.eval(), critic.eval())


class CriticFeatures(nn.Module):
    """The critic's last hidden layer: inputs ``B × ...`` → ``B × D_F`` (ASAL's ``disc``)."""

    def __init__(self, critic: nn.Module):
        super().__init__()
        self.critic = critic

    def forward(self, x_B: torch.Tensor) -> torch.Tensor:
        return self.critic.features(x_B)


def _gan_encoder(options: dict, input_shape, state: dict) -> nn.Module:
    return CriticFeatures(_load_gan(options, input_shape, state).critic)


@register_artifact(
    "wgan_gp",
    options=_GAN_OPTIONS,
    kind="generative model (WGAN-GP); features: the critic's last hidden layer",
    description="WGAN-GP generator and critic (Gulrajani et al. 2017), seed 004's G and D",
    encoder=_gan_encoder,
    loader=_load_gan,
)
def build_wgan_gp(X_pool, options, *, seed, device, progress):
    """Train the WGAN-GP on ``X_pool`` (``N × C × H × W`` or ``N × D``); no stored features."""
    G, D, log = train_wgan_gp(
        X_pool,
        seed=seed,
        iterations=options["iterations"],
        batch_size=options["batch_size"],
        n_critic=options["n_critic"],
        gp_weight=options["gp_weight"],
        lr=options["lr"],
        betas=(options["beta1"], options["beta2"]),
        latent_dim=options["latent_dim"],
        width=options["width"],
        arch=options["arch"],
        bounded=_bounded("wgan_gp", options, X_pool),
        device=device,
        progress=progress,
    )
    every = options["log_every"]
    kept = {k: [float(v) for v in values[::every]] for k, values in log.items()}
    return Built(
        state={"generator": G.state_dict(), "critic": D.state_dict()},
        meta={"log": kept, "log_every": every},
    )


_AE_OPTIONS = {
    "epochs": Option(40, int, "passes over the pool (A.1: 40 on MNIST)", low=1),
    "batch_size": Option(100, int, "images per step", low=1),
    "lr": Option(1e-3, float, "Adam learning rate", low=1e-12, high=1.0),
    "channels": Option(
        "3,6,12",
        str,
        "positive integers separated by commas: Table 4's conv channels (1,2,4 in binary runs)",
        pattern=r"[1-9]\d*(,[1-9]\d*)*",
    ),
    "code_dim": Option(16, int, "code width of the MLP auto-encoder (non-image inputs)", low=1),
    "arch": Option("auto", str, "conv (Table 4) for images ≥ 16×16, or mlp", choices=AE_ARCHS),
    "output": Option(
        "sigmoid", str, "decoder output (identity for data outside [0, 1])", choices=OUTPUTS
    ),
}


def _channels(options: dict) -> tuple[int, ...]:
    return tuple(int(c) for c in options["channels"].split(","))


def _load_autoencoder(options: dict, input_shape, state: dict) -> TrainedAutoencoder:
    ae = build_autoencoder(
        input_shape,
        _channels(options),
        options["code_dim"],
        options["arch"],
        options["output"] != "identity",
    )
    ae.load_state_dict(state["autoencoder"])
    return TrainedAutoencoder(ae.eval())


class AutoencoderCode(nn.Module):
    """The auto-encoder's code: inputs ``B × ...`` → ``B × K`` (ASAL's ``auto``)."""

    def __init__(self, autoencoder: nn.Module):
        super().__init__()
        self.autoencoder = autoencoder

    def forward(self, x_B: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.encode(x_B)


def _ae_encoder(options: dict, input_shape, state: dict) -> nn.Module:
    return AutoencoderCode(_load_autoencoder(options, input_shape, state).autoencoder)


@register_artifact(
    "autoencoder",
    options=_AE_OPTIONS,
    kind="auto-encoder codes, not self-supervised contrastive features",
    description="convolutional auto-encoder of seed 004's Table 4 (codes as features)",
    encoder=_ae_encoder,
    loader=_load_autoencoder,
)
def build_autoencoder_artifact(X_pool, options, *, seed, device, progress):
    """Train the auto-encoder on ``X_pool``; features: the pool's codes ``N × K`` float32."""
    ae, log = train_autoencoder(
        X_pool,
        seed=seed,
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        lr=options["lr"],
        channels=_channels(options),
        code_dim=options["code_dim"],
        arch=options["arch"],
        bounded=_bounded("autoencoder", options, X_pool),
        device=device,
        progress=progress,
    )
    X = torch.as_tensor(np.asarray(X_pool), dtype=torch.float32)
    with torch.no_grad():
        codes = torch.cat(
            [ae.encode(X[s : s + 1024].to(device)).float().cpu() for s in range(0, len(X), 1024)]
        )
    return Built(
        state={"autoencoder": ae.state_dict()}, features=codes.numpy(), meta={"losses": log["loss"]}
    )
