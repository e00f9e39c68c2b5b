"""alkit claims: the quick (smoke) report end to end, verdict rules, the bootstrap, the registry."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import requires_fashion
from scipy import stats

from alkit import metrics
from alkit.claims import VERDICTS, Claim, claim_ids, get_claims, judge, run_claims
from alkit.claims.base import _CLAIMS
from alkit.errors import AlkitError
from alkit.loop import ExperimentConfig, preflight
from alkit.sweep import collect
from alkit.train import TrainConfig


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("claims")
    rows = run_claims(quick=True, out=out, workers=0, quiet=True, n_boot=500)
    return out, rows, json.loads((out / "claims.json").read_text())


def test_quick_report_has_every_row_with_interval_verdict_and_protocol(quick_report):
    out, rows, report = quick_report
    assert [r["id"] for r in report["rows"]] == claim_ids()
    assert {"000-paper-protocol", "000-selection-only"} <= set(claim_ids())
    assert {"003-selection-effect", "003-training-effect"} <= set(claim_ids())
    assert {"001-dqbc", "001-dfal", "001-balnet", "001-deepfool-iterations"} <= set(claim_ids())
    assert {"002-effective-budget", "002-gain-every-budget"} <= set(claim_ids())
    assert {"004-binary-savings", "004-pick-entropy", "004-ten-class"} <= set(claim_ids())
    experiment_ids = [r["id"] for r in report["rows"] if r["kind"] == "experiment"]
    for row in report["rows"]:
        assert row["verdict"] in VERDICTS
        if row["kind"] == "measured":  # a benchmark's JSON: never smoke, re-run by its script
            assert row["smoke"] is False and row["rerun"].endswith(row["benchmark"]["script"])
            continue
        assert row["smoke"] is True
        low, high = row["ours"]["ci95"]
        assert low <= row["ours"]["value"] <= high
        assert row["ours"]["seeds"] == [0, 1]
        assert row["differences_from_paper"][0].startswith("SMOKE")
        assert row["rerun"] == f"alkit claims --quick --only {row['id']}"
    md = (out / "CLAIMS.md").read_text()
    for row_id in experiment_ids:
        assert f"`{row_id}` **(smoke)**" in md
    by_id = {r["id"]: r for r in report["rows"]}
    # the two seed-000 protocols differ only in PFK's initial set; the validation labels are
    # stated next to the number
    assert "PFK picks its own initial set" in by_id["000-paper-protocol"]["protocol"]
    assert "same random initial set" in by_id["000-selection-only"]["protocol"]
    assert "50 balanced images used by PFK" in by_id["000-selection-only"]["protocol"]
    paper = by_id["000-paper-protocol"]["experiments"]["run"]
    assert paper["cold_start"] is True and "mc_entropy:n_samples=4" in paper["strategies"]
    # seed 003: every GMM option is recorded, the variance floor included
    reg_da = by_id["003-selection-effect"]["experiments"]["reg_da"]["train"]
    assert reg_da["gmm_options"]["var_floor"] == 0.01 and reg_da["gmm_align_steps"] > 0
    experiments = by_id["003-training-effect"]["experiments"]
    assert experiments["plain"]["train"]["gmm_reg"] == 0.0
    # the training effect's control gets as many labelled updates as Reg+DA makes
    assert experiments["plain_matched"]["train"]["min_steps"] == (
        experiments["plain"]["train"]["min_steps"] + reg_da["gmm_align_steps"]
    )


def test_rows_share_cells_and_a_rerun_reuses_them_with_the_same_numbers(quick_report):
    out, rows, report = quick_report
    # random/entropy/mc_entropy/varratio ignore cold_start: both seed-000 rows use one run
    paper, selection = (r for r in rows if r.claim.seed == "000")
    shared = {c.name for c in paper.cells["run"]} & {c.name for c in selection.cells["run"]}
    assert len(shared) == 4 * 2  # 4 strategies × 2 seeds; only pfk's cells differ
    # 000: 6 strategies' cells, 001: 3 + 7, 002: 6, 003: 7, 004: 5 + core-set (the ten-class
    # smoke run shares the binary one's data, training and other strategies); × 2 seeds
    assert report["meta"]["cells_total"] == 70
    again = run_claims(only=["000"], quick=True, out=out, workers=0, quiet=True, n_boot=500)
    assert [r.claim.id for r in again] == ["000-paper-protocol", "000-selection-only"]
    first = {r.claim.id: r.measurement for r in rows}
    for row in again:
        assert row.measurement.value == first[row.claim.id].value
        assert row.measurement.low == first[row.claim.id].low
    assert json.loads((out / "claims.json").read_text())["meta"]["cells_run_now"] == 0


def test_judge_gives_each_verdict_by_its_rule():
    assert judge(45.0, 10.0, 60.0, 40.0, "%", 5)[0] == "holds"
    assert judge(20.0, 5.0, 30.0, 40.0, "%", 5)[0] == "holds in direction only"
    verdict, why = judge(10.0, -5.0, 30.0, 40.0, "%", 5)
    assert verdict == "does not hold" and "includes 0" in why
    verdict, why = judge(-10.0, -20.0, -1.0, 40.0, "%", 5)
    assert verdict == "does not hold" and "reverse" in why
    assert judge(math.nan, math.nan, math.nan, 40.0, "%", 5)[0] == "not measurable here"


def test_bootstrap_interval_resamples_units_with_replacement():
    values = np.array([1.0, 2.0, 3.0, 10.0])
    point, low, high = metrics.bootstrap_interval(lambda i: values[i].mean(), 4, n_boot=4000)
    assert point == pytest.approx(4.0)
    assert 1.0 <= low < point < high <= 10.0
    rng = np.random.default_rng(0)  # the same draws, by hand
    draws = [values[rng.integers(0, 4, 4)].mean() for _ in range(4000)]
    assert (low, high) == pytest.approx(tuple(np.percentile(draws, [2.5, 97.5])))
    assert metrics.bootstrap_interval(lambda i: 7.0, 1) == (7.0, 7.0, 7.0)
    with pytest.raises(AlkitError, match="at least one unit"):
        metrics.bootstrap_interval(lambda i: 0.0, 0)


def test_another_module_can_register_a_row_and_run_it_alone(tmp_path, monkeypatch):
    def experiments(quick):
        return {
            "run": ExperimentConfig(
                dataset="digits", pool_size=400, test_size=200, initial=10, query=10,
                rounds=2, seeds=(0, 1), strategies=("random", "margin"), device="cpu",
                train=TrainConfig(epochs=2, min_steps=20),
            )
        }  # fmt: skip

    claim = Claim(
        id="999-margin-beats-random",
        seed="999",
        claim="margin beats random",
        source="Fig. 0",
        paper_value="+1 point",
        paper_number=1.0,
        unit="accuracy points",
        experiments=experiments,
        statistic=lambda c, idx: (
            c.mean_accuracy("run", "margin", idx) - c.mean_accuracy("run", "random", idx)
        ),
        protocol=lambda exps, quick: f"digits, seeds {list(exps['run'].seeds)}",
        differences=lambda exps, quick: [f"{exps['run'].train.epochs} epochs"],
    )
    monkeypatch.setitem(_CLAIMS, claim.id, claim)
    assert get_claims(["999"]) == [claim]
    (row,) = run_claims(only=[claim.id], out=tmp_path, workers=0, quiet=True, n_boot=200)
    assert row.measurement.verdict in VERDICTS and row.measurement.seeds == [0, 1]
    assert "999-margin-beats-random" in (tmp_path / "CLAIMS.md").read_text()
    # overrides change every experiment of the row, and the report says so
    (row,) = run_claims(
        only=[claim.id], out=tmp_path / "o", workers=0, quiet=True, n_boot=200,
        overrides={"seeds": [1], "train.epochs": 1},
    )  # fmt: skip
    (entry,) = json.loads((tmp_path / "o" / "claims.json").read_text())["rows"]
    assert entry["protocol"] == "digits, seeds [1]" and entry["differences_from_paper"] == [
        "1 epochs"
    ]
    assert entry["experiments"]["run"]["train"]["epochs"] == 1
    assert entry["rerun"] == f"alkit claims --only {claim.id} --set seeds=[1] --set train.epochs=1"
    assert row.measurement.seeds == [1] and row.measurement.low == row.measurement.high
    with pytest.raises(AlkitError, match="unknown claim row"):
        get_claims(["no-such-row"])


def test_cli_lists_the_rows(capsys):
    from alkit.cli import main

    assert main(["claims", "--list"]) == 0
    printed = capsys.readouterr().out
    assert all(row_id in printed for row_id in claim_ids())


# -- measured rows (a benchmark's JSON) and the seed-001 rows ---------------------------------


def _deepfool_json(folder, mean_iters: float) -> None:
    """The part of ``benchmarks/deepfool_cost.py``'s JSON that its claim row reads."""
    row = {
        "kind": "deepfool_batched", "candidates": 40, "threads": 1, "flip_rate": 0.95,
        "mean_iters": mean_iters, "max_iters": 10, "norm_cv": 0.5,
        "norm_quantiles_0_10_50_90_100": [0.0, 0.1, 0.5, 1.0, 2.0],
    }  # fmt: skip
    payload = {
        "machine": "test", "shared_machine": True, "rows": [row],
        "model": {"n_train": 50, "epochs": 1, "test_accuracy": 0.5},
        "summary": {"deepfool_loop_over_batched": 2.0, "kfac_materialised_over_traces_time": 1.5,
                    "kfac_materialised_over_traces_peak_mb": 3.0},
    }  # fmt: skip
    (folder / "deepfool_cost.json").write_text(json.dumps(payload))


