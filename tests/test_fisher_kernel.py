"""Fisher-kernel numerics (seed 000) against autograd, dense matrices and NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from alkit.errors import AlkitError
from alkit.kernels.fisher import (
    fisher_features,
    kcenter_similarity,
    merge_rank_by_rank,
    pfk_topk,
    similarity,
    standardize_blocks,
)
from alkit.kernels.fisher_mc import (
    blockwise_mutual_information,
    gaussian_mutual_information,
    mc_pseudo_labels,
    mc_trace_score,
    perturb,
)
from alkit.models import build_model


@pytest.fixture(scope="module")
def lenet_and_images():
    torch.manual_seed(0)
    model = build_model("lenet", (1, 28, 28), 10)
    X = np.random.default_rng(0).random((7, 1, 28, 28), dtype=np.float32)
    return model, X


def test_pooled_fisher_score_is_the_pooled_autograd_gradient(lenet_and_images):
    model, X = lenet_and_images
    labels = np.array([0, 3, 9, 1, 4, 4, 7])
    taps = ("x1", "x2", "x4")
    feats = fisher_features(model, X, taps, labels, batch_size=3, standardize=False)
    model.eval()
    for i in range(len(X)):  # one sample at a time, plain autograd
        x = torch.as_tensor(X[i : i + 1]).requires_grad_(True)
        logits, tap_values = model.forward_taps(x)
        acts = [tap_values[t] for t in taps]
        grads = torch.autograd.grad(F.cross_entropy(logits, torch.tensor([labels[i]])), acts)
        pooled_g = torch.cat([g.flatten(2).mean(2) if g.dim() > 2 else g for g in grads], 1)[0]
        pooled_z = torch.cat([a.flatten(2).mean(2) if a.dim() > 2 else a for a in acts], 1)[0]
        torch.testing.assert_close(feats.g_N_L[i], pooled_g.detach(), rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(feats.z_N_L[i], pooled_z.detach(), rtol=1e-5, atol=1e-7)
    assert feats.blocks == (10, 20, 50)
    assert feats.n_forward == feats.n_backward == len(X)
    assert all(p.grad is None for p in model.parameters())


def test_mlp_fisher_score_equals_gradient_of_the_one_d_tap():
    torch.manual_seed(1)
    model = build_model("mlp", (64,), 10, hidden=(16,))
    X = np.random.default_rng(1).random((5, 64), dtype=np.float32)
    feats = fisher_features(model, X, ("hidden1",), "yhat", standardize=False)
    model.eval()
    h = model.forward_taps(torch.as_tensor(X))[1]["hidden1"].detach().requires_grad_(True)
    logits = model.head(h)
    (grad,) = torch.autograd.grad(F.cross_entropy(logits, logits.argmax(1), reduction="sum"), h)
    torch.testing.assert_close(feats.g_N_L, grad, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(feats.labels_N.numpy(), logits.argmax(1).numpy())


def test_standardize_blocks_gives_zero_mean_unit_std_per_block():
    x = torch.randn(4, 30) * 5 + 2
    s = standardize_blocks(x, (10, 20))
    for part in torch.split(s, [10, 20], 1):
        torch.testing.assert_close(part.mean(1), torch.zeros(4), atol=1e-5, rtol=0)
        torch.testing.assert_close(part.pow(2).mean(1), torch.ones(4), atol=1e-4, rtol=0)
    with pytest.raises(AlkitError, match="do not add up"):
        standardize_blocks(x, (10, 10))


def test_descriptors_only_skip_the_backward_pass(lenet_and_images):
    model, X = lenet_and_images
    feats = fisher_features(model, X, ("x2",), labels=None)
    assert feats.g_N_L is None and feats.n_backward == 0 and feats.z_N_L.shape == (7, 20)
    with pytest.raises(AlkitError, match="unknown tap"):
        fisher_features(model, X, ("conv9",))


def test_pfk_equals_the_vectorised_parameter_gradient_kernel_eq11():
    # single scale: R_zg(m, n) = vec(g_m z_mᵀ)ᵀ vec(g_n z_nᵀ) = (z_mᵀ z_n)(g_mᵀ g_n)
    rng = torch.Generator().manual_seed(0)
    z, g = torch.randn(3, 6, generator=rng), torch.randn(3, 6, generator=rng)
    vec = torch.stack([torch.outer(g[i], z[i]).flatten() for i in range(3)])
    torch.testing.assert_close(similarity(z, z, g, g, "rzg"), vec @ vec.T)
    torch.testing.assert_close(similarity(z, z, g, g, "sum"), z @ z.T + g @ g.T)
    with pytest.raises(AlkitError, match="needs Fisher scores"):
        similarity(z, z, kernel="rzg")


@pytest.mark.parametrize("kernel", ["rz", "rzg", "sum"])
def test_blockwise_topk_equals_dense(kernel):
    rng = torch.Generator().manual_seed(3)
    zm, zn = torch.randn(5, 8, generator=rng), torch.randn(23, 8, generator=rng)
    gm, gn = torch.randn(5, 8, generator=rng), torch.randn(23, 8, generator=rng)
    dense = similarity(zm, zn, gm, gn, kernel)
    want_v, want_i = torch.sort(dense, dim=1, descending=True, stable=True)
    for block in (1, 4, 7, 1000):
        v, i, best = pfk_topk(zm, zn, gm, gn, kernel, k=6, block_size=block)
        torch.testing.assert_close(v, want_v[:, :6])
        torch.testing.assert_close(i, want_i[:, :6])
        torch.testing.assert_close(best, dense.max(0).values)


def test_topk_on_a_hand_built_similarity_matrix_then_rank_by_rank_merge():
    S = torch.tensor(
        [
            [0.9, 0.1, 0.8, 0.0, 0.3, 0.2],
            [0.9, 0.7, 0.1, 0.0, 0.2, 0.6],
            [0.0, 0.1, 0.2, 0.95, 0.9, 0.3],
        ]
    )
    # z_M = S and z_N = I make R_z = S exactly
    _, idx, _ = pfk_topk(S, torch.eye(6), kernel="rz", k=3, block_size=2)
    np.testing.assert_array_equal(idx.numpy(), [[0, 2, 4], [0, 1, 5], [3, 4, 5]])
    # rank 1: 0, (0 again), 3; rank 2: 2, 1, 4; rank 3: (4), 5
    np.testing.assert_array_equal(merge_rank_by_rank(idx.numpy(), 6), [0, 3, 2, 1, 4, 5])
    np.testing.assert_array_equal(merge_rank_by_rank(idx.numpy(), 4), [0, 3, 2, 1])


def test_kcenter_similarity_matches_a_brute_force_farthest_first():
    rng = torch.Generator().manual_seed(5)
    z, g = torch.randn(12, 4, generator=rng), torch.randn(12, 4, generator=rng)
    S = similarity(z, z, g, g, "rzg").numpy()
    chosen = [2]
    for _ in range(4):
        closeness = S[:, chosen].max(1)
        closeness[chosen] = np.inf
        chosen.append(int(np.argmin(closeness)))
    np.testing.assert_array_equal(kcenter_similarity(z, 5, g, "rzg", first=2), chosen)


def test_mc_mi_equals_numpy_gaussian_mutual_information():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 3))
    g = z @ rng.normal(size=(3, 2)) + 0.5 * rng.normal(size=(40, 2))
    ridge = 1e-6
    joint = np.cov(np.concatenate([z, g], 1), rowvar=False) + ridge * np.eye(5)
    want = 0.5 * (
        np.linalg.slogdet(joint[:3, :3])[1]
        + np.linalg.slogdet(joint[3:, 3:])[1]
        - np.linalg.slogdet(joint)[1]
    )
    got = gaussian_mutual_information(torch.as_tensor(z), torch.as_tensor(g), ridge)
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.item(), want, rtol=1e-10, atol=1e-12)
    # bivariate Gaussian with correlation rho: I = -½ log(1 - rho²)
    rho = 0.8
    x = rng.normal(size=(200_000, 1))
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=(200_000, 1))
    mi = gaussian_mutual_information(torch.as_tensor(x), torch.as_tensor(y)).item()
    np.testing.assert_allclose(mi, -0.5 * np.log(1 - rho**2), rtol=0.02)


def test_mc_trace_is_the_trace_of_the_cross_covariance():
    rng = np.random.default_rng(1)
    z, g = rng.normal(size=(9, 4)), rng.normal(size=(9, 3, 4))
    got = mc_trace_score(torch.as_tensor(z), torch.as_tensor(g), centred=True).numpy()
    for d in range(3):
        cross = np.cov(np.concatenate([z, g[:, d]], 1), rowvar=False)[:4, 4:]
        np.testing.assert_allclose(got[d], np.trace(cross), rtol=1e-10, atol=1e-12)
    raw = mc_trace_score(torch.as_tensor(z), torch.as_tensor(g)).numpy()
    np.testing.assert_allclose(raw, [(z * g[:, d]).sum() for d in range(3)], rtol=1e-10, atol=1e-12)


def test_blockwise_mi_is_the_sum_of_the_blocks_mi():
    rng = np.random.default_rng(2)
    z = torch.as_tensor(rng.normal(size=(60, 5)))
    g = z @ torch.as_tensor(rng.normal(size=(5, 5))) + torch.as_tensor(rng.normal(size=(60, 5)))
    want = gaussian_mutual_information(z[:, :2], g[:, :2]) + gaussian_mutual_information(
        z[:, 2:], g[:, 2:]
    )
    torch.testing.assert_close(blockwise_mutual_information(z, g, (2, 3)), want)
    torch.testing.assert_close(
        blockwise_mutual_information(z, g, (5,)), gaussian_mutual_information(z, g)
    )


def test_mc_fisher_scores_are_log_likelihood_gradients():
    # one copy, no perturbation, a linear head on a 1-tap MLP: Σ_l z_l g_l(d) with the Fisher
    # score ∂ log p(d)/∂z equals logit_d − b_d − Σ_c p_c (logit_c − b_c) (Euler's identity)
    torch.manual_seed(0)
    model = build_model("mlp", (1, 4, 4), 3, hidden=(5,))
    X = np.random.default_rng(0).random((4, 1, 4, 4), dtype=np.float32)
    _, scores, _ = mc_pseudo_labels(
        model, X, ("hidden1",), 3, "mc_trace", k=1, max_degrees=0.0, noise_std=0.0,
        standardize=False,
    )  # fmt: skip
    model.eval()
    with torch.no_grad():
        logits, taps = model.forward_taps(torch.as_tensor(X))
        shifted = logits - model.head.bias
        want = shifted - (torch.softmax(logits, 1) * shifted).sum(1, keepdim=True)
    np.testing.assert_allclose(scores, want.double().numpy(), rtol=1e-4, atol=1e-5)


def test_perturb_without_rotation_or_noise_copies_the_image(lenet_and_images):
    _, X = lenet_and_images
    x = torch.as_tensor(X[:2])
    out = perturb(x, 3, 0.0, 0.0, torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 1, 28, 28)
    torch.testing.assert_close(out[:, 1], x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("metric", ["mc_trace", "mc_mi"])
def test_mc_pseudo_labels_count_passes_and_are_reproducible(lenet_and_images, metric):
    model, X = lenet_and_images
    k = 6 if metric == "mc_trace" else 41  # x2 has 20 channels: mc_mi needs K ≥ 41
    labels, scores, backward = mc_pseudo_labels(model, X[:3], ("x2",), 10, metric, k=k, seed=4)
    again, _, _ = mc_pseudo_labels(model, X[:3], ("x2",), 10, metric, k=k, seed=4)
    assert scores.shape == (3, 10) and np.isfinite(scores).all()
    np.testing.assert_array_equal(labels, scores.argmax(1))
    np.testing.assert_array_equal(labels, again)
    assert backward == k * 10
