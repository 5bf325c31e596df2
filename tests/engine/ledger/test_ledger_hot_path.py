"""A decision's two calls on per-thread driver connections (engine.ledger.connections).

Each thread keeps one connection: concurrent threads must not share it, a broken one is
replaced, a failed write leaves no transaction open, closing the ledger closes them all.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from engine.catalogue import Action, Channel
from engine.ledger import (
    DecisionRecord,
    Ledger,
    LedgerIntegrityError,
    LedgerUnavailable,
    codec,
    driver,
    store,
)
from engine.ledger.connections import ThreadConnections
from engine.ledger.models import SOURCE_DECISION
from engine.state import EventKind, LedgerEvent
from tests.support.ledger_records import planned_contact

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
"""The sample records' default instant (conftest.T0)."""


_reservation = planned_contact


def _run_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    """Run ``target(i)`` on ``count`` threads started together; the errors they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            target(i)
        except BaseException as error:  # surfaced by the caller's assertion
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def _is_closed(dbapi: Any) -> bool:
    if isinstance(dbapi, sqlite3.Connection):
        try:
            dbapi.execute("SELECT 1")
        except sqlite3.ProgrammingError:
            return True
        return False
    return bool(dbapi.closed)


def _in_transaction(dbapi: Any) -> bool:
    if isinstance(dbapi, sqlite3.Connection):
        return dbapi.in_transaction
    import psycopg

    return bool(dbapi.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)


def test_threads_deciding_at_once_store_every_row(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    threads, per_thread = 8, 25

    def decide(t: int) -> None:
        for i in range(per_thread):
            case_id = f"case-{t}"
            ledger.events_for_case(case_id, since=T0)
            record = make_decision(f"dec-{t}-{i}", case_id=case_id)
            ledger.save_decision(record, reservation=_reservation(f"res-{t}-{i}", case_id=case_id))

    assert _run_threads(threads, decide) == []

    for t in range(threads):
        stored = ledger.events_for_case(f"case-{t}", since=T0)
        assert sorted(e.event_id for e in stored) == sorted(
            f"res-{t}-{i}" for i in range(per_thread)
        )
        assert all(e.decision_id == e.event_id.replace("res", "dec") for e in stored)
    assert ledger.get_decision(f"dec-{threads - 1}-{per_thread - 1}") is not None


def test_each_thread_keeps_its_own_connection(ledger: Ledger) -> None:
    threads = 4
    seen: dict[int, list[Any]] = {}
    done = threading.Barrier(threads)

    def read(t: int) -> None:
        for _ in range(3):
            ledger.events_for_case("case-1", since=T0)
            seen.setdefault(t, []).append(ledger._connections.current())
        done.wait()  # all alive at once: no thread inherits an ended one's connection

    assert _run_threads(threads, read) == []
    assert all(c is ids[0] for ids in seen.values() for c in ids)  # reused call after call
    assert len({id(ids[0]) for ids in seen.values()}) == threads  # never shared


def test_per_thread_connections_are_tuned(ledger: Ledger, backend: str) -> None:
    ledger.events_for_case("case-1", since=T0)
    dbapi = ledger._connections.current()
    cursor = dbapi.cursor()
    if backend == "sqlite":
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 1  # NORMAL: durability as documented in db.py
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] > 0
    else:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] != "0"
        assert dbapi.autocommit  # a read leaves no transaction open
    cursor.close()


def test_a_connection_broken_underneath_is_replaced(
    ledger: Ledger, backend: str, make_decision: Callable[..., DecisionRecord]
) -> None:
    ledger.save_decision(make_decision("dec-1"), reservation=_reservation("res-1"))
    broken = ledger._connections.current()
    if backend == "sqlite":
        broken.close()
    else:  # the server ends the session, as on a restart or fail-over
        with ledger.engine.connect() as other:
            pid = broken.info.backend_pid
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            other.commit()

    # The read notices, reconnects and retries: the caller sees no error.
    assert [e.event_id for e in ledger.events_for_case("case-1", since=T0)] == ["res-1"]
    assert ledger._connections.current() is not broken
    assert _is_closed(broken)

    # So does a write on a connection that breaks before its next use.
    ledger._connections.current().close()
    ledger.save_decision(make_decision("dec-2"), reservation=_reservation("res-2"))
    assert ledger.get_decision("dec-2") == make_decision("dec-2")


def test_a_failed_write_leaves_no_transaction_open(
    ledger: Ledger,
    make_decision: Callable[..., DecisionRecord],
    make_event: Callable[..., LedgerEvent],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger.record_events([make_event("res-1", kind=EventKind.CONTACT_ATTEMPTED)])
    with pytest.raises(LedgerIntegrityError):
        ledger.save_decision(make_decision("dec-1"), reservation=_reservation("res-1"))
    assert not _in_transaction(ledger._connections.current())

    def fails(**_: Any) -> None:
        raise RuntimeError("a bug after the decision row was inserted")

    monkeypatch.setattr(driver, "insert_events", fails)
    with pytest.raises(RuntimeError, match="a bug"):
        ledger.save_decision(make_decision("dec-2"), reservation=_reservation("res-2"))
    monkeypatch.undo()
    assert not _in_transaction(ledger._connections.current())
    assert ledger.get_decision("dec-2") is None

    # Another connection can write at once: the SQLite write lock was released.
    started = time.monotonic()
    ledger.record_events([make_event("e-2")])
    assert time.monotonic() - started < 1.0
    ledger.save_decision(make_decision("dec-2"), reservation=_reservation("res-2"))
    assert ledger.get_decision("dec-2") == make_decision("dec-2")


def test_calls_leave_no_transaction_open_and_commit_for_others(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    ledger.events_for_case("case-1", since=T0)
    assert not _in_transaction(ledger._connections.current())
    ledger.save_decision(make_decision("dec-1"), reservation=_reservation("res-1"))
    assert not _in_transaction(ledger._connections.current())
    # Read back on pooled connections (SQLAlchemy): committed, visible to others.
    assert ledger.get_decision("dec-1") == make_decision("dec-1")
    with ledger.engine.connect() as other:
        count = other.execute(sa.select(sa.func.count()).select_from(store.queries.EVENTS))
        assert count.scalar() == 1


def test_close_closes_every_threads_connection(ledger: Ledger) -> None:
    threads = 4
    opened: list[Any] = [None] * threads
    read, closed = threading.Barrier(threads + 1), threading.Event()
    after_close: list[BaseException] = []

    def worker(t: int) -> None:
        ledger.events_for_case("case-1", since=T0)
        opened[t] = ledger._connections.current()
        read.wait()
        closed.wait()
        try:
            ledger.events_for_case("case-1", since=T0)
        except LedgerUnavailable as error:
            after_close.append(error)

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    read.wait()
    assert ledger._connections.count() == threads  # alive threads keep theirs open

    ledger.close()
    closed.set()
    for w in workers:
        w.join()

    assert all(_is_closed(dbapi) for dbapi in opened)
    assert len(after_close) == threads
    assert all("closed" in str(error) for error in after_close)
    assert ledger._connections.count() == 0


def test_ended_threads_connections_are_closed(ledger: Ledger) -> None:
    first: list[Any] = []

    def read() -> None:
        ledger.events_for_case("case-1", since=T0)
        first.append(ledger._connections.current())

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    assert not _is_closed(first[0])

    ledger.events_for_case("case-1", since=T0)  # a new thread connects: the ended one's goes

    assert _is_closed(first[0])
    assert ledger._connections.count() == 1


def test_dispose_and_age_replace_connections(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.events_for_case("case-1", since=T0)
    before = ledger._connections.current()
    ledger.engine.dispose()  # e.g. after a fork, or to drop every connection at once
    assert _is_closed(before)
    ledger.events_for_case("case-1", since=T0)
    assert ledger._connections.current() not in (None, before)

    aged = ThreadConnections(ledger.engine, max_age_s=0.0)  # like pool_recycle
    try:
        held = aged.acquire()
        old = held.dbapi
        aged.release(held, ok=True)
        held = aged.acquire()
        assert held.dbapi is not old
        aged.release(held, ok=True)
        assert _is_closed(old)
    finally:
        aged.close()


# -- conversions (no database) -----------------------------------------------------------

HOT_PATHS = [
    pytest.param(sqlite.dialect(), id="sqlite"),
    pytest.param(postgresql.psycopg.dialect(), id="postgresql"),  # type: ignore[attr-defined]
]


@pytest.fixture(params=HOT_PATHS)
def hot(request: pytest.FixtureRequest) -> driver.HotPath:
    return driver.HotPath.for_dialect(
        request.param, event_keys=codec.EVENT_ROW_KEYS, decision_keys=codec.DECISION_ROW_KEYS
    )


def _bound(row: dict[str, Any], hot: driver.HotPath) -> tuple[Any, ...]:
    return tuple(
        hot.bind_date(value)
        if isinstance(value, date) and not isinstance(value, datetime)
        else hot.bind_datetime(value)
        if isinstance(value, datetime)
        else value
        for value in row.values()
    )


def test_driver_rows_match_the_sqlalchemy_rows(
    hot: driver.HotPath, make_decision: Callable[..., DecisionRecord]
) -> None:
    cet = timezone(timedelta(hours=1))
    record = make_decision(
        decided_at=T0.astimezone(cet), next_review_at=T0 + timedelta(days=2), rule_ids=["a", "b"]
    )
    assert tuple(codec.decision_row(record)) == codec.DECISION_ROW_KEYS
    assert codec.decision_values(record, hot.bind_datetime) == _bound(
        codec.decision_row(record), hot
    )

    recorded_at = datetime(2026, 11, 2, 9, 0, 1, tzinfo=UTC)
    for reservation in (
        _reservation("res-1", until=date(2026, 12, 1), debtor_id="debtor-9"),
        _reservation("res-2", action=None, channel=Channel.NONE, decision_id="dec-1"),
    ):
        planned = codec.reservation_for(record, reservation)
        row = codec.event_row(
            planned,
            debtor_id=planned.debtor_id,
            currency="",
            source=SOURCE_DECISION,
            recorded_at=recorded_at,
        )
        assert tuple(row) == codec.EVENT_ROW_KEYS
        values = codec.reservation_values(record, reservation, hot, hot.bind_datetime(recorded_at))
        assert values == _bound(row, hot)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, 0, 7, tzinfo=timezone(timedelta(hours=2))),
        datetime(1, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1))),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ],
)
def test_sqlite_datetimes_are_sqlalchemys_text(value: datetime) -> None:
    processor = sqlite.DATETIME().bind_processor(sqlite.dialect())
    assert processor is not None
    assert driver.sqlite_datetime(value) == processor(value.astimezone(UTC).replace(tzinfo=None))


def test_events_built_from_rows_are_ordinary_events() -> None:
    hot = driver.HotPath.for_dialect(
        sqlite.dialect(), event_keys=codec.EVENT_ROW_KEYS, decision_keys=codec.DECISION_ROW_KEYS
    )
    rows = [
        ("e-1", 7, "2026-11-02 09:00:00.000000", 2, 2, 1500, None, None, "debtor-1", None),
        ("e-2", 1, "2026-11-02 10:00:00.000001", 0, None, 0, "2026-12-01", "dec-1", "", "a-1"),
    ]
    events = codec.events_from_rows(rows, "case-1", hot.result_datetime, hot.result_date)
    assert events == [
        LedgerEvent(
            "e-1",
            "case-1",
            EventKind(7),
            T0,
            Channel(2),
            Action(2),
            1500,
            None,
            "",
            "debtor-1",
        ),
        LedgerEvent(
            "e-2",
            "case-1",
            EventKind(1),
            T0 + timedelta(hours=1, microseconds=1),
            Channel.NONE,
            None,
            0,
            date(2026, 12, 1),
            "dec-1",
            "",
            "a-1",
        ),
    ]
    for event in events:
        assert type(event) is LedgerEvent
        assert hash(event) == hash(LedgerEvent(*(getattr(event, f) for f in event.__slots__)))
        with pytest.raises(FrozenInstanceError):
            event.amount_minor = 0  # type: ignore[misc]