def test_measured_row_reads_its_json_and_judges_the_point_without_an_interval(tmp_path):
    _deepfool_json(tmp_path, 2.4)
    (row,) = run_claims(
        only=["001-deepfool-iterations"], out=tmp_path / "out", quiet=True, results_dir=tmp_path
    )
    m = row.measurement
    assert m.value == 2.4 and math.isnan(m.low) and math.isnan(m.high)
    assert m.verdict == "holds" and "single run: no interval" in m.why
    assert m.details["flip_rate"] == 0.95
    (entry,) = json.loads((tmp_path / "out" / "claims.json").read_text())["rows"]
    assert entry["kind"] == "measured" and entry["ours"]["ci95"] == [None, None]
    assert entry["rerun"].endswith("python benchmarks/deepfool_cost.py")
    assert (
        "2.40 mean DeepFool iterations (single run, no interval)"
        in (tmp_path / "out" / "CLAIMS.md").read_text()
    )
    _deepfool_json(tmp_path, 3.5)  # more than the thesis's bound of 3: the claim fails
    (row,) = run_claims(
        only=["001-deepfool-iterations"], out=tmp_path / "out", quiet=True, results_dir=tmp_path
    )
    assert row.measurement.verdict == "does not hold" and "not lower than 3" in row.measurement.why


