"""NTKCPL (seed 002): cluster pseudo-labels (Alg. 2), the ntkcpl and lookahead strategies, and
the effective budget ratio on the paper's own tables."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cached_splits, make_context
from strategy_template import check_strategy_contract

from alkit.data import Pool
from alkit.errors import AlkitError
from alkit.kernels.cpl import (
    confusing_counts,
    constrained_kmeans,
    cpl_generation,
    n_cpl_clusters,
    split_confusing,
)
from alkit.kernels.ntk import empirical_ntk, head_params, pntk_factors, pntk_matrix
from alkit.kernels.ntk_lookahead import lookahead_predictions, ntk_posterior
from alkit.metrics import al_gain, effective_budget_ratio, mean_std
from alkit.strategies import QueryContext, get_strategy

TABLES = Path(__file__).parent / "data" / "ntkcpl_tables.tsv"


def digits_pool():
    splits = cached_splits("digits")
    return splits.X_pool.reshape(len(splits.X_pool), -1), splits.y_pool


def mixed_classes(labels, labeled_idx, labeled_y) -> int:
    """Number of clusters holding labelled rows of two or more classes."""
    per = {}
    for i, y in zip(labeled_idx, labeled_y, strict=True):
        per.setdefault(int(labels[i]), set()).add(int(y))
    return sum(len(s) > 1 for s in per.values())


# -- Alg. 2 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(3))
def test_cannot_link_kmeans_never_mixes_labelled_classes(seed):
    X, y = digits_pool()
    L = np.random.default_rng(seed).choice(len(X), 60, replace=False)
    labels, centres = constrained_kmeans(X, 12, L, y[L], "cannot", seed=seed)
    assert labels.shape == (len(X),) and centres.shape == (12, 64)
    assert set(np.unique(labels)) == set(range(12))
    assert mixed_classes(labels, L, y[L]) == 0
    plain, _ = constrained_kmeans(X, 12, L, y[L], "none", seed=seed)
    assert mixed_classes(plain, L, y[L]) > 0  # the constraint is doing work on digits


def test_must_and_cannot_link_puts_each_class_in_one_cluster():
    X, y = digits_pool()
    L = np.random.default_rng(0).choice(len(X), 40, replace=False)
    labels, _ = constrained_kmeans(X, 15, L, y[L], "both", seed=0)
    assert mixed_classes(labels, L, y[L]) == 0
    for c in np.unique(y[L]):
        assert len(np.unique(labels[L[y[L] == c]])) == 1


def test_constrained_kmeans_rejects_too_few_clusters():
    X, y = digits_pool()
    L = np.flatnonzero(y < 5)[:20]
    with pytest.raises(AlkitError, match="k=3 clusters cannot separate the 5 labelled classes"):
        constrained_kmeans(X, 3, L, y[L])
    with pytest.raises(AlkitError, match="constraints must be one of"):
        constrained_kmeans(X, 8, L, y[L], constraints="must")


@pytest.mark.parametrize("target", [20, 33])
def test_alg2_reaches_the_target_count_without_mixing_classes(target):
    X, y = digits_pool()
    rng = np.random.default_rng(1)
    L = rng.choice(len(X), 50, replace=False)
    y_pred = y.copy()
    flip = rng.random(len(y)) < 0.15  # an imperfect model's predictions
    y_pred[flip] = rng.integers(0, 10, flip.sum())
    out = cpl_generation(X, y_pred, 12, target, L, y[L], seed=1)
    labels = out["labels"]
    assert len(np.unique(labels)) == target and labels.max() == target - 1
    assert mixed_classes(labels, L, y[L]) == 0
    assert len(out["split_order"]) == target - 12
    np.testing.assert_array_equal(out["confusing"], confusing_counts(labels, y_pred, target))


def test_split_order_takes_the_most_confusing_cluster_first():
    X, y = digits_pool()
    initial, _ = constrained_kmeans(X, 10, seed=2, constraints="none")
    y_pred = y.copy()
    y_pred[initial == 0] = 7  # cluster 0 is constant under the predictions
    labels, order = split_confusing(X, initial, y_pred, 14, seed=2)
    assert 0 not in order  # a pure cluster is never split while mixed ones remain
    previous = initial
    for t, c in enumerate(order):  # each split took the cluster with the most confusing rows
        conf = confusing_counts(previous, y_pred, 10 + t)
        assert c == int(np.argmax(conf)) and conf[c] > 0
        previous, _ = split_confusing(X, initial, y_pred, 11 + t, seed=2)
    np.testing.assert_array_equal(previous, labels)


def test_cluster_count_rules():
    assert n_cpl_clusters(0, 20, 20, 100) == 20  # cold start: k-means into b_0
    assert n_cpl_clusters(100, 100, 20, 100) == 50  # half the labels
    assert n_cpl_clusters(500, 100, 20, 100) == 100  # capped at c_max
    assert n_cpl_clusters(30, 20, 20, 100) == 20  # Alg. 2 never merges below c0
    assert n_cpl_clusters(500, 100, 20, 100, "half_query") == 50
    with pytest.raises(AlkitError, match="n_clusters must be one of"):
        n_cpl_clusters(10, 10, 5, 100, "half")


# -- Table 2 --------------------------------------------------------------------------------
def paper_tables() -> dict:
    tables, name = {}, None
    for line in TABLES.read_text().splitlines():
        if line.startswith("## "):
            name = line[3:]
            tables[name] = {"rows": []}
        elif line.startswith("# Labels"):
            tables[name]["cols"] = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            parts = line.split("\t")
            cells = [tuple(map(float, p.split("±"))) for p in parts[1:]]
            tables[name]["rows"].append((int(parts[0]), cells))
    return tables


def table_curves(table, method):
    b = np.array([r[0] for r in table["rows"]])
    col, rnd = table["cols"].index(method), table["cols"].index("Random")
    m = np.array([r[1][col][0] for r in table["rows"]])
    rm = np.array([r[1][rnd][0] for r in table["rows"]])
    rs = np.array([r[1][rnd][1] for r in table["rows"]])
    return b, m, rm, rs


def test_effective_budget_ratio_reproduces_the_papers_tables():
    tables = paper_tables()
    assert len(tables) == 5
    b, m, rm, rs = table_curves(tables["CIFAR-10"], "NTKCPL(al)")
    assert effective_budget_ratio(b, m, rm, rs, mode="points") == pytest.approx(11 / 12)
    # spec §6: axis reading averaged over the 5 datasets 40.5 / 41.7 / 92.2 % (paper 40.8 /
    # 42.0 / 92.7); points pooled over all budget points 48.9 / 44.7 / 93.6 %
    for method, axis, points in (
        ("TypiClust", 40.5, 48.9),
        ("BADGE", 41.7, 44.7),
        ("NTKCPL(al)", 92.2, 93.6),
    ):
        per = [effective_budget_ratio(*table_curves(t, method)) for t in tables.values()]
        assert 100 * np.mean(per) == pytest.approx(axis, abs=0.05)
        n_pts = [len(t["rows"]) for t in tables.values()]
        pooled = sum(
            effective_budget_ratio(*table_curves(t, method), mode="points") * k
            for t, k in zip(tables.values(), n_pts, strict=True)
        ) / sum(n_pts)
        assert 100 * pooled == pytest.approx(points, abs=0.05)


def test_effective_budget_ratio_axis_geometry():
    b = [10, 20, 30]
    rm, rs = [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]
    assert effective_budget_ratio(b, [0.6, 0.6, 0.6], rm, rs) == 1.0
    assert effective_budget_ratio(b, [0.4, 0.4, 0.4], rm, rs) == 0.0
    # effective on [0, 10] (held constant), then linearly down to 0 at 15: 15 of 30
    assert effective_budget_ratio(b, [0.6, 0.4, 0.4], rm, rs) == pytest.approx(0.5)
    assert effective_budget_ratio(b, [0.6, 0.4, 0.4], rm, rs, mode="points") == pytest.approx(1 / 3)
    with pytest.raises(AlkitError, match="mode must be one of"):
        effective_budget_ratio(b, rm, rm, rs, mode="area")


def test_al_gain_and_sample_std():
    runs = np.array([[0.5, 0.7], [0.7, 0.9]])
    mean, std = mean_std(runs)
    np.testing.assert_allclose(mean, [0.6, 0.8])
    np.testing.assert_allclose(std, [np.sqrt(0.02), np.sqrt(0.02)])
    np.testing.assert_allclose(al_gain(mean, [0.55, 0.85]), [0.05, -0.05])


# -- strategies -----------------------------------------------------------------------------
def cold_context(seed: int = 0):
    """Digits pool, no labels, no model: NTKCPL's cold start (Alg. 1 line 4)."""
    splits = cached_splits("digits")
    return QueryContext(Pool(splits.X_pool, splits.y_pool), None, rng=np.random.default_rng(seed))


