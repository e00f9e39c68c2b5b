"""DFAL (thesis ch. 4): selection time as the labelled set grows (Table 4.3) and the transfer of
its queries to another architecture (Table 4.4).

**Time** (``--part time``). Fashion-MNIST, a ``--pool-size`` pool, one LeNet trained on 1,000
random labels; then, for labelled sets of ``--labelled`` sizes (random, nested), the wall time
of one query of ``--query`` samples by ``dfal`` (batched DeepFool on ``max_candidates`` = 300
random unlabelled candidates) and by ``coreset`` (greedy k-center over the whole pool's LeNet
embeddings, blocked, O(N) memory), ``--repeats`` times each (median). The thesis times 10
queries: DFAL 126.5 s whatever |L|, CORE-SET with the MIP of Sener & Savarese 892 s at |L| = 100
and 3,739 s at |L| = 1,000 ("up to 24×"); alkit's ``coreset`` is the greedy 2-approximation
without the MIP, so the comparison here is DFAL vs greedy k-center. The fitted slope of time
against |L| says what grows.

**Transfer** (``--part transfer``). Reads finished run folders (``--runs``, e.g. the cells of
``alkit claims --only 001-dfal``: LeNet chose the queries) and trains another model
(``--model``, default an MLP with one hidden layer of 256 units, Adam, alkit's default training)
on each run's last labelled set: DFAL's with its adversarial copies (as DFAL trains) and
without them, core-set's and random's as they are. Reports the test accuracy per strategy with
a 95% bootstrap interval over seeds and the paired difference to random (thesis, MNIST at 1,000
annotations, LeNet5 → VGG8: DFAL 97.80, CORE-SET 96.90, random 94.46).

    flock /tmp/alkit-bench.lock env PYTHONPATH=. python benchmarks/dfal_time_transfer.py --part time
    flock /tmp/alkit-bench.lock env PYTHONPATH=. python benchmarks/dfal_time_transfer.py \\
        --part transfer --runs claims-runs/001-dfal

Writes ``benchmarks/results/dfal_time_transfer.json`` (each part updates its own key).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from alkit import metrics
from alkit.data import Pool, build_splits, load_dataset
from alkit.loop import ExperimentConfig, seed_splits
from alkit.models import build_model
from alkit.results import atomic_write_bytes, load_synthetic, read_config, read_results
from alkit.strategies import QueryContext, get_strategy
from alkit.threads import configure_threads
from alkit.train import Learner, TrainConfig

RESULTS = Path(__file__).parent / "results"


def machine() -> dict:
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared with other jobs",
        "torch_threads": torch.get_num_threads(),
        "load_average": list(os.getloadavg()),
    }


def part_time(args) -> dict:
    ds = load_dataset("fashion_mnist")
    splits = build_splits(ds, seed=0, val_per_class=0, pool_size=args.pool_size, test_size=1000)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(splits.y_pool))
    model = build_model("lenet", splits.X_pool.shape[1:], splits.n_classes)
    learner = Learner(model, TrainConfig(epochs=10, min_steps=0), device="cpu", seed=0)
    learner.fit(splits.X_pool[order[:1000]], splits.y_pool[order[:1000]])
    rows = []
    for n_lab in args.labelled:
        pool = Pool(splits.X_pool, splits.y_pool, labeled_idx=order[:n_lab])
        row = {"n_labelled": n_lab}
        for spec in ("dfal", "coreset"):
            times = []
            for r in range(args.repeats):
                ctx = QueryContext(pool, learner, rng=np.random.default_rng(r), round=1)
                t0 = time.perf_counter()
                get_strategy(spec).query(ctx, args.query)
                times.append(time.perf_counter() - t0)
            row[f"{spec}_seconds"] = float(np.median(times))
            row[f"{spec}_all_seconds"] = times
        row["coreset_over_dfal"] = row["coreset_seconds"] / row["dfal_seconds"]
        rows.append(row)
        print(f"|L| = {n_lab:5d}: dfal {row['dfal_seconds']:.2f} s, "
              f"coreset {row['coreset_seconds']:.2f} s")  # fmt: skip
    L = np.array(args.labelled, dtype=float)
    slopes = {
        spec: float(np.polyfit(L, [r[f"{spec}_seconds"] for r in rows], 1)[0]) * 1000
        for spec in ("dfal", "coreset")
    }
    return {
        "setting": {
            "dataset": "fashion_mnist",
            "pool_size": len(splits.y_pool),
            "model": "lenet trained once on 1,000 random labels (10 epochs)",
            "query": args.query,
            "dfal": "max_candidates 300 (default), L2, overshoot 0.02",
            "coreset": "greedy k-center on LeNet embeddings of the whole pool (no MIP)",
            "repeats": args.repeats,
            **machine(),
        },
        "rows": rows,
        "seconds_per_1000_labels_slope": slopes,
        "thesis_table_4_3": {
            "dfal_seconds_10_queries": 126.5,
            "coreset_mip_seconds": {"100": 892, "1000": 3739},
        },
    }


def final_labelled(rows, strategy: str, seed: int) -> np.ndarray:
    """The labelled pool indices after the last round: round 0's initial set plus every pick."""
    mine = rows[(rows["strategy"] == strategy) & (rows["seed"] == seed)].sort_values("round")
    return np.concatenate([np.asarray(s, dtype=np.int64) for s in mine["selected"]])


