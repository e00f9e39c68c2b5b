"""Seed 003 behaviour on Fashion-MNIST with imbalance 10: labelled-set class entropy per cycle
(Fig. 11b) and accuracy vs budget, for random, entropy and gmm_hybrid (plus ablations).

Two experiments share splits, seeds and initial sets: plain training (random, entropy, gmm_like,
gmm_hybrid with I_Like + I_Ent) and Reg + DA training (gmm_hybrid with all three metrics, and
random as the "Reg + DA (+ random)" ablation). Sizes are CPU-sized; see --help.

    OMP_NUM_THREADS=1 nice python benchmarks/gmm_behaviour.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from alkit import metrics
from alkit.gmm_training import GMMTrainOptions
from alkit.loop import ExperimentConfig, run_experiment
from alkit.results import read_results
from alkit.train import TrainConfig

RESULTS = Path(__file__).parent / "results"


def configs(args) -> dict[str, ExperimentConfig]:
    common = dict(
        dataset="fashion_mnist",
        imbalance=10.0,
        pool_size=args.pool,
        test_size=args.test,
        initial=args.initial,
        query=args.query,
        rounds=args.rounds,
        seeds=tuple(args.seeds),
        device="cpu",
    )
    base = dict(epochs=args.epochs, min_steps=args.min_steps, batch_size=64)
    plain = ExperimentConfig(
        strategies=tuple(args.plain),
        train=TrainConfig(**base),
        **common,
    )
    reg_da = ExperimentConfig(
        strategies=tuple(args.reg_da),
        train=TrainConfig(
            **base,
            gmm_reg=args.gmm_reg,
            gmm_align_steps=args.align_steps,
            gmm_options={"subset": 200, "refresh_every": 100, "em_iters": 10},
        ),
        **common,
    )
    return {"plain": plain, "reg_da": reg_da}


def summarise(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for training, df in frames.items():
        for _, r in df.iterrows():
            counts = np.asarray(r["class_counts"])
            y = np.repeat(np.arange(len(counts)), counts)
            rows.append(
                {
                    "training": training,
                    "strategy": r["strategy"],
                    "seed": r["seed"],
                    "round": r["round"],
                    "n_labeled": r["n_labeled"],
                    "accuracy": r["accuracy"],
                    "class_entropy": metrics.class_entropy(y, len(counts)),
                    "rare_share": counts[5:].sum() / counts.sum(),
                }
            )
    return pd.DataFrame(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--pool", type=int, default=10_000)
    p.add_argument("--test", type=int, default=2_000)
    p.add_argument("--initial", type=int, default=100)
    p.add_argument("--query", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--min-steps", type=int, default=200)
    p.add_argument("--align-steps", type=int, default=200)
    p.add_argument(
        "--plain",
        nargs="+",
        default=["random", "entropy", "gmm_like", "gmm_hybrid:metrics=like+ent"],
        help="strategies run with plain training",
    )
    p.add_argument(
        "--reg-da",
        nargs="+",
        default=["random", "entropy", "gmm_hybrid"],
        help="strategies with Reg + DA (every baseline too, so selection is compared under the "
        "same training; alkit claims --only 003 reports the two effects apart)",
    )
    p.add_argument("--gmm-reg", type=float, default=1e-4, help="α of L_GMM (0: DA only)")
    p.add_argument("--only", choices=["plain", "reg_da"], default=None)
    p.add_argument(
        "--out", type=Path, default=RESULTS / "gmm_behaviour", help="run folder; JSON next to it"
    )
    p.add_argument(
        "--collect",
        type=Path,
        nargs="+",
        default=None,
        help="only summarise finished runs: folders holding <training>/results.csv "
        "(training = plain, reg_da; a folder name containing 'da_only' marks DA-only runs)",
    )
    args = p.parse_args(argv)
    frames = {}
    if args.collect:
        parts: dict[str, list] = {}
        for folder in args.collect:
            for sub in sorted(p for p in folder.iterdir() if (p / "results.csv").exists()):
                name = "da_only" if "da_only" in folder.name else sub.name
                parts.setdefault(name, []).append(read_results(sub))
        frames = {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}
        args.out = RESULTS / "gmm_behaviour"
    for name, cfg in configs(args).items():
        if args.collect or (args.only and name != args.only):
            continue
        frames[name] = run_experiment(cfg, out=args.out / name)
    table = summarise(frames)
    mean = (
        table.groupby(["training", "strategy", "round", "n_labeled"])[
            ["accuracy", "class_entropy", "rare_share"]
        ]
        .agg(["mean", "std"])
        .round(4)
    )
    print(mean.to_string())
    per_seed = table.groupby(["training", "strategy"])["seed"].nunique().to_dict()
    payload = {
        "setting": {k: v for k, v in vars(args).items() if k not in ("out", "collect")},
        # every option of both trainings, the GMM defaults (variance floor …) resolved
        "configs": {
            name: {
                **cfg.to_dict(),
                "gmm_options_resolved": dataclasses.asdict(
                    GMMTrainOptions.from_dict(cfg.train.gmm_options)
                ),
            }
            for name, cfg in configs(args).items()
        },
        "seeds_per_run": {f"{t}/{s}": n for (t, s), n in per_seed.items()},
        "rows": table.to_dict(orient="records"),
    }
    (RESULTS / f"{args.out.name}.json").write_text(json.dumps(payload, indent=1, default=float))


if __name__ == "__main__":
    main()
