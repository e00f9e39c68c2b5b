"""KFAC factors, per-sample traces and the BalNet greedy (Ducoffe thesis ch. 5, eq. 5.11–5.20)."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import cached_dataset, cached_splits, make_context, requires_fashion
from strategy_template import check_strategy_contract

from alkit.errors import AlkitError
from alkit.kernels.kfac import (
    greedy_values,
    kfac_blocks,
    kfac_factors,
    kfac_greedy,
    kfac_sample_matrices,
    kfac_sample_rows,
    kfac_sample_traces,
    kfac_state,
)
from alkit.models import MLP, LeNet
from alkit.strategies import get_strategy


def tiny_mlp(seed=0) -> MLP:
    torch.manual_seed(seed)
    return MLP((64,), 10, hidden=(8,), dropout=0.0).double().eval()


@functools.cache
def digits(n=140):
    splits = cached_splits("digits")
    return splits.X_pool[:n].astype(np.float64), splits.y_pool[:n]


@functools.cache
def fashion(n=16):
    ds = cached_dataset("fashion_mnist")
    return ds.X_train[:n].astype(np.float64), ds.y_train[:n]


def lenet(seed=0) -> LeNet:
    torch.manual_seed(seed)
    return LeNet(p_conv=0.0, p_fc=0.0).double().eval()


def per_sample_grads(model, X, y) -> dict[str, torch.Tensor]:
    """Per-sample parameter gradients of the cross-entropy by ``torch.func.vmap(grad)``."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, x, t):
        logits = torch.func.functional_call(model, p, (x[None],))
        return F.cross_entropy(logits, t[None])

    return torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))(
        params, torch.as_tensor(X), torch.as_tensor(y)
    )


def test_linear_layer_gradient_outer_product_is_psi_kron_tau():
    model = tiny_mlp()
    X, y = digits(5)
    grads = per_sample_grads(model, X, y)
    mats = kfac_sample_matrices(model, X, y)
    for layer in ("layers.0", "head"):
        W, b = grads[f"{layer}.weight"], grads[f"{layer}.bias"]
        Wb = torch.cat([W, b[:, :, None]], dim=2)  # M × d_out × (d_in + 1)
        psi, tau = mats[layer]
        for i in range(len(X)):
            v = Wb[i].T.reshape(-1)  # column-major vec: ā ⊗ g
            torch.testing.assert_close(
                torch.outer(v, v), torch.kron(psi[i], tau[i]), rtol=1e-10, atol=1e-12
            )


@requires_fashion
def test_conv_rows_give_the_per_sample_weight_gradients():
    """G_iᵀ P_i is the per-sample gradient of [weight | bias] of every LeNet layer."""
    model = lenet()
    X, y = fashion(4)
    grads = per_sample_grads(model, X, y)
    rows = kfac_sample_rows(model, X, y)
    for layer in ("conv1", "conv2", "fc1", "head"):
        P, G = rows[layer]
        W, b = grads[f"{layer}.weight"], grads[f"{layer}.bias"]
        Wb = torch.cat([W.flatten(2), b[:, :, None]], dim=2)
        torch.testing.assert_close(torch.einsum("bto,btd->bod", G, P), Wb, rtol=1e-8, atol=1e-10)
    assert [(b.name, b.d_psi, b.d_tau) for b in kfac_blocks(model)] == [
        ("conv1", 26, 10),
        ("conv2", 251, 20),
        ("fc1", 321, 50),
        ("head", 51, 10),
    ]
    exact = kfac_blocks(model, conv_bias="exact")
    assert [(b.name, b.d_psi) for b in exact[:3]] == [
        ("conv1", 25),
        ("conv1.bias", 1),
        ("conv2", 250),
    ]
    rows = kfac_sample_rows(model, X, y, conv_bias="exact")
    P, G = rows["conv1.bias"]
    torch.testing.assert_close(G[:, 0], grads["conv1.bias"], rtol=1e-8, atol=1e-10)
    assert (P == 1).all()


