"""The claims report (``alkit claims``): each seed's headline claim under a named protocol.

Rows live in one registry (:func:`register_claim`); each seed's module adds its rows at
import. A later seed adds ``alkit/claims/seedNNN.py`` and one import line below.
"""

from alkit.claims import seed000, seed003  # noqa: F401  (they register their rows)
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
from alkit.claims.report import run_claims, write_report

__all__ = [
    "VERDICTS",
    "Claim",
    "Measurement",
    "claim_ids",
    "get_claims",
    "judge",
    "measure",
    "register_claim",
    "run_claims",
    "write_report",
]
