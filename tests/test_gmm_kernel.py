"""GMM EM kernel (seed 003 §3.2, eq. 1-2) against scikit-learn and NumPy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import cached_dataset
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from alkit.errors import AlkitError
from alkit.kernels.gmm import (
    GMMParams,
    align_components,
    bhattacharyya,
    class_statistics,
    fit_gmm,
    fit_gmm_batched,
    init_from_means,
    log_likelihood,
    log_posterior,
)


@pytest.fixture(scope="module")
def digits_features():
    ds = cached_dataset("digits")
    X = ds.X_train.reshape(len(ds.X_train), -1)
    Z = PCA(12, random_state=0).fit_transform(X).astype(np.float32)
    return Z, ds.y_train


def _init(Z, y):
    first = [np.flatnonzero(y == c)[0] for c in range(10)]
    return init_from_means(Z, Z[first])


def test_em_matches_sklearn_diag(digits_features):
    Z, y = digits_features
    init = _init(Z, y)
    ours = fit_gmm(Z, init, n_iter=10)
    ref = GaussianMixture(
        10,
        covariance_type="diag",
        max_iter=10,
        tol=0,
        reg_covar=1e-6,
        weights_init=init.weights_K.numpy(),
        means_init=init.means_K_D.numpy(),
        precisions_init=1 / init.vars_K_D.numpy(),
        init_params="random_from_data",
    )
    with pytest.warns(Warning):  # sklearn warns that 10 iterations did not converge
        ref.fit(Z)
    p = ours.numpy()
    np.testing.assert_allclose(p["means_K_D"], ref.means_, rtol=1e-3, atol=2e-3)
    np.testing.assert_allclose(p["vars_K_D"], ref.covariances_, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(p["weights_K"], ref.weights_, atol=1e-4)
    ll = float(log_likelihood(Z, ours).mean())
    assert abs(ll - ref.score(Z)) / abs(ref.score(Z)) < 1e-4
    np.testing.assert_allclose(
        log_posterior(Z, ours).exp().numpy(), ref.predict_proba(Z), atol=1e-3
    )


def _numpy_em_fixed(Z, init: GMMParams, labels, n_iter):
    """Textbook EM in float64 with labelled rows' responsibilities fixed one-hot."""
    w, m, v = (
        t.numpy().astype(np.float64) for t in (init.weights_K, init.means_K_D, init.vars_K_D)
    )
    Z = Z.astype(np.float64)
    K = len(w)
    for _ in range(n_iter):
        logp = np.stack(
            [
                np.log(w[k]) - 0.5 * (np.log(2 * np.pi * v[k]) + (Z - m[k]) ** 2 / v[k]).sum(1)
                for k in range(K)
            ],
            1,
        )
        r = np.exp(logp - logp.max(1, keepdims=True))
        r /= r.sum(1, keepdims=True)
        lab = labels >= 0
        r[lab] = np.eye(K)[labels[lab]]
        nk = r.sum(0)
        w = nk / nk.sum()
        m = r.T @ Z / nk[:, None]
        v = np.maximum(r.T @ Z**2 / nk[:, None] - m**2, 1e-6)
    return w, m, v