def test_kronecker_trace_identity_on_tiny_sizes():
    g = torch.Generator().manual_seed(0)

    def spd(d):
        A = torch.randn(d, d + 2, generator=g, dtype=torch.float64)
        return A @ A.T

    Psi_A, Tau_A, Psi_B, Tau_B = spd(4), spd(3), spd(4), spd(3)
    lhs = torch.trace(torch.kron(Psi_B, Tau_B) @ torch.linalg.inv(torch.kron(Psi_A, Tau_A)))
    rhs = torch.trace(Psi_B @ torch.linalg.inv(Psi_A)) * torch.trace(
        Tau_B @ torch.linalg.inv(Tau_A)
    )
    torch.testing.assert_close(lhs, rhs, rtol=1e-10, atol=0)


def test_the_set_function_is_the_kfac_trace_of_eq_5_20():
    """Σ_l (b_ψ + Σ_B φ)(b_τ + Σ_B t) / (|A|+|B|)² = Tr(I_{A∪B} I_A⁻¹) with I from torch.kron."""
    model = tiny_mlp()
    X, y = digits()
    A, B = np.arange(100), np.arange(100, 112)
    blocks = kfac_blocks(model)
    state = kfac_state(kfac_factors(model, X[A], y[A], batch_size=32), blocks, len(A), 1e-3)
    union = kfac_factors(model, X[np.r_[A, B]], y[np.r_[A, B]])
    phi, t = kfac_sample_traces(model, X[B], state, y=y[B], batch_size=5)
    lam_I = {}
    for blk in blocks:
        L_psi, L_tau = state.chol_psi[blk.name], state.chol_tau[blk.name]
        lam_I[blk.name] = torch.kron(L_psi @ L_psi.T, L_tau @ L_tau.T)  # damped I_A block
    explicit = sum(
        torch.trace(torch.kron(*union[blk.name]) @ torch.linalg.inv(lam_I[blk.name]))
        for blk in blocks
    )
    criterion = ((state.base_psi_L + phi.sum(0)) * (state.base_tau_L + t.sum(0))).sum()
    np.testing.assert_allclose(criterion / (len(A) + len(B)) ** 2, float(explicit), rtol=1e-8)


def test_phi_summed_over_the_labelled_set_is_its_size_times_d():
    """Σ_{i∈A} φ_i = |A|·d for an invertible Ψ_A; in general |A|·rank(Ψ_A) as damping → 0
    (digits have constant border pixels, so the input layer's Ψ_A is singular)."""
    model = tiny_mlp(seed=1)  # no dead hidden unit on these digits
    X, y = digits()
    blocks = kfac_blocks(model)
    factors = kfac_factors(model, X, y)
    state = kfac_state(factors, blocks, len(X), damping=1e-12)
    phi, t = kfac_sample_traces(model, X, state, y=y)
    rank_psi = [int(torch.linalg.matrix_rank(factors[b.name][0])) for b in blocks]
    rank_tau = [int(torch.linalg.matrix_rank(factors[b.name][1])) for b in blocks]
    # full rank: the head's Ψ (8 hidden units + bias) and the hidden layer's τ
    assert rank_psi[1] == state.d_psi_L[1] == 9 and rank_tau[0] == state.d_tau_L[0] == 8
    np.testing.assert_allclose(phi.sum(0)[1], len(X) * 9, rtol=1e-6)
    np.testing.assert_allclose(t.sum(0)[0], len(X) * 8, rtol=1e-6)
    np.testing.assert_allclose(phi.sum(0), len(X) * np.array(rank_psi), rtol=1e-6)
    # the output layer's τ is singular (softmax gradients sum to 0): rank C − 1
    assert rank_tau[1] == 9
    np.testing.assert_allclose(t.sum(0), len(X) * np.array(rank_tau), rtol=1e-4)
    # with damping the base terms are still exactly Σ_A φ and Σ_A t
    damped = kfac_state(factors, blocks, len(X), damping=1e-2)
    phi_d, t_d = kfac_sample_traces(model, X, damped, y=y)
    np.testing.assert_allclose(phi_d.sum(0), damped.base_psi_L, rtol=1e-9)
    np.testing.assert_allclose(t_d.sum(0), damped.base_tau_L, rtol=1e-9)


