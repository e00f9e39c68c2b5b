"""Artifacts: unsupervised products of the pool, built once per (dataset, split seed, options)
and cached on disk (DESIGN.md, "Extension points").

>>> art = build_artifact("pca", X_pool, data_key={"dataset": "digits"}, seed=0)
>>> art.features.shape          # N_pool × 64
>>> encode(art, X_test).shape    # the same projection of new inputs

Registered: ``rotation`` (seed 000's pretrained weights), ``simclr`` and ``simsiam``
(self-supervised features), ``pca`` (frozen features, not self-supervised), ``wgan_gp`` and
``autoencoder`` (seed 004's generator, critic and feature extractor), ``dwe`` (seed 001 ch. 8's
Wasserstein embedding). A new artifact is one ``@register_artifact`` builder in a module imported
below.
"""

from alkit.artifacts import (  # noqa: F401  (register the builders)
    dwe,
    generative,
    pca,
    rotation,
    ssl_builders,
)
from alkit.artifacts.cache import cache_root, clear_entries, list_entries
from alkit.artifacts.registry import (
    ArtifactSpec,
    Built,
    Option,
    artifact_names,
    artifact_spec,
    parse_option_value,
    register_artifact,
)
from alkit.artifacts.stage import (
    FORMAT_VERSION,
    Artifact,
    artifact_key,
    build_artifact,
    encode,
    load_module,
    load_trained,
    record_quality,
)

__all__ = [
    "FORMAT_VERSION",
    "Artifact",
    "ArtifactSpec",
    "Built",
    "Option",
    "artifact_key",
    "artifact_names",
    "artifact_spec",
    "build_artifact",
    "cache_root",
    "clear_entries",
    "encode",
    "list_entries",
    "load_module",
    "load_trained",
    "parse_option_value",
    "record_quality",
    "register_artifact",
]
