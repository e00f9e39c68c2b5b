"""How an experiment uses artifacts: which it needs, with which options, and frozen features.

The loop (:func:`alkit.loop.run_experiment`) and ``alkit pretrain`` both go through these
functions, so an artifact built ahead of time by the CLI is the very cache entry the loop reads.
An experiment needs:

- ``rotation`` when ``pretrain="rotation"`` (seed 000: every layer but the last pretrained);
- the ``features`` artifact (``"simsiam"``, ``"simclr"``, ``"pca"``, …): the pool, validation and
  test sets become its ``N × D`` features and the model an ``mlp_bn`` head (seed 002);
- every ``"artifact:<name>"`` a strategy lists in its ``needs``.
"""

from __future__ import annotations

import dataclasses

from alkit.artifacts.registry import artifact_spec
from alkit.artifacts.stage import Artifact, build_artifact, encode
from alkit.errors import AlkitError

#: The experiment fields that decide the pool's images (and so every artifact built on them).
SPLIT_FIELDS = (
    "dataset",
    "imbalance",
    "rare_classes",
    "imbalance_per_class",
    "long_tail",
    "val_per_class",
    "pool_size",
)


def split_key(config) -> dict:
    """The part of an experiment's config that fixes the pool: an artifact's ``data_key``."""
    out = {}
    for name in SPLIT_FIELDS:
        value = getattr(config, name, None)
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def strategy_artifacts(strategies) -> list[str]:
    """The artifact names the strategies declare as ``"artifact:<name>"`` in ``needs``."""
    names = []
    for strategy in strategies:
        needs = strategy.requirements() if hasattr(strategy, "requirements") else strategy.needs
        for need in sorted(needs):
            if need.startswith("artifact:") and need[9:] not in names:
                names.append(need[9:])
    return names


def needed_artifacts(config, strategies=()) -> list[str]:
    """Every artifact the experiment builds per seed, in build order."""
    names = []
    if config.pretrain is not None:
        names.append(config.pretrain)
    if getattr(config, "features", None) and config.features not in names:
        names.append(config.features)
    names += [n for n in strategy_artifacts(strategies) if n not in names]
    return names


def experiment_options(config, name: str, n_classes: int) -> dict:
    """The options of artifact ``name`` in an experiment: ``artifact_options[name]`` on top of
    what the config implies (rotation pretrains the experiment's own model for
    ``pretrain_epochs``). Checked by the artifact's typed options."""
    options = {}
    if name == "rotation":
        options = {
            "model": config.model_name,
            "model_options": dict(config.model_options),
            "n_classes": int(n_classes),
            "epochs": config.pretrain_epochs,
        }
    given = (getattr(config, "artifact_options", None) or {}).get(name, {})
    return artifact_spec(name).resolve({**options, **given})


def check_experiment_artifacts(config, strategies, input_shape, n_classes: int) -> list[str]:
    """Preflight: every needed artifact exists, takes these inputs and its options check; the
    ``features`` artifact has an encoder. Returns the names; raises a one-line AlkitError."""
    given = getattr(config, "artifact_options", None) or {}
    names = needed_artifacts(config, strategies)
    for name in given:
        artifact_spec(name)  # unknown names list the valid ones
    for name in names:
        spec = artifact_spec(name)
        spec.check_input_shape(input_shape)
        experiment_options(config, name, n_classes)
    features = getattr(config, "features", None)
    if features and artifact_spec(features).encoder is None:
        raise AlkitError(f"features (--features) {features!r} is an artifact without features")
    return names


def build_experiment_artifacts(
    config, splits, seed: int, strategies=(), progress: bool | None = None
) -> dict[str, Artifact]:
    """Build (or load from the cache) the artifacts of one seed from its pool's inputs only."""
    return {
        name: build_artifact(
            name,
            splits.X_pool,
            data_key=split_key(config),
            seed=seed,
            options=experiment_options(config, name, splits.n_classes),
            device=config.device,
            progress=progress,
        )
        for name in needed_artifacts(config, strategies)
    }


def frozen_splits(splits, artifact: Artifact, device="cpu"):
    """``splits`` with pool, validation and test inputs replaced by the artifact's features
    (``N × D`` float32; validation and test encoded by its trained encoder). Labels unchanged."""
    pool = artifact.features
    if pool is None:
        pool = encode(artifact, splits.X_pool, device=device)

    def enc(X):
        if len(X) == 0:
            return pool[:0]
        return encode(artifact, X, device=device)

    return dataclasses.replace(
        splits, X_pool=pool, X_val=enc(splits.X_val), X_test=enc(splits.X_test)
    )