def test_measured_row_with_repeats_gets_a_t_interval_over_them(tmp_path):
    rng = np.random.default_rng(0)
    draws = rng.normal(10.0, 1.0, size=(6, 3))  # 6 random prefixes, k = 3
    curves = {
        name: [12.0, 11.0, value]
        for name, value in [("emd", 8.0), ("sinkhorn/thesis", 12.5), ("ipot/thesis", 8.5),
                            ("sinkhorn/converged", 8.0)]
    }  # fmt: skip
    curves["random (mean)"] = draws.mean(0).tolist()
    curves["random (std)"] = draws.std(0).tolist()
    payload = {
        "setting": {"random_draws": 6, "pool": 100, "k": 3, "curve_candidates": 20,
                    "curve_target": 30},
        "machine": "test", "features": "test features", "curves_exact_w2": curves,
        "one_step": {"summary": {"sinkhorn/thesis": {"spearman_min": 0.3, "spearman_max": 0.4}}},
    }  # fmt: skip
    (tmp_path / "ot_prototypes.json").write_text(json.dumps(payload))
    (row,) = run_claims(
        only=["001-sinkhorn-vs-random"], out=tmp_path / "out", quiet=True, results_dir=tmp_path
    )
    m = row.measurement
    last = draws[:, -1]
    low, high = stats.t.interval(0.95, 5, loc=12.5 - last.mean(), scale=stats.sem(last))
    assert m.value == pytest.approx(12.5 - last.mean())
    assert (m.low, m.high) == pytest.approx((low, high))
    assert m.verdict == ("holds" if low > 0 else "does not hold") and "6 random draws" in m.why


def test_missing_benchmark_json_is_not_measurable_with_the_command_to_make_it(tmp_path):
    (row,) = run_claims(
        only=["001-dwe-correlation"], out=tmp_path, quiet=True, results_dir=tmp_path / "none"
    )
    assert row.measurement is None
    (entry,) = json.loads((tmp_path / "claims.json").read_text())["rows"]
    assert entry["verdict"] == "not measurable here" and entry["ours"] is None
    assert "python benchmarks/dwe_fashion.py" in entry["why"]
    assert "not run" in (tmp_path / "CLAIMS.md").read_text()


def test_report_keeps_the_rows_a_call_does_not_rewrite_with_their_provenance(tmp_path):
    _deepfool_json(tmp_path, 2.0)
    run_claims(only=["001-deepfool-iterations"], out=tmp_path, quiet=True, results_dir=tmp_path)
    first = json.loads((tmp_path / "claims.json").read_text())
    run_claims(only=["001-dwe-correlation"], out=tmp_path, quiet=True, results_dir=tmp_path)
    report = json.loads((tmp_path / "claims.json").read_text())
    ids = [r["id"] for r in report["rows"]]
    assert ids == ["001-dwe-correlation", "001-deepfool-iterations"]  # registry order
    assert report["rows"][1] == first["rows"][0]  # kept as it was
    assert [run["rows"] for run in report["runs"]] == [
        ["001-dwe-correlation"],
        ["001-deepfool-iterations"],
    ]
    assert report["runs"][1]["generated"] == first["meta"]["generated"]
    assert (
        "Kept from an earlier call (`001-deepfool-iterations`)"
        in (tmp_path / "CLAIMS.md").read_text()
    )


