"""Strategies and their registry. Importing this package registers every strategy."""

from alkit.strategies import (  # noqa: F401  (registration)
    adversarial,
    asal,
    badge,
    bayesian,
    committee,
    coreset,
    fisher,
    gmm,
    kfac,
    kmeans,
    ntk,
    random,
    typiclust,
    uncertainty,
    wasserstein,
)
from alkit.strategies.base import (
    Query,
    QueryContext,
    Setup,
    Strategy,
    get_strategy,
    register,
    strategy_class,
    strategy_names,
    top_n,
)
from alkit.strategies.options import Option, split_strategy_specs

__all__ = [
    "Option",
    "Query",
    "QueryContext",
    "Setup",
    "Strategy",
    "get_strategy",
    "register",
    "split_strategy_specs",
    "strategy_class",
    "strategy_names",
    "top_n",
]
