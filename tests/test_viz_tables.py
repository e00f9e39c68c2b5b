"""Formatted notebook tables: numbers written as a reader expects, unknown names rejected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alkit.errors import AlkitError
from alkit.viz.tables import format_frame, format_value, metric_table


def test_format_value_writes_numbers_for_a_reader():
    assert format_value(0.19734) == "0.197"
    assert format_value(0.7, "{:.0%}") == "70%"
    assert format_value(np.float32(2.5), "{:.2f}") == "2.50"
    assert format_value(12500) == "12,500"
    assert format_value(np.int64(3)) == "3"
    assert format_value(float("nan")) == "–"
    assert format_value(True) == "yes" and format_value(np.bool_(False)) == "no"
    assert format_value("pfk") == "pfk"
    with pytest.raises(AlkitError, match="format '{:d}' cannot write the number 0.5"):
        format_value(0.5, "{:d}")


def test_metric_table_keeps_the_order_and_formats_each_row():
    table = metric_table(
        {"pseudo-label accuracy": 0.19734, "rare-class share of the picks": 0.7, "centres": 14},
        formats={"rare-class share of the picks": "{:.0%}"},
    )
    assert list(table.index) == [
        "pseudo-label accuracy",
        "rare-class share of the picks",
        "centres",
    ]
    assert table.index.name == "quantity"
    assert table["value"].tolist() == ["0.197", "70%", "14"]
    with pytest.raises(AlkitError, match=r"formats name \['share'\]"):
        metric_table({"accuracy": 0.5}, formats={"share": "{:.0%}"})


def test_format_frame_formats_floats_and_keeps_integers_whole():
    df = pd.DataFrame(
        {
            "n_labeled": [100, 1500],
            "accuracy": [0.81234, 0.9],
            "share": [0.25, 0.5],
            "s": ["a", "b"],
        }
    )
    out = format_frame(df, columns={"share": "{:.0%}"})
    assert out["n_labeled"].tolist() == ["100", "1,500"]
    assert out["accuracy"].tolist() == ["0.812", "0.9"]
    assert out["share"].tolist() == ["25%", "50%"]
    assert out["s"].tolist() == ["a", "b"]
    assert df["accuracy"].dtype == float  # the input is not changed
    with pytest.raises(AlkitError, match=r"columns \['acc'\] are not in the table"):
        format_frame(df, columns={"acc": "{:.2f}"})
