"""Command line: ``alkit bench`` runs (or resumes) an experiment and writes its report;
``alkit list`` prints the registered strategies, datasets, models and artifacts;
``alkit pretrain NAME`` builds an artifact (self-supervised features, pretrained weights) ahead
of time into the cache the experiments read, and ``alkit cache list|clear`` manages that cache.

An experiment comes from flags, from a config file (``--config experiment.toml``, or a run
folder's ``config.json``), or both: flags override the file. ``--print-config`` prints the
effective config as TOML and runs nothing, so ``alkit bench ... --print-config > exp.toml``
followed by ``alkit bench --config exp.toml`` repeats the run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tomllib
from pathlib import Path

from alkit.errors import AlkitError

DEFAULT_STRATEGIES = "random,entropy,margin,least_confidence"
THREADS_HELP = (
    "torch threads (default: $ALKIT_THREADS, else the CPUs this process may use; "
    "1 is often fastest on a machine shared with other busy jobs)"
)
DEFAULT_OUT = "runs/demo"

SPEC_HELP = """\
strategy specs: NAME or NAME:OPTION=VALUE:OPTION=VALUE, comma-separated; a list-valued option
is written in brackets, e.g. --strategies "random,pfk:taps=[x1,x2]:top_k=16,entropy".
In a TOML file: strategies = ["random", {name = "pfk", taps = ["x1", "x2"], top_k = 16}].
Values are read as integers, numbers, true/false, none, or text."""

#: Flags that set a field of the training config (``[train]`` in TOML), by field name.
TRAIN_FLAGS = (
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "epochs",
    "batch_size",
    "lr_decay",
    "step_size",
    "gamma",
    "warm_start",
    "min_steps",
    "gmm_reg",
    "gmm_align_steps",
)
#: Flags that set an experiment field directly, by field name.
EXPERIMENT_FLAGS = (
    "dataset",
    "imbalance",
    "imbalance_per_class",
    "long_tail",
    "category_mismatch",
    "val_per_class",
    "pool_size",
    "test_size",
    "model",
    "initial",
    "rounds",
    "pretrain",
    "pretrain_epochs",
    "cold_start",
    "features",
    "device",
)


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",")]
    except ValueError:
        raise AlkitError(
            f"could not parse {what} {text!r}: give comma-separated integers"
        ) from None
    return values


def _key_values(pairs: list[str], flag: str) -> dict:
    """``["dropout=0.3", "hidden=[64,64]"]`` → ``{"dropout": 0.3, "hidden": [64, 64]}``."""
    from alkit.strategies.options import parse_value

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise AlkitError(f"{flag} {pair!r} must look like KEY=VALUE")
        out[key.strip()] = parse_value(value)
    return out


def _artifact_options(pairs: list[str], flag: str) -> dict:
    """``["simclr.epochs=20"]`` → ``{"simclr": {"epochs": 20}}``."""
    out: dict = {}
    for pair in pairs:
        name, dot, rest = pair.partition(".")
        if not dot or not name.strip():
            raise AlkitError(
                f"{flag} {pair!r} must look like ARTIFACT.KEY=VALUE, e.g. simclr.epochs=20"
            )
        out.setdefault(name.strip(), {}).update(_key_values([rest], flag))
    return out


def _data_flags(p, S) -> None:
    """The flags that fix the dataset and its split (shared by bench and pretrain)."""
    p.add_argument("--dataset", default=S, help="dataset name (default: digits)")
    p.add_argument(
        "--imbalance", type=float, default=S, help="ratio r of common to rare classes (seed 000)"
    )
    p.add_argument("--rare-classes", default=S, help="comma-separated rare classes")
    p.add_argument(
        "--imbalance-per-class",
        action="store_true",
        default=S,
        help="decimate each rare class by r (default: the pooled rare classes, seed 000 code)",
    )
    p.add_argument(
        "--long-tail", type=float, default=S, help="long-tail factor, e.g. 0.1 (seed 003)"
    )
    p.add_argument("--val-per-class", type=int, default=S, help="balanced validation set size")
    p.add_argument("--pool-size", type=int, default=S, help="subsample the pool")
    p.add_argument("--test-size", type=int, default=S, help="subsample the test set")
    p.add_argument("--seeds", type=int, default=S, help="number of seeds, 0 … S-1 (3)")
    p.add_argument("--model", default=S, help="model name (default: the dataset's)")
    p.add_argument(
        "--model-option",
        action="append",
        default=S,
        metavar="KEY=VALUE",
        help="a model keyword, e.g. dropout=0.3 (repeatable)",
    )
    p.add_argument("--device", default=S, help="cpu, cuda or auto")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser(
        "bench",
        help="run an active-learning experiment and write its report",
        epilog=SPEC_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    S = argparse.SUPPRESS  # a flag not given leaves the file's value (or the default) in place
    b.add_argument("--config", help="experiment file (.toml) or a run folder / its config.json")
    b.add_argument("--print-config", action="store_true", help="print the config as TOML, exit")
    _data_flags(b, S)
    b.add_argument(
        "--category-mismatch",
        type=float,
        default=S,
        help="fraction of classes allowed in the initial set, e.g. 0.7 (seed 003 A.4)",
    )
    b.add_argument(
        "--strategies", default=S, help=f"strategy specs (default: {DEFAULT_STRATEGIES})"
    )
    b.add_argument("--initial", type=int, default=S, help="initial labelled samples (50)")
    b.add_argument("--query", type=int, default=S, help="samples queried per round (10)")
    b.add_argument("--schedule", default=S, help="per-round query sizes, e.g. 20,20,100")
    b.add_argument("--rounds", type=int, default=S, help="query rounds after the initial (10)")
    b.add_argument("--optimizer", default=S, help="adam or sgd")
    b.add_argument("--lr", type=float, default=S, help="learning rate (1e-3)")
    b.add_argument("--momentum", type=float, default=S, help="SGD momentum (0.9)")
    b.add_argument("--weight-decay", type=float, default=S)
    b.add_argument("--epochs", type=int, default=S, help="epochs per fit (50)")
    b.add_argument("--min-steps", type=int, default=S, help="at least this many updates (300)")
    b.add_argument("--batch-size", type=int, default=S)
    b.add_argument("--lr-decay", default=S, help="cosine (default), step or none")
    b.add_argument("--step-size", type=int, default=S, help="epochs between step decays")
    b.add_argument("--gamma", type=float, default=S, help="step-decay factor (0.1)")
    b.add_argument(
        "--warm-start", action="store_true", default=S, help="continue from last round's model"
    )
    b.add_argument("--gmm-reg", type=float, default=S, help="α of L_GMM (seed 003; 1e-4)")
    b.add_argument(
        "--gmm-align-steps", type=int, default=S, help="GMM-aware critic iterations (seed 003)"
    )
    b.add_argument(
        "--gmm-option",
        action="append",
        default=S,
        metavar="KEY=VALUE",
        help="a GMMTrainOptions field, e.g. var_floor=0.01 (repeatable)",
    )
    b.add_argument(
        "--pretrain", default=S, help="self-supervised initialisation: rotation (seed 000)"
    )
    b.add_argument("--pretrain-epochs", type=int, default=S)
    b.add_argument(
        "--cold-start",
        action="store_true",
        default=S,
        help="strategies that can (pfk, pcc, typiclust, coreset) choose the initial set",
    )
    b.add_argument(
        "--features",
        default=S,
        help="run on an artifact's frozen features (simsiam, simclr, pca): an mlp_bn head "
        "(seed 002)",
    )
    b.add_argument(
        "--artifact-option",
        action="append",
        default=S,
        metavar="ARTIFACT.KEY=VALUE",
        help="an artifact option, e.g. simclr.epochs=20 (repeatable)",
    )
    b.add_argument("--out", default=S, help=f"output folder, resumed if it exists ({DEFAULT_OUT})")
    b.add_argument("--quiet", action="store_true", help="no progress bars and no progress lines")
    b.add_argument("--threads", type=int, help=THREADS_HELP)
    sub.add_parser("list", help="list strategies, datasets, models and artifacts")
    p = sub.add_parser(
        "pretrain",
        help="build an artifact (SSL features, pretrained weights) into the cache ahead of time",
        description="Build artifact NAME from the unlabelled pool of each seed's split, exactly "
        "as 'alkit bench' with the same data flags would, and store it in $ALKIT_CACHE "
        "(default ~/.cache/alkit); a later bench reuses it. Feature artifacts are then checked "
        "by kNN (k=20) and linear-probe accuracy on the test set (5-fold CV within the test "
        "set: the test labels only), printed and stored with the artifact.",
    )
    p.add_argument("name", help="artifact name (see 'alkit list')")
    p.add_argument("--config", help="experiment file (.toml) or run folder for the data fields")
    _data_flags(p, S)
    p.add_argument("--pretrain-epochs", type=int, default=S, help="rotation: epochs (8)")
    p.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="an artifact option, e.g. epochs=20 (repeatable)",
    )  # fmt: skip
    p.add_argument("--no-quality", action="store_true", help="skip the test-set quality check")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, help=THREADS_HELP)
    c = sub.add_parser("cache", help="list or clear the artifact cache ($ALKIT_CACHE)")
    c.add_argument("action", choices=("list", "clear"))
    c.add_argument("name", nargs="?", help="only this artifact")
    w = sub.add_parser("sweep", help="run a grid of experiments, one run folder per cell (Ray)")
    w.add_argument("--config", required=True, help="sweep file (.toml): [experiment] and [grid]")
    w.add_argument("--address", help="join a Ray cluster: auto or ray://HOST:10001")
    w.add_argument("--workers", type=int, help="CPUs of a local Ray instance (0: no Ray)")
    w.add_argument("--out", help="sweep folder (default: the file's out)")
    w.add_argument("--dry-run", action="store_true", help="list the cells and their status, exit")
    w.add_argument("--quiet", action="store_true", help="no progress lines")
    c = sub.add_parser("claims", help="test the papers' headline claims; write CLAIMS.md")
    c.add_argument("--quick", action="store_true", help="tiny smoke protocols (rows marked)")
    c.add_argument("--only", action="append", metavar="ROW", help="a row id or a seed number")
    c.add_argument("--list", action="store_true", help="list the rows and exit")
    c.add_argument("--seeds", type=int, help="run seeds 0 … N-1 instead of the rows' own")
    c.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="change a field of every experiment, e.g. pool_size=5000 or train.epochs=10",
    )
    c.add_argument("--out", help="run folders (default runs/claims, runs/claims-quick)")
    c.add_argument("--report-dir", help="where CLAIMS.md and claims.json go (default: --out)")
    c.add_argument(
        "--results-dir",
        help="where measured rows read their benchmarks' JSON (default: benchmarks/results)",
    )
    c.add_argument("--address", help="join a Ray cluster: auto or ray://HOST:10001")
    c.add_argument("--workers", type=int, help="CPUs of a local Ray instance (0: no Ray)")
    c.add_argument("--num-gpus", type=float, default=0.0, help="GPUs per cell's task")
    c.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def load_config_file(path: str | os.PathLike) -> dict:
    """The fields of an experiment file: TOML, or JSON (a run folder or its ``config.json``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise AlkitError(f"--config {path}: no such file")
    try:
        if path.suffix == ".json":
            fields = json.loads(path.read_text())
        else:
            fields = tomllib.loads(path.read_text())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AlkitError(
            f"--config {path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}"
        ) from None
    if not isinstance(fields, dict):
        raise AlkitError(f"--config {path} must hold a table of fields")
    return fields


def _fields_from_args(args) -> tuple[dict, str]:
    """The experiment's fields (file, then flags on top) and the output folder."""
    given = vars(args)
    fields = load_config_file(args.config) if args.config else {}
    out = given["out"] if "out" in given else fields.get("out", DEFAULT_OUT)
    fields.pop("out", None)
    train = dict(fields.get("train", {}))
    for name in EXPERIMENT_FLAGS:
        if name in given:
            fields[name] = given[name]
    for name in TRAIN_FLAGS:
        if name in given:
            train[name] = given[name]
    if "gmm_option" in given:
        train["gmm_options"] = {
            **train.get("gmm_options", {}),
            **_key_values(given["gmm_option"], "--gmm-option"),
        }
    if train:
        fields["train"] = train
    if "artifact_option" in given:
        merged = dict(fields.get("artifact_options") or {})
        for name, opts in _artifact_options(given["artifact_option"], "--artifact-option").items():
            merged[name] = {**merged.get(name, {}), **opts}
        fields["artifact_options"] = merged
    if "model_option" in given:
        fields["model_options"] = {
            **fields.get("model_options", {}),
            **_key_values(given["model_option"], "--model-option"),
        }
    if "rare_classes" in given:
        fields["rare_classes"] = _int_list(given["rare_classes"], "--rare-classes")
    if "seeds" in given:
        if given["seeds"] < 1:
            raise AlkitError(f"--seeds must be ≥ 1, got {given['seeds']}")
        fields["seeds"] = list(range(given["seeds"]))
    if "query" in given:
        fields["query"] = given["query"]
    if "schedule" in given:
        from alkit.loop import parse_schedule

        fields["query"] = parse_schedule(given["schedule"])
        fields["rounds"] = len(fields["query"])
    elif isinstance(fields.get("query"), list) and "rounds" not in fields:
        fields["rounds"] = len(fields["query"])
    if "strategies" in given:
        from alkit.strategies import split_strategy_specs

        fields["strategies"] = split_strategy_specs(given["strategies"])
    elif "strategies" not in fields:
        fields["strategies"] = DEFAULT_STRATEGIES.split(",")
    return fields, out


def _config_from_args(args):
    """The :class:`~alkit.loop.ExperimentConfig` that the flags (and ``--config``) describe."""
    from alkit.loop import ExperimentConfig

    fields, _ = _fields_from_args(args)
    return ExperimentConfig.from_dict(fields, source=args.config or "the flags")


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if value != value else
                                                         ("inf" if value > 0 else "-inf"))  # fmt: skip
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(
            f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None
        )
        return "{" + inner + "}"
    raise AlkitError(f"cannot write {value!r} as TOML")


