"""The contact/response ledger, decision audit and outcomes: what the servicer calls.

:func:`open_ledger` creates the engine and brings the schema up to date;
:class:`Ledger` converts between the domain records (:class:`engine.state.LedgerEvent`,
:class:`~engine.ledger.records.DecisionRecord`) and rows, owns transactions, and turns
SQLAlchemy's exceptions into :mod:`engine.ledger.errors` so that the service can map them
to gRPC status codes (fail closed: no decision is returned unless it was stored).

The two calls of every decision (``events_for_case``, ``save_decision``) run on the
calling thread's own driver connection (:mod:`engine.ledger.connections`,
:mod:`engine.ledger.driver`; measured by ``bench/bench_ledger.py``); everything else goes
through SQLAlchemy's pool (:mod:`engine.ledger.queries`).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any, NoReturn, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, exc
from sqlmodel import Session

from engine.catalogue import Action, Channel
from engine.ledger import driver, queries, recording
from engine.ledger.connections import ConnectionsClosed, ThreadConnections
from engine.ledger.db import (
    PG_RECYCLE_S,
    SQLITE_BUSY_TIMEOUT_MS,
    WRITE_OPTION,
    WalCheckpointer,
    create_ledger_engine,
    is_sqlite,
)
from engine.ledger.errors import LedgerError, LedgerIntegrityError, LedgerUnavailable
from engine.ledger.migrate import upgrade_to_head
from engine.ledger.models import SOURCE_CALLER, SOURCE_DECISION, DecisionRow
from engine.ledger.records import CaseOutcome, DecisionRecord, EventStatus, RecordResult
from engine.state import EventKind, LedgerEvent

log = logging.getLogger(__name__)

T = TypeVar("T")

OUTCOME_KINDS = frozenset({EventKind.PAYMENT, EventKind.CASE_CLOSED})
"""Event kinds rolled up into the ``outcome`` table."""

_RETRIES = 3
"""Attempts of a transaction that PostgreSQL aborted to break a deadlock or conflict."""
_RETRY = object()
"""Returned by one attempt on the driver connection to ask for another."""
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock
_UNAVAILABLE_SQLSTATES = frozenset({"25006", "57014"})  # read-only transaction, timeout

# Enum members by value: cheaper than calling the enum for every row read.
_KINDS = {int(k): k for k in EventKind}
_CHANNELS = {int(c): c for c in Channel}
_ACTIONS: dict[int | None, Action | None] = {int(a): a for a in Action}
_ACTIONS[None] = None
EVENT_ROW_KEYS = (
    "event_id",
    "case_id",
    "debtor_id",
    "kind",
    "channel",
    "action",
    "occurred_at",
    "amount_minor",
    "currency",
    "until",
    "decision_id",
    "attempt_event_id",
    "source",
    "recorded_at",
)
"""Columns written for an event (all but the surrogate ``id``); keys of ``_event_row``."""
DECISION_ROW_KEYS = (
    "decision_id",
    "case_id",
    "debtor_id",
    "decided_at",
    "treatment_index",
    "treatment_label",
    "send_at",
    "next_review_at",
    "policy_name",
    "policy_version",
    "policy_arm",
    "propensity",
    "ruleset_version",
    "rule_ids",
    "inputs_digest",
    "explanation",
)
"""Columns of a decision; keys of ``_decision_row``."""
_MAX_BIGINT = 2**63 - 1
_MIN_BIGINT = -(2**63)


def open_ledger(url: str) -> Ledger:
    """Connect to the ledger at ``url`` and apply pending migrations (``upgrade head``).

    ``url`` is ``sqlite:///path/to/tact.db`` (embedded, the default) or
    ``postgresql+psycopg://user@host:5432/db`` (shared by several replicas; safe to call
    from all of them at once). Raises :class:`LedgerUnavailable` when the database cannot
    be reached or written, ``ValueError`` for an unusable URL.
    """
    migration_engine = create_ledger_engine(url, for_migrations=True)
    try:
        upgrade_to_head(migration_engine)
    except exc.SQLAlchemyError as error:
        _raise_translated(error, "applying the ledger's schema migrations", migration_engine)
    finally:
        migration_engine.dispose()
    return Ledger(create_ledger_engine(url))


class Ledger:
    """Reads and writes the ledger. Thread-safe: share one instance across workers.

    Every method is one transaction: it either completes or changes nothing and raises a
    :class:`~engine.ledger.errors.LedgerError`. Bad arguments raise ``ValueError``.
    """

    def __init__(self, engine: Engine) -> None:
        """Wrap an engine made by :func:`engine.ledger.db.create_ledger_engine`.

        Prefer :func:`open_ledger`, which also migrates the schema.
        """
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._closed = False
        self._hot = driver.HotPath.for_dialect(
            engine.dialect, event_keys=EVENT_ROW_KEYS, decision_keys=DECISION_ROW_KEYS
        )
        self._driver_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        self._connections = ThreadConnections(
            engine, max_age_s=None if is_sqlite(engine) else PG_RECYCLE_S
        )
        self._write_lock = threading.Lock() if is_sqlite(engine) else None
        self._checkpointer = WalCheckpointer(engine) if is_sqlite(engine) else None
        if self._checkpointer is not None:
            self._checkpointer.start()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for health checks and benchmarks; do not write with it)."""
        return self._engine

    # -- events -------------------------------------------------------------------------

    def record_events(
        self,
        events: Sequence[LedgerEvent],
        *,
        debtor_ids: Sequence[str] | None = None,
        currencies: Sequence[str] | None = None,
    ) -> RecordResult:
        """Store caller-reported events, idempotently by ``(case_id, event_id)``.

        Per event (:class:`~engine.ledger.records.EventOutcome`, in order): *stored*; a
        *duplicate* when its key is already stored (or sent earlier in ``events``) with the
        same content, ignored; or a *conflict* when the key holds other content: not
        stored, reported with what differs (:mod:`engine.ledger.recording`). New events are
        written in one transaction, all or none. ``debtor_ids[i]`` fills ``events[i]``'s
        debtor id when it is empty; ``currencies[i]`` is the ISO 4217 code of
        ``events[i].amount_minor``. PAYMENT and CASE_CLOSED events that are new update the
        case's outcome roll-up.
        """
        if not events:
            return RecordResult(stored=0, duplicates=0)
        for event in events:
            _check_event(event)
        for name, values in (("debtor_ids", debtor_ids), ("currencies", currencies)):
            if values is not None and len(values) != len(events):
                raise ValueError(f"{name} must have one entry per event ({len(events)})")
        recorded_at = datetime.now(UTC)
        rows = [
            _event_row(
                event,
                debtor_id=event.debtor_id or (debtor_ids[i] if debtor_ids else ""),
                currency=currencies[i] if currencies else "",
                source=SOURCE_CALLER,
                recorded_at=recorded_at,
            )
            for i, event in enumerate(events)
        ]
        candidates = recording.first_of_each_key(rows)

        def work(connection: Connection) -> tuple[set[recording.Key], dict[Any, Any]]:
            inserted = queries.insert_events_if_new(connection=connection, rows=candidates)
            taken = [recording.key_of(row) for row in candidates]
            stored = queries.select_stored_content(
                connection=connection, keys=[key for key in taken if key not in inserted]
            )
            new_rows = [row for row in candidates if recording.key_of(row) in inserted]
            queries.upsert_outcomes(connection=connection, rows=_outcome_increments(new_rows))
            return inserted, stored

        inserted, stored = self._run("recording events", work, write=True)
        outcomes = recording.outcomes(rows, inserted, stored)
        counts = Counter(o.status for o in outcomes)
        return RecordResult(
            stored=counts[EventStatus.STORED],
            duplicates=counts[EventStatus.DUPLICATE],
            conflicts=counts[EventStatus.CONFLICT],
            events=tuple(outcomes),
        )

    def events_for_case(self, case_id: str, *, since: datetime) -> list[LedgerEvent]:
        """The case's events with ``occurred_at >= since``, oldest first (UTC-aware)."""
        if since.utcoffset() is None:
            raise ValueError(
                f"since={since.isoformat()} is naive; pass a timezone-aware datetime (UTC)"
            )
        hot = self._hot
        rows = self._run_on_driver(
            "reading a case's events",
            lambda cursor: driver.select_case_events(
                cursor=cursor, hot=hot, case_id=case_id, since=since
            ),
            write=False,
        )
        return _events_from_rows(rows, case_id, hot.result_datetime, hot.result_date)

    def events_for_cases(
        self, case_ids: Sequence[str], *, since: datetime
    ) -> dict[str, list[LedgerEvent]]:
        """:meth:`events_for_case` of several cases on one connection checkout (a stream
        batch or a group of concurrent calls); every given id is a key of the result."""
        if since.utcoffset() is None:
            raise ValueError(
                f"since={since.isoformat()} is naive; pass a timezone-aware datetime (UTC)"
            )
        hot = self._hot
        unique = list(dict.fromkeys(case_ids))
        rows = self._run_on_driver(
            "reading cases' events",
            lambda cursor: [
                driver.select_case_events(cursor=cursor, hot=hot, case_id=case_id, since=since)
                for case_id in unique
            ],
            write=False,
        )
        return {
            case_id: _events_from_rows(case_rows, case_id, hot.result_datetime, hot.result_date)
            for case_id, case_rows in zip(unique, rows, strict=True)
        }

    # -- decisions ----------------------------------------------------------------------

    def save_decision(self, record: DecisionRecord, *, reservation: LedgerEvent | None) -> None:
        """Store a decision and its contact reservation together, in one transaction.

        ``reservation`` is the CONTACT_PLANNED event of a contact decision (``None`` for a
        wait); its empty ``decision_id`` / ``debtor_id`` are filled from ``record``.
        Saving the same decision again is a no-op; a ``decision_id`` or reservation
        ``event_id`` already stored with other content raises
        :class:`LedgerIntegrityError` and stores nothing.
        """
        self.save_decisions([(record, reservation)])

    def save_decisions(
        self, decisions: Sequence[tuple[DecisionRecord, LedgerEvent | None]]
    ) -> None:
        """Store several decisions with their reservations in ONE transaction (all or none).

        Used by ``DecideStream`` to commit a batch at once; the rules of
        :meth:`save_decision` apply to every pair.
        """
        hot = self._hot
        bind = hot.bind_datetime
        recorded_at = bind(datetime.now(UTC))
        decision_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        for record, reservation in decisions:
            decision_rows.append(_decision_values(record, bind))
            if reservation is not None:
                _check_reservation(record, reservation)
                event_rows.append(_reservation_values(record, reservation, hot, recorded_at))
        if not decision_rows:
            return

        def work(cursor: Any) -> None:
            driver.insert_decisions(cursor=cursor, hot=hot, rows=decision_rows)
            if event_rows:
                driver.insert_events(cursor=cursor, hot=hot, rows=event_rows)

        n = len(decision_rows)
        what = "saving a decision" if n == 1 else f"saving {n} decisions"
        try:
            self._run_on_driver(what, work, write=True)
        except LedgerIntegrityError:
            # A retry of a call whose commit succeeded but whose reply was lost is fine.
            stored = (
                self._is_stored(
                    record,
                    _reservation_for(record, reservation) if reservation is not None else None,
                )
                for record, reservation in decisions
            )
            if all(stored):
                return
            raise

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        """The stored decision ``decision_id``, or ``None``."""

        def work(connection: Connection) -> DecisionRecord | None:
            with Session(connection) as session:
                row = queries.get_decision(session=session, decision_id=decision_id)
                return _decision_from_row(row) if row is not None else None

        return self._run("reading a decision", work, write=False)

    def get_outcome(self, case_id: str) -> CaseOutcome | None:
        """The case's outcome roll-up, or ``None`` before its first payment or closure."""

        def work(connection: Connection) -> CaseOutcome | None:
            with Session(connection) as session:
                row = queries.get_outcome(session=session, case_id=case_id)
                if row is None:
                    return None
                return CaseOutcome(
                    case_id=row.case_id,
                    debtor_id=row.debtor_id,
                    last_event_at=row.last_event_at,
                    paid_minor_total=row.paid_minor_total,
                    resolved=row.resolved,
                    closed=row.closed,
                )

        return self._run("reading an outcome", work, write=False)

    # -- erasure, health, lifecycle -----------------------------------------------------

    def erase_debtor(self, debtor_id: str) -> int:
        """Delete every event, decision and outcome of ``debtor_id`` (GDPR erasure).

        Rows stored without a debtor id are erased too when they belong to one of the
        debtor's cases. Returns the number of rows deleted (0 when none were stored).
        """
        if not debtor_id:
            raise ValueError("erase_debtor needs a non-empty debtor_id")

        def work(connection: Connection) -> int:
            with Session(connection) as session:
                cases = queries.cases_of_debtor(session=session, debtor_id=debtor_id)
                return queries.delete_debtor_rows(
                    session=session, debtor_id=debtor_id, case_ids=cases
                )

        deleted = self._run("erasing a debtor", work, write=True)
        log.info("ledger: erased %d rows of one debtor", deleted)  # never log the id itself
        return deleted

    def ping(self) -> None:
        """Raise :class:`LedgerUnavailable` unless the database answers a query."""
        self._run("pinging the database", lambda c: c.execute(sa.text("SELECT 1")), write=False)

    def close(self) -> None:
        """Close all connections (every thread's too); later calls raise LedgerUnavailable."""
        self._closed = True
        self._connections.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._engine.dispose()

    # -- internals ----------------------------------------------------------------------

    def _run(self, what: str, work: Callable[[Connection], T], *, write: bool) -> T:
        """Run ``work`` in one transaction, retrying deadlocks, translating errors."""
        self._check_open(what)
        engine = self._writer if write else self._engine
        for attempt in range(1, _RETRIES + 1):
            try:
                with self._write_turn(what, write), engine.begin() as connection:
                    return work(connection)
            except exc.DBAPIError as error:
                if _sqlstate(error) in _RETRYABLE_SQLSTATES and attempt < _RETRIES:
                    log.warning("ledger: retrying %s after %s", what, _sqlstate(error))
                    continue
                _raise_translated(error, what, self._engine)
            except exc.SQLAlchemyError as error:
                _raise_translated(error, what, self._engine)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _run_on_driver(self, what: str, work: Callable[[Any], T], *, write: bool) -> T:
        """Like :meth:`_run`, on this thread's driver connection (in autocommit).

        A read runs without BEGIN: one SELECT is its own consistent snapshot. A write runs
        in ``HotPath.begin_write`` … COMMIT, queued behind this process's other SQLite
        writers (see :meth:`_write_turn`; inlined: this runs twice per decision).
        """
        if self._closed:
            self._raise_closed(what)
        write_lock = self._write_lock if write else None
        for attempt in range(1, _RETRIES + 1):
            if write_lock is not None and not write_lock.acquire(
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000
            ):
                self._raise_write_lock_timeout(what)
            try:
                result = self._attempt_on_driver(what, work, write=write, attempt=attempt)
            finally:
                if write_lock is not None:
                    write_lock.release()
            if result is not _RETRY:
                return cast(T, result)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _attempt_on_driver(
        self, what: str, work: Callable[[Any], T], *, write: bool, attempt: int
    ) -> T | object:
        """One try of :meth:`_run_on_driver`; returns ``_RETRY`` to ask for another.

        Retried: PostgreSQL's deadlock / serialization failures, and a connection found
        broken that had served earlier calls (the database restarted, a proxy dropped it:
        what ``pool_pre_ping`` does for pooled connections, without a round trip per call).
        The only driver write, :meth:`save_decisions`, is idempotent, so a retry after a
        commit whose outcome was lost stores nothing twice.
        """
        connections = self._connections
        try:
            held = connections.acquire()
        except ConnectionsClosed:
            self._raise_closed(what)
        except exc.SQLAlchemyError as error:  # e.g. the pool timed out
            _raise_translated(error, what, self._engine)
        except self._driver_error as error:  # the driver could not connect
            _raise_translated(self._as_sqlalchemy_error(error, dead=True), what, self._engine)
        connection = held.dbapi
        cursor = None
        ok = False
        try:
            cursor = connection.cursor()
            if write:
                cursor.execute(self._hot.begin_write)
            result = work(cursor)
            if write:
                connection.commit()
            ok = True
            return result
        except self._driver_error as driver_error:
            dead = self._engine.dialect.is_disconnect(cast(Any, driver_error), connection, cursor)
            wrapped = self._as_sqlalchemy_error(driver_error, dead=dead)
            if dead:
                connections.discard(held)
                if not held.fresh and attempt < _RETRIES:
                    log.warning("ledger: reconnecting to retry %s on a broken connection", what)
                    return _RETRY
            if _sqlstate(wrapped) in _RETRYABLE_SQLSTATES and attempt < _RETRIES:
                log.warning("ledger: retrying %s after %s", what, _sqlstate(wrapped))
                return _RETRY
            _raise_translated(wrapped, what, self._engine)
        finally:
            if cursor is not None:
                with suppress(Exception):
                    cursor.close()
            if not ok and held.dbapi is not None:
                # Roll back what the failed call began (a no-op outside a transaction);
                # a connection that cannot even do that is replaced.
                try:
                    connection.rollback()
                except Exception:
                    connections.discard(held)
            connections.release(held, ok=ok)

    def _raise_closed(self, what: str) -> NoReturn:
        raise LedgerUnavailable(
            f"ledger is closed (while {what}); the service is shutting down, retry on "
            "another replica"
        )

    def _raise_write_lock_timeout(self, what: str) -> NoReturn:
        raise LedgerUnavailable(
            f"waited {SQLITE_BUSY_TIMEOUT_MS / 1000:.0f} s for the SQLite write lock while "
            f"{what}; nothing was written — the ledger is overloaded, retry later"
        )

    @contextmanager
    def _write_turn(self, what: str, write: bool) -> Iterator[None]:
        """Queue this process's SQLite writers on a lock instead of on SQLite's busy wait.

        SQLite's busy handler sleeps 1, 2, 5, 10… ms between retries of a taken write lock,
        so threads contending for it see millisecond tails for a lock held ~100 µs; a
        Python lock hands over immediately. Other processes still queue on busy_timeout.
        """
        if not write or self._write_lock is None:
            yield
            return
        if not self._write_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            self._raise_write_lock_timeout(what)
        try:
            yield
        finally:
            self._write_lock.release()

    def _as_sqlalchemy_error(self, error: Exception, *, dead: bool) -> exc.DBAPIError:
        """Wrap a driver error as SQLAlchemy would (``dead``: the connection is lost)."""
        wrapped = exc.DBAPIError.instance(
            None,
            None,
            error,
            self._driver_error,
            connection_invalidated=dead,
            dialect=self._engine.dialect,
        )
        assert isinstance(wrapped, exc.DBAPIError)  # a driver error always wraps as one
        return wrapped

    def _check_open(self, what: str) -> None:
        if self._closed:
            self._raise_closed(what)

    def _is_stored(self, record: DecisionRecord, planned: LedgerEvent | None) -> bool:
        """Whether ``record`` and its reservation are stored exactly as given."""
        if self.get_decision(record.decision_id) != record:
            return False
        if planned is None:
            return True
        row = self._run(
            "reading an event",
            lambda connection: queries.select_event(
                connection=connection, case_id=planned.case_id, event_id=planned.event_id
            ),
            write=False,
        )
        return row is not None and _event_from_row(row) == planned


