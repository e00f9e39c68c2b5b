"""alkit.kernels.ot against POT on real digit histograms (8×8 grid, W₂² in pixel²)."""

from __future__ import annotations

import warnings

import numpy as np
import ot
import pytest
import torch

from alkit.errors import AlkitError
from alkit.kernels.ot import (
    OT_PRESETS,
    emd2_many,
    grid_coordinates,
    ground_cost,
    ipot_log,
    sinkhorn_log,
    solver_options,
    transport_costs,
)


@pytest.fixture(scope="module")
def digit_histograms():
    """Ten digit images as histograms on the 8×8 pixel grid, and the grid's pixel² cost."""
    from sklearn.datasets import load_digits

    images = load_digits().images[:10].reshape(10, -1).astype(np.float64)
    hists = images / images.sum(1, keepdims=True)
    C = ground_cost(grid_coordinates(8, 8), grid_coordinates(8, 8)).double().numpy()
    return hists, C


def smoothed(h):
    """Strictly positive weights (the log-domain solvers take logs)."""
    h = h + 1e-3
    return h / h.sum(-1, keepdims=True)


def test_ground_cost_matches_ot_dist():
    X = np.random.default_rng(0).normal(size=(7, 3))
    Y = np.random.default_rng(1).normal(size=(5, 3))
    np.testing.assert_allclose(ground_cost(X, Y).numpy(), ot.dist(X, Y), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        ground_cost(X, Y, p=1).numpy(), ot.dist(X, Y, metric="euclidean"), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        ground_cost(X, Y, p=3).numpy(), ot.dist(X, Y, metric="euclidean") ** 3, rtol=1e-4
    )
    with pytest.raises(AlkitError, match="p must be a positive number"):
        ground_cost(X, Y, p=0)


def test_unit_mass_shift_on_the_grid():
    """A unit mass moved by (dx, dy) pixels costs dx² + dy² (the DWE target's units)."""
    C = ground_cost(grid_coordinates(6, 5), grid_coordinates(6, 5)).double().numpy()
    a, b = np.zeros(30), np.zeros(30)
    a[1 * 5 + 1], b[4 * 5 + 3] = 1.0, 1.0
    assert emd2_many([C], a, b)[0] == pytest.approx(3**2 + 2**2)


def test_emd2_many_equals_ot_emd2(digit_histograms):
    hists, C = digit_histograms
    pairs = [(i, j) for i in range(5) for j in range(5, 10)]
    a = np.stack([hists[i] for i, _ in pairs])
    b = np.stack([hists[j] for _, j in pairs])
    expected = np.array([ot.emd2(hists[i], hists[j], C) for i, j in pairs])
    costs = np.broadcast_to(C, (len(pairs), *C.shape))
    np.testing.assert_allclose(emd2_many(costs, a, b), expected, rtol=1e-9)
    np.testing.assert_allclose(emd2_many(costs, a, b, workers=2), expected, rtol=1e-9)
    np.testing.assert_allclose(
        emd2_many(costs[:4], a[:4], b[:4], workers=2, executor="process"), expected[:4], rtol=1e-9
    )
    # shared weights, many costs
    rng = np.random.default_rng(0)
    many = [ot.dist(rng.normal(size=(6, 2)), rng.normal(size=(9, 2))) for _ in range(4)]
    np.testing.assert_allclose(
        emd2_many(many), [ot.emd2(np.full(6, 1 / 6), np.full(9, 1 / 9), M) for M in many]
    )


@pytest.mark.parametrize(("eps", "n_iter"), [(1.0, 10), (0.3, 7), (0.1, 50)])
def test_sinkhorn_log_equals_pot_sinkhorn_log(digit_histograms, eps, n_iter):
    hists, C = digit_histograms
    a, b = smoothed(hists[:4]), smoothed(hists[4:8])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # POT warns that 10 iterations do not converge
        expected = [
            ot.sinkhorn2(a[k], b[k], C, eps, method="sinkhorn_log", numItermax=n_iter, stopThr=0)
            for k in range(4)
        ]
    C_batch = torch.as_tensor(np.broadcast_to(C, (4, *C.shape)).copy())
    got = sinkhorn_log(C_batch, torch.as_tensor(a), torch.as_tensor(b), eps=eps, n_iter=n_iter)
    np.testing.assert_allclose(got.cost.numpy(), expected, rtol=1e-8)
    one = sinkhorn_log(C, a[0], b[0], eps=eps, n_iter=n_iter)  # unbatched n × m input
    assert one.cost.ndim == 0
    assert float(one.cost) == pytest.approx(expected[0], rel=1e-8)


