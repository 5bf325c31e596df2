"""Saving decisions with their contact reservation: one transaction, or nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from engine.ledger import DecisionRecord, Ledger, LedgerIntegrityError, LedgerUnavailable, driver
from engine.state import EventKind, LedgerEvent
from tests.support.ledger_records import planned_contact

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
"""The sample records' default instant (conftest.T0)."""


_reservation = planned_contact


def test_decision_and_reservation_round_trip(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    cet = timezone(timedelta(hours=1))
    record = make_decision(
        decided_at=T0.astimezone(cet),
        send_at=(T0 + timedelta(hours=1)).astimezone(cet),
        rule_ids=("SE.quiet_hours", "SE.max_sms_per_week"),
    )
    ledger.save_decision(record, reservation=_reservation())

    stored = ledger.get_decision("dec-1")
    assert stored == record
    assert stored is not None and stored.decided_at.tzinfo is UTC
    (reserved,) = ledger.events_for_case("case-1", since=T0)
    # The reservation is linked to its decision and debtor.
    assert reserved == _reservation(decision_id="dec-1", debtor_id="debtor-1")
    assert ledger.get_decision("no-such-decision") is None


def test_wait_decision_has_no_reservation(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    record = make_decision(
        treatment_index=0,
        treatment_label="WAIT",
        send_at=None,
        next_review_at=T0 + timedelta(days=3),
        rule_ids=(),
        propensity=0.25,
    )
    ledger.save_decision(record, reservation=None)
    assert ledger.get_decision("dec-1") == record
    assert ledger.events_for_case("case-1", since=T0 - timedelta(days=1)) == []


def test_saving_the_same_decision_again_is_a_no_op(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    record = make_decision()
    ledger.save_decision(record, reservation=_reservation())
    ledger.save_decision(record, reservation=_reservation())
    assert len(ledger.events_for_case("case-1", since=T0)) == 1


def test_conflicting_reservation_stores_no_decision(
    ledger: Ledger,
    make_decision: Callable[..., DecisionRecord],
    make_event: Callable[..., LedgerEvent],
) -> None:
    ledger.record_events([make_event("res-1", kind=EventKind.CONTACT_ATTEMPTED)])

    with pytest.raises(LedgerIntegrityError, match="nothing was written"):
        ledger.save_decision(make_decision(), reservation=_reservation("res-1"))

    assert ledger.get_decision("dec-1") is None
    (only,) = ledger.events_for_case("case-1", since=T0)
    assert only.kind is EventKind.CONTACT_ATTEMPTED


def test_conflicting_decision_id_stores_no_reservation(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    first = make_decision()
    ledger.save_decision(first, reservation=None)

    with pytest.raises(LedgerIntegrityError):
        ledger.save_decision(make_decision(policy_arm="challenger"), reservation=_reservation())

    assert ledger.get_decision("dec-1") == first
    assert ledger.events_for_case("case-1", since=T0) == []


def test_connection_lost_after_the_decision_insert_stores_nothing(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord], monkeypatch: pytest.MonkeyPatch
) -> None:
    insert_events = driver.insert_events

    def connection_lost(*, cursor: Any, **rest: Any) -> None:
        cursor.connection.close()  # the decision row was inserted but is not committed
        insert_events(cursor=cursor, **rest)

    monkeypatch.setattr(driver, "insert_events", connection_lost)

    with pytest.raises(LedgerUnavailable, match="retry later"):
        ledger.save_decision(make_decision(), reservation=_reservation())
    monkeypatch.undo()

    assert ledger.get_decision("dec-1") is None
    assert ledger.events_for_case("case-1", since=T0) == []
    ledger.save_decision(make_decision(), reservation=_reservation())  # the pool recovered
    assert ledger.get_decision("dec-1") == make_decision()


def test_reservation_must_match_its_decision(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    record = make_decision()
    with pytest.raises(ValueError, match="CONTACT_PLANNED"):
        ledger.save_decision(record, reservation=_reservation(kind=EventKind.CONTACT_ATTEMPTED))
    with pytest.raises(ValueError, match="case"):
        ledger.save_decision(record, reservation=_reservation(case_id="case-2"))
    with pytest.raises(ValueError, match="leave it empty"):
        ledger.save_decision(record, reservation=_reservation(decision_id="dec-other"))
    assert ledger.get_decision("dec-1") is None


def test_decision_record_validates_its_fields(make_decision: Callable[..., DecisionRecord]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        make_decision(decided_at=T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="inputs_digest"):
        make_decision(inputs_digest="not-a-digest")
    with pytest.raises(ValueError, match="propensity"):
        make_decision(propensity=1.5)


def test_a_batch_of_decisions_commits_all_or_nothing(
    ledger: Ledger,
    make_decision: Callable[..., DecisionRecord],
    make_event: Callable[..., LedgerEvent],
) -> None:
    batch = [(make_decision(decision_id=f"dec-{i}"), _reservation(f"res-{i}")) for i in range(1, 4)]
    # The third reservation's id is taken by another event: nothing of the batch is stored.
    ledger.record_events([make_event("res-3", kind=EventKind.CONTACT_ATTEMPTED)])
    with pytest.raises(LedgerIntegrityError):
        ledger.save_decisions(batch)
    assert [ledger.get_decision(f"dec-{i}") for i in range(1, 4)] == [None, None, None]

    good = batch[:2]
    ledger.save_decisions(good)
    ledger.save_decisions(good)  # a retried batch is a no-op
    assert all(ledger.get_decision(record.decision_id) == record for record, _ in good)
    planned = [e for e in ledger.events_for_case("case-1", since=T0) if e.decision_id]
    assert sorted(e.event_id for e in planned) == ["res-1", "res-2"]
