"""Plots (matplotlib for static, plotly for interactive), the bench report, and widgets."""

from alkit.viz.curves import (
    PALETTE,
    plot_learning_curves,
    plotly_learning_curves,
    strategy_colors,
    summarize_curves,
)
from alkit.viz.embedding import project_2d
from alkit.viz.picks import compare_picks, draw_picks, picked_class_counts, pool_scores
from alkit.viz.plots import (
    plot_confusion,
    plot_score_histogram,
    plot_score_scatter,
    score_histogram,
)
from alkit.viz.report import summary_table, write_report
from alkit.viz.widgets import CompareStrategies, RunPlayer, StrategyExplorer

__all__ = [
    "PALETTE",
    "CompareStrategies",
    "RunPlayer",
    "StrategyExplorer",
    "compare_picks",
    "draw_picks",
    "picked_class_counts",
    "pool_scores",
    "plot_confusion",
    "plot_learning_curves",
    "plot_score_histogram",
    "plot_score_scatter",
    "plotly_learning_curves",
    "project_2d",
    "score_histogram",
    "strategy_colors",
    "summarize_curves",
    "summary_table",
    "write_report",
]
