"""Run folders are data (DESIGN.md): refusal of folders that do not match, strict reading with
file and line, one writer at a time, and atomic writes that survive a kill at any point."""

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
from alkit.loop import ExperimentConfig, run_experiment
from alkit.results import ResultsFile, RunStore, read_results
from alkit.train import TrainConfig

TINY = dict(
    dataset="digits",
    initial=20,
    query=(5, 5),
    rounds=2,
    seeds=(0,),
    strategies=("random", "entropy"),
    device="cpu",
    train=TrainConfig(epochs=2, min_steps=20),
)
ENV = {**os.environ, "ALKIT_PROGRESS": "0", "OMP_NUM_THREADS": "1"}


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished tiny run (6 rows) that tests copy and damage."""
    out = tmp_path_factory.mktemp("finished") / "run"
    run_experiment(ExperimentConfig(**TINY), out=out, progress=False)
    return out


def _copy(src: Path, dst: Path) -> Path:
    for rel, data in _snapshot(src).items():
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        (dst / rel).write_bytes(data)
    return dst


def test_results_without_config_are_refused(finished, tmp_path):
    folder = _copy(finished, tmp_path / "copied")
    (folder / "config.json").unlink()
    before = _snapshot(folder)
    with pytest.raises(AlkitError, match="holds results.csv but no config.json.*another --out"):
        run_experiment(ExperimentConfig(**{**TINY, "initial": 30}), out=folder, progress=False)
    assert _snapshot(folder) == before


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda t: t + "garbage\n", r"line 8 has 1 fields, expected 15"),
        (lambda t: t.replace(",0.", ",zero.", 1), r"line 2: column 'accuracy' holds 'zero\."),
        (lambda t: t + t.splitlines(True)[-1], r"line 8 repeats strategy 'entropy' seed 0 round 2"),
        (lambda t: t + "digits,random,0,9,12", r"line 8 is incomplete"),
        (lambda t: "a,b\n" + t, r"line 1 has columns \['a', 'b'\]"),
        (lambda t: "", r"is empty"),
    ],
)
def test_damaged_results_are_reported_by_line_and_never_mended(finished, tmp_path, damage, message):
    folder = _copy(finished, tmp_path / "damaged")
    path = folder / "results.csv"
    path.write_text(damage(path.read_text()))
    before = _snapshot(folder)
    with pytest.raises(AlkitError, match=message):
        ResultsFile(path).rows()
    with pytest.raises(AlkitError, match=message):
        run_experiment(ExperimentConfig(**TINY), out=folder, progress=False)
    assert _snapshot(folder) == before


@pytest.mark.parametrize("text", ["", "{", "[1, 2]"])
def test_damaged_config_is_a_clear_error(finished, tmp_path, text):
    folder = _copy(finished, tmp_path / "badconfig")
    (folder / "config.json").write_text(text)
    with pytest.raises(AlkitError, match="config.json (is damaged|does not hold a JSON object)"):
        run_experiment(ExperimentConfig(**TINY), out=folder, progress=False)


def test_config_records_the_whole_experiment_and_accumulates_strategies(tmp_path):
    out = tmp_path / "run"
    run_experiment(ExperimentConfig(**{**TINY, "strategies": ("random",)}), out=out, progress=False)
    run_experiment(ExperimentConfig(**{**TINY, "strategies": ("margin",)}), out=out, progress=False)
    saved = json.loads((out / "config.json").read_text())
    assert saved["strategies"] == ["random", "margin"]
    assert saved["train"]["epochs"] == 2 and saved["model"] == "mlp"
    again = ExperimentConfig.from_dict(saved)
    assert again.data_key() == ExperimentConfig(**TINY).data_key()


_HOLDER = """
import sys
from alkit.loop import ExperimentConfig
from alkit.results import RunStore
config = ExperimentConfig(**{config!r})
with RunStore({out!r}, config.data_key(), config.to_dict()):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_process_gets_an_error_naming_the_holder(tmp_path):
    out = tmp_path / "locked"
    config = {k: v for k, v in TINY.items() if k != "train"}
    code = _HOLDER.format(config=config, out=str(out))
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV
    )
    try:
        assert holder.stdout.readline().strip() == b"locked"
        exp = ExperimentConfig(**{**TINY, "train": TrainConfig()})
        with pytest.raises(
            AlkitError, match=f"in use by another alkit process \\(PID {holder.pid}"
        ):
            run_experiment(exp, out=out, progress=False)
        assert not (out / "results.csv").exists()
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    run_experiment(ExperimentConfig(**{**TINY, "train": TrainConfig()}), out=out, progress=False)
    assert len(read_results(out)) == 6


def test_the_lock_dies_with_its_process(tmp_path):
    out = tmp_path / "killed_holder"
    config = {k: v for k, v in TINY.items() if k != "train"}
    code = _HOLDER.format(config=config, out=str(out))
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV
    )
    assert holder.stdout.readline().strip() == b"locked"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=60)
    exp = ExperimentConfig(**config)
    with RunStore(out, exp.data_key(), exp.to_dict()) as store:
        assert store.rows == []


