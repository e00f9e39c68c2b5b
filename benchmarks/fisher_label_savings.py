"""Seed 000, Fig. 4(b): accuracy vs budget on Fashion-MNIST with 100× imbalance on classes 5-9.

Protocol (REFERENCES.md, scaled to the CPU): LeNet initialised by rotation self-supervision
(every layer but the last), round 0 picks ``P`` labels (PFK/PCC by their cold start, the others
at random), then ``rounds`` more rounds of ``P``; SGD lr 0.05, momentum 0.5, batch 25, 50 epochs,
lr ×0.1 every 15 epochs, warm start. Reports, per strategy, the mean ± std accuracy per round,
the rare-class share of the labelled set, and the label savings ("% fewer labels for the same
accuracy", on the seed-mean curves) of every strategy vs random and vs the best uncertainty
baseline. The run folder is resumable: re-running with more ``--strategies`` adds them.

    python benchmarks/fisher_label_savings.py [--pool-size 10000] [--seeds 0 1 2] ...

The defaults are the CPU-scaled protocol that fits a shared 2-core machine: a 10,000-image pool
subsample (the 100× bias kept), 1,000 validation and 2,000 test images, P=50 for 10 rounds
(500 labels, 5% of the pool as in the paper's 1,250 of 25k), 20 epochs, 2 pretraining epochs.
The paper's setting is ``--pool-size 0 --val-per-class 1000 --test-size 10000 --query 125
--epochs 50 --pretrain-epochs 8``.

Writes ``benchmarks/results/fisher_label_savings.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from alkit import metrics
from alkit.loop import ExperimentConfig, run_experiment
from alkit.results import read_results
from alkit.train import TrainConfig

UNCERTAINTY = ("varratio", "entropy", "mc_entropy", "bald", "margin", "least_confidence")


def protocol(args) -> ExperimentConfig:
    return ExperimentConfig(
        dataset="fashion_mnist",
        imbalance=100,
        rare_classes=(5, 6, 7, 8, 9),
        val_per_class=args.val_per_class,
        pool_size=args.pool_size or None,
        test_size=args.test_size,
        model="lenet",
        train=TrainConfig(
            optimizer="sgd",
            lr=0.05,
            momentum=0.5,
            epochs=args.epochs,
            batch_size=25,
            lr_decay="step",
            step_size=15,
            gamma=0.1,
            warm_start=True,
            min_steps=0,
        ),
        pretrain="rotation",
        pretrain_epochs=args.pretrain_epochs,
        cold_start=not args.selection_only,
        initial=args.query,
        query=args.query,
        rounds=args.rounds,
        seeds=tuple(args.seeds),
        strategies=tuple(args.strategies),
        device="cpu",
    )


def summarize(rows, strategies) -> dict:
    out = {}
    for spec in strategies:
        r = rows[rows["strategy"] == spec].sort_values(["seed", "round"])
        if r.empty:
            continue
        r = r.assign(rare=[sum(c[5:]) / sum(c) for c in r["class_counts"]])
        per_round = r.groupby("round")
        out[spec] = {
            "n_labeled": per_round["n_labeled"].mean().tolist(),
            "accuracy_mean": per_round["accuracy"].mean().tolist(),
            "accuracy_std": per_round["accuracy"].std(ddof=0).tolist(),
            "rare_share_mean": per_round["rare"].mean().tolist(),
            "select_seconds_mean": per_round["select_seconds"].mean().tolist(),
            "seeds": sorted(r["seed"].unique().tolist()),
        }
    return out


def savings(summary: dict) -> dict:
    def curve(s):
        return summary[s]["n_labeled"], summary[s]["accuracy_mean"]

    uncertain = [s for s in summary if s.split(":")[0] in UNCERTAINTY]
    best_unc = max(uncertain, key=lambda s: metrics.area_under_curve(*curve(s)), default=None)
    out = {"best_uncertainty": best_unc}
    for spec in summary:
        if spec == "random":
            continue
        entry = {"vs_random_%": metrics.label_savings(*curve(spec), *curve("random"))}
        for ref in uncertain:  # every uncertainty baseline; the best one is named above
            if ref != spec:
                entry[f"vs_{ref}_%"] = metrics.label_savings(*curve(spec), *curve(ref))
        entry["auc"] = metrics.area_under_curve(*curve(spec))
        out[spec] = entry
    out["random"] = {"auc": metrics.area_under_curve(*curve("random"))}
    return out


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pool-size", type=int, default=10_000, help="0: the whole biased pool")
    p.add_argument("--test-size", type=int, default=2_000)
    p.add_argument("--val-per-class", type=int, default=100)
    p.add_argument("--query", type=int, default=50)
    p.add_argument("--rounds", type=int, default=9, help="rounds after the cold-start round")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--pretrain-epochs", type=int, default=2)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument(
        "--selection-only",
        action="store_true",
        help="PFK starts from the same random initial set as the baselines (default: the "
        "paper's protocol, PFK picks its own initial set after rotation pretraining)",
    )
    # the uncertainty baselines as the paper runs them: MC dropout, every unlabelled image scored
    default = ["random", "entropy", "mc_entropy:n_samples=20", "varratio:n_samples=32", "pfk"]
    p.add_argument("--strategies", nargs="+", default=default)
    p.add_argument("--out", default="runs/fisher_label_savings")
    p.add_argument("--json", default="benchmarks/results/fisher_label_savings.json")
    p.add_argument(
        "--extra-out",
        nargs="*",
        default=[],
        help="finished run folders of the same protocol (e.g. a baseline run in parallel) "
        "whose rows join the summary",
    )
    args = p.parse_args(argv)

    config = protocol(args)
    t0 = time.perf_counter()
    rows = run_experiment(config, out=args.out)
    wall = time.perf_counter() - t0
    for extra in args.extra_out:
        saved = json.loads((Path(extra) / "config.json").read_text())
        if saved != config.data_key():
            raise SystemExit(f"{extra} ran another protocol than {args.out}; not merged")
        rows = pd.concat([rows, read_results(Path(extra) / "results.csv")], ignore_index=True)
    ran = list(dict.fromkeys(rows["strategy"]))
    summary = summarize(rows, ran)
    result = {
        "benchmark": "fisher_label_savings",
        "paper": "Gudovskiy et al. 2020 (seed 000), Fig. 4(b) protocol on Fashion-MNIST",
        "config": {k: v for k, v in vars(args).items() if k not in ("out", "json")},
        "strategies_run": ran,
        "protocol": "selection only (same initial set)"
        if args.selection_only
        else "paper protocol (PFK cold start)",
        "validation_labels": f"{10 * args.val_per_class} balanced validation labels used by pfk/pcc, "
        f"not counted in the budget of {args.query * (args.rounds + 1)}",
        "curves": summary,
        "label_savings": savings(summary),
        "wall_seconds_this_call": round(wall, 1),
        "note": "CPU, 2 shared cores; timings are noisy.",
    }
    print(f"{'strategy':40s} " + " ".join(f"{int(n):>6d}" for n in summary["random"]["n_labeled"]))
    for spec, s in summary.items():
        print(f"{spec:40s} " + " ".join(f"{a:6.3f}" for a in s["accuracy_mean"]))
    print("rare-class share of the labelled set (last round):")
    for spec, s in summary.items():
        print(f"  {spec:38s} {s['rare_share_mean'][-1]:.3f}")
    print("label savings:", json.dumps(result["label_savings"], indent=1))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
