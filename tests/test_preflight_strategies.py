"""Strategy preflight (issue 9 §3, DESIGN.md "Preflight"): each strategy's needs are checked
against the experiment's :class:`Setup` before any training, with one line naming the flag."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_context

from alkit.errors import AlkitError
from alkit.models import build_model
from alkit.strategies import Setup, Strategy, get_strategy, strategy_names
from alkit.strategies.bayesian import mc_dropout_probs
from alkit.train import Learner, TrainConfig


def setup_for(model="lenet", shape=(1, 28, 28), **fields) -> Setup:
    """A Setup with an untrained alkit model (``model=None`` for none) and the given fields."""
    net = None if model is None else build_model(model, shape, 10, **fields.pop("model_kw", {}))
    base = dict(
        model=net,
        has_validation=True,
        train=TrainConfig(),
        cold_start=False,
        pretrain=None,
        device=torch.device("cpu"),
    )
    return Setup(**{**base, **fields})


def refused(spec: str, setup: Setup, match: str) -> str:
    with pytest.raises(AlkitError, match=match) as err:
        get_strategy(spec).preflight(setup)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_setup_has_the_fields_the_loop_builds():
    from dataclasses import fields

    names = [f.name for f in fields(Setup)]
    assert names == [
        "model",
        "has_validation",
        "train",
        "cold_start",
        "pretrain",
        "device",
        "artifacts",
        "features",
        "n_pool",
    ]
    with pytest.raises(AttributeError):
        setup_for().cold_start = True  # frozen


@pytest.mark.parametrize("spec", ["pfk", "pcc", "pfk:estimator=mc_trace"])
def test_fisher_without_validation_names_the_flag(spec):
    refused(spec, setup_for(has_validation=False), r"validation set.*--val-per-class")


@pytest.mark.parametrize("name", ["bald", "varratio"])
def test_mc_dropout_without_dropout_is_refused_but_an_ensemble_is_not(name):
    no_dropout = setup_for("mlp", (64,), model_kw={"dropout": 0.0})
    refused(name, no_dropout, r"MC dropout.*MLP has no dropout.*n_members=5")
    refused(name, setup_for("resnet10", (3, 32, 32)), "ResNet has no dropout")
    # a linear MLP holds a dropout layer that its forward pass never calls
    refused(name, setup_for("mlp", (64,), model_kw={"hidden": ()}), "never applied")
    get_strategy(f"{name}:n_members=3").preflight(no_dropout)
    get_strategy(name).preflight(setup_for("mlp", (64,)))


def test_mc_dropout_passes_really_differ_and_an_unapplied_dropout_is_refused():
    ctx = make_context()
    X = ctx.pool.X[:50]
    probs = mc_dropout_probs(ctx.learner, X, 4, seed=0)
    assert probs.shape == (4, 50, 10)
    # dropout is applied: the passes differ by far more than round-off
    assert np.abs(probs[0] - probs[1]).max() > 1e-3
    np.testing.assert_allclose(probs, mc_dropout_probs(ctx.learner, X, 4, seed=0), atol=1e-6)

    linear = Learner(build_model("mlp", (64,), 10, hidden=()), TrainConfig(), device="cpu")
    assert linear.model.has_dropout()
    with pytest.raises(AlkitError, match="never applies them"):
        mc_dropout_probs(linear, X, 4, seed=0)


def test_gmm_hybrid_with_i_dis_needs_the_alignment_critic():
    msg = refused("gmm_hybrid", setup_for(), r"critic.*--gmm-align-steps")
    assert "gmm_align_steps" in msg
    get_strategy("gmm_hybrid").preflight(setup_for(train=TrainConfig(gmm_align_steps=10)))
    get_strategy("gmm_hybrid:metrics=like+ent").preflight(setup_for())


def test_gmm_likelihood_cannot_choose_a_cold_start_round():
    refused("gmm_like", setup_for(cold_start=True, pretrain="rotation"), "cold-start")
    get_strategy("gmm_hybrid:metrics=ent").preflight(setup_for(cold_start=True))


def test_pfk_taps_or_length_the_model_lacks_list_its_taps():
    mlp = setup_for("mlp", (64,))
    refused("pfk:length=80", mlp, r"L=80.*widths are {'hidden1': 128}")
    refused("pfk:taps=[x1,x2]", mlp, r"\['x1', 'x2'\].*taps are \['hidden1', 'embedding'\]")
    refused("pcc:taps=[x1,x9]", setup_for(), r"\['x9'\] are not taps of model LeNet")
    for spec in ("pfk:length=80", "pfk:length=20", "pfk:taps=[x1,x2,x4]", "pcc:length=30"):
        get_strategy(spec).preflight(setup_for())
    refused("pfk:length=81", setup_for(), r"L=81.*'x1': 10, 'x2': 20, 'x4': 50")
    resnet = setup_for("resnet10", (3, 32, 32))
    get_strategy("pfk:length=96").preflight(resnet)  # stem 32 + layer2 64
    get_strategy("pfk:taps=[layer4]").preflight(resnet)


def test_static_tap_widths_match_a_forward_pass():
    from alkit.strategies.fisher import static_tap_widths, tap_widths

    for name, shape in (("lenet", (1, 28, 28)), ("mlp", (64,)), ("resnet10", (3, 32, 32))):
        model = build_model(name, shape, 10)
        assert static_tap_widths(model) == tap_widths(model, np.zeros((1, *shape), np.float32))


def test_coreset_triton_backend_needs_triton_and_cuda(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    if torch.cuda.is_available():
        pytest.skip("this machine can run Triton on CUDA")
    refused("coreset:backend=triton", setup_for(), r"backend='triton'.*backend=torch")
    get_strategy("coreset:backend=auto").preflight(setup_for())


def test_model_free_experiments_refuse_model_strategies():
    refused("entropy", setup_for(None), r"needs a model.*--model")
    get_strategy("random").preflight(setup_for(None, has_validation=False))


class _NeedsArtifacts(Strategy):
    """A strategy that reads frozen features and a named artifact (not registered)."""

    name = "needs_artifacts"
    needs = frozenset({"features", "artifact:ntk"})

    def select(self, ctx, n):
        raise AssertionError("preflight only")


def test_features_and_artifacts_are_checked():
    refused_by = _NeedsArtifacts()
    with pytest.raises(AlkitError, match="frozen features.*--features"):
        refused_by.preflight(setup_for(artifacts=frozenset({"ntk"})))
    with pytest.raises(AlkitError, match="artifact 'ntk'.*builds none"):
        refused_by.preflight(setup_for(features="simclr"))
    refused_by.preflight(setup_for(features="simclr", artifacts=frozenset({"ntk"})))


def test_unknown_need_words_are_rejected_at_registration():
    from alkit.strategies import register

    class Bad(_NeedsArtifacts):
        name = "bad_needs"
        needs = frozenset({"gpu"})

    with pytest.raises(ValueError, match="unknown needs"):
        register(Bad)


def suitable_setup(strategy: Strategy) -> Setup:
    """A Setup that gives a strategy everything its needs words ask for."""
    needs = strategy.requirements()
    return setup_for(
        train=TrainConfig(gmm_align_steps=10),
        artifacts=frozenset(w.split(":", 1)[1] for w in needs if w.startswith("artifact:")),
        features="features" if "features" in needs else None,
    )


@pytest.mark.parametrize("name", strategy_names())
def test_every_registered_strategy_passes_preflight_on_a_suitable_setup(name):
    strategy = get_strategy(name)
    assert isinstance(strategy.needs, frozenset)
    strategy.preflight(suitable_setup(strategy))
