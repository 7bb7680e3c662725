"""Tools that prove membrane loses nothing: numbered traffic, a ledger, a relay process.

Used by the fault, bad-input and security tests (tests/reliability,
tests/badinput, tests/security) and documented in docs/reliability.md.
"""

from bus.reliability.ledger import LEDGER_HEADER, Ledger, Reconciliation
from bus.reliability.scale import LONG_ENV, long_run, scaled

__all__ = ["LEDGER_HEADER", "LONG_ENV", "Ledger", "Reconciliation", "long_run", "scaled"]
