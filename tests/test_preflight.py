"""Preflight: a bad experiment fails before any training with one line (exit status 2) that
names the flag, the value and what is allowed, and creates nothing on disk."""

from __future__ import annotations

import pytest

from alkit.cli import main

BASE = ["bench", "--quiet", "--rounds", "1", "--epochs", "1", "--min-steps", "1"]

CASES = [
    (["--rounds", "0"], "rounds (--rounds) must be an integer ≥ 1, got 0"),
    (["--rounds", "-2"], "rounds (--rounds) must be an integer ≥ 1, got -2"),
    (["--test-size", "0"], "test_size (--test-size) must be an integer ≥ 1, got 0"),
    (["--test-size", "-5"], "test_size (--test-size) must be an integer ≥ 1, got -5"),
    (["--val-per-class", "-3"], "val_per_class (--val-per-class) must be an integer ≥ 0"),
    (["--min-steps", "-5"], "min_steps (--min-steps) must be an integer ≥ 0, got -5"),
    (["--pool-size", "0"], "pool_size (--pool-size) must be an integer ≥ 1, got 0"),
    (["--initial", "0"], "initial (--initial) must be an integer ≥ 1, got 0"),
    (["--rare-classes", "9"], "rare_classes (--rare-classes) only applies with imbalance"),
    (
        ["--rare-classes", "5,99", "--imbalance", "10"],
        "rare_classes (--rare-classes) [99] are not classes of digits (0 … 9)",
    ),
    (["--imbalance", "0.5"], "imbalance (--imbalance) must be a finite number ≥ 1"),
    (["--schedule", ""], "could not parse schedule ''"),
    (["--lr", "0"], "lr (--lr) must be a finite number > 0, got 0.0"),
    (["--lr-decay", "linear"], "lr_decay (--lr-decay) must be one of 'cosine', 'step', 'none'"),
    (["--lr-decay", "step"], "lr_decay='step' needs step_size ≥ 1 (--step-size)"),
    (["--optimizer", "rmsprop"], "optimizer (--optimizer) must be one of 'sgd', 'adam'"),
    (["--momentum", "1.5"], "momentum (--momentum) must be a finite number ≥ 0 and < 1"),
    (["--gmm-option", "bogus=1"], "unknown gmm_options ['bogus']"),
    (["--model-option", "width=3"], "model_options {'width': 3} do not fit model 'mlp'"),
    (["--pretrain", "jigsaw"], "pretrain (--pretrain) must be one of None, 'rotation'"),
    (
        ["--strategies", "random,,entropy"],
        "--strategies 'random,,entropy' holds an empty strategy spec",
    ),
    (["--strategies", "random,random"], "strategies (--strategies) name one spec twice"),
    (["--strategies", "random,bogus"], "unknown strategy 'bogus'; valid strategy names are"),
    (["--dataset", "imagenet"], "unknown dataset 'imagenet'; valid dataset names are"),
    (["--model", "vgg"], "unknown model 'vgg'"),
    (["--query", "0"], "query size must be a positive integer"),
    (["--seeds", "0"], "--seeds must be ≥ 1, got 0"),
    (["--threads", "0"], "--threads must be an integer ≥ 1, got 0"),
    (["--initial", "1500", "--query", "500"], "need 2000 labels but the pool holds"),
    (
        ["--strategies", "pfk", "--val-per-class", "2", "--cold-start"],
        "--cold-start without --pretrain: pfk would choose the initial set with an untrained",
    ),
]


@pytest.mark.parametrize("extra, message", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_flags_fail_in_preflight_and_write_nothing(
    tmp_path, monkeypatch, capsys, extra, message
):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert main([*BASE, "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and err.startswith("alkit: error: ")
    assert list(tmp_path.iterdir()) == []


def test_out_must_be_a_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([*BASE, "--out", ""]) == 2
    assert "--out is empty" in capsys.readouterr().err
    (tmp_path / "file").write_text("keep me")
    assert main([*BASE, "--out", str(tmp_path / "file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
    assert (tmp_path / "file").read_text() == "keep me"


@pytest.mark.parametrize(
    "text, message",
    [
        ('dataset = "digits"\nbogus = 1\n', "unknown field(s) ['bogus'] in"),
        ("[train]\nepochz = 3\n", "unknown train field(s) ['epochz'] in"),
        ("rounds = [\n", "is not valid TOML"),
        ('strategies = [{taps = ["x1"]}]\n', "a strategy table needs a 'name' entry"),
        ('rounds = "two"\n', "rounds (--rounds) must be an integer, got 'two'"),
    ],
)
def test_bad_config_files_fail_in_preflight(tmp_path, monkeypatch, capsys, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp.toml").write_text(text)
    assert main(["bench", "--config", "exp.toml", "--out", "run"]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.toml"]
    assert main(["bench", "--config", "missing.toml"]) == 2
    assert "--config missing.toml: no such file" in capsys.readouterr().err
