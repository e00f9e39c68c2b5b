"""Where a strategy's picks fall: the callbacks behind the baselines notebook's plots and widget.

Each function runs a registered strategy on a :class:`~alkit.strategies.QueryContext` (with its
generator reset to ``seed``, so a redraw with the same settings gives the same batch) and draws
the pool on 2-D coordinates (inputs of a toy set, or a UMAP/PCA of embeddings), coloured by the
strategy's scores, with the labelled set and the picks marked.
"""

from __future__ import annotations

import numpy as np

from alkit.errors import check_same_length
from alkit.strategies import Query, QueryContext, get_strategy
from alkit.viz.plots import plot_score_scatter


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
    ctx: QueryContext, coords_N_2, strategy: str, n: int, seed: int = 0, ax=None, title=None
) -> Query:
    """Run ``strategy`` for ``n`` picks and draw them on ``coords_N_2`` (one row per pool sample).

    Candidates are coloured by score (higher = more wanted; NaN = not scored, not drawn),
    labelled samples are grey squares, picks red crosses. Returns the :class:`Query`. This is
    the callback of the notebook's strategy/batch-size widget.
    """
    import matplotlib.pyplot as plt

    coords = np.asarray(coords_N_2)
    check_same_length(coords=coords, pool=ctx.pool.X)
    query = run_strategy(ctx, strategy, n, seed)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.4))
    plot_score_scatter(
        coords,
        pool_scores(query, len(coords)),
        selected_idx=query.indices,
        labeled_idx=ctx.labeled_idx,
        ax=ax,
        title=title or f"{strategy}: {n} picks",
    )
    return query


def compare_picks(ctx, coords_N_2, strategies, n: int, seed: int = 0, ncols: int = 4):
    """One :func:`draw_picks` panel per strategy; returns ``(figure, {strategy: Query})``."""
    import matplotlib.pyplot as plt

    strategies = list(strategies)
    nrows = -(-len(strategies) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.8 * nrows), squeeze=False)
    queries = {}
    for ax, name in zip(axes.flat, strategies, strict=False):
        queries[name] = draw_picks(ctx, coords_N_2, name, n, seed=seed, ax=ax, title=name)
        ax.set_xlabel("")
        ax.set_ylabel("")
    for ax in list(axes.flat)[len(strategies) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig, queries


def picked_class_counts(queries: dict, y_pool, n_classes: int):
    """A DataFrame ``strategy × class`` counting the true classes of each strategy's picks."""
    import pandas as pd

    y = np.asarray(y_pool)
    return pd.DataFrame(
        {name: np.bincount(y[q.indices], minlength=n_classes) for name, q in queries.items()}
    ).T.rename_axis("strategy")