# -- conversions -------------------------------------------------------------------------


def _check_event(event: LedgerEvent) -> None:
    if not event.event_id or not event.case_id:
        raise ValueError(f"event {event!r} needs a non-empty event_id and case_id")
    if event.occurred_at.utcoffset() is None:
        raise ValueError(
            f"event {event.event_id!r}: occurred_at {event.occurred_at.isoformat()} is naive; "
            "pass a timezone-aware datetime (UTC)"
        )
    if not _MIN_BIGINT <= event.amount_minor <= _MAX_BIGINT:
        raise ValueError(
            f"event {event.event_id!r}: amount_minor {event.amount_minor} does not fit in 64 bits"
        )
    if event.kind not in _KINDS:
        raise ValueError(
            f"event {event.event_id!r}: kind {event.kind!r} is not an engine.state.EventKind"
        )
    if event.channel not in _CHANNELS or event.action not in _ACTIONS:
        raise ValueError(
            f"event {event.event_id!r}: channel {event.channel!r} / action {event.action!r} "
            "must be engine.catalogue.Channel / Action members (action may be None)"
        )


def _event_row(
    event: LedgerEvent, *, debtor_id: str, currency: str, source: str, recorded_at: datetime
) -> dict[str, Any]:
    if len(currency) > 3:
        raise ValueError(f"event {event.event_id!r}: currency {currency!r} is not an ISO 4217 code")
    return {
        "event_id": event.event_id,
        "case_id": event.case_id,
        "debtor_id": debtor_id,
        "kind": int(event.kind),
        "channel": int(event.channel),
        "action": None if event.action is None else int(event.action),
        "occurred_at": event.occurred_at,
        "amount_minor": event.amount_minor,
        "currency": currency,
        "until": event.until,
        "decision_id": event.decision_id or None,
        "attempt_event_id": event.attempt_event_id or None,
        "source": source,
        "recorded_at": recorded_at,
    }