def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def config_to_toml(config, out: str | None = None) -> str:
    """An :class:`~alkit.loop.ExperimentConfig` (and the output folder) as a TOML document that
    :func:`load_config_file` reads back to the same config. Fields that are None are left out
    (None is every such field's default); tables come last, as TOML requires."""
    fields = config.to_dict()
    lines = [f"out = {_toml_value(out)}"] if out is not None else []
    tables = {}
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, dict):
            tables[key] = value
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for name, table in tables.items():
        lines += ["", f"[{name}]"]
        for key, value in table.items():
            if value is not None:
                lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _bench(args) -> int:
    from alkit.data import load_dataset
    from alkit.loop import ExperimentConfig, run_experiment

    fields, out = _fields_from_args(args)
    config = ExperimentConfig.from_dict(fields, source=args.config or "the flags")
    if args.print_config:
        print(config_to_toml(config, out), end="")
        return 0
    if args.quiet:
        os.environ["ALKIT_PROGRESS"] = "0"  # silences every bar, also of kernels and trainers
    results = run_experiment(config, out=out, progress=False if args.quiet else None)
    from alkit.viz import summary_table, write_report

    class_names = list(load_dataset(config.dataset).class_names)
    report = write_report(results, out, class_names, title=f"alkit bench: {config.dataset}")
    print(summary_table(results).to_string(index=False))
    print(f"\nresults: {Path(out) / 'results.csv'}\nreport:  {report}")
    return 0


