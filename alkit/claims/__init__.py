"""The claims report (``alkit claims``): each seed's headline claim under a named protocol.

Rows live in one registry (:func:`register_claim`); each seed's module adds its rows at
import. A later seed adds ``alkit/claims/seedNNN.py`` and one import line below. Two kinds:
:class:`Claim` (active-learning experiments, a bootstrap over seeds) and
:class:`MeasuredClaim` (a number read from a benchmark's JSON in ``benchmarks/results``).
"""

from alkit.claims import seed000, seed001, seed001_measured, seed002, seed003, seed004  # noqa: F401
from alkit.claims.base import (
    VERDICTS,
    Claim,
    Measurement,
    claim_ids,
    get_claims,
    judge,
    measure,
    register_claim,
)
from alkit.claims.measured import MeasuredClaim, Reading, measure_benchmark
from alkit.claims.report import run_claims, write_report

__all__ = [
    "VERDICTS",
    "Claim",
    "MeasuredClaim",
    "Measurement",
    "Reading",
    "claim_ids",
    "get_claims",
    "judge",
    "measure",
    "measure_benchmark",
    "register_claim",
    "run_claims",
    "write_report",
]