def test_ntkcpl_cold_start_contract_without_a_learner():
    check_strategy_contract("ntkcpl", cold_context, n=10, options={"max_candidates": 300})
    q = get_strategy("ntkcpl", max_candidates=300).query(cold_context(), 10)
    assert q.info["n_clusters"] == 10
    assert len(q.info["risk_trace"]) == 10
    with pytest.raises(AlkitError, match="needs a trained model"):
        get_strategy("lookahead").query(cold_context(), 5)


@pytest.mark.parametrize("features", ["al", "self"])
def test_ntkcpl_scores_and_info(features):
    ctx = make_context(0)
    q = get_strategy("ntkcpl", cpl_features=features, max_candidates=250).query(ctx, 8)
    scored = q.info["scored"]
    assert len(scored) == 250 and np.isin(q.indices, scored).all()
    finite = np.isfinite(q.scores)
    assert finite.sum() == 250
    np.testing.assert_array_equal(q.candidates[finite], scored)
    # the first pick has the best score: minus the smallest first-step risk
    first = np.searchsorted(q.candidates, q.indices[0])
    assert q.scores[first] == np.nanmax(q.scores) == -q.info["risk_trace"][0]
    # 40 labels → half is 20 = c0 clusters; no cluster holds two labelled classes
    assert q.info["n_clusters"] == 20
    cpl = np.full(len(ctx.pool), -1)
    cpl[q.candidates] = q.info["cpl"]
    assert 0.0 <= q.info["coverage_estimate"] <= 1.0
    assert 0.0 <= q.info["pick_purity"] <= 1.0 and 0.0 < q.info["cpl_purity"] <= 1.0


