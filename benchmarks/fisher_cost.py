"""Seed 000, Table 1: processing cost of ONE selection, PFK vs varR (K=32 MC samples, E=1).

Both strategies query ``P`` samples from the same Fashion-MNIST pool (100× imbalance on 5-9)
with the same LeNet (trained briefly on ``P`` random labels). Forward and backward passes are
counted per sample by hooks on the model's last layer (every forward and every backward pass
goes through it), wall time by the clock, peak resident memory by ``getrusage`` in a fresh
process per method. The paper's claim: PFK needs ``2(M + N̂)`` passes against varR's
``E·K·N̂``, about 1/10th of the processing or less (EK/2 = 16× with K=32, E=1).

When the ``varratio`` strategy (issue 3) is not registered, the uncertainty side falls back to
``entropy`` (one forward pass per sample; the K-sample varR costs K times its forward passes)
and the JSON says so.

    python benchmarks/fisher_cost.py [--pool-size 0 (whole pool)] [--repeats 3]

Writes ``benchmarks/results/fisher_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from alkit.data import Pool, build_splits, load_dataset
from alkit.models import build_model
from alkit.strategies import QueryContext, get_strategy, strategy_names
from alkit.train import Learner, TrainConfig, seed_everything


def varr_spec(k: int, e: int) -> str:
    if "varratio" in strategy_names():
        return f"varratio:n_samples={k}:n_members={e}"
    return "entropy"


class PassCounter:
    """Counts samples through forward and backward passes of one module (the model's head)."""

    def __init__(self, module: torch.nn.Module):
        self.forward = self.backward = 0
        self._hooks = [
            module.register_forward_hook(self._on_forward),
            module.register_full_backward_hook(self._on_backward),
        ]

    def _on_forward(self, module, inputs, output):
        self.forward += len(inputs[0])

    def _on_backward(self, module, grad_input, grad_output):
        self.backward += len(grad_output[0])

    def remove(self):
        for h in self._hooks:
            h.remove()


def setup(args):
    splits = build_splits(
        load_dataset("fashion_mnist"),
        seed=0,
        val_per_class=args.val_per_class,
        imbalance=100,
        pool_size=args.pool_size or None,
        test_size=100,
    )
    pool = Pool(splits.X_pool, splits.y_pool)
    pool.label(np.random.default_rng(0).choice(len(pool), args.query, replace=False))
    seed_everything(0)
    net = build_model("lenet", splits.X_pool.shape[1:], 10)
    learner = Learner(net, TrainConfig(epochs=5, min_steps=100), device="cpu", seed=0)
    learner.fit(pool.X[pool.labeled_idx], pool.labeled_y)
    return pool, learner, splits


def measure(spec: str, args) -> dict:
    pool, learner, splits = setup(args)
    walls, counts = [], None
    for rep in range(args.repeats):
        ctx = QueryContext(pool, learner, np.random.default_rng(rep), splits.X_val, splits.y_val)
        counter = PassCounter(learner.model.head)
        t0 = time.perf_counter()
        get_strategy(spec).query(ctx, args.query)
        walls.append(time.perf_counter() - t0)
        counter.remove()
        counts = (counter.forward, counter.backward)
    return {
        "strategy": spec,
        "pool_unlabeled": int(len(pool.unlabeled_idx)),
        "validation": int(len(splits.y_val)),
        "forward_passes": counts[0],
        "backward_passes": counts[1],
        "passes_total": counts[0] + counts[1],
        "wall_seconds_median": float(np.median(walls)),
        "wall_seconds_all": [round(w, 3) for w in walls],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pool-size", type=int, default=0, help="0: the whole biased pool")
    p.add_argument("--val-per-class", type=int, default=200)
    p.add_argument("--query", type=int, default=125)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--e", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--json", default="benchmarks/results/fisher_cost.json")
    args = p.parse_args(argv)
    if args.method:  # child process: one method, result on stdout
        print(json.dumps(measure(args.method, args)))
        return {}

    specs = ["pfk", "pcc", varr_spec(args.k, args.e)]
    results = []
    for spec in specs:
        cmd = [sys.executable, __file__, "--method", spec]
        for flag in ("pool_size", "val_per_class", "query", "k", "e", "repeats"):
            cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    by = {r["strategy"]: r for r in results}
    pfk, unc = by["pfk"], by[specs[-1]]
    varr_is_real = specs[-1] != "entropy"
    k_factor = 1 if varr_is_real else args.k * args.e
    varr_passes = unc["passes_total"] * k_factor
    varr_wall = unc["wall_seconds_median"] * (1 if varr_is_real else k_factor)
    result = {
        "benchmark": "fisher_cost",
        "paper": "Gudovskiy et al. 2020 (seed 000), Table 1 / §5.1",
        "config": {k: v for k, v in vars(args).items() if k not in ("json", "method")},
        "varratio_available": varr_is_real,
        "uncertainty_side": specs[-1]
        if varr_is_real
        else f"entropy measured; varR(K={args.k}, E={args.e}) extrapolated as K·E × entropy",
        "methods": results,
        "table1_predicted_passes": {
            "pfk": 2 * (pfk["validation"] + pfk["pool_unlabeled"]),
            "pcc": pfk["validation"] + pfk["pool_unlabeled"],
            "varR": args.k * args.e * pfk["pool_unlabeled"],
        },
        "pfk_over_varr_passes": pfk["passes_total"] / varr_passes,
        "pfk_over_varr_wall": pfk["wall_seconds_median"] / varr_wall,
        "note": "CPU, 2 shared cores; wall times are noisy; RSS includes the dataset.",
    }
    print(f"{'method':36s} {'forward':>9s} {'backward':>9s} {'wall s':>8s} {'peak MB':>8s}")
    for r in results:
        print(
            f"{r['strategy']:36s} {r['forward_passes']:9d} {r['backward_passes']:9d} "
            f"{r['wall_seconds_median']:8.2f} {r['peak_rss_mb']:8.0f}"
        )
    print(
        f"PFK / varR(K={args.k}, E={args.e}): passes {result['pfk_over_varr_passes']:.3f}, "
        f"wall {result['pfk_over_varr_wall']:.3f} ({result['uncertainty_side']})"
    )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
