"""GDPR erasure: a debtor's events, decisions and outcomes go; nobody else's do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from engine.ledger import DecisionRecord, Ledger
from engine.state import EventKind, LedgerEvent

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
"""The sample records' default instant (conftest.T0)."""


def test_erase_debtor_deletes_only_that_debtors_rows(
    ledger: Ledger,
    make_decision: Callable[..., DecisionRecord],
    make_event: Callable[..., LedgerEvent],
) -> None:
    ledger.record_events(
        [
            make_event("a-1", case_id="case-a", debtor_id="debtor-a"),
            # Reported without a debtor id: erased because case-a is debtor-a's case.
            make_event("a-2", case_id="case-a", kind=EventKind.PAYMENT, amount_minor=10),
            make_event("b-1", case_id="case-b", debtor_id="debtor-b"),
            make_event("b-2", case_id="case-b", kind=EventKind.PAYMENT, amount_minor=20),
        ]
    )
    ledger.save_decision(
        make_decision("dec-a", case_id="case-a", debtor_id="debtor-a"),
        reservation=make_event("res-a", case_id="case-a", kind=EventKind.CONTACT_PLANNED),
    )
    ledger.save_decision(
        make_decision("dec-b", case_id="case-b", debtor_id="debtor-b"), reservation=None
    )

    # 3 events + 1 decision + 1 outcome
    assert ledger.erase_debtor("debtor-a") == 5

    since = T0 - timedelta(days=1)
    assert ledger.events_for_case("case-a", since=since) == []
    assert ledger.get_decision("dec-a") is None
    assert ledger.get_outcome("case-a") is None
    assert [e.event_id for e in ledger.events_for_case("case-b", since=since)] == ["b-1", "b-2"]
    assert ledger.get_decision("dec-b") is not None
    assert ledger.get_outcome("case-b") is not None
    assert ledger.erase_debtor("debtor-a") == 0
