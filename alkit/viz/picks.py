"""Where a strategy's picks fall: the callbacks behind the baselines notebook's plots and widget.

Each function runs a registered strategy on a :class:`~alkit.strategies.QueryContext` (with its
generator reset to ``seed``, so a redraw with the same settings gives the same batch) and draws
the pool on 2-D coordinates (inputs of a toy set, or a UMAP/PCA of embeddings), coloured by the
strategy's scores over a halo of class colours, with the labelled set and the picks marked.
"""

from __future__ import annotations

import numpy as np

from alkit.errors import check_same_length
from alkit.strategies import Query, QueryContext, get_strategy
from alkit.viz.plots import plot_class_counts, plot_score_scatter
from alkit.viz.style import (
    MAX_PANELS_PER_ROW,
    NOTEBOOK_WIDTH_IN,
    draw_classes,
    draw_marks,
    figure_class_legend,
    strategy_colors,
)


def pool_scores(query: Query, n_pool: int) -> np.ndarray:
    """The query's scores spread over the whole pool (``n_pool``; NaN where not a candidate)."""
    scores = np.full(n_pool, np.nan)
    scores[np.asarray(query.candidates)] = query.scores
    return scores


def run_strategy(ctx: QueryContext, strategy: str, n: int, seed: int = 0) -> Query:
    """``get_strategy(strategy).query(ctx, n)`` with ``ctx.rng`` reset to ``seed`` first."""
    ctx.rng = np.random.default_rng(seed)
    return get_strategy(strategy).query(ctx, n)


def draw_picks(
    ctx: QueryContext,
    coords_N_2,
    strategy: str,
    n: int,
    seed: int = 0,
    ax=None,
    title=None,
    y_N=None,
    class_names=None,
    equal_aspect: bool = False,
) -> Query:
    """Run ``strategy`` for ``n`` picks and draw them on ``coords_N_2`` (one row per pool sample).

    Candidates are coloured by score (robust limits; higher = more wanted; NaN = not scored, not
    drawn) over a halo in their class colour when ``y_N`` (true pool labels, ``N``) is given;
    the labelled set is drawn as hollow black squares, the picks as black crosses. Returns the
    :class:`Query`. This is the callback of the notebook's strategy/batch-size widget.
    """
    import matplotlib.pyplot as plt

    coords = np.asarray(coords_N_2)
    check_same_length(coords=coords, pool=ctx.pool.X)
    query = run_strategy(ctx, strategy, n, seed)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.2, 4.6))
    plot_score_scatter(
        coords,
        pool_scores(query, len(coords)),
        selected_idx=query.indices,
        labeled_idx=ctx.labeled_idx,
        ax=ax,
        title=title or f"{strategy}: {n} picks",
        y_N=y_N,
        class_names=class_names,
        equal_aspect=equal_aspect,
    )
    return query


def compare_picks(
    ctx,
    coords_N_2,
    strategies,
    n: int,
    seed: int = 0,
    ncols: int = 3,
    y_N=None,
    class_names=None,
    equal_aspect: bool = False,
):
    """One :func:`draw_picks` panel per strategy (title in the strategy's colour), after a
    first panel of the pool by class when ``y_N`` is given; at most ``ncols`` (≤ 4) panels per
    row, the whole figure as wide as a notebook. Returns ``(figure, {strategy: Query})``."""
    import matplotlib.pyplot as plt

    strategies = list(strategies)
    ncols = max(1, min(ncols, MAX_PANELS_PER_ROW))
    n_panels = len(strategies) + (y_N is not None)
    nrows = -(-n_panels // ncols)
    width = NOTEBOOK_WIDTH_IN
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width, 0.85 * width / ncols * nrows + 0.6),
        squeeze=False,
        layout="constrained",
    )
    panels = list(axes.flat)
    coords = np.asarray(coords_N_2)
    if y_N is not None:
        ax = panels.pop(0)
        draw_classes(ax, coords, y_N, class_names, size=10, legend=False)
        draw_marks(ax, coords, ctx.labeled_idx)
        ax.set_title("pool by class (squares: labelled)")
        if equal_aspect:
            ax.set_aspect("equal", adjustable="datalim")
    colors = strategy_colors(strategies)
    queries = {}
    for ax, name in zip(panels, strategies, strict=False):
        queries[name] = draw_picks(
            ctx,
            coords,
            name,
            n,
            seed=seed,
            ax=ax,
            title=name,
            y_N=y_N,
            class_names=class_names,
            equal_aspect=equal_aspect,
        )
        ax.title.set_color(colors[name])
        ax.title.set_fontweight("bold")
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        ax.set_xlabel("")
        ax.set_ylabel("")
    for ax in panels[len(strategies) :]:
        ax.set_visible(False)
    if y_N is not None:  # one class legend for the whole figure, under the panels
        figure_class_legend(fig, axes.flat[0])
    return fig, queries


def picked_class_counts(queries: dict, y_pool, n_classes: int):
    """A DataFrame ``strategy × class`` counting the true classes of each strategy's picks."""
    import pandas as pd

    y = np.asarray(y_pool)
    return pd.DataFrame(
        {name: np.bincount(y[q.indices], minlength=n_classes) for name, q in queries.items()}
    ).T.rename_axis("strategy")


def plot_picked_classes(counts, class_names=None, ax=None, title=None):
    """Grouped, labelled bar chart of :func:`picked_class_counts` (classes on the x axis, one
    bar per strategy in its session colour); returns the Axes."""
    data = {str(name): row.to_numpy() for name, row in counts.iterrows()}
    return plot_class_counts(
        data, class_names, ax=ax, colors=strategy_colors(data), title=title or "picked classes"
    )
