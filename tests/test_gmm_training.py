"""Seed 003 training options: L_GMM regulariser (§3.3) and the WGAN-GP critic (§3.4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import cached_splits

from alkit.errors import AlkitError
from alkit.gmm_training import (
    GMMTrainOptions,
    balanced_subset,
    critic_features,
    critic_step,
    gradient_penalty,
    make_critic,
)
from alkit.kernels.gmm import class_statistics
from alkit.loop import ExperimentConfig, run_experiment
from alkit.models import build_model
from alkit.results import read_results
from alkit.train import Learner, TrainConfig, seed_everything


def test_gradient_penalty_is_taken_on_interpolates():
    torch.manual_seed(0)
    a, b = torch.randn(64, 5), torch.randn(64, 5) + 3
    seen = []
    w = torch.tensor([[0.6, 0.0, 0.8, 0.0, 2.0]])

    def linear_critic(x):
        seen.append(x.detach())
        return x @ w.T

    gp, norm = gradient_penalty(linear_critic, a, b)
    torch.testing.assert_close(norm, torch.full((64,), float(w.norm())))
    assert gp.item() == pytest.approx((float(w.norm()) - 1) ** 2, rel=1e-5)
    t = (seen[0] - b) / (a - b)  # every row is a convex combination of a_i and b_i
    assert torch.allclose(t, t[:, :1].expand_as(t), atol=1e-4)
    assert ((t >= 0) & (t <= 1)).all()


def test_critic_training_drives_gradient_norm_toward_one():
    """A small WGAN-GP run on real embeddings of two digit groups: ‖∇D‖ on interpolates → 1."""
    splits = cached_splits("digits", None, None)
    X = torch.as_tensor(splits.X_pool.reshape(len(splits.X_pool), -1))
    y = torch.as_tensor(splits.y_pool)
    psi = class_statistics(X, y, 10)
    f_L = critic_features(X[y < 5], psi, psi)
    f_UL = critic_features(X[y >= 5], psi, psi)
    torch.manual_seed(0)
    critic = make_critic(f_L.shape[1], 64)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
    norms = []
    for _ in range(300):
        li, ui = torch.randint(len(f_L), (64,)), torch.randint(len(f_UL), (64,))
        norms.append(critic_step(critic, opt, f_L[li], f_UL[ui], 10.0)["grad_norm"])
    start, end = np.mean(norms[:10]), np.mean(norms[-50:])
    assert abs(end - 1) < 0.35, (start, end)
    assert abs(end - 1) < abs(start - 1) / 2, (start, end)


def test_balanced_subset_is_balanced_over_present_classes():
    y = np.r_[np.zeros(50, int), np.ones(5, int), np.full(20, 3)]
    rows = balanced_subset(y, 30, 4, torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(np.bincount(y[rows], minlength=4), [10, 10, 0, 10])


def _fit(cfg, **kw):
    splits = cached_splits("digits", None, None)
    labeled = np.random.default_rng(5).choice(len(splits.y_pool), 60, replace=False)
    seed_everything(0)
    net = build_model("mlp", splits.X_pool.shape[1:], 10)
    learner = Learner(net, cfg, device="cpu", seed=0)
    learner.fit(splits.X_pool[labeled], splits.y_pool[labeled], **kw)
    return learner, splits


def test_regulariser_changes_training_and_default_does_not():
    base = TrainConfig(epochs=3, min_steps=20)
    plain, splits = _fit(base)
    again, _ = _fit(TrainConfig(epochs=3, min_steps=20, gmm_reg=0.0))
    reg, _ = _fit(TrainConfig(epochs=3, min_steps=20, gmm_reg=1.0, gmm_options={"subset": 50}))
    X = splits.X_test[:200]
    np.testing.assert_array_equal(plain.predict_logits(X), again.predict_logits(X))
    assert not np.allclose(plain.predict_logits(X), reg.predict_logits(X))
    assert plain.gmm_state is None and reg.gmm_state is None


def test_alignment_needs_unlabelled_data_and_options_are_checked():
    with pytest.raises(AlkitError, match="X_unlabeled"):
        _fit(TrainConfig(epochs=1, min_steps=1, gmm_align_steps=2))
    with pytest.raises(AlkitError, match="unknown gmm_options"):
        GMMTrainOptions.from_dict({"subsett": 3})


def _aligned_config(rounds: int) -> ExperimentConfig:
    """A tiny digits run of gmm_hybrid whose training includes the alignment stage."""
    return ExperimentConfig(
        dataset="digits",
        initial=30,
        query=10,
        rounds=rounds,
        seeds=(0,),
        strategies=("gmm_hybrid:candidate_factor=3",),
        train=TrainConfig(
            epochs=2,
            min_steps=10,
            gmm_align_steps=4,
            gmm_options={"refresh_every": 2, "batch_size": 16, "em_iters": 3},
        ),
        device="cpu",
    )


def test_loop_passes_the_unlabelled_pool_to_the_alignment_stage(tmp_path):
    seen = []
    cfg = _aligned_config(rounds=1)
    df = run_experiment(cfg, out=tmp_path, progress=False, on_round=seen.append)
    assert list(df["n_labeled"]) == [30, 40]
    state = seen[-1].learner.gmm_state
    assert state is not None and len(state.history["grad_norm"]) == 4
    assert set(seen[-1].query.info) == {"I_Like", "I_Dis", "I_Ent"}


def test_an_interrupted_aligned_run_resumes_with_its_critic(tmp_path):
    """The critic and ψ travel in the checkpoint: gmm_hybrid (which needs I_Dis) resumes."""
    cfg = _aligned_config(rounds=2)

    def interrupt(state):
        if state.round == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, out=tmp_path, progress=False, on_round=interrupt)
    assert len(read_results(tmp_path)) == 2
    seen = []
    df = run_experiment(cfg, out=tmp_path, progress=False, on_round=seen.append)
    assert list(df["n_labeled"]) == [30, 40, 50]
    assert [s.round for s in seen] == [2] and "I_Dis" in seen[0].query.info
