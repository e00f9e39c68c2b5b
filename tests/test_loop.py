"""The loop: rows per round, resume after a kill, and refusal to mix experiments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from alkit.errors import AlkitError
from alkit.loop import ExperimentConfig, parse_schedule, run_experiment
from alkit.results import read_results
from alkit.train import TrainConfig

SMALL = dict(
    dataset="digits",
    initial=20,
    query=(5, 10, 15),
    rounds=3,
    seeds=(0, 1),
    strategies=("random", "entropy"),
    device="cpu",
    train=TrainConfig(epochs=5, min_steps=40),
)


def test_rows_budget_and_selected_indices(tmp_path):
    results = run_experiment(ExperimentConfig(**SMALL), out=tmp_path, progress=False)
    assert len(results) == 2 * 2 * 4
    one = results[(results.strategy == "entropy") & (results.seed == 1)].sort_values("round")
    assert one["n_labeled"].tolist() == [20, 25, 35, 50]
    assert [len(s) for s in one["selected"]] == [20, 5, 10, 15]
    chosen = np.concatenate(one["selected"].tolist())
    assert len(np.unique(chosen)) == 50  # never the same sample twice
    stored = read_results(tmp_path)
    np.testing.assert_allclose(stored["accuracy"], results["accuracy"])
    assert stored["confusion"].iloc[0] and len(stored["per_class_accuracy"].iloc[0]) == 10
    assert sum(stored["class_counts"].iloc[-1]) == stored["n_labeled"].iloc[-1]
    # the same seed gives the same initial set to every strategy
    r0 = results[results["round"] == 0]
    assert len({tuple(s) for s in r0[r0.seed == 0]["selected"]}) == 1


def test_rerun_skips_finished_rounds(tmp_path):
    run_experiment(ExperimentConfig(**SMALL), out=tmp_path, progress=False)
    before = (tmp_path / "results.csv").read_text()
    again = run_experiment(ExperimentConfig(**SMALL), out=tmp_path, progress=False)
    assert (tmp_path / "results.csv").read_text() == before
    assert len(again) == 16


def test_other_experiment_in_same_folder_is_refused(tmp_path):
    run_experiment(ExperimentConfig(**{**SMALL, "seeds": (0,)}), out=tmp_path, progress=False)
    before = (tmp_path / "results.csv").read_text()
    with pytest.raises(AlkitError, match=r"different experiment \(differs in \['initial'\]\)"):
        run_experiment(ExperimentConfig(**{**SMALL, "initial": 30}), out=tmp_path, progress=False)
    assert (tmp_path / "results.csv").read_text() == before


def test_bad_schedules():
    assert parse_schedule("20, 20,100") == [20, 20, 100]
    for bad in ("20,x", "20,,30", "0,5", ""):
        with pytest.raises(AlkitError, match="schedule"):
            parse_schedule(bad)
    with pytest.raises(AlkitError, match="schedule has 2 entries but rounds=3"):
        ExperimentConfig(query=(5, 5), rounds=3).schedule()
    with pytest.raises(AlkitError, match="need 1220 labels but the pool holds 1198"):
        run_experiment(ExperimentConfig(dataset="digits", initial=20, query=100, rounds=12))


def _wait_for_rows(path: Path, n: int, proc, timeout: float = 240) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if path.exists() and path.read_text().count("\n") >= n + 1:
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError("the run did not write rows in time")


def test_killed_run_resumes_to_the_same_results(tmp_path):
    """Kill a CLI run mid-way (SIGKILL), re-run the command, compare with an uninterrupted run."""
    args = [sys.executable, "-m", "alkit", "bench", "--quiet", "--dataset", "digits"]
    args += ["--strategies", "random,entropy", "--initial", "20", "--schedule", "10,10,10,10"]
    args += ["--seeds", "2", "--epochs", "5", "--min-steps", "30", "--device", "cpu"]
    env = {**os.environ, "ALKIT_PROGRESS": "0"}
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.Popen([*args, "--out", str(killed)], env=env, stderr=subprocess.PIPE)
    _wait_for_rows(killed / "results.csv", 7, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(read_results(killed))
    assert 7 <= n_before < 20, "the run was not interrupted mid-way"
    kept = read_results(killed)
    subprocess.run([*args, "--out", str(killed)], env=env, check=True, capture_output=True)
    subprocess.run([*args, "--out", str(clean)], env=env, check=True, capture_output=True)
    resumed, full = read_results(killed), read_results(clean)
    assert len(resumed) == len(full) == 20
    # the rows written before the kill are kept as they were
    assert resumed.head(n_before)["accuracy"].tolist() == kept["accuracy"].tolist()
    key = ["strategy", "seed", "round"]
    resumed = resumed.sort_values(key).reset_index(drop=True)
    full = full.sort_values(key).reset_index(drop=True)
    assert resumed["selected"].tolist() == full["selected"].tolist()
    np.testing.assert_allclose(resumed["accuracy"], full["accuracy"])
    assert json.loads((killed / "config.json").read_text())["dataset"] == "digits"
    assert len(list((killed / "checkpoints").glob("*.pt"))) == 4  # the last round of each run


def _truncated_copy(src: Path, dst: Path, n_rows: int) -> Path:
    """A copy of run folder ``src`` whose results keep their first ``n_rows`` rows and whose
    checkpoints are gone, as after a kill (the files of later rounds stay on disk)."""
    for f in src.rglob("*"):
        if f.is_file() and f.parent.name != "checkpoints":
            (dst / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
            (dst / f.relative_to(src)).write_bytes(f.read_bytes())
    lines = (dst / "results.csv").read_bytes().splitlines(True)
    (dst / "results.csv").write_bytes(b"".join(lines[: n_rows + 1]))
    return dst


def test_dfal_copies_train_with_the_labels_and_survive_a_resume(tmp_path):
    """DFAL (thesis ch. 4): each pick's adversarial copy joins the training set with its
    source's label; the oracle never counts it; a resumed run restores the copies from disk."""
    config = ExperimentConfig(**{**SMALL, "strategies": ("dfal:max_candidates=60",), "seeds": (0,)})
    full = run_experiment(config, out=tmp_path / "full", progress=False)
    assert full["n_labeled"].tolist() == [20, 25, 35, 50]
    copies = (full["n_train"] - full["n_labeled"]).tolist()
    assert copies[0] == 0 and copies == sorted(copies) and copies[-1] > 20  # most picks flip
    part = _truncated_copy(tmp_path / "full", tmp_path / "part", 2)
    resumed = run_experiment(config, out=part, progress=False)
    assert resumed["selected"].tolist() == full["selected"].tolist()
    assert resumed["n_train"].tolist() == full["n_train"].tolist()
    np.testing.assert_allclose(resumed["accuracy"], full["accuracy"], atol=1e-12)
    lost = _truncated_copy(tmp_path / "full", tmp_path / "lost", 2)
    (lost / "synthetic" / "dfal_max_candidates=60__seed0.npz").unlink()
    with pytest.raises(AlkitError, match=r"record [1-5] synthetic training examples but 0 are on"):
        run_experiment(config, out=lost, progress=False)
