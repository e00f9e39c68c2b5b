"""alkit sweep: grid expansion, a 2-worker Ray sweep equal to the sequential loop, and resume."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from alkit.errors import AlkitError
from alkit.loop import ExperimentConfig, run_experiment
from alkit.results import read_results
from alkit.sweep import SweepConfig, cell_status, cells_for, collect, run_cells, run_sweep

try:
    import ray
except ImportError:  # the optional extra alkit[distributed]
    ray = None

needs_ray = pytest.mark.skipif(
    ray is None, reason="Ray is not installed: pip install 'alkit[distributed]' (make test does)"
)

TIMING = ["select_seconds", "train_seconds"]

EXPERIMENT = {
    "dataset": "digits",
    "pool_size": 500,
    "test_size": 300,
    "initial": 20,
    "query": 15,
    "rounds": 3,
    "train": {"epochs": 4, "min_steps": 40},
}


def sweep_config(**grid) -> SweepConfig:
    return SweepConfig.from_dict(
        {"experiment": EXPERIMENT, "grid": {"strategies": ["random", "entropy"], **grid}},
        source="the test",
    )


def same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    keys = ["strategy", "seed", "round"]
    a = a.drop(columns=TIMING + ["cell"], errors="ignore").sort_values(keys, ignore_index=True)
    b = b.drop(columns=TIMING + ["cell"], errors="ignore").sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(a, b)


@pytest.fixture(scope="module")
def local_ray():
    """One small local Ray instance for the module (2 CPUs, no dashboard)."""
    if ray is None:
        pytest.skip("Ray is not installed: pip install 'alkit[distributed]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_grid_expands_to_one_cell_per_strategy_seed_and_value():
    sweep = sweep_config(seeds=[0, 1], **{"train.lr": [1e-3, 3e-3]})
    cells = sweep.cells()
    assert len(cells) == 2 * 2 * 2 and len({c.name for c in cells}) == 8
    assert {(c.strategy, c.seed, c.config["train"]["lr"]) for c in cells} == {
        (s, seed, lr) for s in ("random", "entropy") for seed in (0, 1) for lr in (1e-3, 3e-3)
    }
    assert all(c.config["strategies"] == [c.strategy] for c in cells)
    assert "lr=0.003" in cells[-1].name and cells[-1].params["train.lr"] == 3e-3
    # a strategy without a cold start ignores cold_start: the same cell for both protocols
    cold = ExperimentConfig(**{**EXPERIMENT, "train": {}}, cold_start=True, pretrain="rotation")
    warm = ExperimentConfig(**{**EXPERIMENT, "train": {}}, cold_start=False, pretrain="rotation")
    cold_cells = cells_for(dataclass_with(cold, ("random", "pfk")))
    warm_cells = cells_for(dataclass_with(warm, ("random", "pfk")))
    assert cold_cells[0].name == warm_cells[0].name  # random: one run
    assert cold_cells[1].name != warm_cells[1].name  # pfk: two protocols
    # without pretraining, pretrain_epochs changes nothing: one cell
    two = ExperimentConfig(**{**EXPERIMENT, "train": {}}, pretrain_epochs=2)
    eight = ExperimentConfig(**{**EXPERIMENT, "train": {}}, pretrain_epochs=8)
    assert [c.name for c in cells_for(two)] == [c.name for c in cells_for(eight)]
    assert cells_for(two)[0].config["pretrain_epochs"] == 8
    with pytest.raises(AlkitError, match="unknown field"):
        SweepConfig.from_dict({"experiment": EXPERIMENT, "grids": {}})
    with pytest.raises(AlkitError, match="non-empty list"):
        SweepConfig.from_dict({"experiment": EXPERIMENT, "grid": {"seeds": []}})
    with pytest.raises(AlkitError, match="initial"):
        SweepConfig.from_dict({"experiment": EXPERIMENT, "grid": {"initial": [0]}})


def dataclass_with(config: ExperimentConfig, strategies) -> ExperimentConfig:
    import dataclasses

    return dataclasses.replace(config, strategies=tuple(strategies), seeds=(0,), val_per_class=5)


@needs_ray
def test_ray_sweep_with_two_workers_equals_the_sequential_loop(tmp_path, local_ray):
    sweep = sweep_config(seeds=[0, 1])
    report = run_sweep(sweep, out=tmp_path / "ray", quiet=True)
    assert report.executor == "ray" and len(report.ran) == 4
    # the same cells as ONE sequential experiment, as `alkit bench` runs it
    whole = ExperimentConfig.from_dict(
        {**EXPERIMENT, "strategies": ["random", "entropy"], "seeds": [0, 1]}
    )
    sequential = run_experiment(whole, out=tmp_path / "bench", progress=False)
    same_rows(report.results(), sequential)
    for cell in report.cells:  # one folder per cell, each with its own config
        assert read_results(tmp_path / "ray" / cell.name)["strategy"].unique().tolist() == [
            cell.strategy
        ]
    # a second call finds every cell finished and runs nothing
    again = run_sweep(sweep, out=tmp_path / "ray", quiet=True)
    assert again.ran == [] and set(again.before.values()) == {"done"}


class Interrupt(Exception):
    pass


def test_an_interrupted_sweep_skips_finished_cells_and_resumes_the_rest(tmp_path, request):
    workers = 0
    if ray is not None:  # on the module's 2-CPU Ray; without Ray, in this process
        request.getfixturevalue("local_ray")
        workers = 2
    sweep = sweep_config(seeds=[0, 1])
    out = tmp_path / "sweep"
    done_cell, partial_cell, *_ = sweep.cells()
    # the state an interruption leaves: one cell finished, one stopped after round 1
    run_experiment(done_cell.experiment(), out=out / done_cell.name, progress=False)
    finished_bytes = (out / done_cell.name / "results.csv").read_bytes()
    finished_mtime = os.stat(out / done_cell.name / "results.csv").st_mtime_ns

    def stop_after_round_1(state):
        if state.round == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_experiment(
            partial_cell.experiment(), out=out / partial_cell.name, on_round=stop_after_round_1,
            progress=False,
        )  # fmt: skip
    assert cell_status(out, partial_cell) == "partial"
    kept = read_results(out / partial_cell.name)
    assert len(kept) == 2

    report = run_cells(sweep.cells(), out, workers=workers, quiet=True)
    assert report.executor == ("ray" if workers else "local")
    assert report.before[done_cell.name] == "done"
    assert report.before[partial_cell.name] == "partial"
    assert sorted(report.ran) == sorted(c.name for c in sweep.cells()[1:])
    assert (out / done_cell.name / "results.csv").read_bytes() == finished_bytes
    assert os.stat(out / done_cell.name / "results.csv").st_mtime_ns == finished_mtime
    resumed = read_results(out / partial_cell.name)
    same_rows(resumed.iloc[:2], kept)  # the recorded rounds are kept, not redone
    # and the resumed cell ends where an uninterrupted run ends
    fresh = run_experiment(partial_cell.experiment(), out=tmp_path / "fresh", progress=False)
    same_rows(resumed, fresh)
    assert set(collect(out, sweep.cells())["cell"]) == {c.name for c in sweep.cells()}


def test_a_bad_cell_fails_before_any_cell_runs(tmp_path):
    sweep = SweepConfig.from_dict(
        {"experiment": EXPERIMENT, "grid": {"strategies": ["random", "margin"], "seeds": [0, 1]}}
    )
    sweep.experiment = {**EXPERIMENT, "rounds": 40}  # 20 + 40·15 labels > the 500-image pool
    with pytest.raises(AlkitError, match="labels but the pool holds 500"):
        run_sweep(sweep, out=tmp_path / "bad", workers=0, quiet=True)
    assert not (tmp_path / "bad").exists()


def test_cli_sweep_runs_a_toml_grid_and_lists_its_cells(tmp_path, capsys):
    from alkit.cli import main

    toml = tmp_path / "sweep.toml"
    toml.write_text(
        'out = "unused"\nworkers = 2\n[experiment]\ndataset = "digits"\npool_size = 400\n'
        "test_size = 200\ninitial = 10\nquery = 10\nrounds = 1\n"
        '[experiment.train]\nepochs = 2\nmin_steps = 10\n[grid]\nstrategies = ["random", '
        '{name = "margin"}]\nseeds = [3]\n'
    )
    assert main(["sweep", "--config", str(toml), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    assert capsys.readouterr().out.count("new") == 2
    args = ["sweep", "--config", str(toml), "--out", str(tmp_path / "o"), "--workers", "0"]
    assert main([*args, "--quiet"]) == 0
    assert "2 cells (2 run now" in capsys.readouterr().out
    assert main(["sweep", "--config", str(toml), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    assert capsys.readouterr().out.count("done") == 2
    toml.write_text('[grid]\nseeds = "0"\n')
    assert main(args) == 2
    assert "must be a non-empty list" in capsys.readouterr().err


def test_a_cell_run_on_another_disk_comes_back_to_the_driver(tmp_path):
    import shutil

    from alkit.sweep import _bring_back, run_cell

    cell = sweep_config(seeds=[0]).cells()[0]
    folder = tmp_path / cell.name
    result = run_cell(cell.config, str(folder))  # what a worker sends back
    rows = read_results(folder)
    shutil.rmtree(folder)  # the driver's disk never saw the worker's folder
    _bring_back(result)
    same_rows(read_results(folder), rows)
    assert cell_status(tmp_path, cell) == "done"
    before = (folder / "results.csv").stat().st_mtime_ns
    _bring_back(result)  # a shared disk: identical files are left alone
    assert (folder / "results.csv").stat().st_mtime_ns == before
