"""Small formatted tables for notebooks: numbers a class reads at a glance instead of a raw
``dict`` or an unformatted DataFrame (issue 16).

``metric_table({"pseudo-label accuracy": 0.197, "rare-class share of the picks": 0.7},
formats={"rare-class share of the picks": "{:.0%}"})`` gives a two-column table
``quantity | value`` with each value formatted as text, so every viewer (JupyterLab, GitHub, a
PDF export) shows the same digits.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from alkit.errors import AlkitError

#: How a number is written when no format is given: three significant figures.
DEFAULT_FORMAT = "{:.3g}"


def format_value(value, fmt: str | None = None) -> str:
    """``value`` as text: ``fmt`` (a ``str.format`` pattern such as ``"{:.0%}"``) for numbers,
    :data:`DEFAULT_FORMAT` when none is given, ``str`` for anything else; NaN as ``"–"``."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)) and fmt is None:
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating, int, np.integer)):
        if np.isnan(float(value)):
            return "–"
        try:
            return (fmt or DEFAULT_FORMAT).format(value)
        except (ValueError, TypeError) as err:
            raise AlkitError(f"format {fmt!r} cannot write the number {value!r}: {err}") from None
    return str(value)


def metric_table(
    values: Mapping[str, object],
    formats: Mapping[str, str] | None = None,
    *,
    name: str = "quantity",
    column: str = "value",
) -> pd.DataFrame:
    """One row per entry of ``values`` (in order): ``name`` → the value formatted by
    ``formats[key]`` (or :func:`format_value`'s default). Unknown keys in ``formats`` raise, so
    a renamed quantity cannot silently lose its format."""
    formats = dict(formats or {})
    unknown = sorted(set(formats) - set(values))
    if unknown:
        raise AlkitError(f"formats name {unknown} which are not in the table ({list(values)})")
    text = [format_value(v, formats.get(k)) for k, v in values.items()]
    return pd.DataFrame({column: text}, index=pd.Index(list(values), name=name))


def format_frame(
    df: pd.DataFrame, fmt: str = DEFAULT_FORMAT, columns: Mapping[str, str] | None = None
):
    """A copy of ``df`` with every float written as text by ``fmt`` (every cell of a column
    named in ``columns`` by its own pattern): a table of accuracies reads ``0.812`` rather than
    ``0.81234567``; integers get thousands separators, other cells are kept as text."""
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(map(str, df.columns)))
    if unknown:
        raise AlkitError(f"columns {unknown} are not in the table ({list(map(str, df.columns))})")
    out = df.copy().astype(object)
    for col in df.columns:
        own = columns.get(str(col))
        out[col] = [
            format_value(v, own or (fmt if isinstance(v, (float, np.floating)) else None))
            for v in df[col]
        ]
    return out
