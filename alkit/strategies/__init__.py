"""Strategies and their registry. Importing this package registers every strategy."""

from alkit.strategies import gmm, random, uncertainty  # noqa: F401  (registration)
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
