"""Every registered strategy passes the template (tests/strategy_template.py)."""

from __future__ import annotations

import functools

import pytest
from conftest import make_context
from strategy_template import check_strategy_contract

from alkit.strategies import strategy_names

#: Per-strategy overrides: fast options, and the data/model a strategy needs.
#: ``options`` go to the strategy; ``context`` to tests/conftest.py:make_context.
OVERRIDES: dict[str, dict] = {
    "bald": {"options": {"n_samples": 5}},
    "varratio": {"options": {"n_samples": 5}},
    "mc_entropy": {"options": {"n_samples": 5}},
    # I_Dis needs the alignment stage's critic; tests/test_gmm_strategies.py runs the full
    # contract with one attached.
    # (max_candidates: the seed check needs the generator, see GMMHybrid's docstring)
    "gmm_hybrid": {"options": {"metrics": "like+ent", "max_candidates": 400}},
    # M × M look-ahead kernels: a 300-row candidate subset keeps them fast; the cold start
    # without a learner runs the template in tests/test_ntkcpl.py
    "ntkcpl": {"options": {"max_candidates": 300}},
    "lookahead": {"options": {"max_candidates": 300}},
    "wproto": {"options": {"max_candidates": 48, "max_target": 120, "max_start": 30}, "n": 5},
    # the tiny WGAN-GP and auto-encoder artifacts of tests/conftest.py (trained once)
    "asal": {"context": {"artifacts": True}, "options": {"steps": 20}},
}


@pytest.mark.parametrize("name", strategy_names())
def test_strategy_contract(name):
    over = OVERRIDES.get(name, {})
    make_ctx = functools.partial(make_context, **over.get("context", {}))
    check_strategy_contract(name, make_ctx, n=over.get("n", 10), options=over.get("options"))