def test_ipot_converges_to_emd(digit_histograms):
    hists, C = digit_histograms
    a, b = smoothed(hists[:3]), smoothed(hists[3:6])
    scale = C.max()
    exact = np.array([ot.emd2(a[k], b[k], C / scale) for k in range(3)])
    C_batch = torch.as_tensor(np.broadcast_to(C / scale, (3, *C.shape)).copy())
    res = ipot_log(C_batch, a, b, **solver_options("ipot", "converged"))
    np.testing.assert_allclose(res.cost.numpy(), exact, rtol=1e-3)
    assert res.n_iter < OT_PRESETS["ipot"]["converged"]["n_outer"]


def test_plans_meet_their_marginals(digit_histograms):
    hists, C = digit_histograms
    a, b = smoothed(hists[:3]), smoothed(hists[3:6])
    C_batch = torch.as_tensor(np.broadcast_to(C / C.max(), (3, *C.shape)).copy())
    sk = sinkhorn_log(C_batch, a, b, return_plan=True, **solver_options("sinkhorn", "converged"))
    ip = ipot_log(C_batch, a, b, return_plan=True, **solver_options("ipot", "converged"))
    for res in (sk, ip):
        T = res.plan.numpy()
        assert (T >= 0).all()
        np.testing.assert_allclose(T.sum(2), a, atol=1e-5)
        np.testing.assert_allclose(T.sum(1), b, atol=1e-5)
        np.testing.assert_allclose((T * C_batch.numpy()).sum((1, 2)), res.cost.numpy(), rtol=1e-9)
    # the thesis preset stops after 10 iterations: its free marginal is still off
    thesis = sinkhorn_log(C_batch, a, b, **solver_options("sinkhorn", "thesis"))
    assert thesis.n_iter == 10
    assert float(thesis.marginal_error.max()) > 1e-3


@pytest.mark.parametrize("solver", ["sinkhorn", "ipot"])
def test_batched_equals_looped(digit_histograms, solver):
    hists, C = digit_histograms
    a, b = smoothed(hists[:5]), smoothed(hists[5:10])
    rng = np.random.default_rng(0)
    costs = np.stack([C * rng.uniform(0.5, 1.5) / C.max() for _ in range(5)])
    batched = transport_costs(costs, a, b, solver, "thesis")
    looped = [transport_costs(costs[k : k + 1], a[k], b[k], solver, "thesis")[0] for k in range(5)]
    np.testing.assert_allclose(batched, looped, rtol=1e-9)
    f32 = transport_costs(costs.astype(np.float32), a, b, solver, "thesis")
    np.testing.assert_allclose(f32, batched, rtol=1e-3)


def test_bad_inputs_are_rejected(digit_histograms):
    hists, C = digit_histograms
    with pytest.raises(AlkitError, match="eps must be a positive number"):
        sinkhorn_log(C, eps=0.0)
    with pytest.raises(AlkitError, match="strictly positive"):
        sinkhorn_log(C, hists[0], hists[1])
    with pytest.raises(AlkitError, match="n × m or B × n × m"):
        ipot_log(np.zeros(5))
    with pytest.raises(AlkitError, match="a must have shape"):
        emd2_many([C], hists[0][:10])
    with pytest.raises(AlkitError, match="preset must be one of"):
        solver_options("ipot", "fast")
    with pytest.raises(AlkitError, match="solver must be one of"):
        transport_costs([C], solver="mmd")


def test_small_problems_leave_the_thread_setting_as_it_was(digit_histograms):
    hists, C = digit_histograms
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        one = sinkhorn_log(C / C.max(), smoothed(hists[0]), smoothed(hists[1]), eps=0.1, n_iter=5)
        assert torch.get_num_threads() == 2
        ipot_log(C / C.max(), n_outer=3)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ot.sinkhorn2(
            smoothed(hists[0]),
            smoothed(hists[1]),
            C / C.max(),
            0.1,
            method="sinkhorn_log",
            numItermax=5,
            stopThr=0,
        )
    assert float(one.cost) == pytest.approx(ref, rel=1e-8)