def test_ntkcpl_picks_per_step_and_pruning_options():
    base = get_strategy("ntkcpl", max_candidates=200, prune=False).query(make_context(3), 6)
    pruned = get_strategy("ntkcpl", max_candidates=200).query(make_context(3), 6)
    np.testing.assert_array_equal(base.indices, pruned.indices)
    np.testing.assert_array_equal(base.info["risk_trace"], pruned.info["risk_trace"])
    hybrid = get_strategy("ntkcpl", max_candidates=200, picks_per_step=3).query(make_context(3), 6)
    assert len(np.unique(hybrid.indices)) == 6
    assert hybrid.indices[0] == base.indices[0]


def test_lookahead_scores_equal_resolving_the_regression():
    """LookAhead's agreement of each candidate = re-solving with L ∪ {j} (pseudo-label target),
    with the trained digits MLP's traced NTK and f_0 = its outputs."""
    ctx = make_context(0)
    q = get_strategy("lookahead", max_candidates=40).query(ctx, 5)
    M, L = q.info["scored"], ctx.labeled_idx
    model = copy.deepcopy(ctx.learner.model).double()
    f = pntk_factors(ctx.pool.X[np.concatenate([M, L])], head_params(model))
    X_small = torch.as_tensor(ctx.pool.X[M[:6]], dtype=torch.float64)
    ref = empirical_ntk(model, X_small, X_small)
    theta = pntk_matrix(f, f)
    torch.testing.assert_close(theta[:6, :6], ref, rtol=1e-9, atol=1e-9)
    m = len(M)
    F0 = f.outputs_N_C
    Y = torch.nn.functional.one_hot(torch.as_tensor(ctx.labeled_y), F0.shape[1]).double()
    pseudo = F0[:m].argmax(1)
    Mi, Li = torch.arange(m), torch.arange(m, m + len(L))
    post = ntk_posterior(
        theta[Mi][:, Mi], theta[Mi][:, Li], theta[Li][:, Li], Y - F0[Li], F0[Mi], q.info["ridge"]
    )
    agreement = []
    for j in range(m):
        F_j = lookahead_predictions(post.F_M_K, post.A_M_M, j, int(pseudo[j]), post.ridge)
        agreement.append(int((F_j.argmax(1) == pseudo).sum()))
    scores = q.scores[np.searchsorted(q.candidates, M)]
    np.testing.assert_array_equal(scores, -np.asarray(agreement, dtype=float))
    np.testing.assert_array_equal(q.indices, M[np.argsort(agreement, kind="stable")[:5]])