@requires_fashion
def test_quadratic_form_traces_equal_explicit_traces_on_lenet():
    model = lenet()
    X, y = fashion()
    blocks = kfac_blocks(model, conv_bias="exact")
    state = kfac_state(kfac_factors(model, X, y, "exact"), blocks, len(X), 1e-3)
    pseudo = (y + 1) % 10
    phi, t = kfac_sample_traces(model, X[:5], state, y=pseudo[:5], batch_size=2)
    mats = kfac_sample_matrices(model, X[:5], pseudo[:5], "exact")
    for col, blk in enumerate(blocks):
        psi, tau = mats[blk.name]
        inv_psi = torch.cholesky_inverse(state.chol_psi[blk.name])
        inv_tau = torch.cholesky_inverse(state.chol_tau[blk.name])
        np.testing.assert_allclose(
            phi[:, col], torch.einsum("bij,ji->b", psi, inv_psi).numpy(), rtol=1e-7
        )
        np.testing.assert_allclose(
            t[:, col], torch.einsum("bij,ji->b", tau, inv_tau).numpy(), rtol=1e-7, atol=1e-12
        )


def test_expected_fisher_averages_the_per_class_traces():
    model = tiny_mlp()
    X, y = digits(60)
    state = kfac_state(kfac_factors(model, X[:50], y[:50]), kfac_blocks(model), 50, 1e-3)
    Xc = X[50:]
    _, t_exp = kfac_sample_traces(model, Xc, state, fisher="expected", batch_size=4)
    with torch.no_grad():
        probs = torch.softmax(model(torch.as_tensor(Xc)), 1).numpy()
    per_class = [kfac_sample_traces(model, Xc, state, y=np.full(10, c))[1] for c in range(10)]
    np.testing.assert_allclose(t_exp, np.einsum("mc,cml->ml", probs, per_class), rtol=1e-9)


def reference_greedy(phi, t, bpsi, btau, n, objective, n_labeled, d_psi, d_tau, n_params):
    """A plain-Python transcription of the greedy of each objective."""
    M, L = len(phi), len(phi[0])
    Phi, T, chosen, values = [0.0] * L, [0.0] * L, [], []
    for k in range(n):
        best, best_i = -float("inf"), -1
        for i in range(M):
            if i in chosen:
                continue
            if objective == "max":
                v = sum(
                    (bpsi[l] + Phi[l] + phi[i][l]) * (btau[l] + T[l] + t[i][l]) for l in range(L)
                )
            elif objective == "code_min":
                v = -sum(
                    (Phi[l] + phi[i][l]) * (T[l] + t[i][l])
                    + n_labeled * d_psi[l] * d_tau[l] * (phi[i][l] + t[i][l])
                    for l in range(L)
                )
            else:
                if k == 0:
                    S = sum(bpsi[l] * btau[l] for l in range(L)) / n_labeled**2
                else:
                    S = (sum(bpsi) / n_labeled + sum(Phi)) * (sum(btau) / n_labeled + sum(T))
                total = (S + sum(phi[i][l] * t[i][l] for l in range(L))) / (k + 1)
                v = n_params * abs(np.log(abs(total)) - np.log(n_params)) + total
            if v > best:
                best, best_i = v, i
        chosen.append(best_i)
        values.append(best)
        for l in range(L):
            Phi[l] += phi[best_i][l]
            T[l] += t[best_i][l]
    return chosen, values


