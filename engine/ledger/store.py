"""The contact/response ledger, decision audit and outcomes: what the servicer calls.

:func:`open_ledger` creates the engine and brings the schema up to date;
:class:`Ledger` converts between the domain records (:class:`engine.state.LedgerEvent`,
:class:`~engine.ledger.records.DecisionRecord`) and rows, owns transactions, and turns
SQLAlchemy's exceptions into :mod:`engine.ledger.errors` so that the service can map them
to gRPC status codes (fail closed: no decision is returned unless it was stored).

The two calls of every decision (``events_for_case``; ``save_decisions``, or for
contacts ``reserve_decisions``: per-case locks, a re-read and a re-check before the
write, :mod:`engine.reservations`; the decisions' experiment tags, if any, are written in
the same transaction) run on the calling thread's own driver connection
(:mod:`engine.ledger.connections`, :mod:`engine.ledger.driver`; measured by
``bench/bench_ledger.py``); everything else goes through SQLAlchemy's pool
(:mod:`engine.ledger.queries`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import Connection, Engine, exc
from sqlmodel import Session

from engine.ledger import codec, driver, locks, queries, recording, writes
from engine.ledger.connections import ConnectionsClosed, ThreadConnections
from engine.ledger.db import (
    PG_RECYCLE_S,
    SQLITE_BUSY_TIMEOUT_MS,
    WRITE_OPTION,
    WalCheckpointer,
    create_ledger_engine,
    is_sqlite,
)
from engine.ledger.errors import (
    LedgerIntegrityError,
    LedgerUnavailable,
    raise_translated,
    sqlstate,
)
from engine.ledger.migrate import upgrade_to_head
from engine.ledger.models import SOURCE_CALLER
from engine.ledger.records import (
    CaseOutcome,
    CompanionRows,
    DecisionRecord,
    EventStatus,
    RecordResult,
)
from engine.ledger.writes import DecisionPair
from engine.state import LedgerEvent

log = logging.getLogger(__name__)

T = TypeVar("T")

_RETRIES = 3
"""Attempts of a transaction that PostgreSQL aborted to break a deadlock or conflict."""
_RETRY = object()
"""Returned by one attempt on the driver connection to ask for another."""
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock


def _saving(n: int) -> str:
    return "saving a decision" if n == 1 else f"saving {n} decisions"


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
        raise_translated(error, "applying the ledger's schema migrations", migration_engine)
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
            engine.dialect, event_keys=codec.EVENT_ROW_KEYS, decision_keys=codec.DECISION_ROW_KEYS
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
            codec.check_event(event)
        for name, values in (("debtor_ids", debtor_ids), ("currencies", currencies)):
            if values is not None and len(values) != len(events):
                raise ValueError(f"{name} must have one entry per event ({len(events)})")
        recorded_at = datetime.now(UTC)
        rows = [
            codec.event_row(
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
            queries.upsert_outcomes(connection=connection, rows=codec.outcome_increments(new_rows))
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
        return codec.events_from_rows(rows, case_id, hot.result_datetime, hot.result_date)

    def events_for_cases(
        self, case_ids: Sequence[str], *, since: datetime
    ) -> dict[str, list[LedgerEvent]]:
        """:meth:`events_for_case` of several cases in one statement per 256 cases (a
        stream batch or a group of concurrent calls); every given id is a key of the result."""
        if since.utcoffset() is None:
            raise ValueError(
                f"since={since.isoformat()} is naive; pass a timezone-aware datetime (UTC)"
            )
        hot = self._hot
        unique = list(dict.fromkeys(case_ids))
        rows = self._run_on_driver(
            "reading cases' events",
            lambda cursor: driver.select_events_of_cases(
                cursor=cursor, hot=hot, case_ids=unique, since=since
            ),
            write=False,
        )
        return codec.events_by_case(rows, unique, hot.result_datetime, hot.result_date)

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
        self,
        decisions: Sequence[tuple[DecisionRecord, LedgerEvent | None]],
        *,
        companions: Sequence[CompanionRows] = (),
    ) -> list[DecisionPair]:
        """Store several decisions with their reservations in ONE transaction (all or none).

        Used by ``DecideStream`` to commit a batch at once; the rules of
        :meth:`save_decision` apply to every pair. ``companions``: rows of other ledger
        tables (an experiment's tags of these decisions) stored in the same transaction,
        each unless its key is stored already.

        Returns the pairs as stored, in order. A replayable decision whose request
        (``inputs_digest``) is stored for its case already is not stored: in its place
        comes the stored decision (another ``decision_id``; reservation ``None``: it is
        in the ledger already), and neither its reservation nor its companion rows are
        written. Exact under concurrency: a unique index decides
        (:func:`engine.ledger.writes.insert_pairs`).
        """
        if not decisions:
            return []
        rows = writes.pair_rows(self._hot, decisions)
        hot = self._hot
        extra = driver.bind_companions(hot=hot, companions=companions) if companions else []
        stored: list[DecisionPair] = list(decisions)

        def work(cursor: Any) -> None:
            stored[:] = writes.insert_pairs(cursor, hot, decisions, rows, extra)

        self._store(_saving(len(decisions)), work, lambda: stored)
        return stored

    def reserve_decisions(
        self,
        decisions: Sequence[DecisionPair],
        *,
        since: datetime,
        recheck: Callable[[dict[str, list[LedgerEvent]]], dict[int, DecisionPair]],
        companions: Sequence[CompanionRows] = (),
    ) -> list[DecisionPair]:
        """Store decisions whose reservations still hold, serialised per case.

        In ONE write transaction: lock the cases that ``decisions`` reserve contacts for
        (:mod:`engine.ledger.locks`: advisory locks on PostgreSQL, the write lock on
        SQLite), read their events with ``occurred_at >= since`` (every such case is a
        key), store ``decisions`` — with the pairs ``recheck(events by case)`` returns in
        place of some, by index — and commit (the rules of :meth:`save_decision` apply).
        Returns the pairs stored, a repeated request's decision replaced by the stored one
        as by :meth:`save_decisions`. Nobody else's reservation for these cases can be written
        between the read and the commit. ``recheck`` runs again when the transaction is
        retried, so it must only compute. ``companions`` are stored in the same transaction,
        as by :meth:`save_decisions` (rows of a decision that ``recheck`` replaced stay that
        decision id's).
        """
        if since.utcoffset() is None:
            raise ValueError(
                f"since={since.isoformat()} is naive; pass a timezone-aware datetime (UTC)"
            )
        if not decisions:
            return []
        hot = self._hot
        cases = list(dict.fromkeys(r.case_id for r, reservation in decisions if reservation))
        # Converted before the transaction: the lock is held only for what must be in it.
        rows = writes.pair_rows(self._hot, decisions)
        extra = driver.bind_companions(hot=hot, companions=companions) if companions else []
        stored: list[DecisionPair] = list(decisions)

        def work(cursor: Any) -> None:
            locks.begin_and_lock(cursor=cursor, hot=hot, case_ids=cases)
            found = driver.select_events_of_cases(
                cursor=cursor, hot=hot, case_ids=cases, since=since
            )
            read = codec.events_by_case(found, cases, hot.result_datetime, hot.result_date)
            replaced = recheck(read)
            written = list(rows)
            given = list(decisions)
            if replaced:
                for index, pair in replaced.items():
                    given[index] = pair
                    [written[index]] = writes.pair_rows(hot, [pair])
            stored[:] = given  # what _store checks if the insert finds them stored already
            stored[:] = writes.insert_pairs(cursor, hot, given, written, extra)

        self._store(_saving(len(decisions)), work, lambda: stored, begins=True)
        return stored

    def _store(
        self,
        what: str,
        work: Callable[[Any], None],
        stored: Callable[[], Sequence[DecisionPair]],
        *,
        begins: bool = False,
    ) -> None:
        """Run the write ``work``; an id clash is fine when ``stored()`` (the pairs the last
        attempt wrote) are all stored exactly so: a retry of a call whose commit succeeded
        but whose reply was lost. ``begins``: ``work`` begins the transaction itself."""
        try:
            self._run_on_driver(what, work, write=True, begins=begins)
        except LedgerIntegrityError:
            pairs = stored()
            if pairs and all(
                self._is_stored(
                    record,
                    codec.reservation_for(record, reservation) if reservation is not None else None,
                )
                for record, reservation in pairs
            ):
                return
            raise

    def get_decision(self, decision_id: str) -> DecisionRecord | None:
        """The stored decision ``decision_id``, or ``None``."""

        def work(connection: Connection) -> DecisionRecord | None:
            with Session(connection) as session:
                row = queries.get_decision(session=session, decision_id=decision_id)
                return codec.decision_from_row(row) if row is not None else None

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
        """Delete every event, decision and outcome of ``debtor_id`` and their experiment
        tags (GDPR erasure).

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
                if sqlstate(error) in _RETRYABLE_SQLSTATES and attempt < _RETRIES:
                    log.warning("ledger: retrying %s after %s", what, sqlstate(error))
                    continue
                raise_translated(error, what, self._engine)
            except exc.SQLAlchemyError as error:
                raise_translated(error, what, self._engine)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _run_on_driver(
        self, what: str, work: Callable[[Any], T], *, write: bool, begins: bool = False
    ) -> T:
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
                result = self._attempt_on_driver(
                    what, work, write=write, begins=begins, attempt=attempt
                )
            finally:
                if write_lock is not None:
                    write_lock.release()
            if result is not _RETRY:
                return cast(T, result)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _attempt_on_driver(
        self, what: str, work: Callable[[Any], T], *, write: bool, begins: bool, attempt: int
    ) -> T | object:
        """One try of :meth:`_run_on_driver`; returns ``_RETRY`` to ask for another.

        Retried: PostgreSQL's deadlock / serialization failures, and a connection found
        broken that had served earlier calls (the database restarted, a proxy dropped it:
        what ``pool_pre_ping`` does for pooled connections, without a round trip per call).
        The driver writes, :meth:`save_decisions` and :meth:`reserve_decisions`, are
        idempotent (a retried re-check does not count the group's own reservations and
        decides the same), so a retry after a commit whose outcome was lost stores nothing
        twice.
        """
        connections = self._connections
        try:
            held = connections.acquire()
        except ConnectionsClosed:
            self._raise_closed(what)
        except exc.SQLAlchemyError as error:  # e.g. the pool timed out
            raise_translated(error, what, self._engine)
        except self._driver_error as error:  # the driver could not connect
            raise_translated(self._as_sqlalchemy_error(error, dead=True), what, self._engine)
        connection = held.dbapi
        cursor = None
        ok = False
        try:
            cursor = connection.cursor()
            if write and not begins:
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
            if sqlstate(wrapped) in _RETRYABLE_SQLSTATES and attempt < _RETRIES:
                log.warning("ledger: retrying %s after %s", what, sqlstate(wrapped))
                return _RETRY
            raise_translated(wrapped, what, self._engine)
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
        return row is not None and codec.event_from_row(row) == planned