def _event_from_row(row: Sequence[Any]) -> LedgerEvent:
    """Row of ``queries.EVENT_COLUMNS`` → event (datetimes already UTC-aware)."""
    event_id, case_id, *rest = row  # CASE_EVENT_COLUMNS are these columns but the case id
    [event] = _events_from_rows([(event_id, *rest)], case_id, _as_is, _as_is)
    return event


def _as_is(value: Any) -> Any:
    return value


def _events_from_rows(
    rows: Sequence[Sequence[Any]],
    case_id: str,
    to_datetime: Callable[[Any], datetime],
    to_date: Callable[[Any], date | None],
) -> list[LedgerEvent]:
    """Rows of ``queries.CASE_EVENT_COLUMNS`` of case ``case_id`` → events (UTC-aware)."""
    kinds, channels, actions = _KINDS, _CHANNELS, _ACTIONS
    return [
        LedgerEvent(
            event_id,
            case_id,
            kinds[kind],
            to_datetime(occurred_at),
            channels[channel],
            actions[action],
            amount,
            None if until is None else to_date(until),
            decision_id or "",
            debtor_id,
            attempt_event_id or "",
        )
        for (
            event_id,
            kind,
            occurred_at,
            channel,
            action,
            amount,
            until,
            decision_id,
            debtor_id,
            attempt_event_id,
        ) in rows
    ]