@pytest.mark.parametrize("objective", ["max", "code_min", "code_covering"])
def test_greedy_equals_a_plain_python_reference(objective):
    rng = np.random.default_rng(3)
    phi, t = rng.gamma(1.0, 2.0, size=(14, 3)), rng.gamma(0.5, 1.0, size=(14, 3))
    bpsi, btau, d_psi, d_tau = [60.0, 30.0, 9.0], [20.0, 18.0, 10.0], [6, 3, 1], [2, 2, 1]
    order, values = kfac_greedy(
        phi, t, bpsi, btau, 6, objective, n_labeled=10, d_psi_L=d_psi, d_tau_L=d_tau, n_params=500
    )
    ref_order, ref_values = reference_greedy(
        phi.tolist(), t.tolist(), bpsi, btau, 6, objective, 10, d_psi, d_tau, 500
    )
    assert order.tolist() == ref_order
    np.testing.assert_allclose(values, ref_values, rtol=1e-12)
    assert len(set(order.tolist())) == 6


def test_greedy_against_brute_force_on_ten_candidates():
    """The greedy is not guaranteed optimal (f is supermodular); it is close on small cases."""
    rng = np.random.default_rng(0)
    phi, t = rng.gamma(1.0, 2.0, size=(10, 2)), rng.gamma(1.0, 2.0, size=(10, 2))
    bpsi, btau = np.array([5.0, 3.0]), np.array([4.0, 2.0])
    order, _ = kfac_greedy(phi, t, bpsi, btau, 3)

    def f(subset):
        return ((bpsi + phi[list(subset)].sum(0)) * (btau + t[list(subset)].sum(0))).sum()

    best = max(f(s) for s in itertools.combinations(range(10), 3))
    assert 0.9 * best <= f(order) <= best


def test_greedy_values_first_step_is_f_of_a_singleton():
    rng = np.random.default_rng(1)
    phi, t = rng.random((5, 2)), rng.random((5, 2))
    b = np.array([3.0, 1.0])
    v = greedy_values(phi, t, np.zeros(2), np.zeros(2), b, b)
    np.testing.assert_allclose(v, ((b + phi) * (b + t)).sum(1))


def test_balnet_picks_follow_the_greedy_on_its_traces():
    query = get_strategy("balnet", max_candidates=200).query(make_context(), 10)
    info = query.info
    order, _ = kfac_greedy(info["phi"], info["t"], info["base_psi"], info["base_tau"], 10, "max")
    np.testing.assert_array_equal(query.indices, info["scored"][order])
    assert info["layers"] == ["layers.0", "head"]
    first = ((info["base_psi"] + info["phi"]) * (info["base_tau"] + info["t"])).sum(1)
    np.testing.assert_allclose(query.scores[np.isfinite(query.scores)], first)
    # a different objective (the newer code's argmin) picks a different batch
    code = get_strategy("balnet", max_candidates=200, objective="code_min").query(
        make_context(), 10
    )
    assert set(code.indices) != set(query.indices)


def test_undamped_singular_factors_are_refused_with_a_clear_error():
    with pytest.raises(AlkitError, match="not positive definite"):
        get_strategy("balnet", damping=0.0, relative_damping=False).query(make_context(), 5)


def test_balnet_contract_with_the_code_objective_and_expected_fisher():
    check_strategy_contract(
        "balnet",
        make_context,
        options={"max_candidates": 300, "objective": "code_covering", "fisher": "expected"},
    )


@pytest.mark.parametrize(
    "options, match",
    [
        ({"max_candidates": 0}, "max_candidates"),
        ({"damping": -1.0}, "option damping"),
        ({"relative_damping": 1}, "option relative_damping"),
        ({"fisher": "true"}, "option fisher"),
        ({"objective": "min"}, "option objective"),
        ({"conv_bias": "none"}, "option conv_bias"),
        ({"unlabeled_dropout": "yes"}, "option unlabeled_dropout"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_balnet_rejects_bad_options(options, match):
    with pytest.raises(AlkitError, match=match):
        get_strategy("balnet", **options)
