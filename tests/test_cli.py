"""The command line end to end on digits (small), and its error messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import requires_fashion

from alkit.cli import _config_from_args, build_parser, load_config_file, main
from alkit.loop import ExperimentConfig
from alkit.strategies import strategy_names


def test_list_prints_registries(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in [*strategy_names(), "digits", "fashion_mnist", "lenet", "resnet10"]:
        assert name in out


def test_bench_writes_results_plots_and_report(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["bench", "--quiet", "--strategies", "random,margin", "--initial", "20", "--query", "10"]
    args += ["--rounds", "2", "--seeds", "2", "--epochs", "3", "--min-steps", "20"]
    code = main([*args, "--device", "cpu", "--out", str(out)])
    assert code == 0
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 2 * 2 * 3
    assert set(results["strategy"]) == {"random", "margin"}
    for name in ("learning_curves.png", "confusion_random.png", "confusion_margin.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "<table" in html
    assert "margin" in capsys.readouterr().out


def test_bench_options_reach_the_experiment_config():
    args = build_parser().parse_args(
        ["bench", "--dataset", "fashion_mnist", "--imbalance", "100", "--rare-classes", "5,6,7"]
        + ["--schedule", "20,40", "--seeds", "2", "--pretrain", "rotation", "--cold-start"]
        + ["--val-per-class", "50", "--optimizer", "sgd", "--warm-start"]
    )
    config = _config_from_args(args)
    assert config.rare_classes == (5, 6, 7) and config.imbalance == 100
    assert config.schedule() == [20, 40] and config.rounds == 2 and config.seeds == (0, 1)
    assert config.pretrain == "rotation" and config.cold_start and config.val_per_class == 50
    assert config.train.optimizer == "sgd" and config.train.warm_start


EXAMPLES = sorted(Path(__file__).parents[1].glob("examples/*.toml"))


def test_flags_override_the_file_and_lists_reach_strategies(tmp_path):
    (tmp_path / "exp.toml").write_text(
        'dataset = "digits"\nrounds = 4\nstrategies = ["random", {name = "pfk", taps = '
        '["x1", "x2"], top_k = 8}]\n[train]\nepochs = 7\nlr = 0.01\n'
    )
    args = ["bench", "--config", str(tmp_path / "exp.toml"), "--lr", "0.02", "--rounds", "2"]
    config = _config_from_args(build_parser().parse_args(args))
    assert config.rounds == 2 and config.train.lr == 0.02 and config.train.epochs == 7
    assert config.strategies == ("random", "pfk:taps=[x1,x2]:top_k=8")
    line = ["bench", "--strategies", "random,pfk:taps=[x1,x2]:top_k=8,entropy"]
    assert _config_from_args(build_parser().parse_args(line)).strategies[1:] == (
        "pfk:taps=[x1,x2]:top_k=8",
        "entropy",
    )
    opts = ["bench", "--model-option", "dropout=0.3", "--gmm-option", "subset=50"]
    opts += ["--gmm-reg", "1e-4", "--gmm-align-steps", "10", "--imbalance", "10"]
    opts += ["--imbalance-per-class", "--momentum", "0.5", "--lr-decay", "none"]
    config = _config_from_args(build_parser().parse_args(opts))
    assert config.model_options == {"dropout": 0.3} and config.imbalance_per_class
    assert config.train.gmm_options == {"subset": 50} and config.train.gmm_align_steps == 10
    assert config.train.gmm_reg == 1e-4 and config.train.momentum == 0.5


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_print_config_round_trips_through_toml(example, tmp_path, capsys):
    assert main(["bench", "--config", str(example), "--print-config"]) == 0
    printed = capsys.readouterr().out
    (tmp_path / "again.toml").write_text(printed)
    assert main(["bench", "--config", str(tmp_path / "again.toml"), "--print-config"]) == 0
    assert capsys.readouterr().out == printed
    fields = load_config_file(example)
    fields.pop("out")
    assert (
        ExperimentConfig.from_dict(fields).to_dict()
        == ExperimentConfig.from_dict(
            {k: v for k, v in load_config_file(tmp_path / "again.toml").items() if k != "out"}
        ).to_dict()
    )


def test_a_run_folder_reproduces_its_config(tmp_path, capsys):
    out = tmp_path / "run"
    flags = ["--strategies", "random", "--initial", "20", "--query", "5", "--rounds", "1"]
    flags += ["--seeds", "1", "--epochs", "1", "--min-steps", "5", "--device", "cpu"]
    assert main(["bench", *flags, "--out", str(out), "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert not out.exists()
    assert main(["bench", "--quiet", *flags, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["bench", "--config", str(out), "--out", str(out), "--print-config"]) == 0
    from_folder = capsys.readouterr().out
    assert from_folder.replace('model = "mlp"\n', "") == printed  # the model's name resolved


def _bench_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "ALKIT_PROGRESS"}
    return {**env, "OMP_NUM_THREADS": "1", **extra}


def test_logs_get_one_line_per_run_and_quiet_silences_everything(tmp_path):
    args = [sys.executable, "-m", "alkit", "bench", "--strategies", "random,pfk:top_k=4"]
    args += ["--val-per-class", "3", "--initial", "20", "--query", "5", "--rounds", "1"]
    args += ["--seeds", "1", "--epochs", "1", "--min-steps", "5", "--device", "cpu"]
    log = subprocess.run(
        [*args, "--out", str(tmp_path / "a")], env=_bench_env(), capture_output=True
    )
    assert log.returncode == 0, log.stderr.decode()[-2000:]
    lines = log.stderr.decode().splitlines()
    assert "\r" not in log.stderr.decode()
    assert len(lines) == 2, lines
    assert lines[0].startswith("alkit: random seed 0: 2 rounds, 25 labels, accuracy ")
    assert lines[1].startswith("alkit: pfk:top_k=4 seed 0: 2 rounds, 25 labels, accuracy ")
    quiet = subprocess.run(
        [*args, "--quiet", "--out", str(tmp_path / "b")],
        env=_bench_env(ALKIT_PROGRESS="1"),
        capture_output=True,
    )
    assert quiet.returncode == 0 and quiet.stderr == b""


@requires_fashion
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_paper_configs_run_from_their_toml_files(example, tmp_path):
    """The shipped seed-000/003 configs run end to end (shrunk by flags to a smoke size)."""
    tiny = ["--pool-size", "300", "--test-size", "200", "--initial", "20", "--query", "10"]
    tiny += ["--rounds", "1", "--seeds", "1", "--epochs", "1", "--min-steps", "5"]
    tiny += ["--pretrain-epochs", "1", "--gmm-align-steps", "4", "--gmm-option", "subset=40"]
    tiny += ["--gmm-option", "refresh_every=2", "--val-per-class", "3", "--device", "cpu"]
    out = tmp_path / "run"
    assert main(["bench", "--quiet", "--config", str(example), *tiny, "--out", str(out)]) == 0
    rows = pd.read_csv(out / "results.csv")
    assert len(rows) == 2 * len(load_config_file(example)["strategies"])
