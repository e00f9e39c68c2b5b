"""Seed 000, §4.3: how accurate are the pseudo-labels of each estimator on a trained model?

For a trained model and a set of unlabelled pool images, the accuracy of the label each
estimator assigns: ``ŷ`` (the model's argmax), ``p̂(y, z)`` (the label of the nearest validation
image under R_z), and the Monte-Carlo estimators ``tr(C_zg)`` and ``I(z; g)`` over ``K``
perturbations, in their variants (centred over K, no standardisation, K). The loss-gradient
sign that alkit used before (``∂L/∂z`` instead of the Fisher score ``∂ log p/∂z``) is reported
too: the trace is linear in ``g``, so its label under the other sign is the argmin of the same
scores; the MI does not depend on the sign.

Two models: a LeNet on Fashion-MNIST with classes 5-9 decimated 100× (seed 000's protocol,
CPU-sized) and an MLP on digits.

    OMP_NUM_THREADS=1 flock /tmp/alkit-bench.lock python benchmarks/mc_pseudo_labels.py

Writes ``benchmarks/results/mc_pseudo_labels.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from alkit.data import build_splits, load_dataset
from alkit.kernels.fisher import fisher_features
from alkit.kernels.fisher_mc import mc_pseudo_labels
from alkit.models import build_model
from alkit.strategies.fisher import default_taps, nearest_validation_labels
from alkit.train import Learner, TrainConfig, seed_everything

RESULTS = Path(__file__).parent / "results"

#: (name, metric, options of mc_pseudo_labels)
VARIANTS = (
    ("mc_trace", "mc_trace", {}),
    ("mc_trace:standardize=false", "mc_trace", {"standardize": False}),
    ("mc_trace:centred=true", "mc_trace", {"centred": True}),
    (
        "mc_trace:centred=true:standardize=false",
        "mc_trace",
        {"centred": True, "standardize": False},
    ),
    ("mc_mi", "mc_mi", {}),
    ("mc_mi:standardize=false", "mc_mi", {"standardize": False}),
)


def trained_model(name: str, n_labeled: int, seed: int):
    """A model trained on ``n_labeled`` random pool images of the named setting, its splits and
    the labelled indices."""
    if name == "fashion_lenet":
        splits = build_splits(
            load_dataset("fashion_mnist"), seed=seed, val_per_class=100, imbalance=100,
            rare_classes=(5, 6, 7, 8, 9), pool_size=10_000, test_size=1000,
        )  # fmt: skip
        arch, options, train = "lenet", {}, TrainConfig(epochs=15, min_steps=0)
    else:
        splits = build_splits(load_dataset("digits"), seed=seed, val_per_class=10)
        arch, options = "mlp", {"hidden": (24, 12)}
        train = TrainConfig(epochs=100, min_steps=0)
    rng = np.random.default_rng(seed)
    labeled = rng.choice(len(splits.y_pool), n_labeled, replace=False)
    seed_everything(seed)
    model = build_model(arch, splits.X_pool.shape[1:], splits.n_classes, **options)
    learner = Learner(model, train, device="cpu", seed=seed, progress=False)
    learner.fit(splits.X_pool[labeled], splits.y_pool[labeled])
    return learner, splits, labeled


def measure(setting: str, n_labeled: int, n_eval: int, ks, seed: int) -> dict:
    learner, splits, labeled = trained_model(setting, n_labeled, seed)
    model = learner.model
    rest = np.setdiff1d(np.arange(len(splits.y_pool)), labeled)
    idx = np.sort(np.random.default_rng([seed, 1]).choice(rest, n_eval, replace=False))
    X, y = splits.X_pool[idx], splits.y_pool[idx]
    taps = default_taps(model)
    n_classes = splits.n_classes
    out = {"yhat": float((learner.predict(X) == y).mean())}
    val = fisher_features(model, splits.X_val, taps, labels=None)
    pool = fisher_features(model, X, taps, labels=None)
    out["phat"] = float((nearest_validation_labels(pool.z_N_L, val.z_N_L, splits.y_val) == torch.as_tensor(y)).float().mean())  # fmt: skip
    timings = {}
    for k in ks:
        for name, metric, options in VARIANTS:
            t0 = time.perf_counter()
            labels, scores, _ = mc_pseudo_labels(
                model, X, taps, n_classes, metric, k=k, seed=seed, **options
            )
            timings[f"{name}:k={k}"] = round(time.perf_counter() - t0, 2)
            out[f"{name}:k={k}"] = float((labels == y).mean())
            if metric == "mc_trace":
                out[f"{name}:k={k}:loss_sign"] = float((scores.argmin(1) == y).mean())
    return {
        "setting": setting,
        "taps": list(taps),
        "blocks": list(pool.blocks),
        "n_labeled": n_labeled,
        "n_eval": n_eval,
        "seed": seed,
        "accuracy": out,
        "seconds": timings,
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--n-eval", type=int, default=200)
    p.add_argument("--ks", type=int, nargs="+", default=[128], help="MC samples K (mc_mi: ≥101)")
    p.add_argument("--json", default=str(RESULTS / "mc_pseudo_labels.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    runs = []
    for seed in args.seeds:
        runs.append(measure("fashion_lenet", 300, args.n_eval, args.ks, seed))
        runs.append(measure("digits_mlp", 200, args.n_eval, args.ks, seed))
    for r in runs:
        print(f"{r['setting']} seed {r['seed']}:")
        for name, acc in r["accuracy"].items():
            print(f"  {name:52s} {acc:.3f}")
    result = {
        "benchmark": "mc_pseudo_labels",
        "paper": "Gudovskiy et al. 2020 (seed 000), §4.3 pseudo-label estimators",
        "config": vars(args),
        "runs": runs,
        "note": "accuracy of the pseudo-label each estimator assigns to unlabelled pool images; "
        "':loss_sign' = the same trace with the loss gradient dL/dz (alkit before the fix); "
        "CPU, 2 shared cores: timings are noisy.",
        "uptime": os.getloadavg(),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
