"""Strategies and their registry. Importing this package registers every strategy."""

from alkit.strategies import (  # noqa: F401  (registration)
    asal,
    badge,
    bayesian,
    coreset,
    fisher,
    gmm,
    kmeans,
    random,
    typiclust,
    uncertainty,
)
from alkit.strategies.base import (
    Query,
    QueryContext,
    Strategy,
    get_strategy,
    register,
    strategy_class,
    strategy_names,
    top_n,
)

__all__ = [
    "Query",
    "QueryContext",
    "Strategy",
    "get_strategy",
    "register",
    "strategy_class",
    "strategy_names",
    "top_n",
]
