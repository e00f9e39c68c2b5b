"""Rotation self-supervised pretraining and the cold start of seed 000's Algorithm 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import cached_splits, requires_fashion

from alkit.artifacts import artifact_spec
from alkit.errors import AlkitError
from alkit.loop import ExperimentConfig, initial_indices, run_experiment
from alkit.models import build_model
from alkit.pretrain import rotate_four_ways, rotation_pretrain
from alkit.train import TrainConfig


def test_rotate_four_ways_rotates_each_image_by_multiples_of_90_degrees():
    x = torch.arange(2 * 9, dtype=torch.float32).view(2, 1, 3, 3)
    rotated, labels = rotate_four_ways(x)
    assert rotated.shape == (8, 1, 3, 3)
    np.testing.assert_array_equal(labels.numpy(), [0, 1, 2, 3, 0, 1, 2, 3])
    torch.testing.assert_close(rotated[0], x[0])
    # 90° counter-clockwise: the first row becomes the first column read bottom-up
    torch.testing.assert_close(rotated[1, 0, :, 0], x[0, 0, 0].flip(0))
    torch.testing.assert_close(rotated[6], x[1].flip(1).flip(2))
    with pytest.raises(AlkitError, match="square images"):
        rotate_four_ways(torch.zeros(2, 1, 3, 4))


@requires_fashion
@pytest.mark.parametrize(
    "recipe",
    [{}, {"optimizer": "adam", "lr": 1e-3, "batch_size": 64, "step_size": 0}],
    ids=["authors-sgd", "adam"],
)
def test_rotation_pretraining_learns_rotations_and_keeps_the_last_layer(recipe):
    X = cached_splits("fashion_mnist", 100, 2000).X_pool[:800]
    torch.manual_seed(0)
    model = build_model("lenet", (1, 28, 28), 10)
    head_before = {k: v.clone() for k, v in model.head.state_dict().items()}
    conv_before = model.conv1.weight.detach().clone()
    report = rotation_pretrain(model, X, epochs=2, seed=0, **recipe)
    assert report.accuracies[-1] > 0.45, report  # chance is 0.25 (dropout is on)
    for k, v in model.head.state_dict().items():
        torch.testing.assert_close(v, head_before[k])
    assert not torch.allclose(model.conv1.weight, conv_before)


def test_rotation_recipe_options_are_checked_before_training():
    with pytest.raises(AlkitError, match="optimizer must be one of"):
        rotation_pretrain(build_model("mlp", (1, 8, 8), 10), torch.zeros(4, 1, 8, 8),
                          optimizer="rmsprop")  # fmt: skip
    with pytest.raises(
        AlkitError, match=r"optimizer of artifact 'rotation' must be one of \['sgd', 'adam'\]"
    ):
        artifact_spec("rotation").resolve({"optimizer": "lbfgs"})


def test_new_loop_options_default_off_and_are_validated():
    key = ExperimentConfig().data_key()
    assert key["pretrain"] is None and key["cold_start"] is False and key["features"] is None
    assert "artifact_options" in key and key["artifact_options"] is None
    with pytest.raises(AlkitError, match=r"pretrain \(--pretrain\) must be one of"):
        ExperimentConfig(pretrain="jigsaw")


@requires_fashion
def _cold_start_config(strategies, rounds: int) -> ExperimentConfig:
    """A tiny rotation-pretrained, cold-started run on 100×-imbalanced Fashion-MNIST."""
    return ExperimentConfig(
        dataset="fashion_mnist",
        imbalance=100,
        val_per_class=5,
        pool_size=600,
        test_size=100,
        pretrain="rotation",
        pretrain_epochs=1,
        cold_start=True,
        initial=20,
        query=10,
        rounds=rounds,
        seeds=(0,),
        strategies=tuple(strategies),
        train=TrainConfig(epochs=1, min_steps=10),
        device="cpu",
    )


def test_cold_start_lets_pfk_choose_round_0_after_rotation_pretraining():
    config = _cold_start_config(("pfk", "random"), rounds=1)
    states = {}
    rows = run_experiment(config, progress=False, on_round=lambda s: states.setdefault(
        (s.strategy, s.round), s))  # fmt: skip
    first = rows[rows["round"] == 0].set_index("strategy")
    assert first.loc["pfk", "n_labeled"] == first.loc["random", "n_labeled"] == 20
    cold = states[("pfk", 0)].query
    assert cold is not None and cold.info["centres"].size > 0
    np.testing.assert_array_equal(sorted(cold.indices), first.loc["pfk", "selected"])
    assert states[("random", 0)].query is None  # no cold-start support: drawn at random
    random_initial = initial_indices(config, states[("random", 0)].splits.y_pool, 0)
    np.testing.assert_array_equal(first.loc["random", "selected"], random_initial)
    assert rows["n_labeled"].max() == 30


def test_an_interrupted_cold_start_run_resumes_to_the_same_picks(tmp_path):
    config = _cold_start_config(("pcc",), rounds=2)

    def interrupt(state):
        if state.round == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, out=tmp_path / "cut", progress=False, on_round=interrupt)
    resumed = run_experiment(config, out=tmp_path / "cut", progress=False)
    full = run_experiment(config, out=tmp_path / "full", progress=False)
    assert resumed["selected"].tolist() == full["selected"].tolist()
    np.testing.assert_allclose(resumed["accuracy"], full["accuracy"])
