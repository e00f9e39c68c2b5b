"""Active learning on frozen self-supervised features (issue "artifact stage"; seed 002 §8).

Fashion-MNIST, a 10,000-image pool per seed, the ``simclr`` artifact of that pool (built once
per seed and cached; build it ahead with ``alkit pretrain simclr --dataset fashion_mnist
--pool-size 10000 --seeds 3 --option epochs=10``), an ``mlp_bn`` head trained from scratch each
round (Adam 1e-3, 50 epochs, at least 300 steps, cosine decay: alkit's defaults), 10 → 200
labels (+10 ×5, +20 ×2, +50 ×2), seeds 0–2. Two protocols, reported apart:

- ``same_initial``: every strategy starts from the same 10 random labels (selection only):
  random, entropy, core-set and TypiClust, both on the SSL features themselves
  (``features=input``: the inputs of the head are the SSL features);
- ``cold_start``: TypiClust and core-set also choose the first 10 labels themselves (TypiClust's
  paper setting: it needs no model), against random.

For each strategy and budget: the mean test accuracy with a 95% percentile bootstrap interval
over seeds, and the paired difference to random (same seed, same initial set where it applies)
with its interval; per strategy the area under the curve. With 3 seeds a bootstrap has only 10
distinct resamples: the intervals are coarse.

    flock /tmp/alkit-bench.lock env PYTHONPATH=. python benchmarks/al_frozen_features.py

Writes ``benchmarks/results/al_frozen_features.json`` (run folders under ``--runs``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from alkit import metrics
from alkit.artifacts.experiment import build_experiment_artifacts
from alkit.loop import ExperimentConfig, preflight, run_experiment, seed_splits
from alkit.results import atomic_write_bytes
from alkit.threads import configure_threads
from alkit.train import TrainConfig

RESULTS = Path(__file__).parent / "results"
SCHEDULE = (10, 10, 10, 10, 10, 20, 20, 50, 50)
SAME_INITIAL = ("random", "entropy", "coreset:features=input", "typiclust:features=input")
COLD_START = ("random", "coreset:features=input", "typiclust:features=input")


def config(args, strategies, cold_start: bool) -> ExperimentConfig:
    return ExperimentConfig(
        dataset="fashion_mnist",
        pool_size=args.pool_size,
        features="simclr",
        artifact_options={"simclr": {"epochs": args.ssl_epochs}},
        initial=10,
        query=list(SCHEDULE),
        rounds=len(SCHEDULE),
        seeds=tuple(args.seeds),
        strategies=strategies,
        cold_start=cold_start,
        train=TrainConfig(),
        device="cpu",
    )


def summarise(rows, strategies) -> dict:
    """Per strategy: budgets, mean accuracy with its interval, the paired difference to random
    with its interval, and the AUC (mean accuracy over the budget span) with its interval."""
    table = {
        s: rows[rows["strategy"] == s].pivot_table(
            index="seed", columns="n_labeled", values="accuracy"
        )  # fmt: skip
        for s in strategies
    }
    seeds = sorted(set.intersection(*(set(t.index) for t in table.values())))
    budgets = np.array(table["random"].columns, dtype=float)
    acc = {s: t.loc[seeds].to_numpy() for s, t in table.items()}
    out = {"seeds": seeds, "budgets": budgets.astype(int).tolist(), "strategies": {}}
    n = len(seeds)
    for s in strategies:
        A, R = acc[s], acc["random"]
        mean, low, high, d_mean, d_low, d_high = [], [], [], [], [], []
        for j in range(len(budgets)):
            m, lo, hi = metrics.bootstrap_interval(lambda i, j=j, A=A: A[i, j].mean(), n)
            dm, dlo, dhi = metrics.bootstrap_interval(
                lambda i, j=j, A=A, R=R: (A[i, j] - R[i, j]).mean(), n
            )
            mean.append(m), low.append(lo), high.append(hi)
            d_mean.append(dm), d_low.append(dlo), d_high.append(dhi)
        auc = metrics.bootstrap_interval(
            lambda i, A=A: metrics.area_under_curve(budgets, A[i].mean(0)), n
        )
        out["strategies"][s] = {
            "accuracy_mean": mean,
            "accuracy_ci95": [low, high],
            "minus_random_mean": d_mean,
            "minus_random_ci95": [d_low, d_high],
            "auc": auc[0],
            "auc_ci95": [auc[1], auc[2]],
            "per_seed": A.tolist(),
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pool-size", type=int, default=10000)
    p.add_argument("--ssl-epochs", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--runs", default="/tmp/alkit-al-frozen-features")
    p.add_argument("--out", default=str(RESULTS / "al_frozen_features.json"))
    args = p.parse_args()
    threads = configure_threads(args.threads)
    result = {
        "setting": {
            "dataset": "fashion_mnist",
            "pool_size": args.pool_size,
            "features": "simclr",
            "ssl_epochs": args.ssl_epochs,
            "head": "mlp_bn, alkit TrainConfig defaults (Adam 1e-3, 50 epochs, >= 300 steps)",
            "initial": 10,
            "schedule": list(SCHEDULE),
            "seeds": args.seeds,
            "threads": threads,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared with other jobs",
            "load_average_at_start": list(os.getloadavg()),
        },
        "protocols": {},
    }
    # the SSL artifacts: cache hits when built ahead (their build and load times are reported)
    cfg = config(args, SAME_INITIAL, False)
    plan = preflight(cfg)
    loads = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        art = build_experiment_artifacts(cfg, seed_splits(cfg, plan.dataset, seed), seed)["simclr"]
        loads.append({
            "seed": seed,
            "cache_hit": art.meta["cache_hit"],
            "load_seconds": round(time.perf_counter() - t0, 3),
            "build_seconds": art.meta.get("build_seconds"),
            "quality": art.meta.get("quality"),
        })  # fmt: skip
    result["artifacts"] = loads
    for name, strategies, cold in (
        ("same_initial", SAME_INITIAL, False),
        ("cold_start", COLD_START, True),
    ):
        t0 = time.perf_counter()
        rows = run_experiment(config(args, strategies, cold), out=Path(args.runs) / name)
        result["protocols"][name] = {
            "cold_start": cold,
            "seconds": round(time.perf_counter() - t0, 1),
            **summarise(rows, strategies),
        }
    result["setting"]["load_average_at_end"] = list(os.getloadavg())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(args.out), json.dumps(result, indent=1).encode())
    for name, proto in result["protocols"].items():
        print(f"\n{name} (budgets {proto['budgets']})")
        for s, r in proto["strategies"].items():
            diffs = " ".join(f"{d:+.3f}" for d in r["minus_random_mean"])
            print(f"  {s:28s} AUC {r['auc']:.3f}  acc-minus-random {diffs}")


if __name__ == "__main__":
    main()