def _bench_args(out: Path, rounds: int = 2) -> list[str]:
    args = [sys.executable, "-m", "alkit", "bench", "--quiet", "--dataset", "digits"]
    args += ["--strategies", "random,entropy", "--initial", "20", "--query", "5"]
    args += ["--rounds", str(rounds), "--seeds", "1", "--epochs", "2", "--min-steps", "20"]
    return [*args, "--device", "cpu", "--out", str(out)]


def test_two_concurrent_cli_runs_never_mix_a_folder(tmp_path):
    """The second process started while the first runs is refused (exit 2, the holder's PID);
    the first completes, and the folder equals a run made alone."""
    shared = tmp_path / "shared"
    first = subprocess.Popen(_bench_args(shared, 6), env=ENV, stderr=subprocess.PIPE)
    end = time.time() + 240
    while not (shared / "results.csv").exists():
        assert first.poll() is None, first.stderr.read().decode()[-2000:]
        assert time.time() < end, "the first run wrote no row in time"
        time.sleep(0.05)
    second = subprocess.run(_bench_args(shared, 6), env=ENV, capture_output=True)
    first_running = first.poll() is None
    assert first.wait(timeout=600) == 0
    if first_running:  # the usual case: the second overlapped the first and must be refused
        assert second.returncode == 2
        assert f"in use by another alkit process (PID {first.pid})" in second.stderr.decode()
    alone = ExperimentConfig(**{**TINY, "query": 5, "rounds": 6})
    got, want = read_results(shared), run_experiment(alone, progress=False)
    assert len(got) == len(want) == 14
    assert got["selected"].tolist() == want["selected"].tolist()
    np.testing.assert_allclose(got["accuracy"], want["accuracy"], atol=1e-12)


# A driver that runs the tiny experiment and SIGKILLs itself at the N-th atomic rename of a
# file whose name contains NAME, either before the rename happens or just after.
_KILLER = """
import os, signal
import alkit.results as results
from alkit.loop import ExperimentConfig, run_experiment
from alkit.train import TrainConfig
name, when, nth = {name!r}, {when!r}, {nth}
real, seen = os.replace, [0]
def replace(src, dst):
    hit = name in os.path.basename(str(dst))
    seen[0] += hit
    if hit and seen[0] == nth and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
    if hit and seen[0] == nth and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)
results.os.replace = replace
config = dict({config!r}, train=TrainConfig(epochs=2, min_steps=20))
run_experiment(ExperimentConfig(**config), out={out!r}, progress=False)
"""


@pytest.mark.parametrize(
    "name, when, nth, rows_left",
    [
        ("config.json", "before", 1, 0),
        ("config.json", "after", 1, 0),
        ("results.csv", "before", 1, 0),
        ("results.csv", "before", 4, 3),
        ("results.csv", "after", 4, 4),
        (".pt", "after", 5, 4),
    ],
)
def test_a_kill_at_any_write_leaves_a_resumable_folder(
    finished, tmp_path, name, when, nth, rows_left
):
    out = tmp_path / "run"
    config = {k: v for k, v in TINY.items() if k != "train"}
    code = _KILLER.format(name=name, when=when, nth=nth, config=config, out=str(out))
    proc = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    rows = ResultsFile(out / "results.csv").rows()  # whole, whatever the kill point
    assert len(rows) == rows_left
    if (out / "config.json").exists():
        json.loads((out / "config.json").read_text())
    resumed = run_experiment(ExperimentConfig(**TINY), out=out, progress=False)
    alone = read_results(finished)  # the same experiment, never interrupted
    assert len(read_results(out)) == 6 and not list(out.glob(".*.tmp"))
    key = ["strategy", "seed", "round"]
    resumed = resumed.sort_values(key).reset_index(drop=True)
    alone = alone.sort_values(key).reset_index(drop=True)
    assert resumed["selected"].tolist() == alone["selected"].tolist()
    np.testing.assert_allclose(resumed["accuracy"], alone["accuracy"], atol=1e-12)
    assert len(list((out / "checkpoints").glob("*.pt"))) == 2


def test_resume_after_a_kill_keeps_earlier_rows_byte_for_byte(finished, tmp_path):
    folder = _copy(finished, tmp_path / "partial")
    path = folder / "results.csv"
    lines = path.read_text().splitlines(True)
    path.write_text("".join(lines[:4]))  # as if killed after round 2 of the first strategy
    kept = path.read_text()
    run_experiment(ExperimentConfig(**TINY), out=folder, progress=False)
    assert path.read_text().startswith(kept) and len(read_results(folder)) == 6


def test_store_writes_need_the_lock(tmp_path):
    store = RunStore(tmp_path / "x", {"a": 1})
    with pytest.raises(AlkitError, match="opened with 'with RunStore"):
        store.save({}, None)
    assert not (tmp_path / "x").exists()


def test_preflight_failure_creates_nothing(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(AlkitError, match="unknown strategy 'bogus'"):
        run_experiment(ExperimentConfig(**{**TINY, "strategies": ("random", "bogus")}), out=out)
    assert not out.exists()
