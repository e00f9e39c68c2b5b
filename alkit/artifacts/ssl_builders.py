"""The self-supervised feature artifacts ``simclr`` and ``simsiam`` (seed 002 spec §8).

State: ``backbone``, ``projector`` (and ``predictor`` for SimSiam). Features: the backbone
output on the un-augmented pool, L2-normalised, ``N × D`` (``D = 8 · width`` for the CNN).
"""

from __future__ import annotations

from torch import nn

from alkit.artifacts.registry import Built, Option, register_artifact
from alkit.ssl.augment import Augment
from alkit.ssl.encoders import BACKBONES, Normalized, build_backbone
from alkit.ssl.train import OPTIMIZERS, SSLConfig, encode_images, train_ssl

_COMMON = {
    "backbone": Option("cnn", str, "encoder body", choices=BACKBONES),
    "width": Option(
        32, int, "base width of the CNN (features are 8 × width wide)", low=1, high=1024
    ),  # fmt: skip
    "epochs": Option(20, int, "passes over the pool", low=1),
    "batch_size": Option(256, int, "images per step (two views each)", low=2),
    "optimizer": Option("adam", str, "adam, or sgd with momentum 0.9", choices=OPTIMIZERS),
    "lr": Option(1e-3, float, "peak learning rate (cosine decay)", low=1e-12, high=10.0),
    "weight_decay": Option(0.0, float, "L2 weight decay", low=0.0, high=1.0),
    "proj_dim": Option(128, int, "projector output width", low=1),
    "crop_min": Option(
        0.5, float, "smallest random-resized-crop area fraction", low=0.05, high=1.0
    ),  # fmt: skip
    "flip": Option(True, bool, "random horizontal flips"),
    "rotate": Option(10.0, float, "largest random rotation (degrees)", low=0.0, high=180.0),
    "jitter": Option(0.2, float, "brightness and contrast jitter", low=0.0, high=0.99),
}


def _config(method: str, options: dict) -> SSLConfig:
    aug = Augment(options["crop_min"], options["flip"], options["rotate"], options["jitter"])
    return SSLConfig(
        method=method,
        backbone=options["backbone"],
        width=options["width"],
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        lr=options["lr"],
        optimizer=options["optimizer"],
        weight_decay=options["weight_decay"],
        proj_dim=options["proj_dim"],
        tau=options.get("tau", 0.5),
        augment=aug,
    )


def _encoder(options: dict, input_shape, state: dict) -> nn.Module:
    backbone = build_backbone(options["backbone"], input_shape, options["width"])
    backbone.load_state_dict(state["backbone"])
    return Normalized(backbone)


def _build(method: str, X_pool, options, seed, device, progress) -> Built:
    result = train_ssl(X_pool, _config(method, options), seed=seed, device=device,
                       progress=progress)  # fmt: skip
    features = encode_images(result.encoder, X_pool, device=device)
    state = {"backbone": result.backbone.state_dict()}
    state.update({k: m.state_dict() for k, m in result.heads.items()})
    return Built(state=state, features=features, meta={"losses": result.losses})


@register_artifact(
    "simclr",
    options={**_COMMON, "tau": Option(0.5, float, "NT-Xent temperature", low=1e-3, high=10.0)},
    kind="self-supervised features",
    description="SimCLR (Chen et al. 2020): NT-Xent on two augmented views; backbone features",
    encoder=_encoder,
    image_inputs=True,
)
def build_simclr(X_pool, options, *, seed, device, progress):
    """SimCLR on ``X_pool`` (``N × C × H × W``); features ``N × D``, meta ``losses``."""
    return _build("simclr", X_pool, options, seed, device, progress)


#: SimSiam needs SGD: with Adam it barely moves off its initial features on digits (measured);
#: lr 0.05 and weight decay 5e-4 follow the paper's CIFAR recipe (lr 0.03 × B / 256, B = 512).
_SIMSIAM = {
    **_COMMON,
    "optimizer": Option("sgd", str, "sgd with momentum 0.9, or adam", choices=OPTIMIZERS),
    "lr": Option(0.05, float, "peak learning rate (cosine decay)", low=1e-12, high=10.0),
    "weight_decay": Option(5e-4, float, "L2 weight decay", low=0.0, high=1.0),
}


@register_artifact(
    "simsiam",
    options=_SIMSIAM,
    kind="self-supervised features",
    description="SimSiam (Chen & He 2021): predictor + stop-gradient; backbone features",
    encoder=_encoder,
    image_inputs=True,
)
def build_simsiam(X_pool, options, *, seed, device, progress):
    """SimSiam on ``X_pool`` (``N × C × H × W``); features ``N × D``, meta ``losses``."""
    return _build("simsiam", X_pool, options, seed, device, progress)