def test_judge_handles_a_bound_from_below_and_a_single_run():
    assert judge(2.1, 1.9, 2.3, 3.0, "iters", 5, null=3.0, better="lower")[0] == "holds"
    verdict, why = judge(2.1, 1.9, 3.2, 3.0, "iters", 5, null=3.0, better="lower")
    assert verdict == "does not hold" and "includes 3" in why
    verdict, why = judge(3.5, 3.2, 3.9, 3.0, "iters", 5, null=3.0, better="lower")
    assert verdict == "does not hold" and "above 3: the reverse" in why
    assert judge(0.9, None, None, 0.996, "r", 1)[0] == "holds in direction only"
    assert judge(-0.1, None, None, 0.996, "r", 1)[0] == "does not hold"
    with pytest.raises(AlkitError, match="better"):
        judge(1.0, 0.5, 1.5, 1.0, "x", 3, better="bigger")


@pytest.mark.parametrize("row_id", ["001-dqbc", "001-dfal", "001-balnet-wasserstein"])
def test_seed001_quick_experiments_pass_preflight(row_id):
    (claim,) = get_claims([row_id])
    for name, config in claim.experiments(True).items():
        assert ExperimentConfig.from_dict(config.to_dict(), source=name) == config
        plan = preflight(config)
        assert set(plan.strategies) == set(config.strategies)
    full = claim.experiments(False)
    assert all(c.dataset == "fashion_mnist" and c.model == "lenet" for c in full.values())
    assert all(len(c.seeds) == 3 for c in full.values())


def test_seed002_and_004_numbers_equal_a_hand_computation_from_the_cells(quick_report):
    out, rows, _ = quick_report
    by_id = {r.claim.id: r for r in rows}
    frame = collect(out / "cells", by_id["002-effective-budget"].cells["run"])
    acc = {s: t.pivot_table(index="seed", columns="n_labeled", values="accuracy")
           for s, t in frame.groupby("strategy")}  # fmt: skip
    budgets = acc["random"].columns.to_numpy()
    rand_mean, rand_std = acc["random"].mean().to_numpy(), acc["random"].std(ddof=1).to_numpy()

    def ebr(strategy):
        mean = acc[strategy].mean().to_numpy()
        return 100 * metrics.effective_budget_ratio(budgets, mean, rand_mean, rand_std)

    ntkcpl = next(s for s in acc if s.startswith("ntkcpl"))
    best_other = max(ebr("typiclust:features=input"), ebr("badge"))
    assert by_id["002-effective-budget"].measurement.value == pytest.approx(
        ebr(ntkcpl) - best_other, abs=1e-9
    )
    gain = 100 * (acc[ntkcpl].mean() - acc["random"].mean()).min()
    assert by_id["002-gain-every-budget"].measurement.value == pytest.approx(gain, abs=1e-9)

    frame = collect(out / "cells", by_id["004-pick-entropy"].cells["run"])
    entropy = frame.groupby(["strategy", "seed"])["pick_entropy"].mean().groupby("strategy").mean()
    assert np.isfinite(entropy).all() and (entropy > 0).all()
    spaces = [f"asal:features={s}" for s in ("gray", "auto", "disc")]
    expected = np.mean([100 * (entropy[s] / entropy["random"] - 1) for s in spaces])
    assert by_id["004-pick-entropy"].measurement.value == pytest.approx(expected, abs=1e-9)
    # the ten-class smoke row reuses the binary one's cells for every strategy but core-set
    ten = {c.name for c in by_id["004-ten-class"].cells["ten"]}
    binary = {c.name for c in by_id["004-binary-savings"].cells["run"]}
    assert len(ten - binary) == 2 and all("coreset" in name for name in ten - binary)


@requires_fashion
@pytest.mark.parametrize("row_id", ["002-effective-budget", "004-binary-savings", "004-ten-class"])
def test_seed002_and_004_full_experiments_pass_preflight(row_id):
    (claim,) = get_claims([row_id])
    for name, config in claim.experiments(False).items():
        assert ExperimentConfig.from_dict(config.to_dict(), source=name) == config
        assert set(preflight(config).strategies) == set(config.strategies)
        assert len(config.seeds) >= 3
