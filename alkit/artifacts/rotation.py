"""Rotation self-supervised pretraining (Gidaris et al., ICLR 2018), as used by seed 000.

Gudovskiy et al. initialise the task model "with the exception of last fully-connected layer"
from unsupervised rotation pretraining (§5, Alg. 1 line 1): the body learns to tell which of four
rotations (0°, 90°, 180°, 270°) an unlabelled image went through, through a temporary 4-way head
on the penultimate features; then every layer but the classifier's last one is kept. The
default recipe is the authors' (REFERENCES.md): 8 epochs of SGD with lr 0.05, momentum 0.5,
batch 25 and their step decay (×0.1 every 15 epochs, so it first acts from epoch 16 on);
``optimizer="adam"`` (lr 1e-3, batch 64, no decay) is the recipe alkit used before.

Registered as artifact ``rotation``: the state ``{"model": …}`` is the whole pretrained model
(its last layer still at the seed's initial weights), built exactly as the loop always built it
(``seed_everything(seed)``, then :func:`~alkit.models.build_model`, then
:func:`rotation_pretrain`), so a run that loads it gives the same rows as before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alkit.artifacts.registry import Built, Option, register_artifact
from alkit.errors import AlkitError, check_finite, check_positive_int
from alkit.models import MODELS, build_model
from alkit.progress import tqdm
from alkit.train import progress_enabled, resolve_device, seed_everything

N_ROTATIONS = 4
OPTIMIZERS = ("sgd", "adam")


def rotate_four_ways(x_B: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All four rotations of each image: ``B × C × H × W`` → ``4B × C × H × W`` and the
    rotation labels ``4B`` (``k`` means ``k · 90°`` counter-clockwise; image-major order)."""
    if x_B.dim() != 4 or x_B.shape[2] != x_B.shape[3]:
        raise AlkitError(
            f"rotation pretraining needs square images B×C×H×W, got shape {tuple(x_B.shape)}"
        )
    rotated = torch.stack([torch.rot90(x_B, k, dims=(2, 3)) for k in range(N_ROTATIONS)], 1)
    labels = torch.arange(N_ROTATIONS).repeat(len(x_B))
    return rotated.flatten(0, 1), labels


@dataclass
class PretrainReport:
    """What :func:`rotation_pretrain` did: per-epoch mean loss and rotation accuracy."""

    losses: list[float]
    accuracies: list[float]