def test_fixed_responsibilities_are_honoured(digits_features):
    Z, y = digits_features
    init = _init(Z, y)
    labels = np.where(np.random.default_rng(0).random(len(y)) < 0.3, y, -1)
    ours = fit_gmm(Z, init, n_iter=6, labels_N=labels).numpy()
    w, m, v = _numpy_em_fixed(Z, init, labels, 6)
    np.testing.assert_allclose(ours["weights_K"], w, atol=1e-4)
    np.testing.assert_allclose(ours["means_K_D"], m, rtol=1e-3, atol=2e-3)
    np.testing.assert_allclose(ours["vars_K_D"], v, rtol=2e-3, atol=2e-3)
    # all rows labelled: EM never moves away from the closed-form class statistics
    full = fit_gmm(Z, init, n_iter=5, labels_N=y).numpy()
    closed = class_statistics(Z, y, 10).numpy()
    for key in full:
        np.testing.assert_allclose(full[key], closed[key], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(closed["means_K_D"][3], Z[y == 3].mean(0), rtol=1e-4, atol=1e-4)


def test_log_posterior_and_likelihood_are_consistent(digits_features):
    Z, y = digits_features
    p = class_statistics(Z, y, 10)
    logpost = log_posterior(Z, p)
    torch.testing.assert_close(logpost.exp().sum(1), torch.ones(len(Z)), rtol=0, atol=1e-5)
    # chunked == unchunked
    torch.testing.assert_close(log_likelihood(Z, p, chunk_size=97), log_likelihood(Z, p))
    torch.testing.assert_close(log_posterior(Z, p, chunk_size=97), logpost)


def _numpy_bhattacharyya(m1, v1, m2, v2):
    S1, S2 = np.diag(v1), np.diag(v2)
    S = (S1 + S2) / 2
    d = m1 - m2
    return d @ np.linalg.inv(S) @ d / 8 + 0.5 * np.log(
        np.linalg.det(S) / np.sqrt(np.linalg.det(S1) * np.linalg.det(S2))
    )


def test_bhattacharyya_matches_numpy_eq2(digits_features):
    Z, y = digits_features
    p1 = class_statistics(Z[:600], y[:600], 10).to(dtype=torch.float64)
    p2 = class_statistics(Z[600:], y[600:], 10).to(dtype=torch.float64)
    ours = bhattacharyya(p1, p2).numpy()
    a, b = p1.numpy(), p2.numpy()
    for i in range(10):
        for j in range(10):
            ref = _numpy_bhattacharyya(
                a["means_K_D"][i], a["vars_K_D"][i], b["means_K_D"][j], b["vars_K_D"][j]
            )
            assert ours[i, j] == pytest.approx(ref, rel=1e-8, abs=1e-10)
    assert np.allclose(np.diag(bhattacharyya(p1, p1).numpy()), 0, atol=1e-10)


def test_hungarian_recovers_a_known_permutation(digits_features):
    Z, y = digits_features
    p = class_statistics(Z, y, 10)
    perm = np.random.default_rng(3).permutation(10)
    scrambled = p.permute(perm)
    order = align_components(p, scrambled)
    np.testing.assert_array_equal(perm[order], np.arange(10))
    torch.testing.assert_close(scrambled.permute(order).means_K_D, p.means_K_D)


def test_batched_fit_realigns_and_averages(digits_features):
    Z, y = digits_features
    init = class_statistics(Z, y, 10)
    one = fit_gmm(Z, init, 5)
    same = fit_gmm_batched(Z, init, batch_size=len(Z), n_iter=5)
    torch.testing.assert_close(same.means_K_D, one.means_K_D)
    # 450-row batches, each re-aligned to the reference before averaging, stay matched to it.
    batched = fit_gmm_batched(Z, init, batch_size=450, n_iter=5, rng=np.random.default_rng(0))
    assert np.array_equal(align_components(init, batched), np.arange(10))
    dist = np.diag(bhattacharyya(init, batched).numpy())
    assert dist.max() < 1.0


def test_bad_inputs_raise():
    Z = np.zeros((5, 3), np.float32)
    init = init_from_means(Z + np.arange(3), np.ones((2, 3)))
    with pytest.raises(AlkitError, match="2-D"):
        fit_gmm(np.zeros(5), init)
    with pytest.raises(AlkitError, match="NaN"):
        fit_gmm(np.full((5, 3), np.nan), init)
    with pytest.raises(AlkitError, match="dimension"):
        fit_gmm(np.zeros((5, 4)), init)
    with pytest.raises(AlkitError, match="labels"):
        fit_gmm(Z, init, labels_N=np.array([0, 1, 2, 0, 0]))
