"""Greedy Wasserstein prototypes (thesis ch. 9) against brute force with POT, and `wproto`."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import ot
import pytest
import torch
from conftest import make_context

from alkit.errors import AlkitError
from alkit.kernels.prototypes import (
    diameter,
    greedy_wasserstein_prototypes,
    summarise_target,
    wasserstein_distance,
)
from alkit.strategies import get_strategy


@functools.cache
def digit_rows():
    from sklearn.datasets import load_digits

    return load_digits().data.astype(np.float64) / 16.0


def three_gaussians(n: int, seed: int = 0) -> np.ndarray:
    """The thesis's second 2-D toy (§9.3): samples of three Gaussians."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 3.0]])
    return centres[rng.integers(3, size=n)] + 0.5 * rng.normal(size=(n, 2))


def exact_w2(S, U, w_U=None) -> float:
    w_U = np.full(len(U), 1 / len(U)) if w_U is None else w_U
    return math.sqrt(max(ot.emd2(np.full(len(S), 1 / len(S)), w_U, ot.dist(S, U)), 0.0))


def brute_force_greedy(P, U, k, S0=None):
    """The definition of the greedy, with ot.emd2 on freshly built costs."""
    chosen, curve = [], []
    for _ in range(k):
        best = None
        for x in range(len(P)):
            if x in chosen:
                continue
            S = P[chosen + [x]] if S0 is None else np.vstack([S0, P[chosen + [x]]])
            w = exact_w2(S, U)
            if best is None or w < best[1] - 1e-12:
                best = (x, w)
        chosen.append(best[0])
        curve.append(best[1])
    return chosen, curve


@pytest.mark.parametrize("solver", ["emd", "sinkhorn", "ipot"])
def test_first_pick_is_the_medoid(solver):
    """With S₀ = ∅ a one-point source has a forced plan: W₂² = Σ_u b_u ‖x − u‖² for any solver."""
    P, U = digit_rows()[:30], digit_rows()[100:160]
    w = np.random.default_rng(0).uniform(0.5, 1.5, size=len(U))
    picks, curve = greedy_wasserstein_prototypes(
        P, U, 1, solver=solver, target_weights_T=w, dtype=torch.float64
    )
    mean_sq = (ot.dist(P, U) * (w / w.sum())).sum(1)
    assert picks[0] == np.argmin(mean_sq)
    assert curve[0] == pytest.approx(math.sqrt(mean_sq.min()), rel=1e-5)


@pytest.mark.parametrize("with_start", [False, True])
def test_greedy_equals_brute_force_greedy(with_start):
    P = digit_rows()[200:208]
    U = digit_rows()[300:340]
    S0 = digit_rows()[400:404] if with_start else None
    picks, curve = greedy_wasserstein_prototypes(P, U, 3, start_S_D=S0)
    ref_picks, ref_curve = brute_force_greedy(P, U, 3, S0)
    assert picks.tolist() == ref_picks
    np.testing.assert_allclose(curve, ref_curve, rtol=1e-5)


@pytest.mark.parametrize("toy", ["gaussians", "digits"])
def test_optimum_le_greedy_le_bound(toy):
    P = three_gaussians(8) if toy == "gaussians" else digit_rows()[500:508]
    k = 3
    _, curve = greedy_wasserstein_prototypes(P, P, k)
    optimum = min(exact_w2(P[list(S)], P) for S in itertools.combinations(range(len(P)), k))
    diam = diameter(P)
    assert diam == pytest.approx(math.sqrt(ot.dist(P, P).max()), rel=1e-5)
    assert optimum <= curve[-1] + 1e-6
    assert curve[-1] <= (1 - 1 / math.e) * optimum + 2 * diam / math.e  # Th. 2.1 via (A.20)


def test_selecting_the_whole_target_gives_zero():
    U = three_gaussians(12, seed=3)
    _, curve = greedy_wasserstein_prototypes(U, U, len(U))
    assert curve[-1] == pytest.approx(0.0, abs=1e-6)
    assert wasserstein_distance(U, U) == pytest.approx(0.0, abs=1e-6)
    assert wasserstein_distance(U[:4], U) == pytest.approx(exact_w2(U[:4], U), rel=1e-5)