def _list() -> int:
    from alkit.artifacts import artifact_names, artifact_spec
    from alkit.data import dataset_names
    from alkit.models import model_names
    from alkit.strategies import strategy_class, strategy_names

    print("strategies:")
    for name in strategy_names():
        print(f"  {name:<22} {strategy_class(name).paper}")
    print("datasets:\n  " + ", ".join(dataset_names()))
    print("models:\n  " + ", ".join(model_names()))
    print("artifacts (alkit pretrain NAME):")
    for name in artifact_names():
        print(f"  {name:<22} {artifact_spec(name).kind}")
    return 0


def _pretrain(args) -> int:
    from alkit.artifacts import artifact_spec, build_artifact, encode, record_quality
    from alkit.artifacts.experiment import experiment_options, split_key
    from alkit.data import load_dataset
    from alkit.loop import ExperimentConfig, seed_splits
    from alkit.ssl import feature_quality

    spec = artifact_spec(args.name)
    fields, _ = _fields_from_args(args)
    fields["artifact_options"] = {args.name: _key_values(args.option, "--option")}
    config = ExperimentConfig.from_dict(fields, source=args.config or "the flags")
    dataset = load_dataset(config.dataset)
    progress = False if args.quiet else None
    for seed in config.seeds:
        splits = seed_splits(config, dataset, seed)
        spec.check_input_shape(splits.X_pool.shape[1:])
        art = build_artifact(
            args.name,
            splits.X_pool,
            data_key=split_key(config),
            seed=seed,
            options=experiment_options(config, args.name, splits.n_classes),
            device=config.device,
            progress=progress,
        )
        how = "cache hit" if art.meta["cache_hit"] else "built"
        line = f"{args.name} seed {seed}: {how} in {art.meta['seconds']:.1f} s, key {art.key}"
        if spec.encoder is not None and not args.no_quality:
            q = art.meta.get("quality")
            if q is None:
                q = feature_quality(encode(art, splits.X_test, device=config.device),
                                    splits.y_test, seed=seed)  # fmt: skip
                record_quality(art, q)
            line += (
                f"; test kNN-20 {q['knn_accuracy']:.4f}, linear probe "
                f"{q['linear_probe_accuracy']:.4f} ({q['protocol']})"
            )
        print(f"{line}\n  {art.path}")
    return 0


