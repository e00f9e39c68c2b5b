"""The artifact stage: build (or load from the disk cache) an unsupervised product of the pool.

:func:`build_artifact` is the one entry point the loop, the CLI (``alkit pretrain``), the
notebooks and the benchmarks use. It hands the registered builder the pool's inputs and nothing
else, and caches the result under a key made of the artifact's name, its checked options, the
dataset's data key, the split seed, a fingerprint of the inputs and :data:`FORMAT_VERSION`.
"""

from __future__ import annotations

import hashlib
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from alkit.artifacts import cache as disk
from alkit.artifacts.registry import artifact_spec
from alkit.errors import AlkitError, check_finite
from alkit.train import resolve_device

#: Bump when a builder's stored layout or recipe changes: old entries then miss and rebuild.
FORMAT_VERSION = 1


@dataclass
class Artifact:
    """A built (or cached) artifact.

    Attributes:
        name: the registry name (``"simclr"``, ``"rotation"``, …).
        options: every option, defaults filled in.
        key: the cache key (20 hex digits).
        state: ``module name → state dict`` of the trained modules (CPU tensors; may be empty).
        features: the pool's features ``N_pool × D`` float32, or None.
        meta: ``losses`` per epoch and the builder's other records, plus ``seconds`` (this call),
            ``build_seconds``, ``cache_hit`` and ``quality`` (linear-probe / kNN accuracies, when
            :func:`record_quality` stored them).
        input_shape: the shape of one input (``C × H × W`` or ``D``) the modules expect.
        path: the cache file, or None when built with ``cache=False``.
    """

    name: str
    options: dict[str, Any]
    key: str
    state: dict[str, dict[str, torch.Tensor]]
    features: np.ndarray | None
    meta: dict[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, ...] = ()
    path: Path | None = None
    _loaded: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def kind(self) -> str:
        """What the artifact is, in words (e.g. ``"frozen features, not self-supervised"``)."""
        return artifact_spec(self.name).kind


def pool_inputs(X_pool) -> np.ndarray:
    """The inputs ``N × ...`` float32 of a pool given as an array or as an object with ``.X``
    (a :class:`~alkit.data.Pool`): only ``.X`` is read, never a label."""
    X = X_pool if isinstance(X_pool, (np.ndarray, torch.Tensor)) else X_pool.X
    X = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
    if X.ndim < 2 or len(X) == 0:
        raise AlkitError(f"an artifact needs a non-empty pool N × ..., got shape {X.shape}")
    check_finite("pool inputs", X)
    return np.ascontiguousarray(X, dtype=np.float32)


def inputs_fingerprint(X: np.ndarray) -> dict:
    """Shape and a BLAKE2 digest of the inputs: part of the key, so other pixels miss."""
    return {"shape": list(X.shape), "blake2b": hashlib.blake2b(X.data, digest_size=16).hexdigest()}


def artifact_key(name: str, options: dict, data_key: dict, seed: int, X: np.ndarray) -> str:
    """The cache key of an artifact (see the module docstring for what it covers)."""
    return disk.key_digest(
        {
            "name": name,
            "options": options,
            "data_key": data_key,
            "seed": int(seed),
            "format": FORMAT_VERSION,
            "inputs": inputs_fingerprint(X),
        }
    )