def rotation_pretrain(
    model,
    X,
    epochs: int = 8,
    batch_size: int = 25,
    lr: float = 0.05,
    optimizer: str = "sgd",
    momentum: float = 0.5,
    step_size: int = 15,
    gamma: float = 0.1,
    seed: int = 0,
    device="cpu",
    progress: bool | None = None,
) -> PretrainReport:
    """Pretrain ``model``'s body in place by 4-way rotation prediction on unlabelled ``X``.

    A temporary ``Linear(embedding_dim, 4)`` head reads the ``embedding`` tap; the model's own
    classifier head (:attr:`~alkit.models.TappedModel.head`) gets no gradient and keeps its
    initial weights, so after this call every layer but the last is pretrained (seed 000 §5).
    Each batch of ``batch_size`` images is shown in all four rotations. ``optimizer`` is
    ``"sgd"`` (with ``momentum``; the authors' recipe) or ``"adam"``; the learning rate is
    multiplied by ``gamma`` every ``step_size`` epochs (``step_size=0``: constant).

    Args:
        model: a :class:`~alkit.models.TappedModel` for ``N × C × H × W`` square images.
        X: unlabelled images ``N × C × H × W``.
    Returns:
        :class:`PretrainReport` with the loss and rotation accuracy of each epoch.
    """
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    if optimizer not in OPTIMIZERS:
        raise AlkitError(f"optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
    check_finite("pretraining inputs", X)
    device = resolve_device(device)
    model.to(device)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(int(seed))
        rot_head = nn.Linear(model.embedding_dim, N_ROTATIONS).to(device)
        head_ids = {id(p) for p in model.head.parameters()}
        body = [p for p in model.parameters() if id(p) not in head_ids and p.requires_grad]
        params = [*body, *rot_head.parameters()]
        if optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
        else:
            opt = torch.optim.Adam(params, lr=lr)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size, gamma) if step_size else None
        Xt = torch.as_tensor(np.asarray(X), dtype=torch.float32)
        report = PretrainReport([], [])
        model.train()
        for _ in tqdm(range(epochs), desc="rotation pretraining", leave=False,
                      disable=not progress_enabled(progress)):  # fmt: skip
            order = torch.randperm(len(Xt), generator=gen)
            total, correct, seen = 0.0, 0, 0
            for start in range(0, len(Xt), batch_size):
                xb, yb = rotate_four_ways(Xt[order[start : start + batch_size]])
                xb, yb = xb.to(device), yb.to(device)
                logits = rot_head(model.forward_taps(xb)[1]["embedding"])
                loss = F.cross_entropy(logits, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(yb)
                correct += int((logits.argmax(1) == yb).sum())
                seen += len(yb)
            if sched is not None:
                sched.step()
            report.losses.append(total / seen)
            report.accuracies.append(correct / seen)
    model.eval()
    return report


class EmbeddingOf(nn.Module):
    """Wraps a :class:`~alkit.models.TappedModel` so that ``forward`` returns its embedding."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.embed(x)


def _rotation_model(options: dict, input_shape) -> nn.Module:
    return build_model(
        options["model"], input_shape, options["n_classes"], **options["model_options"]
    )


def _rotation_encoder(options: dict, input_shape, state: dict) -> nn.Module:
    model = _rotation_model(options, input_shape)
    model.load_state_dict(state["model"])
    return EmbeddingOf(model)


@register_artifact(
    "rotation",
    options={
        "model": Option(
            "lenet", str, "the model whose body is pretrained", choices=tuple(sorted(MODELS))
        ),  # fmt: skip
        "model_options": Option({}, dict, "keyword options of the model"),
        "n_classes": Option(10, int, "outputs of the (untouched) last layer", low=1),
        "epochs": Option(8, int, "passes over the pool (authors' code: 8)", low=1),
        "batch_size": Option(
            25, int, "images per step, each shown in 4 rotations (authors: 25)", low=1
        ),
        "optimizer": Option(
            "sgd",
            str,
            "sgd (the authors' recipe) or adam (alkit's earlier one)",
            choices=OPTIMIZERS,
        ),  # fmt: skip
        "lr": Option(0.05, float, "learning rate (authors: SGD 0.05)", low=1e-12, high=10.0),
        "momentum": Option(0.5, float, "SGD momentum (authors: 0.5)", low=0.0, high=0.999),
        "step_size": Option(
            15, int, "multiply the lr by gamma every step_size epochs; 0: constant", low=0
        ),
        "gamma": Option(0.1, float, "step decay factor (authors: 0.1)", low=1e-6, high=1.0),
    },
    kind="self-supervised weights (rotation prediction)",
    description="Gidaris et al. 2018 rotation pretraining of every layer but the last (seed 000)",
    encoder=_rotation_encoder,
    image_inputs=True,
)
def build_rotation(X_pool, options, *, seed, device, progress):
    """Pretrain the experiment's model by rotation prediction on ``X_pool`` (``N × C × H × W``);
    state ``{"model": state dict}``, meta ``losses`` and ``rotation_accuracy`` per epoch."""
    seed_everything(seed)
    model = _rotation_model(options, X_pool.shape[1:])
    report = rotation_pretrain(
        model,
        X_pool,
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        lr=options["lr"],
        optimizer=options["optimizer"],
        momentum=options["momentum"],
        step_size=options["step_size"],
        gamma=options["gamma"],
        seed=seed,
        device=device,
        progress=progress,
    )
    return Built(
        state={"model": model.state_dict()},
        meta={"losses": report.losses, "rotation_accuracy": report.accuracies},
    )
