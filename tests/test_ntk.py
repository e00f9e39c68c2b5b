"""alkit.kernels.ntk / ntk_lookahead against torch.func and against re-solving the regression.

Inputs are digits rows (real data); kernels and regressions in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import cached_splits
from torch import nn

from alkit.errors import AlkitError
from alkit.kernels.ntk import (
    check_head_params,
    empirical_ntk,
    head_params,
    mlp_pntk,
    ntk_head,
    pntk_factors,
    pntk_matrix,
)
from alkit.kernels.ntk_lookahead import (
    check_ntk_memory,
    downdate,
    factor_kernel,
    greedy_ntk_select,
    largest_fitting_m,
    lookahead_predictions,
    lookahead_risk,
    lookahead_softmax_change,
    ntk_posterior,
    project_to_simplex,
)
from alkit.models import build_model


def digits_rows(n: int, seed: int = 0) -> torch.Tensor:
    X = cached_splits("digits").X_pool.reshape(-1, 64)
    idx = np.random.default_rng(seed).choice(len(X), n, replace=False)
    return torch.as_tensor(X[idx], dtype=torch.float64)


def random_head(bn: bool, bias: bool, affine: bool = True, C: int = 6, seed: int = 0):
    head = ntk_head(64, 16, C, batchnorm=bn, bias=bias, seed=seed)
    if bn:
        g = torch.Generator().manual_seed(seed)
        norm = nn.BatchNorm1d(16, affine=affine).double().eval()
        norm.running_mean.copy_(torch.randn(16, generator=g, dtype=torch.float64) * 0.3)
        norm.running_var.copy_(torch.rand(16, generator=g, dtype=torch.float64) + 0.5)
        if affine:
            norm.weight.data = torch.randn(16, generator=g, dtype=torch.float64)
            norm.bias.data = torch.randn(16, generator=g, dtype=torch.float64) * 0.5
        head[1] = norm
    return head


@pytest.mark.parametrize(
    "bn,bias,affine",
    [
        (True, True, True),
        (True, False, True),
        (True, True, False),
        (False, True, True),
        (False, False, True),
    ],
)
def test_closed_form_pntk_equals_torch_func(bn, bias, affine):
    head = random_head(bn, bias, affine)
    XA, XB = digits_rows(25, 1), digits_rows(17, 2)
    closed = mlp_pntk(XA, XB, head_params(head))
    reference = empirical_ntk(head, XA, XB, trace=True)
    assert closed.shape == (25, 17)
    assert torch.max(torch.abs(closed - reference)) <= 1e-10
    # the forward pass of the factors is the head's own
    torch.testing.assert_close(pntk_factors(XA, head_params(head)).outputs_N_C, head(XA))


def test_traced_kernel_is_mean_of_full_kernel_blocks():
    head = random_head(True, True, C=5)
    X = digits_rows(12, 3)
    full = empirical_ntk(head, X, X[:7], trace=False)
    assert full.shape == (12, 7, 5, 5)
    traced = empirical_ntk(head, X, X[:7], trace=True)
    torch.testing.assert_close(full.sum((2, 3)) / 5, traced, rtol=0, atol=1e-10)
    # the full kernel is symmetric under swapping (a, c) with (b, c')
    sym = empirical_ntk(head, X[:7], X[:7], trace=False)
    torch.testing.assert_close(sym, sym.permute(1, 0, 3, 2), rtol=0, atol=1e-10)


def test_head_params_reads_alkit_mlp_and_rejects_other_models():
    mlp = build_model("mlp", (1, 8, 8), 10, hidden=(32,)).double().eval()
    X = digits_rows(10, 4)
    params = head_params(mlp)
    check_head_params(mlp, params, X)
    ref = empirical_ntk(mlp, X, X, trace=True)
    assert torch.max(torch.abs(mlp_pntk(X, X, params) - ref)) <= 1e-10
    with pytest.raises(AlkitError, match="Linear → \\[BatchNorm1d\\] → ReLU → Linear"):
        head_params(build_model("mlp", (64,), 10, hidden=(16, 16)))
    with pytest.raises(AlkitError, match="Linear → \\[BatchNorm1d\\] → ReLU → Linear"):
        head_params(build_model("lenet", (1, 28, 28), 10))


@pytest.mark.parametrize("block_rows", [1, 7, 40])
def test_pntk_blocked_equals_unblocked(block_rows):
    head = random_head(True, True)
    params = head_params(head)
    f = pntk_factors(digits_rows(40, 5), params)
    full = pntk_matrix(f, f, block_rows=40)
    torch.testing.assert_close(
        pntk_matrix(f, f, block_rows=block_rows), full, rtol=1e-13, atol=1e-12
    )
    torch.testing.assert_close(full.diagonal(), f.diag(), rtol=1e-12, atol=1e-10)


def problem(m=30, n=12, K=5, seed=0, ridge_rel=1e-3):
    """A small regression: digits rows, a fresh BN head with K outputs, random CPL targets."""
    head = random_head(True, True, C=K, seed=seed)
    X = digits_rows(m + n, seed)
    f = pntk_factors(X, head_params(head))
    theta = pntk_matrix(f, f)
    rng = np.random.default_rng(seed)
    y = torch.as_tensor(rng.integers(0, K, m + n))
    Y = torch.nn.functional.one_hot(y, K).double()
    ridge = ridge_rel * float(theta.diagonal().mean())
    return theta, f.outputs_N_C, y, Y, ridge, m


def fresh(theta, F0, Y, M_rows, L_rows, ridge):
    """The regression re-solved from scratch with labelled rows ``L_rows``."""
    M, L = torch.as_tensor(M_rows), torch.as_tensor(L_rows, dtype=torch.long)
    return ntk_posterior(theta[M][:, M], theta[M][:, L], theta[L][:, L], Y[L] - F0[L], F0[M], ridge)


def test_rank_one_lookahead_equals_resolving_for_every_candidate():
    theta, F0, y, Y, ridge, m = problem()
    M, L = np.arange(m), np.arange(m, len(y))
    post = fresh(theta, F0, Y, M, L, ridge)
    risks = lookahead_risk(post.F_M_K, post.A_M_M, y[:m], M, post.ridge)
    worst = 0.0
    for j in range(m):
        F_j = lookahead_predictions(post.F_M_K, post.A_M_M, j, int(y[j]), post.ridge)
        re = fresh(theta, F0, Y, M, np.append(L, j), ridge)
        worst = max(worst, float(torch.max(torch.abs(F_j - re.F_M_K))))
        keep = np.arange(m) != j
        brute = int((re.F_M_K.argmax(1) != y[:m])[keep].sum())
        assert int(risks[j]) == brute
    assert worst <= 1e-9


def test_greedy_downdates_equal_a_fresh_computation():
    theta, F0, y, Y, ridge, m = problem(m=40, n=10, seed=1)
    M, L = np.arange(m), np.arange(m, len(y))
    post = fresh(theta, F0, Y, M, L, ridge)
    res = greedy_ntk_select(post, y[:m].numpy(), 6)
    assert len(set(res.picks.tolist())) == 6
    re = fresh(theta, F0, Y, M, np.concatenate([L, res.picks]), ridge)
    torch.testing.assert_close(res.posterior.F_M_K, re.F_M_K, rtol=0, atol=1e-9)
    torch.testing.assert_close(res.posterior.A_M_M, re.A_M_M, rtol=0, atol=1e-9)
    # each pick had the lowest risk among the remaining candidates at its step
    replay = fresh(theta, F0, Y, M, L, ridge)
    active = np.ones(m, dtype=bool)
    for j, r in zip(res.picks, res.risk_trace, strict=True):
        cand = np.flatnonzero(active)
        risk = lookahead_risk(replay.F_M_K, replay.A_M_M, y[:m], cand, ridge, eval_mask_M=active)
        assert int(risk.min()) == r and cand[int(torch.argmin(risk))] == j
        downdate(replay, int(j), int(y[j]))
        active[j] = False


def test_empty_labelled_set_gives_prior():
    theta, F0, _, _, ridge, _ = problem()
    post = ntk_posterior(theta, theta[:, :0], theta[:0, :0], F0[:0], F0, ridge)
    torch.testing.assert_close(post.F_M_K, F0)
    torch.testing.assert_close(post.A_M_M, theta)


@pytest.mark.parametrize("block_rows", [1, 7, 30])
@pytest.mark.parametrize("prune", [False, True])
def test_blocked_and_pruned_scoring_equal_unblocked(block_rows, prune):
    theta, F0, y, Y, ridge, m = problem(seed=2)
    post = fresh(theta, F0, Y, np.arange(m), np.arange(m, len(y)), ridge)
    mask = np.ones(m, dtype=bool)
    mask[[3, 11]] = False
    cand = np.flatnonzero(mask)
    ref = lookahead_risk(post.F_M_K, post.A_M_M, y[:m], cand, ridge, eval_mask_M=mask, block_rows=m)
    got = lookahead_risk(
        post.F_M_K,
        post.A_M_M,
        y[:m],
        cand,
        ridge,
        eval_mask_M=mask,
        block_rows=block_rows,
        prune=prune,
    )
    torch.testing.assert_close(got, ref, rtol=0, atol=0)
    ref_t = lookahead_softmax_change(
        post.F_M_K, post.A_M_M, y[:m], cand, ridge, F0[:m], block_rows=m
    )
    got_t = lookahead_softmax_change(
        post.F_M_K, post.A_M_M, y[:m], cand, ridge, F0[:m], block_rows=block_rows
    )
    torch.testing.assert_close(got_t, ref_t, rtol=1e-12, atol=1e-12)


def four_blobs(per_blob=25, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0], [8.0, 8.0]])
    X = np.concatenate([c + 0.05 * rng.standard_normal((per_blob, 2)) for c in centres])
    return X, np.repeat(np.arange(4), per_blob)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("bn", ["pool", "identity"])
def test_four_blobs_known_answer(seed, bn):
    """CPL = the blobs, L = ∅, f_0 = 0: four picks cover the four blobs with zero final risk;
    three picks leave exactly one blob uncovered (with a positive risk)."""
    X, blob = four_blobs(seed=seed)
    head = ntk_head(2, 32, 4, batchnorm=True, seed=seed)
    if bn == "pool":
        a = torch.as_tensor(X) @ head[0].weight.T + head[0].bias
        head[1].running_mean.copy_(a.mean(0).detach())
        head[1].running_var.copy_(a.var(0).detach())
    f = pntk_factors(X, head_params(head))
    theta = pntk_matrix(f, f)
    zero = torch.zeros(len(X), 4, dtype=torch.float64)

    def run(b):
        ridge = 1e-3 * float(theta.diagonal().mean())
        post = ntk_posterior(theta, theta[:, :0], theta[:0, :0], zero[:0], zero, ridge)
        return greedy_ntk_select(post, blob, b)

    res4 = run(4)
    assert sorted(blob[res4.picks].tolist()) == [0, 1, 2, 3]
    assert res4.risk_trace[-1] == 0
    res3 = run(3)
    assert len(set(blob[res3.picks].tolist())) == 3
    assert res3.risk_trace[-1] == 25  # the uncovered blob's 25 rows


def test_eq9_identity_with_zero_f0():
    """Eq. 9 with f_0 = 0: if each labelled sample's label is its cluster's dominant label, the
    NTK trained on true labels equals the cluster-space NTK mapped by g (eq. 6)."""
    theta, F0, _, _, ridge, m = problem(m=20, n=16, K=8, seed=3)
    clusters = torch.as_tensor(np.random.default_rng(3).integers(0, 8, 36))
    dominant = torch.as_tensor([0, 1, 2, 0, 1, 2, 0, 1])  # g: cluster → class
    y_true = dominant[clusters]
    M, L = torch.arange(m), torch.arange(m, 36)
    zero = torch.zeros(36, 8, dtype=torch.float64)
    args = (theta[M][:, M], theta[M][:, L], theta[L][:, L])
    f_cpl = ntk_posterior(*args, nn.functional.one_hot(clusters[L], 8).double(), zero[M], ridge)
    f_y = ntk_posterior(*args, nn.functional.one_hot(y_true[L], 3).double(), zero[M, :3], ridge)
    g = nn.functional.one_hot(dominant, 3).double()  # K_c × C
    torch.testing.assert_close(f_cpl.F_M_K @ g, f_y.F_M_K, rtol=0, atol=1e-10)


def test_eigenvalue_guard_on_an_indefinite_kernel():
    theta, *_ = problem(m=10, n=6)
    K = theta[10:, 10:]
    lam = torch.linalg.eigvalsh(K)
    K = K - 1.5 * lam[0] * torch.eye(6, dtype=K.dtype)  # smallest eigenvalue −0.5 λ_min < 0
    chol, ridge, info = factor_kernel(K, 0.0)
    assert info["min_eig"] < 0
    assert ridge == pytest.approx(1.1 * 0.5 * float(lam[0]), rel=1e-6)
    torch.testing.assert_close(chol @ chol.T, K + ridge * torch.eye(6, dtype=K.dtype))
    chol2, ridge2, info2 = factor_kernel(theta[10:, 10:], 0.0)  # positive definite: untouched
    assert ridge2 == 0.0 and info2["jitter"] == 0.0


def test_memory_budget_names_the_largest_fitting_m(monkeypatch):
    monkeypatch.setenv("ALKIT_NTK_MAX_BYTES", str(8 * 1000**2))
    assert largest_fitting_m(8) == 1000
    check_ntk_memory(1000, 8)
    with pytest.raises(AlkitError, match="max_candidates ≤ 1000"):
        check_ntk_memory(1001, 8)


def test_simplex_projection():
    x = torch.as_tensor(np.random.default_rng(0).normal(size=(50, 6)))
    p = project_to_simplex(x)
    assert torch.all(p >= 0)
    torch.testing.assert_close(p.sum(1), torch.ones(50, dtype=x.dtype))
    # optimality: p is closer to x than random points of the simplex
    q = torch.distributions.Dirichlet(torch.ones(6, dtype=x.dtype)).sample((50,))
    assert torch.all(((p - x) ** 2).sum(1) <= ((q - x) ** 2).sum(1) + 1e-12)
    onehot = torch.eye(6, dtype=x.dtype)
    torch.testing.assert_close(project_to_simplex(onehot), onehot)