def _cache(args) -> int:
    from alkit.artifacts import cache_root, clear_entries, list_entries

    if args.action == "clear":
        n = clear_entries(args.name)
        print(f"removed {n} cached artifact(s) from {cache_root() / 'artifacts'}")
        return 0
    entries = list_entries(args.name)
    print(f"{len(entries)} cached artifact(s) in {cache_root() / 'artifacts'}")
    for e in entries:
        data = e.get("data_key") or {}
        q = (e.get("quality") or {}).get("knn_accuracy")
        opts = ",".join(f"{k}={v}" for k, v in sorted((e.get("options") or {}).items()))
        print(
            f"  {e['name']:<9} {e['key']}  {data.get('dataset', '?')} seed {e.get('seed', '?')}"
            f"  {e['bytes'] / 2**20:.1f} MiB  build {e.get('build_seconds', '?')} s"
            + (f"  kNN {q:.4f}" if q is not None else "")
            + f"  [{opts}]"
        )
    return 0


def _sweep(args) -> int:
    from alkit.sweep import SweepConfig, cell_status, run_sweep

    sweep = SweepConfig.from_dict(load_config_file(args.config), source=args.config)
    if args.dry_run:
        out = args.out or sweep.out
        for cell in sweep.cells():
            print(f"{cell_status(out, cell):8s} {cell.name}")
        return 0
    report = run_sweep(sweep, address=args.address, workers=args.workers, out=args.out,
                       quiet=args.quiet)  # fmt: skip
    print(
        f"{len(report.cells)} cells ({len(report.ran)} run now, "
        f"{len(report.cells) - len(report.ran)} already finished) in "
        f"{report.wall_seconds:.1f} s on {report.executor}; folders under {report.out}"
    )
    return 0