def _outcome_increments(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Fold newly stored event rows into one ``outcome`` upsert row per case."""
    by_case: dict[str, dict[str, Any]] = {}
    for row in rows:
        kind = row["kind"]
        if kind not in OUTCOME_KINDS:
            continue
        case = by_case.setdefault(
            row["case_id"],
            {
                "case_id": row["case_id"],
                "debtor_id": "",
                "last_event_at": row["occurred_at"],
                "paid_minor_total": 0,
                "closed": False,
            },
        )
        case["debtor_id"] = case["debtor_id"] or row["debtor_id"]
        case["last_event_at"] = max(case["last_event_at"], row["occurred_at"])
        if kind == EventKind.PAYMENT:
            case["paid_minor_total"] += row["amount_minor"]
        else:
            case["closed"] = True
    for case in by_case.values():
        case["resolved"] = case["closed"] and case["paid_minor_total"] > 0
    # Sorted so that concurrent upserts lock outcome rows in one order (no deadlocks).
    return [by_case[case_id] for case_id in sorted(by_case)]


def _check_reservation(record: DecisionRecord, reservation: LedgerEvent) -> None:
    _check_event(reservation)
    if reservation.kind is not EventKind.CONTACT_PLANNED:
        raise ValueError(
            f"reservation {reservation.event_id!r} has kind {reservation.kind.name}; a "
            "decision reserves its contact with a CONTACT_PLANNED event"
        )
    if reservation.case_id != record.case_id:
        raise ValueError(
            f"reservation {reservation.event_id!r} is for case {reservation.case_id!r} but "
            f"decision {record.decision_id!r} is for case {record.case_id!r}"
        )
    if reservation.decision_id not in ("", record.decision_id):
        raise ValueError(
            f"reservation {reservation.event_id!r} names decision "
            f"{reservation.decision_id!r}, not {record.decision_id!r}; leave it empty"
        )


def _reservation_for(record: DecisionRecord, reservation: LedgerEvent) -> LedgerEvent:
    """The reservation as stored: ``decision_id`` and an empty ``debtor_id`` filled in."""
    _check_reservation(record, reservation)
    return replace(
        reservation,
        decision_id=record.decision_id,
        debtor_id=reservation.debtor_id or record.debtor_id,
    )


def _reservation_values(
    record: DecisionRecord, reservation: LedgerEvent, hot: driver.HotPath, recorded_at: Any
) -> tuple[Any, ...]:
    """``_event_row`` of ``_reservation_for(record, reservation)``, as the driver binds it.

    Values in ``EVENT_ROW_KEYS`` order (a test holds the two in step); ``recorded_at`` is
    bound already. Checked by :func:`_check_reservation` beforehand.
    """
    action = reservation.action
    until = reservation.until
    bind = hot.bind_datetime
    return (
        reservation.event_id,
        reservation.case_id,
        reservation.debtor_id or record.debtor_id,
        int(reservation.kind),
        int(reservation.channel),
        None if action is None else int(action),
        bind(reservation.occurred_at),
        reservation.amount_minor,
        "",
        None if until is None else hot.bind_date(until),
        record.decision_id,
        reservation.attempt_event_id or None,
        SOURCE_DECISION,
        recorded_at,
    )


def _decision_row(record: DecisionRecord) -> dict[str, Any]:
    return {
        "decision_id": record.decision_id,
        "case_id": record.case_id,
        "debtor_id": record.debtor_id,
        "decided_at": record.decided_at,
        "treatment_index": record.treatment_index,
        "treatment_label": record.treatment_label,
        "send_at": record.send_at,
        "next_review_at": record.next_review_at,
        "policy_name": record.policy_name,
        "policy_version": record.policy_version,
        "policy_arm": record.policy_arm,
        "propensity": record.propensity,
        "ruleset_version": record.ruleset_version,
        "rule_ids": _rule_ids_json(record.rule_ids),
        "inputs_digest": record.inputs_digest,
        "explanation": record.explanation,
    }


def _decision_values(
    record: DecisionRecord, bind: Callable[[datetime | None], Any]
) -> tuple[Any, ...]:
    """``_decision_row(record)`` as the driver binds it, in ``DECISION_ROW_KEYS`` order."""
    return (
        record.decision_id,
        record.case_id,
        record.debtor_id,
        bind(record.decided_at),
        record.treatment_index,
        record.treatment_label,
        bind(record.send_at),
        bind(record.next_review_at),
        record.policy_name,
        record.policy_version,
        record.policy_arm,
        record.propensity,
        record.ruleset_version,
        _rule_ids_json(record.rule_ids),
        record.inputs_digest,
        record.explanation,
    )


@functools.lru_cache(maxsize=1024)
def _rule_ids_json(rule_ids: tuple[str, ...]) -> str:
    # A service sees a few distinct rule-id sets over and over; json.dumps is ~10x a hit.
    return json.dumps(list(rule_ids))


def _decision_from_row(row: DecisionRow) -> DecisionRecord:
    return DecisionRecord(
        decision_id=row.decision_id,
        case_id=row.case_id,
        debtor_id=row.debtor_id,
        decided_at=row.decided_at,
        treatment_index=row.treatment_index,
        treatment_label=row.treatment_label,
        policy_name=row.policy_name,
        policy_version=row.policy_version,
        policy_arm=row.policy_arm,
        propensity=row.propensity,
        ruleset_version=row.ruleset_version,
        inputs_digest=row.inputs_digest,
        send_at=row.send_at,
        next_review_at=row.next_review_at,
        rule_ids=tuple(json.loads(row.rule_ids)),
        explanation=row.explanation,
    )


# -- errors ------------------------------------------------------------------------------


def _sqlstate(error: exc.DBAPIError) -> str:
    """PostgreSQL's SQLSTATE of the error ("" on SQLite)."""
    return getattr(error.orig, "sqlstate", None) or ""


def _raise_translated(error: exc.SQLAlchemyError, what: str, engine: Engine) -> NoReturn:
    """Raise the :mod:`engine.ledger.errors` equivalent of a SQLAlchemy error."""
    where = engine.url.render_as_string(hide_password=True)
    cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    if isinstance(error, exc.IntegrityError):
        raise LedgerIntegrityError(
            f"{what}: an id is already stored with other content ({cause}); nothing was "
            "written — use a new decision_id / event_id, or resend exactly the stored content"
        ) from error
    unavailable = isinstance(
        error, exc.OperationalError | exc.InterfaceError | exc.TimeoutError
    ) or (
        isinstance(error, exc.DBAPIError)
        and (error.connection_invalidated or _sqlstate(error) in _UNAVAILABLE_SQLSTATES)
    )
    if unavailable:
        raise LedgerUnavailable(
            f"ledger database {where} unavailable while {what} ({cause}); nothing was "
            "written — retry later, and check that the database is running, reachable and "
            "writable (TACT_DATABASE_URL)"
        ) from error
    raise LedgerError(f"ledger failed while {what} on {where}: {cause}") from error
