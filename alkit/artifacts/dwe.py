"""The Deep Wasserstein Embedding as an artifact ``dwe`` (Ducoffe's thesis, ch. 8, eq. 8.1).

The builder sees the pool's images only: it turns them into histograms on the (optionally
sum-pooled) pixel grid, draws random pairs, computes their exact ``W₂²`` by POT's EMD (the
expensive part, cached with the artifact), and trains the encoder/decoder with eq. 8.1
(:func:`alkit.dwe_training.fit_dwe`). Pool features: the embeddings ``φ(x)``, ``N × p``, whose
squared Euclidean distances approximate ``W₂²`` in pixel² of the pooled grid; the encoder maps
new images the same way, so ``features="dwe"`` (frozen-feature experiments) and ``wproto``'s
``space="dwe"`` both read Wasserstein geometry at the cost of a Euclidean distance.

Meta: ``train_loss``/``val_mse`` per epoch, ``best_epoch`` and the held-out
fidelity (Pearson correlation and relative MSE against exact ``W₂²`` on the validation pairs).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from alkit.artifacts.registry import Built, Option, register_artifact
from alkit.dwe_training import DWEPairs, fit_dwe, image_histograms, make_pairs, predict_pairs
from alkit.errors import AlkitError
from alkit.models.dwe import DWE
from alkit.threads import available_cpus

_OPTIONS = {
    "pool": Option(2, int, "sum-pool the pixel grid by this factor (2: 28×28 → 14×14)", low=1),
    "n_pairs": Option(15000, int, "random image pairs with exact W₂² targets", low=10),
    "epochs": Option(100, int, "largest number of passes (early stopping ends sooner)", low=1),
    "batch_size": Option(100, int, "pairs per step", low=1),
    "lr": Option(1e-3, float, "Adam learning rate", low=1e-12, high=1.0),
    "lam": Option(10.0, float, "weight λ of the reconstruction KL (eq. 8.1)", low=0.0),
    "sparsity": Option(1e-3, float, "weight of the code's ℓ½ sparsity term", low=0.0),
    "val_fraction": Option(0.2, float, "pairs held out for early stopping", low=0.01, high=0.9),
    "patience": Option(3, int, "epochs without validation gain before stopping", low=1),
    "embedding_dim": Option(50, int, "embedding width p", low=1),
    "hidden": Option(100, int, "hidden width of the encoder and decoder", low=1),
    "decoder_filters": Option(10, int, "filters of the decoder's first convolution", low=1),
}


def _grid(options: dict, input_shape) -> tuple[int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or shape[0] != 1:
        raise AlkitError(
            f"artifact 'dwe' needs grey images 1 × H × W (histograms on the pixel grid), got "
            f"inputs of shape {shape}"
        )
    h, w = shape[1] // options["pool"], shape[2] // options["pool"]
    if h < 1 or w < 1:
        raise AlkitError(
            f"option pool of artifact 'dwe' is {options['pool']}, larger than the "
            f"{shape[1]}×{shape[2]} images"
        )
    return h, w


class HistogramEmbedding(nn.Module):
    """Images ``B × 1 × H × W`` → DWE embeddings ``B × p``: sum-pool by ``pool``, normalise
    each image to a histogram (sum 1), then ``φ``."""

    def __init__(self, dwe: DWE, pool: int):
        super().__init__()
        self.dwe, self.pool = dwe, int(pool)

    def forward(self, x_B: torch.Tensor) -> torch.Tensor:
        x = x_B.float()
        if self.pool > 1:
            h, w = self.dwe.height * self.pool, self.dwe.width * self.pool
            x = nn.functional.avg_pool2d(x[..., :h, :w], self.pool) * self.pool**2
        mass = x.flatten(1).sum(1).clamp_min(torch.finfo(x.dtype).tiny)
        return self.dwe.encode(x / mass[:, None, None, None])


def _model(options: dict, input_shape) -> DWE:
    h, w = _grid(options, input_shape)
    return DWE(h, w, options["embedding_dim"], options["hidden"], options["decoder_filters"])


def _load(options: dict, input_shape, state: dict) -> HistogramEmbedding:
    dwe = _model(options, input_shape)
    dwe.load_state_dict(state["dwe"])
    return HistogramEmbedding(dwe.eval(), options["pool"])


@register_artifact(
    "dwe",
    options=_OPTIONS,
    kind="Wasserstein embedding (distances ≈ W₂²), not self-supervised",
    description="Deep Wasserstein Embedding (Courty, Flamary & Ducoffe 2018; thesis ch. 8)",
    encoder=_load,
    image_inputs=True,
    loader=_load,
)
def build_dwe(X_pool, options, *, seed, device, progress):
    """Exact-EMD pairs of the pool's images, then eq. 8.1; features ``N × p`` float32."""
    h, w = _grid(options, X_pool.shape[1:])
    hist = image_histograms(X_pool, options["pool"]).astype(np.float32)
    rng = np.random.default_rng(seed)
    pairs: DWEPairs = make_pairs(hist, h, w, options["n_pairs"], rng, workers=available_cpus())
    model, history = fit_dwe(
        hist,
        pairs,
        h,
        w,
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        lr=options["lr"],
        lam=options["lam"],
        sparsity=options["sparsity"],
        val_fraction=options["val_fraction"],
        patience=options["patience"],
        seed=seed,
        device=str(device),
        progress=progress,
        embedding_dim=options["embedding_dim"],
        hidden=options["hidden"],
        decoder_filters=options["decoder_filters"],
    )
    n_val = max(1, int(round(len(pairs.w2) * options["val_fraction"])))
    held = DWEPairs(pairs.first[-n_val:], pairs.second[-n_val:], pairs.w2[-n_val:])
    pred = predict_pairs(model, hist, held)
    encoder = HistogramEmbedding(model, options["pool"]).eval()
    with torch.no_grad():
        X = torch.as_tensor(np.asarray(X_pool), dtype=torch.float32)
        features = torch.cat(
            [encoder(X[s : s + 1024].to(device)).cpu() for s in range(0, len(X), 1024)]
        )
    meta = {
        "train_loss": history.train_loss,
        "val_mse": history.val_mse,
        "best_epoch": history.best_epoch,
        "grid": [h, w],
        "val_correlation": float(np.corrcoef(pred, held.w2)[0, 1]),
        "val_relative_mse": float(np.mean((pred - held.w2) ** 2) / np.mean(held.w2**2)),
    }
    return Built(state={"dwe": model.cpu().state_dict()}, features=features.numpy(), meta=meta)
