"""Recording and reading ledger events: idempotency, atomicity, order, time zones."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from engine.catalogue import Action, Channel
from engine.ledger import EventStatus, Ledger, LedgerUnavailable, RecordResult, queries
from engine.state import EventKind, LedgerEvent

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
"""The sample records' default instant (conftest.T0)."""
DAY = timedelta(days=1)


def counts(result: RecordResult) -> tuple[int, int, int]:
    """(stored, duplicates, conflicts), checked against the per-event outcomes."""
    statuses = [o.status for o in result.events]
    assert (
        statuses.count(EventStatus.STORED),
        statuses.count(EventStatus.DUPLICATE),
        statuses.count(EventStatus.CONFLICT),
    ) == (result.stored, result.duplicates, result.conflicts)
    return result.stored, result.duplicates, result.conflicts


def test_same_event_twice_is_stored_once(
    ledger: Ledger, make_event: Callable[..., LedgerEvent]
) -> None:
    event = make_event("e-1", channel=Channel.SMS, action=Action.REMINDER)

    assert counts(ledger.record_events([event])) == (1, 0, 0)
    assert counts(ledger.record_events([event])) == (0, 1, 0)
    assert counts(ledger.record_events([event, event])) == (0, 2, 0)
    assert ledger.events_for_case("case-1", since=T0) == [event]


def test_same_id_with_other_content_is_a_conflict_and_the_first_write_wins(
    ledger: Ledger, make_event: Callable[..., LedgerEvent]
) -> None:
    first = make_event("e-1", amount_minor=100, kind=EventKind.PAYMENT)
    changed = make_event("e-1", amount_minor=999, kind=EventKind.PAYMENT)

    result = ledger.record_events([first, changed, first])
    assert counts(result) == (1, 1, 1)
    assert [o.status for o in result.events] == [
        EventStatus.STORED,
        EventStatus.CONFLICT,
        EventStatus.DUPLICATE,
    ]
    assert result.events[1].detail == "amount: stored 100, sent 999"
    again = ledger.record_events([changed])
    assert counts(again) == (0, 0, 1)
    assert again.events[0].detail == "amount: stored 100, sent 999"
    assert ledger.events_for_case("case-1", since=T0) == [first]


def test_every_stored_field_takes_part_in_the_comparison(
    ledger: Ledger, make_event: Callable[..., LedgerEvent]
) -> None:
    def payment(**fields: object) -> LedgerEvent:
        return make_event("e-1", kind=EventKind.PAYMENT, amount_minor=5, **fields)

    def record(event: LedgerEvent, currency: str = "SEK", debtor: str = "d-1") -> RecordResult:
        return ledger.record_events([event], currencies=[currency], debtor_ids=[debtor])

    assert counts(record(payment())) == (1, 0, 0)
    assert counts(record(payment())) == (0, 1, 0)
    for changed in (
        record(payment(), currency="NOK"),
        record(payment(), debtor="d-2"),
        record(payment(at=T0 + DAY)),
        record(payment(channel=Channel.SMS)),
        record(payment(action=Action.DEMAND)),
        record(payment(until=date(2027, 1, 1))),
        record(payment(decision_id="dec-x")),
        record(payment(attempt_event_id="a-1")),
        record(make_event("e-1", kind=EventKind.PROMISE_TO_PAY, amount_minor=5)),
    ):
        assert counts(changed) == (0, 0, 1), changed.events[0]


def test_an_event_id_is_unique_per_case_only(
    ledger: Ledger, make_event: Callable[..., LedgerEvent]
) -> None:
    """The same id in two cases is two events (the issue's OPT_OUT lost as a duplicate of
    another case's PAYMENT)."""
    payment = make_event("ev-7", case_id="case-a", kind=EventKind.PAYMENT, amount_minor=100)
    opt_out = make_event("ev-7", case_id="case-b", kind=EventKind.OPT_OUT, channel=Channel.SMS)
    assert counts(ledger.record_events([payment])) == (1, 0, 0)
    result = ledger.record_events([opt_out])
    assert counts(result) == (1, 0, 0)
    assert result.events[0].case_id == "case-b"
    assert ledger.events_for_case("case-a", since=T0) == [payment]
    assert ledger.events_for_case("case-b", since=T0) == [opt_out]
    # Both in one call, with their own debtors and currencies.
    both = [
        make_event("ev-8", case_id="case-a", kind=EventKind.PAYMENT, amount_minor=1),
        make_event("ev-8", case_id="case-b", kind=EventKind.OPT_OUT, channel=Channel.EMAIL),
    ]
    result = ledger.record_events(both, debtor_ids=["d-a", "d-b"], currencies=["SEK", ""])
    assert counts(result) == (2, 0, 0)
    [stored_b] = [e for e in ledger.events_for_case("case-b", since=T0) if e.event_id == "ev-8"]
    assert stored_b.debtor_id == "d-b"


