"""The artifact registry: named builders of unsupervised products of the pool, with typed options.

An artifact (DESIGN.md, "Extension points") is something learned from the unlabelled pool before
the first label: rotation-pretrained weights (seed 000), self-supervised features (SimSiam /
SimCLR, seed 002), later a WGAN-GP critic, an auto-encoder or a Wasserstein embedding. A builder
is a function ``fn(X_pool, options, *, seed, device, progress) -> Built`` that receives the pool's
inputs only: no label, no oracle, no pool object reaches it (:func:`register_artifact` refuses a
builder with a label-like parameter).
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from alkit.errors import AlkitError, unknown_name

#: Parameter names a builder may not take: a builder never sees labels.
LABEL_PARAMETERS = frozenset({"y", "labels", "y_pool", "y_N", "oracle", "pool", "targets"})


@dataclass(frozen=True)
class Option:
    """A typed artifact option: ``kind`` is ``int``, ``float``, ``bool``, ``str`` or ``dict``;
    ``low``/``high`` bound numbers (inclusive), ``choices`` lists the allowed strings and
    ``pattern`` (a regular expression the whole string must match) describes the others."""

    default: Any
    kind: type
    help: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    pattern: str | None = None

    def check(self, artifact: str, name: str, value):
        """``value`` converted to :attr:`kind`, or a one-line :class:`AlkitError`."""
        where = f"option {name} of artifact {artifact!r}"
        if self.kind is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise AlkitError(f"{where} must be true or false, got {value!r}")
            return bool(value)
        if self.kind is int:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise AlkitError(f"{where} must be an integer{self._range()}, got {value!r}")
            value = int(value)
        elif self.kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise AlkitError(f"{where} must be a number{self._range()}, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise AlkitError(f"{where} must be finite{self._range()}, got {value!r}")
        elif self.kind is str:
            bad_pattern = (
                isinstance(value, str) and self.pattern and not re.fullmatch(self.pattern, value)
            )
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                allowed = f"one of {list(self.choices)}" if self.choices else "a string"
                raise AlkitError(f"{where} must be {allowed}, got {value!r}")
            if bad_pattern:
                raise AlkitError(f"{where} must be {self.help or self.pattern}, got {value!r}")
            return value
        elif self.kind is dict:
            if not isinstance(value, dict):
                raise AlkitError(f"{where} must be a dict, got {value!r}")
            return dict(value)
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            noun = "an integer" if self.kind is int else "a number"
            raise AlkitError(f"{where} must be {noun}{self._range()}, got {value!r}")
        return value

    def _range(self) -> str:
        if self.low is not None and self.high is not None:
            return f" in [{self.low}, {self.high}]"
        if self.low is not None:
            return f" ≥ {self.low}"
        if self.high is not None:
            return f" ≤ {self.high}"
        return ""


@dataclass
class Built:
    """What a builder returns: ``state`` (name → torch state dict of each trained module, on the
    CPU), ``features`` (``N_pool × D`` float32 or None) and ``meta`` (per-epoch losses, …)."""

    state: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    features: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ArtifactSpec:
    """A registered artifact: its builder, typed options and the encoder it rebuilds.

    ``encoder(options, input_shape, state) -> nn.Module`` rebuilds, from a stored state, the
    module that maps inputs ``B × ...`` to the artifact's features ``B × D`` (None when the
    artifact has no features, e.g. rotation-pretrained weights). ``loader(options, input_shape,
    state) -> object`` rebuilds the trained object a strategy uses (e.g. a
    :class:`~alkit.generative.TrainedGAN` with ``generator`` and ``critic``; None when the
    encoder is all there is). ``kind`` says what the artifact is in words (``"self-supervised
    features"``, ``"frozen features, not self-supervised"``, …).
    """

    name: str
    build: Callable[..., Built]
    options: dict[str, Option]
    kind: str
    description: str
    encoder: Callable[[dict, tuple, dict], nn.Module] | None = None
    image_inputs: bool = False
    loader: Callable[[dict, tuple, dict], Any] | None = None

    def check_input_shape(self, input_shape) -> None:
        """Refuse inputs the builder cannot take (image builders need ``C × H × W``)."""
        if self.image_inputs and len(tuple(input_shape)) != 3:
            raise AlkitError(
                f"artifact {self.name!r} needs images C×H×W, but the inputs have shape "
                f"{tuple(input_shape)}; use a feature artifact such as 'pca' instead"
            )

    def resolve(self, options: dict | None) -> dict:
        """All options with defaults filled in, each checked (unknown names are refused)."""
        options = dict(options or {})
        bad = sorted(set(options) - set(self.options))
        if bad:
            raise AlkitError(
                f"unknown option(s) {bad} for artifact {self.name!r}; "
                f"valid options: {sorted(self.options) or 'none'}"
            )
        return {
            name: opt.check(self.name, name, options.get(name, opt.default))
            for name, opt in sorted(self.options.items())
        }


_ARTIFACTS: dict[str, ArtifactSpec] = {}


def register_artifact(
    name: str,
    *,
    options: dict[str, Option],
    kind: str,
    description: str,
    encoder: Callable[[dict, tuple, dict], nn.Module] | None = None,
    image_inputs: bool = False,
    loader: Callable[[dict, tuple, dict], Any] | None = None,
):
    """Decorator: register ``fn(X_pool, options, *, seed, device, progress) -> Built`` as the
    builder of artifact ``name``. A builder whose signature names a label-like parameter
    (:data:`LABEL_PARAMETERS`) is refused: artifacts are built from the unlabelled pool only.
    ``image_inputs=True`` declares that the builder needs images ``C × H × W``; ``encoder`` and
    ``loader`` are described on :class:`ArtifactSpec`."""

    def wrap(fn):
        if not name or name in _ARTIFACTS:
            raise AlkitError(f"artifact name {name!r} is empty or already registered")
        params = set(inspect.signature(fn).parameters)
        leaked = sorted(params & LABEL_PARAMETERS)
        if leaked:
            raise AlkitError(
                f"artifact builder {name!r} takes {leaked}: a builder sees the unlabelled "
                "pool's inputs only"
            )
        for opt_name, opt in options.items():
            opt.check(name, opt_name, opt.default)
        _ARTIFACTS[name] = ArtifactSpec(
            name, fn, dict(options), kind, description, encoder, image_inputs, loader
        )
        return fn

    return wrap


def artifact_names() -> list[str]:
    """The registered artifact names, sorted."""
    return sorted(_ARTIFACTS)


def artifact_spec(name: str) -> ArtifactSpec:
    """The registered :class:`ArtifactSpec` of ``name`` (unknown names list the valid ones)."""
    if name not in _ARTIFACTS:
        raise unknown_name("artifact", name, _ARTIFACTS)
    return _ARTIFACTS[name]


def parse_option_value(text: str):
    """``"32"`` → 32, ``"0.5"`` → 0.5, ``"true"`` → True, ``"none"`` → None, else the text."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)
