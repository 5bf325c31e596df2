"""The contact/response ledger, decision audit and outcomes of the decision service.

Open it with :func:`open_ledger` (creates the engine, applies migrations) and share the
returned :class:`Ledger` across worker threads.
"""

from engine.ledger.errors import LedgerError, LedgerIntegrityError, LedgerUnavailable
from engine.ledger.records import (
    CaseOutcome,
    CompanionRows,
    DecisionRecord,
    EventOutcome,
    EventStatus,
    RecordResult,
    inputs_digest,
)
from engine.ledger.store import Ledger, open_ledger

__all__ = [
    "CaseOutcome",
    "CompanionRows",
    "DecisionRecord",
    "EventOutcome",
    "EventStatus",
    "Ledger",
    "LedgerError",
    "LedgerIntegrityError",
    "LedgerUnavailable",
    "RecordResult",
    "inputs_digest",
    "open_ledger",
]