def test_a_conflict_loses_nothing_else_of_the_call(
    ledger: Ledger, make_event: Callable[..., LedgerEvent]
) -> None:
    ledger.record_events([make_event("taken", kind=EventKind.PAYMENT, amount_minor=100)])
    batch = [
        make_event("new-1", at=T0 + DAY),
        make_event("taken", kind=EventKind.OPT_OUT, channel=Channel.SMS),
        make_event("new-2", kind=EventKind.PAYMENT, amount_minor=7, at=T0 + 2 * DAY),
    ]
    result = ledger.record_events(batch)
    assert [o.status for o in result.events] == [
        EventStatus.STORED,
        EventStatus.CONFLICT,
        EventStatus.STORED,
    ]
    assert result.events[1].detail == (
        "type: stored PAYMENT, sent OPT_OUT; channel: stored NONE, sent SMS; "
        "amount: stored 100, sent 0"
    )
    ids = [e.event_id for e in ledger.events_for_case("case-1", since=T0)]
    assert ids == ["taken", "new-1", "new-2"]
    outcome = ledger.get_outcome("case-1")
    assert outcome is not None and outcome.paid_minor_total == 107


def test_concurrent_recorders_store_each_event_once(
    ledger: Ledger, make_event: Callable[..., LedgerEvent]
) -> None:
    events = [make_event(f"e-{i:03d}", at=T0 + timedelta(minutes=i)) for i in range(40)]
    threads, barrier = 8, threading.Barrier(8)
    results: list[RecordResult] = []
    errors: list[BaseException] = []

    def record(offset: int) -> None:
        # Each thread sends the same events in a different order, in overlapping batches.
        mine = events[offset:] + events[:offset]
        barrier.wait()
        try:
            for start in range(0, len(mine), 10):
                results.append(ledger.record_events(mine[start : start + 10]))
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    workers = [threading.Thread(target=record, args=(5 * i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assert sum(r.stored for r in results) == len(events)
    assert sum(r.duplicates for r in results) == len(events) * (threads - 1)
    assert ledger.events_for_case("case-1", since=T0) == events


def test_record_events_is_all_or_nothing(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, make_event: Callable[..., LedgerEvent]
) -> None:
    def fail(**_: object) -> None:
        raise sa.exc.OperationalError("UPSERT outcome", {}, Exception("connection lost"))

    monkeypatch.setattr(queries, "upsert_outcomes", fail)
    batch = [make_event("e-1"), make_event("e-2", kind=EventKind.PAYMENT, amount_minor=5)]

    with pytest.raises(LedgerUnavailable, match="nothing was written"):
        ledger.record_events(batch)
    monkeypatch.undo()

    assert ledger.events_for_case("case-1", since=T0 - timedelta(days=1)) == []
    assert counts(ledger.record_events(batch)) == (2, 0, 0)


def test_invalid_events_are_rejected_before_any_write(
    ledger: Ledger, make_event: Callable[..., LedgerEvent]
) -> None:
    naive = make_event("e-2", at=T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="naive"):
        ledger.record_events([make_event("e-1"), naive])
    with pytest.raises(ValueError, match="event_id"):
        ledger.record_events([make_event("")])
    with pytest.raises(ValueError, match="Channel"):
        ledger.record_events([make_event("e-3", channel=42)])
    assert ledger.events_for_case("case-1", since=T0 - timedelta(days=1)) == []


def test_events_are_ordered_and_filtered_by_since(
    ledger: Ledger, make_event: Callable[..., LedgerEvent]
) -> None:
    day = timedelta(days=1)
    events = [
        make_event("late", at=T0 + 2 * day),
        make_event("early", at=T0 - 2 * day),
        make_event("now-b", at=T0),
        make_event("other-case", case_id="case-2", at=T0),
        make_event("middle", at=T0 + day),
    ]
    ledger.record_events(events)
    ledger.record_events([make_event("now-a", at=T0)])  # same instant, recorded later

    since_t0 = [e.event_id for e in ledger.events_for_case("case-1", since=T0)]
    assert since_t0 == ["now-b", "now-a", "middle", "late"]
    everything = ledger.events_for_case("case-1", since=T0 - 10 * day)
    assert [e.event_id for e in everything] == ["early", "now-b", "now-a", "middle", "late"]
    assert ledger.events_for_case("case-1", since=T0 + 3 * day) == []
    assert ledger.events_for_case("no-such-case", since=T0 - 10 * day) == []
    with pytest.raises(ValueError, match="naive"):
        ledger.events_for_case("case-1", since=T0.replace(tzinfo=None))


def test_events_for_cases_equals_one_read_per_case(
    ledger: Ledger, make_event: Callable[..., LedgerEvent]
) -> None:
    day = timedelta(days=1)
    ledger.record_events(
        [
            make_event("a-old", at=T0 - 5 * day),
            make_event("a-new", at=T0 + day),
            make_event("b-1", case_id="case-2", at=T0),
            make_event("c-1", case_id="case-3", at=T0 - day),
        ]
    )
    ids = ["case-2", "case-1", "no-such-case", "case-1", "case-3"]
    for since in (T0 - 10 * day, T0):
        together = ledger.events_for_cases(ids, since=since)
        assert list(together) == ["case-2", "case-1", "no-such-case", "case-3"]
        assert together == {c: ledger.events_for_case(c, since=since) for c in set(ids)}
    assert [e.event_id for e in ledger.events_for_cases(ids, since=T0)["case-1"]] == ["a-new"]
    with pytest.raises(ValueError, match="naive"):
        ledger.events_for_cases(ids, since=T0.replace(tzinfo=None))


def test_events_for_cases_reads_any_number_of_cases(
    ledger: Ledger, make_event: Callable[..., LedgerEvent]
) -> None:
    # A statement reads a power of two of cases (padded with the last id) and at most 256.
    ledger.record_events(
        [make_event(f"e-{i}", case_id=f"case-{i}", at=T0) for i in range(0, 300, 7)]
    )
    for n in (1, 3, 5, 64, 65, 257, 300):
        ids = [f"case-{i}" for i in range(n)]
        together = ledger.events_for_cases(ids, since=T0)
        assert list(together) == ids
        assert {c: [e.event_id for e in events] for c, events in together.items()} == {
            f"case-{i}": [f"e-{i}"] if i % 7 == 0 else [] for i in range(n)
        }


def test_datetimes_round_trip_as_utc(
    ledger: Ledger, make_event: Callable[..., LedgerEvent]
) -> None:
    stockholm_winter = timezone(timedelta(hours=1))
    at = T0.astimezone(stockholm_winter).replace(microsecond=123456)
    event = make_event(
        "e-1",
        at=at,
        kind=EventKind.BREATHING_SPACE_STARTED,
        until=date(2026, 12, 31),
        debtor_id="debtor-1",
        decision_id="dec-9",
    )
    ledger.record_events([event])

    # `since` in another zone selects by instant, not by wall-clock digits.
    since = (at - timedelta(microseconds=1)).astimezone(timezone(timedelta(hours=-5)))
    (stored,) = ledger.events_for_case("case-1", since=since)
    assert stored == event
    assert stored.occurred_at.tzinfo is UTC
    assert stored.occurred_at == at
    assert stored.until == date(2026, 12, 31)
    assert ledger.events_for_case("case-1", since=at + timedelta(microseconds=1)) == []


def test_debtor_ids_fill_events_without_one(
    ledger: Ledger, make_event: Callable[..., LedgerEvent]
) -> None:
    ledger.record_events(
        [make_event("e-1"), make_event("e-2", debtor_id="explicit"), make_event("e-3")],
        debtor_ids=["from-map", "ignored", ""],
    )
    stored = ledger.events_for_case("case-1", since=T0)
    assert [e.debtor_id for e in stored] == ["from-map", "explicit", ""]


def test_outcome_rolls_up_payments_and_closure(
    ledger: Ledger, make_event: Callable[..., LedgerEvent]
) -> None:
    day = timedelta(days=1)
    assert ledger.get_outcome("case-1") is None
    ledger.record_events(
        [
            make_event("pay-1", kind=EventKind.PAYMENT, amount_minor=1500, at=T0 + day),
            make_event("mail", kind=EventKind.CONTACT_OPENED, at=T0 + 5 * day),
        ]
    )
    outcome = ledger.get_outcome("case-1")
    assert outcome is not None
    assert (outcome.paid_minor_total, outcome.closed, outcome.resolved) == (1500, False, False)
    assert outcome.last_event_at == T0 + day
    assert outcome.debtor_id == ""

    # Out of order, with a duplicate that must not count twice.
    ledger.record_events(
        [
            make_event("pay-1", kind=EventKind.PAYMENT, amount_minor=1500, at=T0 + day),
            make_event("close", kind=EventKind.CASE_CLOSED, at=T0 + 3 * day),
            make_event("pay-0", kind=EventKind.PAYMENT, amount_minor=500, at=T0),
        ],
        debtor_ids=["", "debtor-1", ""],
        currencies=["", "", "SEK"],
    )
    outcome = ledger.get_outcome("case-1")
    assert outcome is not None
    assert (outcome.paid_minor_total, outcome.closed, outcome.resolved) == (2000, True, True)
    assert outcome.last_event_at == T0 + 3 * day
    assert outcome.debtor_id == "debtor-1"


def test_closed_without_payment_is_not_resolved(
    ledger: Ledger, make_event: Callable[..., LedgerEvent]
) -> None:
    ledger.record_events([make_event("close", case_id="case-9", kind=EventKind.CASE_CLOSED)])
    outcome = ledger.get_outcome("case-9")
    assert outcome is not None
    assert (outcome.closed, outcome.resolved, outcome.paid_minor_total) == (True, False, 0)


def test_event_statuses_are_the_api_values() -> None:
    from tact.v1 import decision_service_pb2

    assert {s.name: int(s) for s in EventStatus} == {
        name.removeprefix("EVENT_STATUS_"): value
        for name, value in decision_service_pb2.EventStatus.items()
        if value
    }
