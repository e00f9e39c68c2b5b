"""Command line: ``alkit bench`` runs (or resumes) an experiment and writes its report;
``alkit list`` prints the registered strategies, datasets and models."""

from __future__ import annotations

import argparse
import sys

from alkit.errors import AlkitError

DEFAULT_STRATEGIES = "random,entropy,margin,least_confidence"


def _int_list(text: str, what: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise AlkitError(
            f"could not parse {what} {text!r}: give comma-separated integers"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="run an active-learning experiment and write its report")
    b.add_argument("--dataset", default="digits")
    b.add_argument("--imbalance", type=float, help="ratio r of common to rare classes (seed 000)")
    b.add_argument("--rare-classes", help="comma-separated rare classes (default: upper half)")
    b.add_argument("--long-tail", type=float, help="long-tail factor, e.g. 0.1 (seed 003 A.5)")
    b.add_argument(
        "--category-mismatch",
        type=float,
        help="fraction of classes allowed in the initial set, e.g. 0.7 (seed 003 A.4)",
    )
    b.add_argument("--val-per-class", type=int, default=0, help="balanced validation set size")
    b.add_argument("--pool-size", type=int, help="subsample the pool to this many samples")
    b.add_argument("--test-size", type=int, help="subsample the test set")
    b.add_argument(
        "--strategies",
        default=DEFAULT_STRATEGIES,
        help="comma-separated registry specs, e.g. random,entropy:max_candidates=500",
    )
    b.add_argument("--initial", type=int, default=50, help="initial labelled samples")
    b.add_argument("--query", type=int, default=10, help="samples queried per round")
    b.add_argument("--schedule", help="per-round query sizes, e.g. 20,20,100 (overrides --query)")
    b.add_argument("--rounds", type=int, default=10, help="query rounds after the initial one")
    b.add_argument("--seeds", type=int, default=3, help="number of seeds (0 … S-1)")
    b.add_argument("--model", help="model name (default: the dataset's)")
    b.add_argument("--epochs", type=int, default=50)
    b.add_argument(
        "--min-steps",
        type=int,
        default=300,
        help="at least this many updates per fit (small labelled sets)",
    )
    b.add_argument("--lr", type=float, default=1e-3)
    b.add_argument("--optimizer", default="adam", help="adam or sgd")
    b.add_argument("--batch-size", type=int, default=32)
    b.add_argument("--warm-start", action="store_true", help="continue from last round's model")
    b.add_argument("--device", default="auto", help="cpu, cuda or auto")
    b.add_argument("--out", default="runs/demo", help="output folder (resumes if it exists)")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    sub.add_parser("list", help="list strategies, datasets and models")
    return parser


def _config_from_args(args):
    from alkit.loop import ExperimentConfig, parse_schedule
    from alkit.train import TrainConfig

    if args.seeds < 1:
        raise AlkitError(f"--seeds must be ≥ 1, got {args.seeds}")
    query = args.query
    rounds = args.rounds
    if args.schedule:
        query = parse_schedule(args.schedule)
        rounds = len(query)
    return ExperimentConfig(
        dataset=args.dataset,
        imbalance=args.imbalance,
        rare_classes=_int_list(args.rare_classes, "--rare-classes") if args.rare_classes else None,
        long_tail=args.long_tail,
        category_mismatch=args.category_mismatch,
        val_per_class=args.val_per_class,
        pool_size=args.pool_size,
        test_size=args.test_size,
        model=args.model,
        train=TrainConfig(
            optimizer=args.optimizer,
            lr=args.lr,
            epochs=args.epochs,
            min_steps=args.min_steps,
            batch_size=args.batch_size,
            warm_start=args.warm_start,
        ),
        initial=args.initial,
        query=query,
        rounds=rounds,
        seeds=tuple(range(args.seeds)),
        strategies=tuple(s.strip() for s in args.strategies.split(",") if s.strip()),
        device=args.device,
    )


def _bench(args) -> int:
    from alkit.data import load_dataset
    from alkit.loop import run_experiment
    from alkit.viz import summary_table, write_report

    config = _config_from_args(args)
    results = run_experiment(config, out=args.out, progress=False if args.quiet else None)
    class_names = list(load_dataset(config.dataset).class_names)
    report = write_report(results, args.out, class_names, title=f"alkit bench: {config.dataset}")
    print(summary_table(results).to_string(index=False))
    print(f"\nresults: {args.out}/results.csv\nreport:  {report}")
    return 0


def _list() -> int:
    from alkit.data import dataset_names
    from alkit.models import model_names
    from alkit.strategies import strategy_class, strategy_names

    print("strategies:")
    for name in strategy_names():
        print(f"  {name:<22} {strategy_class(name).paper}")
    print("datasets:\n  " + ", ".join(dataset_names()))
    print("models:\n  " + ", ".join(model_names()))
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _bench(args) if args.command == "bench" else _list()
    except AlkitError as exc:
        print(f"alkit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
