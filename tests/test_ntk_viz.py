"""alkit.viz.ntk: the Fig. 1 toy, the greedy replay behind the step slider, Table 2 helpers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import functools
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from alkit.data import load_dataset
from alkit.errors import AlkitError
from alkit.kernels.ntk_lookahead import lookahead_risk
from alkit.viz.ntk import (
    ebr_table,
    greedy_replay,
    plot_al_gain,
    plot_coverage_panels,
    plot_cpl_split,
    plot_risk_map,
    pure_radius,
    read_paper_tables,
    results_ebr,
    risk_frame,
    toy_coverage,
)

TABLES = Path(__file__).parent / "data" / "ntkcpl_tables.tsv"


@functools.cache
def toy():
    ds = load_dataset("blobs", n_samples=300)
    X, y = ds.X_train.astype(np.float64), ds.y_train
    rng = np.random.default_rng(0)
    L = rng.choice(len(X), 8, replace=False)
    y_pred = y.copy()
    wrong = rng.random(len(y)) < 0.2  # an imperfect head
    y_pred[wrong] = (y[wrong] + 1) % 4
    return X, y, L, y_pred, toy_coverage(X, y, L, y_pred, n_clusters=7, seed=0)


def test_toy_coverage_estimates():
    X, y, L, y_pred, state = toy()
    assert int(state.cpl_N.max()) + 1 == 7
    np.testing.assert_array_equal(state.true_covered_N[L], True)  # Y_pre is the label on L
    np.testing.assert_array_equal(
        state.ntk_covered_N, state.posterior.F_M_K.argmax(1).numpy() == state.cpl_N
    )
    brute = np.sqrt(((X[:, None] - X[None, L]) ** 2).sum(-1)).min(1)
    assert state.coreset_radius == pytest.approx(brute.max(), rel=1e-5)
    np.testing.assert_array_equal(state.probcover_covered_N, brute <= state.probcover_radius)
    table = state.agreement()
    assert table.loc["core-set (full coverage)", "covered"] == 1.0
    assert table.loc["true (trained head right)", "agrees with true"] == 1.0
    _, axes = plt.subplots(1, 4)
    plot_coverage_panels(state, axes)
    plot_cpl_split(state)
    plt.close("all")


def test_pure_radius_against_brute_force():
    X, _, _, _, state = toy()
    labels = state.cpl_N
    D = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    D[labels[:, None] == labels[None]] = np.inf
    d_other = D.min(1)
    delta = pure_radius(X, labels, alpha=0.9)
    assert delta == pytest.approx(np.quantile(d_other, 0.1), rel=1e-5)
    assert np.mean(d_other >= delta) >= 0.9


def test_greedy_replay_matches_the_risks_it_shows():
    X, y, L, _, state = toy()
    replay = greedy_replay(state, 3)
    unlabelled = np.setdiff1d(np.arange(len(X)), L)
    first = risk_frame(replay, 1)
    assert np.isfinite(first["risk_N"]).sum() == len(unlabelled)
    active = np.zeros(len(X), dtype=bool)
    active[unlabelled] = True
    ref = lookahead_risk(
        state.posterior.F_M_K,
        state.posterior.A_M_M,
        state.cpl_N,
        unlabelled,
        state.posterior.ridge,
        eval_mask_M=active,
    ).numpy()
    np.testing.assert_array_equal(first["risk_N"][unlabelled], ref)
    for t in (1, 2, 3):
        frame = risk_frame(replay, t)
        assert frame["pick"] == int(np.nanargmin(frame["risk_N"]))
        assert np.nanmin(frame["risk_N"]) == frame["trace"][-1]
        assert np.isnan(frame["risk_N"][frame["before"]]).all()
    assert len(set(replay.picks.tolist())) == 3 and not np.isin(replay.picks, L).any()
    with pytest.raises(ValueError, match="step must be in 1…3"):
        risk_frame(replay, 4)
    plot_risk_map(state, replay, 2)
    plt.close("all")


def test_ebr_table_reproduces_table_2():
    table = ebr_table(read_paper_tables(TABLES))
    np.testing.assert_allclose(table.loc["mean (axis)"], [40.5, 41.7, 92.2], atol=0.05)
    np.testing.assert_allclose(table.loc["pooled points"], [48.9, 44.7, 93.6], atol=0.05)
    assert table.loc["CIFAR-10", "NTKCPL(al)"] == pytest.approx(88.5, abs=0.05)


def test_results_ebr_and_al_gain_from_a_run_table():
    rows = []
    for seed, (r, s) in enumerate(
        [((0.5, 0.6, 0.7), (0.6, 0.6, 0.7)), ((0.52, 0.62, 0.72), (0.64, 0.66, 0.7))]
    ):
        for i, n in enumerate((10, 20, 30)):
            rows.append({"strategy": "random", "seed": seed, "n_labeled": n, "accuracy": r[i]})
            rows.append({"strategy": "ours", "seed": seed, "n_labeled": n, "accuracy": s[i]})
    res = pd.DataFrame(rows)
    out = results_ebr(res)
    rand_mean = np.array([0.51, 0.61, 0.71])
    rand_std = np.array([np.std([0.5, 0.52], ddof=1)] * 3)
    ours = np.array([0.62, 0.63, 0.70])
    gap = ours - rand_mean - rand_std  # +, +, −: effective up to the crossing in (20, 30)
    cross = 20 + 10 * gap[1] / (gap[1] - gap[2])
    assert out.loc["ours", "EBR axis %"] == pytest.approx(100 * cross / 30, abs=1e-3)
    assert out.loc["ours", "EBR points %"] == pytest.approx(100 * 2 / 3, abs=1e-3)
    assert out.loc["ours", "mean AL gain"] == pytest.approx(np.mean(ours - rand_mean), abs=1e-3)
    plot_al_gain(res)
    plt.close("all")
    with pytest.raises(AlkitError, match="≥ 2 seeds"):
        results_ebr(res[res["seed"] == 0])
    with pytest.raises(AlkitError, match="'badge' is not in the results"):
        results_ebr(res, reference="badge")


def test_replay_does_not_touch_the_state():
    *_, state = toy()
    F = state.posterior.F_M_K.clone()
    greedy_replay(state, 2)
    assert torch.equal(F, state.posterior.F_M_K)
