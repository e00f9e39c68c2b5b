"""The command line end to end on digits (small), and its error messages."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from alkit.cli import main
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


def test_bench_errors_are_clear(tmp_path, capsys):
    cases = [
        (["--schedule", "10,ten"], "could not parse schedule '10,ten'"),
        (["--strategies", "random,bogus"], "unknown strategy 'bogus'; valid strategy names are"),
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'; valid dataset names are"),
        (["--model", "vgg"], "unknown model 'vgg'"),
        (["--query", "0"], "query size must be a positive integer"),
        (["--seeds", "0"], "--seeds must be ≥ 1, got 0"),
    ]
    for extra, message in cases:
        out = tmp_path / re.sub(r"\W", "_", " ".join(extra))
        assert main(["bench", "--quiet", "--rounds", "1", "--out", str(out), *extra]) == 2
        assert message in capsys.readouterr().err
        assert not Path(out, "results.csv").exists() and not Path(out, "config.json").exists()
