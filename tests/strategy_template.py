"""The test template every strategy's tests reuse (scikit-activeml's habit).

``check_strategy_contract(spec, make_ctx)`` runs the checks of the strategy contract in
DESIGN.md on contexts built by ``make_ctx(seed=...)``: distinct unlabelled indices, exactly n of
them, one score per candidate, the same batch for the same seed, another batch for one of three other
seeds (stochastic strategies only), and rejection of bad requests.
"""

from __future__ import annotations

import numpy as np
import pytest

from alkit.errors import AlkitError
from alkit.strategies import get_strategy


def check_indices(query, ctx, n: int) -> None:
    idx = np.asarray(query.indices)
    assert idx.shape == (n,), f"expected {n} indices, got shape {idx.shape}"
    assert len(np.unique(idx)) == n, "indices are not distinct"
    assert not ctx.pool.labeled_mask[idx].any(), "an index is already labelled"
    np.testing.assert_array_equal(query.candidates, ctx.unlabeled_idx)
    assert np.isin(idx, query.candidates).all()
    assert np.shape(query.scores) == (len(query.candidates),)
    picked_scores = np.asarray(query.scores)[np.searchsorted(query.candidates, idx)]
    assert np.isfinite(picked_scores).all() or np.isnan(query.scores).all(), (
        "a selected candidate has no score"
    )


def check_strategy_contract(spec: str, make_ctx, n: int = 10, options=None) -> None:
    options = options or {}
    strategy = get_strategy(spec, **options)
    ctx = make_ctx(seed=0)
    query = strategy.query(ctx, n)
    check_indices(query, ctx, n)

    again = get_strategy(spec, **options).query(make_ctx(seed=0), n)
    np.testing.assert_array_equal(query.indices, again.indices, err_msg="same seed, other batch")

    if not strategy.deterministic:
        # another seed may by chance give the same batch on some machine (a float that rounds
        # differently, a k-means that converges to the same partition): any of three other seeds
        # must differ, which no longer depends on one machine's rounding
        firsts = np.sort(query.indices)
        assert any(
            not np.array_equal(
                firsts, np.sort(get_strategy(spec, **options).query(ctx_s, n).indices)
            )
            for ctx_s in (make_ctx(seed=s) for s in (1, 2, 3))
        ), "a stochastic strategy gave the same batch for seeds 1, 2 and 3 as for seed 0"

    check_bad_requests(strategy, make_ctx)


def check_bad_requests(strategy, make_ctx) -> None:
    ctx = make_ctx(seed=0)
    n_unlabeled = len(ctx.unlabeled_idx)
    for bad in (0, -3, 2.5, "10", True):
        with pytest.raises(AlkitError, match="n must be a positive integer"):
            strategy.query(ctx, bad)
    with pytest.raises(AlkitError, match=f"larger than the unlabelled pool \\({n_unlabeled}"):
        strategy.query(ctx, n_unlabeled + 1)
    full = make_ctx(seed=0)
    full.pool.label(full.unlabeled_idx)
    with pytest.raises(AlkitError, match="unlabelled pool is empty"):
        strategy.query(full, 1)
