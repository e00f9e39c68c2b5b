"""Accuracy-vs-budget learning curves with mean ± 1 std bands across seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alkit.errors import AlkitError
from alkit.viz.style import PALETTE, strategy_colors

__all__ = [
    "PALETTE",
    "plot_learning_curves",
    "plotly_learning_curves",
    "strategy_colors",
    "summarize_curves",
]


def summarize_curves(results: pd.DataFrame, metric: str = "accuracy") -> pd.DataFrame:
    """Mean and std of ``metric`` per (strategy, round) across seeds.

    Returns columns ``strategy, round, n_labeled, mean, std, n_seeds`` (std 0 for one seed),
    strategies in the order they first appear in ``results``.
    """
    if results.empty:
        raise AlkitError("no results to plot: the results table is empty")
    g = results.groupby(["strategy", "round"], sort=False)
    out = g.agg(
        n_labeled=("n_labeled", "mean"),
        mean=(metric, "mean"),
        std=(metric, lambda v: float(np.std(v, ddof=0))),
        n_seeds=(metric, "size"),
    ).reset_index()
    order = {s: i for i, s in enumerate(dict.fromkeys(results["strategy"]))}
    out = out.assign(_order=out["strategy"].map(order))
    out = out.sort_values(["_order", "round"], kind="stable").drop(columns="_order")
    return out.reset_index(drop=True)


def plot_learning_curves(results: pd.DataFrame, ax=None, metric: str = "accuracy", title=None):
    """Matplotlib learning curves (mean line, ±1 std band) of every strategy, each in its session
    colour (:func:`~alkit.viz.style.strategy_colors`), legend outside the data; returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    summary = summarize_curves(results, metric)
    colors = strategy_colors(results["strategy"])
    for strategy, s in summary.groupby("strategy", sort=False):
        c = colors[strategy]
        ax.plot(s["n_labeled"], s["mean"], "-o", ms=3, color=c, label=strategy)
        ax.fill_between(
            s["n_labeled"], s["mean"] - s["std"], s["mean"] + s["std"], color=c, alpha=0.2
        )
    ax.set_xlabel("labelled samples")
    ax.set_ylabel(f"test {metric}")
    n_seeds = int(summary["n_seeds"].max())
    ax.set_title(title or f"{metric} vs budget (mean ± 1 std over {n_seeds} seed(s))")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="strategy")
    return ax


def plotly_learning_curves(results: pd.DataFrame, metric: str = "accuracy", fig=None):
    """Plotly version of :func:`plot_learning_curves` (a ``go.Figure`` or a FigureWidget)."""
    import plotly.graph_objects as go

    fig = fig if fig is not None else go.Figure()
    summary = summarize_curves(results, metric)
    colors = strategy_colors(results["strategy"])
    for strategy, s in summary.groupby("strategy", sort=False):
        c = colors[strategy]
        x = s["n_labeled"].tolist()
        upper = (s["mean"] + s["std"]).tolist()
        lower = (s["mean"] - s["std"]).tolist()
        fig.add_scatter(
            x=x + x[::-1],
            y=upper + lower[::-1],
            fill="toself",
            fillcolor=c,
            opacity=0.2,
            line={"width": 0},
            hoverinfo="skip",
            showlegend=False,
            legendgroup=strategy,
        )
        fig.add_scatter(
            x=x,
            y=s["mean"].tolist(),
            mode="lines+markers",
            name=strategy,
            line={"color": c},
            legendgroup=strategy,
        )
    fig.update_layout(
        xaxis_title="labelled samples", yaxis_title=f"test {metric}", template="plotly_white"
    )
    return fig
