"""Plot data: learning-curve summaries, plotly traces, histogram counts, report files."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from alkit.errors import AlkitError
from alkit.viz import (
    plot_confusion,
    plot_learning_curves,
    plot_score_scatter,
    plotly_learning_curves,
    score_histogram,
    summarize_curves,
    summary_table,
)


def _results():
    rows = []
    for strategy, offset in (("random", 0.0), ("entropy", 0.05)):
        for seed in (0, 1, 2):
            for rnd in range(4):
                rows.append(
                    {
                        "dataset": "digits",
                        "strategy": strategy,
                        "seed": seed,
                        "round": rnd,
                        "n_labeled": 20 + 10 * rnd,
                        "accuracy": 0.5 + 0.1 * rnd + offset + 0.01 * seed,
                        "confusion": np.eye(3, dtype=int).tolist(),
                    }
                )
    return pd.DataFrame(rows)


def test_summarize_curves_mean_and_std_over_seeds():
    s = summarize_curves(_results())
    row = s[(s.strategy == "entropy") & (s["round"] == 2)].iloc[0]
    assert row.n_labeled == 40 and row.n_seeds == 3
    assert row["mean"] == pytest.approx(0.5 + 0.2 + 0.05 + 0.01)
    assert row["std"] == pytest.approx(np.std([0.0, 0.01, 0.02]))
    with pytest.raises(AlkitError, match="results table is empty"):
        summarize_curves(_results().iloc[:0])


def test_plotly_curves_carry_the_means_and_bands():
    fig = plotly_learning_curves(_results())
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["random", "entropy"]
    np.testing.assert_allclose(lines[1].y, [0.56, 0.66, 0.76, 0.86])
    band = fig.data[2]
    assert band.fill == "toself" and len(band.x) == 8


def test_matplotlib_curves_draw_one_line_per_strategy():
    ax = plot_learning_curves(_results())
    assert [line.get_label() for line in ax.get_lines()] == ["random", "entropy"]
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [20, 30, 40, 50])


def test_score_histogram_counts_match_the_scores():
    scores = np.array([0.1, 0.2, 0.2, 0.9, np.nan, 0.95])
    picked = np.array([False, False, True, True, False, True])
    edges, counts, chosen = score_histogram(scores, picked, bins=4)
    assert counts.sum() == 5 and chosen.sum() == 3
    np.testing.assert_array_equal(counts, np.histogram(scores[~np.isnan(scores)], edges)[0])


def test_static_plots_render(tmp_path):
    ax = plot_confusion(np.array([[5, 1], [2, 8]]), ["a", "b"])
    np.testing.assert_allclose(ax.images[0].get_array(), [[5 / 6, 1 / 6], [0.2, 0.8]])
    X = np.random.default_rng(0).normal(size=(50, 2))
    ax = plot_score_scatter(X, X[:, 0], selected_idx=[1, 2], labeled_idx=[3])
    assert len(ax.collections) == 3


def test_summary_table_reports_savings_vs_random():
    table = summary_table(_results()).set_index("strategy")
    assert table.loc["random", "label savings vs random (%)"] == ""
    assert float(table.loc["entropy", "label savings vs random (%)"]) > 0