@pytest.mark.parametrize("solver", ["sinkhorn", "ipot"])
def test_chunked_equals_unchunked(solver):
    P, U, S0 = digit_rows()[:20], digit_rows()[600:700], digit_rows()[800:810]
    full = greedy_wasserstein_prototypes(P, U, 3, S0, solver)
    chunked = greedy_wasserstein_prototypes(P, U, 3, S0, solver, block_candidates=3)
    np.testing.assert_array_equal(full[0], chunked[0])
    np.testing.assert_allclose(full[1], chunked[1], rtol=1e-4)


def test_target_summaries():
    U = digit_rows()[:300]
    sub, w_sub = summarise_target(U, 50, "subsample", seed=1)
    again, _ = summarise_target(U, 50, "subsample", seed=1)
    np.testing.assert_array_equal(sub.numpy(), again.numpy())
    assert sub.shape == (50, 64) and w_sub.sum() == pytest.approx(1.0)
    centres, w_km = summarise_target(U, 20, "kmeans", seed=0)
    assert len(centres) <= 20 and w_km.sum() == pytest.approx(1.0) and (w_km > 0).all()
    picks, _ = greedy_wasserstein_prototypes(U[:40], U, 2, max_target=20, target_summary="kmeans")
    assert len(set(picks.tolist())) == 2
    with pytest.raises(AlkitError, match="target_summary must be one of"):
        summarise_target(U, 20, "median")


def test_bad_arguments():
    P = digit_rows()[:5]
    with pytest.raises(AlkitError, match="k=6 is larger than the number of candidates"):
        greedy_wasserstein_prototypes(P, P, 6)
    with pytest.raises(AlkitError, match="solver must be one of"):
        greedy_wasserstein_prototypes(P, P, 2, solver="mmd")
    with pytest.raises(AlkitError, match="features but the target"):
        greedy_wasserstein_prototypes(P, P[:, :10], 2)


WPROTO_FAST = {"max_candidates": 48, "max_target": 120, "max_start": 30}


def test_wproto_outputs():
    """(The contract itself runs in tests/test_strategy_contract.py with fast options.)"""
    ctx = make_context(seed=2)
    q = get_strategy("wproto", **WPROTO_FAST).query(ctx, 4)
    scored = ~np.isnan(q.scores)
    assert scored.sum() == 48
    assert len(q.info["w_curve"]) == 4
    # the first pick has the best first-step score
    assert q.scores[np.searchsorted(q.candidates, q.indices[0])] == np.nanmax(q.scores)


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("solver", "mmd", "emd, sinkhorn, ipot"),
        ("preset", "fast", "thesis, converged"),
        ("space", "pixels", "embedding, input, dwe"),
        ("max_target", 0, "an integer ≥ 1, or none"),
        ("p", -1, "a finite number ≥ 1e-09"),
    ],
)
def test_wproto_options_are_validated(option, value, allowed):
    with pytest.raises(AlkitError, match=f"option {option}=.*{allowed}"):
        get_strategy("wproto", **{option: value})


def test_balnet_wasserstein_post_step_is_greedy_prototypes_of_its_preselection():
    """Eq. 5.15: balnet with wasserstein=M pre-selects n·M by the KFAC greedy, then keeps the n
    greedy Wasserstein prototypes of those (exact EMD, S₀ = the labelled set)."""
    opts = {"max_candidates": 60, "w_max_target": 100, "w_max_start": 30}
    q = get_strategy("balnet", wasserstein=3, **opts).query(make_context(seed=4), 4)
    pre = q.info["preselected"]
    assert len(pre) == 12 and set(q.indices) <= set(pre)
    plain = get_strategy("balnet", **opts).query(make_context(seed=4), 12)
    np.testing.assert_array_equal(pre, plain.indices)  # the same KFAC greedy, run to n·M
    # replay the post-step: same generator draws (subsample, then S₀, then the target seed)
    ctx = make_context(seed=4)
    ctx.subsample(ctx.unlabeled_idx, 60, 4)
    ctx.rng.integers(2**31)  # balnet's dropout seed
    start = np.sort(ctx.rng.choice(ctx.labeled_idx, size=30, replace=False))
    picks, curve = greedy_wasserstein_prototypes(
        ctx.embed(pre),
        ctx.embed(np.arange(len(ctx.pool))),
        4,
        ctx.embed(start),
        max_target=100,
        seed=int(ctx.rng.integers(2**31)),
    )
    np.testing.assert_array_equal(q.indices, pre[picks])
    np.testing.assert_allclose(q.info["w_curve"], curve)