def test_lookahead_closed_form_and_empirical_kernels_agree():
    a = get_strategy("lookahead", max_candidates=120).query(make_context(2), 6)
    b = get_strategy("lookahead", max_candidates=120, kernel="empirical", prune=False).query(
        make_context(2), 6
    )
    assert a.info["kernel"] == "closed_form" and b.info["kernel"] == "empirical"
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.scores, b.scores, equal_nan=True)
    t = get_strategy("lookahead", max_candidates=120, objective="t_softmax").query(
        make_context(2), 6
    )
    assert len(np.unique(t.indices)) == 6


def test_lookahead_ridge_schedule():
    s = get_strategy("lookahead")
    assert [s.relative_ridge(c) for c in (0, 4, 5, 7)] == pytest.approx([0.0, 0.0, 1e-5, 3e-5])
    assert get_strategy("lookahead", ridge=1e-3).relative_ridge(0) == 1e-3


def test_memory_budget_fails_before_any_work(monkeypatch):
    monkeypatch.setenv("ALKIT_NTK_MAX_BYTES", str(8 * 500**2))
    with pytest.raises(AlkitError, match="max_candidates ≤ 500"):
        get_strategy("ntkcpl")  # default M = 10,000 does not fit: fails at construction
    with pytest.raises(AlkitError, match="max_candidates ≤ 500"):
        get_strategy("lookahead", max_candidates=501)
    s = get_strategy("ntkcpl", max_candidates=None)
    with pytest.raises(AlkitError, match="max_candidates ≤ 500"):
        s.check_memory(1000)
    s.check_memory(400)
    with pytest.raises(AlkitError, match="max_candidates ≤ 500"):
        s.query(cold_context(), 5)  # the digits pool (~1,200 rows) exceeds the budget
    get_strategy("ntkcpl", max_candidates=500).check_memory(10_000)


@pytest.mark.parametrize(
    "spec,match",
    [
        ("ntkcpl:cpl_features=ssl", "cpl_features must be one of"),
        ("ntkcpl:c_max=0", "c_max must be an integer ≥ 1"),
        ("ntkcpl:ridge=-1", "ridge must be a finite number ≥ 0"),
        ("ntkcpl:bn=train", "bn must be one of"),
        ("ntkcpl:picks_per_step=0", "picks_per_step must be an integer ≥ 1"),
        ("ntkcpl:prune=yes", "prune must be true or false"),
        ("lookahead:objective=entropy", "objective must be one of"),
        ("lookahead:temperature=0", "temperature must be a finite number ≥ 1e-12"),
        ("lookahead:kernel=full", "kernel must be one of"),
    ],
)
def test_options_are_validated(spec, match):
    with pytest.raises(AlkitError, match=match):
        get_strategy(spec)


def test_c0_must_separate_the_labelled_classes():
    ctx = make_context(0)
    n_classes = len(np.unique(ctx.labeled_y))
    with pytest.raises(AlkitError, match=f"c0=5 initial clusters cannot separate the {n_classes}"):
        get_strategy("ntkcpl", c0=5, c_max=5, max_candidates=100).query(ctx, 4)
