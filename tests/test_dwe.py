"""Deep Wasserstein Embedding (thesis ch. 8): targets, model, loss (eq. 8.1) and a short fit."""

from __future__ import annotations

import functools

import numpy as np
import ot
import pytest
import torch

from alkit.dwe_training import (
    DWEPairs,
    dwe_barycentre,
    dwe_distances,
    dwe_embed,
    dwe_interpolate,
    dwe_loss,
    dwe_principal_modes,
    fit_dwe,
    image_histograms,
    make_pairs,
    predict_pairs,
)
from alkit.errors import AlkitError
from alkit.models.dwe import DWE


@functools.cache
def digit_histograms():
    from sklearn.datasets import load_digits

    return image_histograms(load_digits().images)


def test_histograms_pool_and_normalise():
    images = np.arange(2 * 4 * 4, dtype=float).reshape(2, 1, 4, 4)
    H = image_histograms(images, pool=2)
    assert H.shape == (2, 4)
    np.testing.assert_allclose(H.sum(1), 1.0)
    np.testing.assert_allclose(
        H[0] * images[0].sum(), [0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15]
    )
    with pytest.raises(AlkitError, match="no mass"):
        image_histograms(np.zeros((1, 3, 3)))


def test_targets_match_ot_emd2():
    H = digit_histograms()[:30]
    pairs = make_pairs(H, 8, 8, 12, np.random.default_rng(0))
    xy = np.stack(np.meshgrid(np.arange(8), np.arange(8), indexing="ij"), -1).reshape(-1, 2)
    M = ot.dist(xy.astype(float), xy.astype(float))
    expected = [ot.emd2(H[i], H[j], M) for i, j in zip(pairs.first, pairs.second, strict=True)]
    np.testing.assert_allclose(pairs.w2, expected, rtol=1e-9, atol=1e-12)
    again = make_pairs(H, 8, 8, 12, np.random.default_rng(0), workers=2)
    np.testing.assert_array_equal(again.first, pairs.first)
    np.testing.assert_allclose(again.w2, pairs.w2)


@pytest.mark.parametrize(("dx", "dy"), [(0, 0), (1, 0), (2, 3), (-4, 1)])
def test_a_shifted_unit_mass_costs_dx2_plus_dy2(dx, dy):
    img = np.zeros((2, 7, 7))
    img[0, 3, 4] = 1.0
    img[1, 3 + dy, 4 + dx] = 1.0
    H = image_histograms(img)
    pairs = make_pairs(H, 7, 7, 4, np.random.default_rng(0))
    for i, j, w2 in zip(pairs.first, pairs.second, pairs.w2, strict=True):
        assert w2 == pytest.approx(0.0 if i == j else dx * dx + dy * dy, abs=1e-12)


def test_model_decoder_sums_to_one_and_prediction_is_symmetric():
    torch.manual_seed(0)
    model = DWE(8, 8).eval()
    x = torch.as_tensor(digit_histograms()[:5], dtype=torch.float32)
    assert model.encode(x).shape == (5, 50)
    rec = model.decode(model.encode(x))
    assert rec.shape == (5, 64) and (rec > 0).all()
    torch.testing.assert_close(rec.sum(1), torch.ones(5))
    torch.testing.assert_close(model(x[:3], x[2:]), model(x[2:], x[:3]))
    assert torch.equal(model(x, x), torch.zeros(5))
    with pytest.raises(AlkitError, match="DWE takes"):
        model.encode(torch.zeros(2, 1, 7, 8))


def test_loss_is_eq_8_1_with_the_code_weights():
    torch.manual_seed(0)
    model = DWE(8, 8)
    x = torch.as_tensor(digit_histograms()[:6], dtype=torch.float32)
    x1, x2, y = x[:3], x[3:], torch.tensor([1.0, 2.0, 3.0])
    total, parts = dwe_loss(model, x1, x2, y, lam=10.0, sparsity=1e-3)
    z1, z2 = model.encode(x1), model.encode(x2)
    mse = (((z1 - z2) ** 2).sum(1) - y).pow(2).mean()

    def kl(a, b):
        a, b = a.clamp(1e-7, 1), b.clamp(1e-7, 1)
        return (a * torch.log(a / b)).sum(1).mean()

    r1, r2 = model.decode(z1), model.decode(z2)
    sparse = torch.sqrt(r1 + 1e-7).sum(1).mean() + torch.sqrt(r2 + 1e-7).sum(1).mean()
    expected = mse + 10.0 * (kl(x1, r1) + kl(x2, r2)) + 1e-3 * sparse
    torch.testing.assert_close(total, expected)
    assert parts["mse"] == pytest.approx(float(mse.detach()), rel=1e-6)


def test_short_training_on_digits_correlates_with_exact_w2():
    H = digit_histograms()
    rng = np.random.default_rng(0)
    train = make_pairs(H[:1200], 8, 8, 2000, rng)
    test = make_pairs(H[1200:], 8, 8, 300, rng)
    test = DWEPairs(test.first + 1200, test.second + 1200, test.w2)  # unseen images
    model, history = fit_dwe(H, train, 8, 8, epochs=8, seed=0, progress=False)
    assert history.val_mse[history.best_epoch] == min(history.val_mse)
    pred = predict_pairs(model, H, test)
    assert np.corrcoef(pred, test.w2)[0, 1] > 0.8
    # all-pairs distances are the same numbers as the pairwise predictions
    D = dwe_distances(model, H[test.first[:5]], H[test.second[:5]])
    np.testing.assert_allclose(np.diag(D.numpy()), pred[:5], rtol=1e-3, atol=1e-3)
    # interpolation ends are the reconstructions; barycentre weights are checked
    ends = dwe_interpolate(model, H[0], H[1], [0.0, 1.0])
    rec = model.decode(dwe_embed(model, H[:2])).detach().numpy()
    np.testing.assert_allclose(ends, rec, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dwe_barycentre(model, H[:1]), rec[0], rtol=1e-5, atol=1e-7)
    assert dwe_barycentre(model, H[:4], [0.1, 0.2, 0.3, 0.4]).sum() == pytest.approx(1.0)
    with pytest.raises(AlkitError, match="barycentre weights"):
        dwe_barycentre(model, H[:2], [0.7, 0.7])
    # principal geodesic modes (eq. 8.4): PCA of the embeddings, decoded around the mean
    modes, std = dwe_principal_modes(model, H[:300], n_modes=3, ts=[-1.0, 0.0, 1.0])
    assert modes.shape == (3, 3, 64) and (np.diff(std) <= 1e-9).all() and (std > 0).all()
    np.testing.assert_allclose(modes.sum(axis=2), 1.0, rtol=1e-5)
    np.testing.assert_allclose(modes[:, 1], np.repeat(modes[:1, 1], 3, 0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(modes[0, 1], dwe_barycentre(model, H[:300]), rtol=1e-4, atol=1e-6)
    Z = dwe_embed(model, H[:300]).double().numpy()
    v1 = np.linalg.svd(Z - Z.mean(0), full_matrices=False)[2][0]
    assert std[0] == pytest.approx(np.std((Z - Z.mean(0)) @ v1, ddof=1), rel=1e-4)
    with pytest.raises(AlkitError, match="n_modes must be"):
        dwe_principal_modes(model, H[:3], n_modes=3)
