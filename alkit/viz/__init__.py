"""Plots (matplotlib for static, plotly for interactive), the bench report, and widgets.

Dashboards never use ``ipywidgets.interact``: see :mod:`alkit.viz.dashboard` for why and how.
"""

from alkit.viz.curves import (
    PALETTE,
    plot_learning_curves,
    plotly_learning_curves,
    strategy_colors,
    summarize_curves,
)
from alkit.viz.dashboard import FigureDashboard
from alkit.viz.embedding import project_2d
from alkit.viz.explorers import FisherExplorer, LikelihoodExplorer, MetricExplorer, PicksExplorer
from alkit.viz.picks import (
    compare_picks,
    draw_picks,
    picked_class_counts,
    plot_picked_classes,
    pool_scores,
)
from alkit.viz.plots import (
    plot_class_counts,
    plot_confusion,
    plot_score_histogram,
    plot_score_scatter,
    score_histogram,
)
from alkit.viz.report import summary_table, write_report
from alkit.viz.style import class_colors, color_scale, reset_strategy_colors
from alkit.viz.tables import format_frame, metric_table
from alkit.viz.widgets import CompareStrategies, RunPlayer, StrategyExplorer

__all__ = [
    "PALETTE",
    "CompareStrategies",
    "FigureDashboard",
    "FisherExplorer",
    "LikelihoodExplorer",
    "MetricExplorer",
    "PicksExplorer",
    "RunPlayer",
    "StrategyExplorer",
    "class_colors",
    "color_scale",
    "compare_picks",
    "draw_picks",
    "format_frame",
    "metric_table",
    "picked_class_counts",
    "plot_class_counts",
    "plot_picked_classes",
    "pool_scores",
    "plot_confusion",
    "plot_learning_curves",
    "plot_score_histogram",
    "plot_score_scatter",
    "plotly_learning_curves",
    "project_2d",
    "reset_strategy_colors",
    "score_histogram",
    "strategy_colors",
    "summarize_curves",
    "summary_table",
    "write_report",
]
