"""Typed strategy options and the command-line strategy-spec syntax.

A strategy declares its options once, as a class attribute ``option_specs`` mapping each
``__init__`` keyword to an :class:`Option` (type, range, choices, whether ``None`` is allowed).
:class:`~alkit.strategies.base.Strategy` checks every declared option when the strategy is
constructed (from Python, TOML or a spec string alike), so a bad value fails at once with one
line naming the strategy, the option, the value and what is allowed; ``__init__`` keeps its
typed signature as documentation. Spec strings are parsed with the declared types, so
``entropy:max_candidates=abc`` reports "expected an integer", not a TypeError later.

Spec syntax (``--strategies`` on the command line, :func:`split_strategy_specs`,
:func:`parse_spec`)::

    name[:key=value[:key=value ...]]          e.g.  entropy:max_candidates=500
    key=[a,b,c]                               a list value, e.g.  pfk:taps=[x1,x2]:top_k=16

Values are read as the option's declared type; an undeclared option is read as an int, a float,
``true``/``false``, ``none`` or else a string. Several specs are separated by commas outside
brackets: ``random,pfk:taps=[x1,x2],entropy`` is three specs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from alkit.errors import AlkitError

#: the option types an :class:`Option` may declare (``list`` = a list of strings)
TYPES = (int, float, bool, str, list)


@dataclass(frozen=True)
class Option:
    """One typed strategy option.

    Args:
        type: ``int``, ``float``, ``bool``, ``str`` or ``list`` (a list of names; a string
            ``"a,b"`` is accepted for it too).
        min, max: inclusive bounds for numbers (and the length of a list).
        choices: the allowed values of a ``str`` option.
        none: whether ``None`` is allowed (e.g. ``max_candidates=None`` = score every candidate).
        doc: what the option does (shown by ``alkit strategies`` and in errors).
    """

    type: type
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    none: bool = False
    doc: str = ""

    def __post_init__(self):
        if self.type not in TYPES:
            raise TypeError(f"Option type must be one of {TYPES}, got {self.type!r}")

    def allowed(self) -> str:
        """What this option accepts, in words: ``"an integer ≥ 1, or none"``."""
        if self.choices is not None:
            text = "one of " + ", ".join(map(str, self.choices))
        else:
            text = {
                int: "an integer",
                float: "a finite number",
                bool: "true or false",
                str: "a string",
                list: "a list of names such as [a,b]",
            }[self.type]
            if self.type is list:
                lo = 1 if self.min is None else self.min
                text += f" with at least {lo:g} item(s)"
            elif self.min is not None and self.max is not None:
                text += f" in [{self.min:g}, {self.max:g}]"
            elif self.min is not None:
                text += f" ≥ {self.min:g}"
            elif self.max is not None:
                text += f" ≤ {self.max:g}"
        return text + (", or none" if self.none else "")

    def check(self, owner: str, key: str, value: Any) -> Any:
        """``value`` if it is allowed (NumPy scalars as Python ones), else an :class:`AlkitError`
        naming ``owner`` (the strategy), ``key``, the value and what is allowed."""
        if value is None:
            if self.none:
                return None
            raise self._error(owner, key, value)
        t = self.type
        ok = True
        if t is int:
            ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
            value = int(value) if ok else value
        elif t is float:
            ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
                value, (bool, np.bool_)
            )
            value = float(value) if ok else value
            ok = ok and math.isfinite(value)
        elif t is bool:
            ok = isinstance(value, (bool, np.bool_))
            value = bool(value) if ok else value
        elif t is str:
            ok = isinstance(value, str)
        elif t is list:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
            value = list(value) if ok else value
        if ok and self.choices is not None:
            ok = value in self.choices
        if ok and t in (int, float):
            ok = (self.min is None or value >= self.min) and (self.max is None or value <= self.max)
        if ok and t is list:
            ok = len(value) >= (1 if self.min is None else self.min) and (
                self.max is None or len(value) <= self.max
            )
        if not ok:
            raise self._error(owner, key, value)
        return value

    def parse(self, owner: str, key: str, text: str) -> Any:
        """The value of spec text ``text`` (already split from ``key=``) under this type."""
        raw = text.strip()
        if raw.lower() == "none":
            return self.check(owner, key, None)
        if self.type in (int, float):
            try:
                number = self.type(raw)
            except ValueError:
                raise self._error(owner, key, raw) from None
            return self.check(owner, key, number)
        if self.type is bool:
            value = {"true": True, "false": False}.get(raw.lower())
            if value is None:
                raise self._error(owner, key, raw)
            return value
        if self.type is list:
            items = _list_items(raw) if raw.startswith("[") else raw
            return self.check(owner, key, items)
        return self.check(owner, key, raw)

    def _error(self, owner: str, key: str, value: Any) -> AlkitError:
        return AlkitError(
            f"strategy {owner!r}: option {key}={value!r} is not allowed; "
            f"{key} must be {self.allowed()}"
        )


#: the common ``max_candidates`` option: score a random subset of the unlabelled pool
MAX_CANDIDATES = Option(
    int, min=1, none=True, doc="score a random subset of this many candidates (none: all)"
)


def parse_value(text: str) -> Any:
    """Spec text of an undeclared option: int, float, ``true``/``false``, ``none``, a bracketed
    list of such values, or else the string itself."""
    raw = text.strip()
    if raw.startswith("[") and raw.endswith("]"):
        return [parse_value(v) for v in _split_outside_brackets(raw[1:-1], ",") if v.strip()]
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(raw.lower(), raw)


def _list_items(raw: str) -> list[str]:
    if not raw.endswith("]"):
        raise AlkitError(f"list value {raw!r} has no closing ']'; write it as [a,b]")
    return [v.strip() for v in _split_outside_brackets(raw[1:-1], ",") if v.strip()]


def _split_outside_brackets(text: str, sep: str) -> list[str]:
    """``text`` split on ``sep`` where it is not inside ``[...]``; unbalanced brackets raise."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise AlkitError(f"unbalanced ']' at position {i} in {text!r}")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise AlkitError(f"unbalanced '[' in {text!r}: every list needs its closing ']'")
    parts.append(text[start:])
    return parts


def split_strategy_specs(text: str) -> list[str]:
    """Split a ``--strategies`` value into strategy specs, on commas outside brackets.

    Syntax of one spec: ``name[:key=value]...``; a list value is written in brackets,
    ``key=[a,b]`` (its commas do not split specs). Examples::

        split_strategy_specs("random,pfk:taps=[x1,x2]:top_k=16,entropy")
        -> ["random", "pfk:taps=[x1,x2]:top_k=16", "entropy"]

    Surrounding spaces are stripped; an empty spec (``"random,,entropy"``, ``""``) or an
    unbalanced bracket raises :class:`AlkitError`.
    """
    specs = [s.strip() for s in _split_outside_brackets(str(text), ",")]
    if not any(specs) or not all(specs):
        raise AlkitError(
            f"--strategies {text!r} holds an empty strategy spec; write specs separated by "
            "commas, e.g. random,pfk:taps=[x1,x2],entropy"
        )
    return specs


def parse_spec(spec: str) -> tuple[str, list[tuple[str, str]]]:
    """``"name:k=v:k2=[a,b]"`` → ``("name", [("k", "v"), ("k2", "[a,b]")])`` (values as text).

    Colons inside brackets do not split options; a part without ``=`` raises.
    """
    name, *pairs = _split_outside_brackets(str(spec), ":")
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise AlkitError(f"strategy option {pair!r} in {spec!r} must look like key=value")
        out.append((key.strip(), value.strip()))
    return name.strip(), out