def _claims(args) -> int:
    from alkit.claims import get_claims, run_claims

    if args.list:
        for claim in get_claims(args.only):
            print(f"{claim.id:24s} {claim.source}: {claim.paper_value}")
        return 0
    out = args.out or ("runs/claims-quick" if args.quick else "runs/claims")
    overrides = _key_values(args.set, "--set")
    if args.seeds is not None:
        overrides["seeds"] = list(range(args.seeds))
    rows = run_claims(
        only=args.only, quick=args.quick, out=out, report_dir=args.report_dir,
        address=args.address, workers=args.workers, overrides=overrides,
        num_gpus=args.num_gpus, quiet=args.quiet, results_dir=args.results_dir,
    )  # fmt: skip
    for row in rows:
        m, digits = row.measurement, getattr(row.claim, "digits", 1)
        if m is None:
            value = "n/a"
        elif math.isnan(m.low):
            value = f"{m.value:.{digits}f} (no interval)"
        else:
            value = f"{m.value:.{digits}f} [{m.low:.{digits}f}, {m.high:.{digits}f}]"
        verdict = "not measurable here" if m is None else m.verdict
        print(f"{row.claim.id:24s} {value:>22s} {row.claim.unit:16s} {verdict}")
    print(f"report: {Path(args.report_dir or out) / 'CLAIMS.md'}")
    return 0


COMMANDS = {
    "bench": _bench,
    "list": lambda args: _list(),
    "pretrain": _pretrain,
    "cache": _cache,
    "sweep": _sweep,
    "claims": _claims,
}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        threads = getattr(args, "threads", None)
        if threads is not None and threads < 1:
            raise AlkitError(f"--threads must be an integer ≥ 1, got {threads}")
        from alkit.threads import configure_threads

        configure_threads(threads)
        return COMMANDS[args.command](args)
    except AlkitError as exc:
        print(f"alkit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
