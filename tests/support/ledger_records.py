"""Records the ledger tests store: a decision's contact reservation."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.catalogue import Action, Channel
from engine.state import EventKind, LedgerEvent

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
"""The ledger tests' default instant (a Monday morning)."""


def planned_contact(event_id: str = "res-1", **fields: object) -> LedgerEvent:
    """The CONTACT_PLANNED event a contact decision reserves (an SMS reminder at T0 for
    ``case-1``); ``fields`` override any of it."""
    values: dict[str, object] = {
        "event_id": event_id,
        "case_id": "case-1",
        "kind": EventKind.CONTACT_PLANNED,
        "occurred_at": T0,
        "channel": Channel.SMS,
        "action": Action.REMINDER,
    }
    values.update(fields)
    return LedgerEvent(**values)  # type: ignore[arg-type]
