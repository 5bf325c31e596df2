"""Audited erasure on SQLite and PostgreSQL: the rows and the audit row go in one
transaction; the audit keeps the debtor id only as its sha256."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from engine.ledger import DecisionRecord, Ledger, LedgerUnavailable
from engine.ledger.erasure import erase_debtor_audited, erasures_of
from engine.state import EventKind, LedgerEvent

SINCE = datetime(2026, 10, 1, tzinfo=UTC)


def test_erasure_and_its_audit_are_written_together(
    ledger: Ledger,
    make_decision: Callable[..., DecisionRecord],
    make_event: Callable[..., LedgerEvent],
) -> None:
    ledger.record_events(
        [
            make_event("a-1", case_id="case-a", debtor_id="debtor-a"),
            make_event("a-2", case_id="case-a", kind=EventKind.PAYMENT, amount_minor=10),
            make_event("b-1", case_id="case-b", debtor_id="debtor-b"),
        ]
    )
    ledger.save_decision(
        make_decision("dec-a", case_id="case-a", debtor_id="debtor-a"), reservation=None
    )

    receipt = erase_debtor_audited(
        ledger, debtor_id="debtor-a", requested_by="ops", via="grpc", reference="DSR-1"
    )
    assert (receipt.rows_deleted, receipt.cases) == (4, 1)  # 2 events, decision, outcome
    assert ledger.events_for_case("case-a", since=SINCE) == []
    assert len(ledger.events_for_case("case-b", since=SINCE)) == 1
    (audit,) = erasures_of(ledger, "debtor-a")
    assert audit.audit_id == receipt.audit_id and audit.rows_deleted == 4
    assert audit.debtor_id_sha256 == hashlib.sha256(b"debtor-a").hexdigest()
    assert abs(audit.erased_at - receipt.erased_at) < timedelta(seconds=1)
    with ledger.engine.connect() as connection:  # the clear id is stored nowhere
        for table in ("ledger_event", "decision", "outcome", "erasure_audit"):
            dump = str(connection.execute(sa.text(f"SELECT * FROM {table}")).fetchall())
            assert "debtor-a" not in dump, table


def test_no_audit_without_the_erasure(ledger: Ledger) -> None:
    ledger.close()
    with pytest.raises(LedgerUnavailable):
        erase_debtor_audited(ledger, debtor_id="d", requested_by="ops", via="cli", reference="r")
    with pytest.raises(ValueError, match="via"):
        erase_debtor_audited(ledger, debtor_id="d", requested_by="ops", via="fax", reference="r")
