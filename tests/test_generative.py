"""Seed 004's generative models and their training (WGAN-GP, auto-encoder): shapes of Tables 4-5
with the spec's typo corrections, the shared gradient penalty, and training that learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import cached_splits

from alkit.errors import AlkitError
from alkit.generative import gradient_penalty, train_autoencoder, train_wgan_gp
from alkit.gmm_training import gradient_penalty as gmm_gradient_penalty
from alkit.models.generative import (
    ConvAutoencoder,
    Critic28,
    Generator28,
    MLPAutoencoder,
    MLPCritic,
    MLPGenerator,
    build_autoencoder,
    build_gan,
)


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_table5_gan_shapes_and_parameter_counts():
    gen, critic = build_gan((1, 28, 28), width=64)
    assert isinstance(gen, Generator28) and isinstance(critic, Critic28)
    # the paper's linear 128 × 4096, deconvs 256 → 128 → 64 → 1 (not 64: Table 5's typo)
    assert gen.fc.weight.shape == (4096, 128)
    assert gen.deconv3.out_channels == 1
    # the critic's linear layer reads 4·4·256 = 4096 inputs (not Table 5's 3136)
    assert critic.fc.in_features == 4096
    # spec §6: G ≈ 1.55M, D ≈ 1.03M parameters
    assert n_params(gen) == 1_554_177 and n_params(critic) == 1_030_145
    x = gen(torch.randn(3, 128))
    assert x.shape == (3, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
    assert critic(x).shape == (3,) and critic.features(x).shape == (3, 4096)
    small_gen, small_critic = build_gan((1, 28, 28), width=32)
    assert n_params(small_gen) < n_params(gen) / 2
    assert small_critic.features(x).shape == (3, 2048)


def test_mlp_gans_for_digits_and_toys():
    gen, critic = build_gan((1, 8, 8))
    assert isinstance(gen, MLPGenerator) and isinstance(critic, MLPCritic)
    # spec §5: G 128 → 256 → 64 with a sigmoid, D 64 → 256 → 256 → 1
    assert [layer.out_features for layer in gen.layers] == [256]
    assert critic.feature_dim == 256
    assert gen(torch.randn(4, 128)).shape == (4, 1, 8, 8)
    toy_gen, toy_critic = build_gan((2,), width=8, bounded=False)
    out = toy_gen(torch.randn(500, 128))
    assert out.shape == (500, 2) and (out < 0).any()  # no sigmoid for unbounded toys
    assert toy_critic(out).shape == (500,)
    with pytest.raises(AlkitError, match="conv28"):
        build_gan((1, 8, 8), arch="conv28")
    with pytest.raises(AlkitError, match="arch"):
        build_gan((1, 8, 8), arch="dcgan")


def test_table4_autoencoder_shapes():
    ae = build_autoencoder((1, 28, 28))
    assert isinstance(ae, ConvAutoencoder)
    x = torch.rand(5, 1, 28, 28)
    assert ae.encode(x).shape == (5, 192)  # 4 · 4 · 12
    assert ae(x).shape == x.shape and ae(x).min() >= 0 and ae(x).max() <= 1
    binary = build_autoencoder((1, 28, 28), channels=(1, 2, 4))  # Table 4 ÷ 3 (A.1)
    assert binary.encode(x).shape == (5, 64)
    cifar = ConvAutoencoder((3, 32, 32))
    assert cifar(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    assert isinstance(build_autoencoder((1, 8, 8)), MLPAutoencoder)


@pytest.mark.parametrize("shape", [(16, 3), (16, 1, 4, 4)])
def test_gradient_penalty_of_a_linear_critic_is_exact(shape):
    """D(x) = wᵀx has ∇D = w everywhere, so the penalty is (‖w‖ − 1)² on any interpolate."""
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(int(np.prod(shape[1:])), generator=gen, dtype=torch.float64)

    def linear_critic(x):
        return x.flatten(1) @ w

    real = torch.randn(shape, generator=gen, dtype=torch.float64)
    fake = torch.randn(shape, generator=gen, dtype=torch.float64) + 2
    gp, norm = gradient_penalty(linear_critic, real, fake)
    expected = (w.norm() - 1) ** 2
    torch.testing.assert_close(gp, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(norm, w.norm().expand(shape[0]), rtol=1e-12, atol=1e-12)
    assert gmm_gradient_penalty is gradient_penalty  # seed 003 shares the same penalty


def test_wgan_gp_learns_a_shifted_gaussian_and_is_seeded():
    """On a 2-D Gaussian at (3, −2) the generator's mean moves from near 0 to near the data."""
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(2000, 2)) * 0.3 + [3.0, -2.0]).astype(np.float32)
    kw = dict(iterations=150, width=8, lr=1e-3, device="cpu", progress=False)
    gen, critic, log = train_wgan_gp(X, seed=0, **kw)
    assert set(log) == {"critic_loss", "gp", "wasserstein", "generator_loss"}
    assert all(len(v) == 150 and np.isfinite(v).all() for v in log.values())
    with torch.no_grad():
        mean = gen(torch.randn(2000, 128, generator=torch.Generator().manual_seed(1))).mean(0)
    assert torch.linalg.norm(mean - torch.tensor([3.0, -2.0])) < 0.5, mean
    # the Wasserstein estimate shrinks as the generator catches up
    assert np.mean(log["wasserstein"][-20:]) < 0.5 * np.mean(log["wasserstein"][:10])
    assert not gen.training and not critic.training
    _, _, again = train_wgan_gp(X, seed=0, **{**kw, "iterations": 5})
    np.testing.assert_array_equal(again["critic_loss"], log["critic_loss"][:5])
    _, _, other = train_wgan_gp(X, seed=1, **{**kw, "iterations": 5})
    assert other["critic_loss"] != log["critic_loss"][:5]


def test_wgan_gp_options_are_checked():
    X = np.zeros((10, 2), np.float32)
    for bad in ({"iterations": 0}, {"n_critic": 1.5}, {"lr": -1.0}, {"betas": (0.5, 1.0)}):
        with pytest.raises(AlkitError, match=next(iter(bad))):
            train_wgan_gp(X, device="cpu", progress=False, **bad)
    with pytest.raises(AlkitError, match="NaN"):
        train_wgan_gp(np.full((10, 2), np.nan, np.float32), device="cpu")


def test_autoencoder_trains_on_digits_without_labels():
    X = cached_splits("digits", None, None).X_pool
    ae, log = train_autoencoder(X, seed=0, epochs=8, device="cpu", progress=False)
    assert len(log["loss"]) == 8 and log["loss"][-1] < 0.5 * log["loss"][0]
    with torch.no_grad():
        rec = ae(torch.as_tensor(X[:200]))
        code = ae.encode(torch.as_tensor(X[:200]))
    assert rec.shape == X[:200].shape and code.shape == (200, 16)
    err = ((rec - torch.as_tensor(X[:200])) ** 2).flatten(1).sum(1).mean().item()
    assert err == pytest.approx(log["loss"][-1], rel=0.5)
