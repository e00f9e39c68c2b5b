"""Training and inference: fit, predict_proba and embed in batches, on CPU or GPU, seeded.

A :class:`Learner` owns one model and its training recipe. Strategies receive a trained Learner
through the query context and never train themselves.
"""

from __future__ import annotations

import copy
import math
import os
import random
import sys
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from alkit.errors import AlkitError, check_finite, check_same_length
from alkit.models import TappedModel
from alkit.progress import tqdm

OPTIMIZERS = ("sgd", "adam")
LR_DECAYS = ("cosine", "step", "none")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when available, else the CPU; ``"cpu"``/``"cuda"`` are taken as is."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise AlkitError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AlkitError(f"device {device!r} was asked for but no CUDA GPU is available")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    """Seed Python's and torch's global generators (CPU and CUDA).

    alkit draws every NumPy random number from explicit ``np.random.Generator`` objects, so
    NumPy's legacy global state is not touched.
    """
    random.seed(seed)
    torch.manual_seed(seed)


def interactive() -> bool:
    """True when a person watches the output live: a terminal on stderr, or a Jupyter kernel."""
    return "ipykernel" in sys.modules or sys.stderr.isatty()


def progress_enabled(progress: bool | None) -> bool:
    """Whether to draw progress bars: ``progress`` when given; else ``ALKIT_PROGRESS`` (``0``
    never, ``1`` always); else only when :func:`interactive` (a log file or a CI log gets no
    carriage-return frames)."""
    if progress is not None:
        return progress
    env = os.environ.get("ALKIT_PROGRESS")
    if env is not None:
        return env != "0"
    return interactive()


@dataclass
class TrainConfig:
    """How a model is trained each round.

    ``lr_decay`` is the learning-rate schedule of each fit: ``"cosine"`` (default) anneals the
    rate to 0 over the fit's updates, so the last weights are not a noisy iterate of a constant
    rate (on tiny labelled sets that noise made test accuracy jump by several points between
    neighbouring rounds); ``"step"`` multiplies it by ``gamma`` every ``step_size`` epochs (seed
    000's recipe); ``"none"`` keeps it constant. ``warm_start=True`` continues from the previous round's weights, as in seed 000;
    ``False`` re-initialises them from the same seed, as DFAL (seed 001) does.
    ``min_steps`` makes tiny labelled sets still get a sensible number of updates.
    Seed 003 options (off by default, see :mod:`alkit.gmm_training`): ``gmm_reg`` is α of the
    L_GMM regulariser (paper: 1e-4); ``gmm_align_steps`` runs that many GMM-fed WGAN-GP
    alignment iterations after the supervised epochs (paper: 10,000; needs ``X_unlabeled``);
    ``gmm_options`` overrides :class:`~alkit.gmm_training.GMMTrainOptions`.
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    epochs: int = 50
    batch_size: int = 32
    lr_decay: str = "cosine"
    step_size: int = 0
    gamma: float = 0.1
    warm_start: bool = False
    min_steps: int = 300
    gmm_reg: float = 0.0
    gmm_align_steps: int = 0
    gmm_options: dict = field(default_factory=dict)

    def __post_init__(self):
        from alkit.config_checks import check_choice, check_int, check_number

        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("lr_decay", self.lr_decay, LR_DECAYS)
        check_number("lr", self.lr, low=0.0, low_open=True)
        check_number("momentum", self.momentum, low=0.0, high=1.0, high_open=True)
        check_number("weight_decay", self.weight_decay, low=0.0)
        check_int("epochs", self.epochs, low=1)
        check_int("batch_size", self.batch_size, low=1)
        check_int("step_size", self.step_size, low=0)
        check_number("gamma", self.gamma, low=0.0, high=1.0, low_open=True)
        check_int("min_steps", self.min_steps, low=0)
        check_number("gmm_reg", self.gmm_reg, low=0.0)
        check_int("gmm_align_steps", self.gmm_align_steps, low=0)
        if not isinstance(self.warm_start, bool):
            raise AlkitError(
                f"warm_start (--warm-start) must be true or false, got {self.warm_start!r}"
            )
        if self.lr_decay == "step" and self.step_size == 0:
            raise AlkitError("lr_decay='step' needs step_size ≥ 1 (--step-size), in epochs")
        from alkit.gmm_training import GMMTrainOptions

        GMMTrainOptions.from_dict(self.gmm_options)

    def to_dict(self) -> dict:
        return asdict(self)


class Learner:
    """A model plus its training recipe, device and seed.

    Args:
        model: an alkit :class:`~alkit.models.TappedModel` (its initial weights are kept so that
            ``warm_start=False`` can restart from them).
        config: the :class:`TrainConfig`.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        seed: seeds the mini-batch order of each :meth:`fit`.
        progress: show epoch progress bars (``None``: follow ``ALKIT_PROGRESS``).
    """

    def __init__(
        self,
        model: TappedModel,
        config: TrainConfig | None = None,
        device="auto",
        seed: int = 0,
        progress: bool | None = None,
        inference_batch_size: int = 1024,
    ):
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        self.config = config or TrainConfig()
        self.seed = seed
        self.progress = progress
        self.inference_batch_size = inference_batch_size
        self._initial_state = copy.deepcopy(model.state_dict())
        self.n_fits = 0
        #: Seed 003's ψ_L, ψ_UL and critic after a fit with ``gmm_align_steps`` (else None).
        self.gmm_state = None

    # -- training -------------------------------------------------------------------------
    def fit(self, X, y, extra_loss=None, seed: int | None = None, X_unlabeled=None) -> Learner:
        """Train on ``X`` (``N × ...``) with labels ``y`` (``N``) by cross-entropy.

        ``extra_loss(model, xb, yb, logits, taps) -> scalar`` is added to each batch's loss; the
        distribution-aware regulariser of seed 003 plugs in here. ``seed`` fixes the batch order
        and dropout masks of this fit (default: derived from the Learner's seed and fit count);
        the global torch RNG state is left as it was. ``X_unlabeled`` feeds the seed-003
        alignment stage (``config.gmm_align_steps > 0``) and is ignored otherwise.
        """
        fit_seed = self.seed * 1_000_003 + self.n_fits if seed is None else seed
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(fit_seed)
            self._fit(X, y, extra_loss, X_unlabeled)
        self.n_fits += 1
        return self

    def _fit(self, X, y, extra_loss, X_unlabeled=None) -> None:
        n = check_same_length(X=X, y=y)
        if n == 0:
            raise AlkitError("cannot fit on an empty labelled set")
        check_finite("training inputs", X)
        cfg = self.config
        if not cfg.warm_start:
            self.model.load_state_dict(self._initial_state)
        Xt = torch.as_tensor(np.asarray(X), dtype=torch.float32)
        yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
        self.gmm_state = None
        if cfg.gmm_reg or cfg.gmm_align_steps:
            from alkit import gmm_training

            gmm_opts = gmm_training.GMMTrainOptions.from_dict(cfg.gmm_options)
            if cfg.gmm_align_steps and X_unlabeled is None:
                raise AlkitError("gmm_align_steps > 0 needs X_unlabeled passed to Learner.fit")
        if cfg.gmm_reg:
            extra_loss = gmm_training.with_regulariser(
                extra_loss, Xt, yt, self.model.head.out_features, cfg.gmm_reg, gmm_opts, self.device
            )
        params = [p for p in self.model.parameters() if p.requires_grad]
        if cfg.optimizer == "sgd":
            opt = torch.optim.SGD(
                params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            )
        else:
            opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        batch = min(cfg.batch_size, n)
        steps_per_epoch = -(-n // batch)
        epochs = max(cfg.epochs, -(-cfg.min_steps // steps_per_epoch))
        epoch_sched, step_sched = None, None
        if cfg.lr_decay == "step":
            epoch_sched = torch.optim.lr_scheduler.StepLR(opt, cfg.step_size, cfg.gamma)
        elif cfg.lr_decay == "cosine":
            total = epochs * steps_per_epoch
            step_sched = torch.optim.lr_scheduler.LambdaLR(
                opt, lambda t: 0.5 * (1.0 + math.cos(math.pi * min(t, total) / total))
            )
        self.model.train()
        bar = tqdm(
            range(epochs), desc="train", leave=False, disable=not progress_enabled(self.progress)
        )
        for _ in bar:
            # equal-sized batches (sizes differ by at most one): a last batch of 2 of 130
            # samples gave each epoch a noisy final step, and test accuracy dipped by up to 10
            # points at exactly those labelled-set sizes
            for idx in torch.randperm(n).tensor_split(steps_per_epoch):
                xb, yb = Xt[idx].to(self.device), yt[idx].to(self.device)
                if len(idx) == 1 and self._has_batchnorm():
                    continue  # BatchNorm cannot normalise a batch of one
                logits, taps = self.model.forward_taps(xb)
                loss = F.cross_entropy(logits, yb)
                if extra_loss is not None:
                    loss = loss + extra_loss(self.model, xb, yb, logits, taps)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if step_sched is not None:
                    step_sched.step()
            if epoch_sched is not None:
                epoch_sched.step()
        if cfg.gmm_align_steps:
            self.gmm_state = gmm_training.alignment_stage(
                self, Xt, yt, X_unlabeled, cfg.gmm_align_steps, gmm_opts
            )
        self.model.eval()

    def _has_batchnorm(self) -> bool:
        return any(
            isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in self.model.modules()
        )

    # -- inference ------------------------------------------------------------------------
    @torch.no_grad()
    def _map_batches(self, X, fn) -> np.ndarray:
        self.model.eval()
        outs = []
        for start in range(0, len(X), self.inference_batch_size):
            xb = torch.as_tensor(np.asarray(X[start : start + self.inference_batch_size]))
            outs.append(fn(xb.to(self.device, torch.float32)).float().cpu())
        return torch.cat(outs).numpy() if outs else np.zeros((0,), np.float32)

    def predict_logits(self, X) -> np.ndarray:
        """Logits, ``N × C`` float32 (eval mode)."""
        return self._map_batches(X, self.model)

    def predict_proba(self, X) -> np.ndarray:
        """Softmax probabilities, ``N × C`` float32 (eval mode)."""
        return self._map_batches(X, lambda xb: torch.softmax(self.model(xb), dim=1))

    def predict(self, X) -> np.ndarray:
        """Predicted labels, ``N`` int64."""
        return self.predict_logits(X).argmax(1).astype(np.int64)

    def embed(self, X) -> np.ndarray:
        """Penultimate features, ``N × D`` float32 (eval mode)."""
        return self._map_batches(X, self.model.embed)

    def state_dict(self) -> dict:
        """Model weights, fit count and the GMM alignment state (ψ_L, ψ_UL, critic), if any."""
        return {
            "model": self.model.state_dict(),
            "n_fits": self.n_fits,
            "gmm_state": self.gmm_state,
        }

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.n_fits = state["n_fits"]
        self.gmm_state = state.get("gmm_state")