def part_transfer(args) -> dict:
    folders = [Path(p) for p in args.runs]
    cells = []
    for folder in sorted({p for f in folders for p in [f, *f.rglob("*")] if p.is_dir()}):
        if (folder / "results.csv").exists() and read_config(folder) is not None:
            cells.append(folder)
    if not cells:
        raise SystemExit(f"no finished run folder under {args.runs}")
    acc: dict[str, dict[int, float]] = {}
    n_annot: dict[str, list[int]] = {}
    setting = None
    for folder in cells:
        config = ExperimentConfig.from_dict(read_config(folder))
        rows = read_results(folder)
        dataset = load_dataset(config.dataset)
        for (strategy, seed), _ in rows.groupby(["strategy", "seed"]):
            splits = seed_splits(config, dataset, int(seed))
            idx = final_labelled(rows, strategy, int(seed))
            variants = {strategy: (splits.X_pool[idx], splits.y_pool[idx])}
            if strategy.startswith("dfal") and "add_adversarial=false" not in strategy:
                last = int(rows[(rows["strategy"] == strategy) & (rows["seed"] == seed)]
                           ["round"].max())  # fmt: skip
                X_syn, src = load_synthetic(folder, strategy, int(seed), last)
                if len(X_syn):
                    X = np.concatenate([splits.X_pool[idx], X_syn.astype(np.float32)])
                    y = np.concatenate([splits.y_pool[idx], splits.y_pool[src]])
                    variants = {f"{strategy} (+ adversarial copies)": (X, y),
                                f"{strategy} (queries only)": variants[strategy]}  # fmt: skip
            for name, (X, y) in variants.items():
                model = build_model(args.model, X.shape[1:], splits.n_classes,
                                    **json.loads(args.model_options))  # fmt: skip
                learner = Learner(model, TrainConfig(), device="cpu", seed=int(seed))
                learner.fit(X, y)
                a = float((learner.predict(splits.X_test) == splits.y_test).mean())
                acc.setdefault(name, {})[int(seed)] = a
                n_annot.setdefault(name, []).append(len(idx))
                print(f"{name:40s} seed {seed}: {len(y):5d} training examples, accuracy {a:.4f}")
        setting = setting or {"dataset": config.dataset, "chooser": config.model_name}
    seeds = sorted(set.intersection(*(set(v) for v in acc.values())))
    random_key = next(k for k in acc if k.split(":")[0] == "random")
    table = {}
    for name, per_seed in acc.items():
        a = np.array([per_seed[s] for s in seeds])
        r = np.array([acc[random_key][s] for s in seeds])
        point, low, high = metrics.bootstrap_interval(lambda i, a=a: a[i].mean(), len(seeds))
        d = metrics.bootstrap_interval(lambda i, a=a, r=r: (a[i] - r[i]).mean(), len(seeds))
        table[name] = {
            "accuracy": point,
            "accuracy_ci95": [low, high],
            "minus_random": d[0],
            "minus_random_ci95": [d[1], d[2]],
            "annotations": int(np.mean(n_annot[name])),
            "per_seed": a.tolist(),
        }
    return {
        "setting": {
            **setting,
            "trained_with": args.model,
            "model_options": args.model_options,
            "training": "alkit TrainConfig defaults (Adam 1e-3, 50 epochs, >= 300 steps)",
            "seeds": seeds,
            "runs": [str(c) for c in cells],
            **machine(),
        },  # fmt: skip
        "strategies": table,
        "thesis_table_4_4_mnist_lenet_to_vgg8": {"dfal": 97.80, "coreset": 96.90, "random": 94.46},
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=("time", "transfer"), required=True)
    p.add_argument("--pool-size", type=int, default=20000)
    p.add_argument("--labelled", type=int, nargs="+", default=[100, 500, 1000, 2000, 4000])
    p.add_argument("--query", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--runs", nargs="+", default=[])
    p.add_argument("--model", default="mlp")
    p.add_argument("--model-options", default='{"hidden": [256]}')
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=str(RESULTS / "dfal_time_transfer.json"))
    args = p.parse_args()
    configure_threads(args.threads)
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {}
    result[args.part] = part_time(args) if args.part == "time" else part_transfer(args)
    atomic_write_bytes(out, json.dumps(result, indent=1).encode())


if __name__ == "__main__":
    main()