def build_artifact(
    name: str,
    X_pool,
    *,
    data_key: dict,
    seed: int,
    options: dict | None = None,
    device="auto",
    progress: bool | None = None,
    cache: bool = True,
) -> Artifact:
    """Build artifact ``name`` from the unlabelled pool, or load it from the disk cache.

    Args:
        name: a registered artifact (:func:`~alkit.artifacts.artifact_names`).
        X_pool: pool inputs ``N × ...`` (array, tensor, or an object whose ``.X`` holds them);
            labels are never read.
        data_key: what identifies the dataset and split (e.g. the experiment's data key); any
            JSON-able dict.
        seed: the split seed; it also seeds the builder.
        options: the builder's options (checked; unknown names and bad values raise).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (results are stored on the CPU).
        cache: False builds without reading or writing the cache.
    Returns:
        an :class:`Artifact`; ``meta["cache_hit"]`` tells whether it came from disk.
    """
    t0 = time.perf_counter()
    spec = artifact_spec(name)
    opts = spec.resolve(options)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise AlkitError(f"seed must be an integer, got {seed!r}")
    if not isinstance(data_key, dict):
        raise AlkitError(f"data_key must be a dict, got {type(data_key).__name__}")
    X = pool_inputs(X_pool)
    key = artifact_key(name, opts, data_key, int(seed), X)
    if not cache:
        art = _build(spec, opts, key, X, int(seed), device, progress)
        art.meta["seconds"] = time.perf_counter() - t0
        return art
    path = disk.artifact_dir(name) / f"{key}.pt"
    with disk.entry_lock(path):
        art = _load(path)
        if art is None:
            art = _build(spec, opts, key, X, int(seed), device, progress)
            disk.atomic_write(path, disk.encode_payload(_payload(art)))
            info = {
                "name": name,
                "options": opts,
                "data_key": data_key,
                "seed": int(seed),
                "format": FORMAT_VERSION,
                "kind": spec.kind,
                "build_seconds": round(art.meta["build_seconds"], 3),
                "n_pool": len(X),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            disk.write_sidecar(path, json_safe(info))
            art.path = path
    art.meta["seconds"] = time.perf_counter() - t0
    return art


def _build(spec, opts, key, X, seed, device, progress) -> Artifact:
    t0 = time.perf_counter()
    py_state = random.getstate()
    dev = resolve_device(device)
    try:  # a builder may seed the global generators; the caller's states are restored
        with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
            torch.manual_seed(seed)
            built = spec.build(X, dict(opts), seed=seed, device=dev, progress=progress)
    finally:
        random.setstate(py_state)
    features = None
    if built.features is not None:
        features = np.ascontiguousarray(built.features, dtype=np.float32)
        if len(features) != len(X):
            raise AssertionError(f"builder {spec.name!r} returned {len(features)} feature rows")
        check_finite(f"features of artifact {spec.name!r}", features)
    state = {
        m: {k: v.detach().cpu().clone() for k, v in sd.items()} for m, sd in built.state.items()
    }
    meta = dict(built.meta)
    meta.update(build_seconds=time.perf_counter() - t0, cache_hit=False)
    return Artifact(spec.name, opts, key, state, features, meta, tuple(X.shape[1:]))


def _payload(art: Artifact) -> dict:
    """What goes to disk: everything but the timings, so equal builds give equal bytes."""
    meta = {k: v for k, v in art.meta.items() if k not in ("build_seconds", "cache_hit", "seconds")}
    return {
        "name": art.name,
        "options": art.options,
        "key": art.key,
        "state": art.state,
        "features": None if art.features is None else torch.from_numpy(art.features),
        "meta": meta,
        "input_shape": list(art.input_shape),
    }


def _load(path: Path) -> Artifact | None:
    """The cached artifact at ``path``; None when absent or corrupt (a corrupt file is reported
    and left to be overwritten by the rebuild)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        obj = disk.decode_payload(data, path)
    except disk.CorruptEntry as exc:
        warnings.warn(f"{exc}; rebuilding the artifact", RuntimeWarning, stacklevel=3)
        return None
    info = disk.read_sidecar(path)
    meta = dict(obj["meta"])
    meta.update(cache_hit=True, build_seconds=info.get("build_seconds"))
    if "quality" in info:
        meta["quality"] = info["quality"]
    feats = obj["features"]
    return Artifact(
        obj["name"],
        obj["options"],
        obj["key"],
        obj["state"],
        None if feats is None else feats.numpy(),
        meta,
        tuple(obj["input_shape"]),
        path,
    )


def json_safe(obj):
    """``obj`` with tuples as lists and NumPy scalars as Python numbers (for the sidecar)."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def record_quality(artifact: Artifact, quality: dict) -> Artifact:
    """Store quality checks (e.g. :func:`alkit.ssl.feature_quality`) in ``artifact.meta
    ["quality"]`` and, for a cached artifact, in its sidecar (the payload stays unchanged)."""
    artifact.meta["quality"] = json_safe(quality)
    if artifact.path is not None:
        with disk.entry_lock(artifact.path):
            info = disk.read_sidecar(artifact.path)
            info["quality"] = artifact.meta["quality"]
            disk.write_sidecar(artifact.path, info)
    return artifact


def load_module(artifact: Artifact, device="cpu") -> nn.Module:
    """The artifact's encoder (inputs ``B × ...`` → features ``B × D``) rebuilt from its state,
    in eval mode on ``device``."""
    spec = artifact_spec(artifact.name)
    if spec.encoder is None:
        raise AlkitError(f"artifact {artifact.name!r} ({spec.kind}) has no feature encoder")
    module = spec.encoder(artifact.options, artifact.input_shape, artifact.state)
    return module.to(resolve_device(device)).eval()


def load_trained(artifact: Artifact, device="cpu"):
    """The trained object the artifact's ``loader`` rebuilds from its state (e.g. a
    :class:`~alkit.generative.TrainedGAN` for ``wgan_gp``), its modules in eval mode on
    ``device``. Built once per artifact and device, then the same object is returned, so a
    strategy that caches work by the modules' identity (ASAL's pool index) reuses it."""
    spec = artifact_spec(artifact.name)
    if spec.loader is None:
        raise AlkitError(f"artifact {artifact.name!r} ({spec.kind}) has no trained object to load")
    dev = resolve_device(device)
    if str(dev) not in artifact._loaded:
        obj = spec.loader(artifact.options, artifact.input_shape, artifact.state)
        for value in vars(obj).values():
            if isinstance(value, nn.Module):
                value.to(dev).eval()
        artifact._loaded[str(dev)] = obj
    return artifact._loaded[str(dev)]


@torch.no_grad()
def encode(artifact: Artifact, X, batch_size: int = 1024, device="cpu") -> np.ndarray:
    """Features ``N × D`` float32 of new inputs ``X`` (validation, test) through the artifact's
    trained encoder; for the pool itself they equal :attr:`Artifact.features`."""
    dev = resolve_device(device)
    module = load_module(artifact, dev)
    X = pool_inputs(X)
    if tuple(X.shape[1:]) != tuple(artifact.input_shape):
        raise AlkitError(
            f"artifact {artifact.name!r} encodes inputs of shape {artifact.input_shape}, "
            f"got {tuple(X.shape[1:])}"
        )
    out = [
        module(torch.from_numpy(X[s : s + batch_size]).to(dev)).float().cpu()
        for s in range(0, len(X), batch_size)
    ]
    return torch.cat(out).numpy()
