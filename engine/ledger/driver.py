"""The hot path, run on the driver (DBAPI) connection instead of SQLAlchemy's executor.

Each decision reads its case's events and stores itself with its contact reservation.
Measured on SQLite (``bench/bench_ledger.py``), SQLAlchemy's execution layer — events,
compiled-cache lookup, result and type processing, ``Connection`` bookkeeping — cost
several times the database work of these three statements, and the service's storage
budget is well under a millisecond per decision. So the statements are still written
with SQLAlchemy Core from the SQLModel tables, but compiled once per dialect here and
executed on the calling thread's driver connection (:mod:`engine.ledger.connections`);
values are converted by the small functions below, which store exactly what
:class:`engine.ledger.models.UTCDateTime` stores (tests read back through both paths).
Callers pass row values as tuples in the statements' ``keys`` order, already bound.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Dialect

from engine.ledger import queries
from engine.ledger.models import LEDGER_METADATA
from engine.ledger.records import CompanionRows


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """SQL text for one dialect, and how to pass it values."""

    sql: str
    keys: tuple[str, ...]
    """Names of the values a caller passes, in the order it passes them."""
    named: bool
    """The driver takes a mapping (PostgreSQL's pyformat), else a sequence in ``keys`` order."""

    def parameters(self, values: Sequence[Any]) -> Sequence[Any] | Mapping[str, Any]:
        return dict(zip(self.keys, values, strict=True)) if self.named else values


def compile_statement(
    statement: sa.Executable, dialect: Dialect, *, keys: Sequence[str], insert: bool = False
) -> DriverStatement:
    """Compile ``statement``, whose values a caller will pass in ``keys`` order.

    With ``insert`` the statement inserts exactly the columns named by ``keys``.
    """
    compiled = statement.compile(  # type: ignore[attr-defined]
        dialect=dialect, column_keys=list(keys) if insert else None
    )
    if compiled.positional and tuple(compiled.positiontup) != tuple(keys):
        raise ValueError(
            f"placeholders of {compiled.string!r} are in the order {compiled.positiontup}; "
            f"pass the keys in that order, not {tuple(keys)}"
        )
    return DriverStatement(sql=compiled.string, keys=tuple(keys), named=not compiled.positional)


def sqlite_datetime(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME text of ``value`` in UTC (fixed width: sorts by time)."""
    if value is None:
        return None
    v = value.astimezone(UTC)
    # %-formatting: ~1.5x faster than an f-string or isoformat() of an aware datetime.
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031
        v.year,
        v.month,
        v.day,
        v.hour,
        v.minute,
        v.second,
        v.microsecond,
    )


def _sqlite_result_datetime(value: str) -> datetime:
    # Appending the offset is ~3x faster than parsing then .replace(tzinfo=UTC).
    return datetime.fromisoformat(value + "+00:00")


def _sqlite_bind_date(value: date | None) -> str | None:
    # sqlite3's implicit date adapter is deprecated (Python 3.12); SQLAlchemy stores ISO.
    return None if value is None else value.isoformat()


def _postgres_result_datetime(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class HotPath:
    """The hot-path statements and value conversions of one dialect."""

    select_case_events: DriverStatement
    """Rows of ``queries.CASE_EVENT_COLUMNS``: a case's events, without its case id."""
    select_events_of_cases: Callable[[int], DriverStatement]
    """Rows of ``queries.EVENT_COLUMNS`` of ``n`` cases (``c0`` … ``c{n-1}``, ``since``)."""
    insert_event: DriverStatement
    insert_decision: DriverStatement
    """Skips a decision whose request is stored for its case already (its rowcount is 0)."""
    select_request_decision: DriverStatement
    """The ``DECISION_ROW_KEYS`` columns of the decision stored for a request of a case."""
    insert_or_ignore: Callable[[str, frozenset[str]], DriverStatement]
    """``(table, columns)`` → an insert of those columns of a ``LEDGER_METADATA`` table
    that skips a row whose key is stored (``keys`` in the table's column order)."""
    sqlite: bool
    begin_write: str
    """Begins a write transaction on a driver connection in autocommit mode."""
    bind_datetime: Callable[[datetime | None], Any]
    """A UTC instant (or ``None``) as the driver should receive it."""
    bind_date: Callable[[date | None], Any]
    result_datetime: Callable[[Any], datetime]
    """A non-null timestamp as the driver returns it → timezone-aware UTC."""
    result_date: Callable[[Any], date | None]
    """A non-null date as the driver returns it → ``date``."""

    @classmethod
    def for_dialect(
        cls, dialect: Dialect, *, event_keys: Sequence[str], decision_keys: Sequence[str]
    ) -> HotPath:
        sqlite = dialect.name == "sqlite"

        @functools.lru_cache(maxsize=64)
        def select_events_of_cases(n: int) -> DriverStatement:
            keys = tuple(f"c{i}" for i in range(n))
            return compile_statement(
                queries.select_events_of_cases(keys), dialect, keys=(*keys, "since")
            )

        @functools.lru_cache(maxsize=64)
        def insert_or_ignore(table_name: str, columns: frozenset[str]) -> DriverStatement:
            table = LEDGER_METADATA.tables[table_name]
            dialect_insert = sqlite_dialect.insert if sqlite else postgresql.insert
            keys = tuple(c.name for c in table.columns if c.name in columns)
            if len(keys) != len(columns):
                raise ValueError(
                    f"table {table_name} has no column(s) {sorted(columns - set(keys))}; "
                    f"its columns are {[c.name for c in table.columns]}"
                )
            return compile_statement(
                dialect_insert(table).on_conflict_do_nothing(), dialect, keys=keys, insert=True
            )

        return cls(
            select_case_events=compile_statement(
                queries.SELECT_CASE_EVENT_ROWS, dialect, keys=("case_id", "since")
            ),
            select_events_of_cases=select_events_of_cases,
            # inline(): no RETURNING of the surrogate id, which nobody reads.
            insert_event=compile_statement(
                sa.insert(queries.EVENTS).inline(), dialect, keys=event_keys, insert=True
            ),
            insert_decision=compile_statement(
                (sqlite_dialect.insert if sqlite else postgresql.insert)(queries.DECISIONS)
                .on_conflict_do_nothing(index_elements=queries.REQUEST_KEY)
                .inline(),
                dialect,
                keys=decision_keys,
                insert=True,
            ),
            select_request_decision=compile_statement(
                queries.select_request_decision(decision_keys),
                dialect,
                keys=("case_id", "request_digest"),
            ),
            insert_or_ignore=insert_or_ignore,
            sqlite=sqlite,
            # SQLite: take the write lock now, so that a writer queues on busy_timeout
            # instead of failing when its read lock cannot be upgraded.
            begin_write="BEGIN IMMEDIATE" if sqlite else "BEGIN",
            bind_datetime=sqlite_datetime if sqlite else _same,
            bind_date=_sqlite_bind_date if sqlite else _same,
            result_datetime=_sqlite_result_datetime if sqlite else _postgres_result_datetime,
            result_date=date.fromisoformat if sqlite else _same,
        )


# -- statements (keyword-only, like engine.ledger.queries, but on a DBAPI cursor) ---------


def select_case_events(*, cursor: Any, hot: HotPath, case_id: str, since: datetime) -> list[Any]:
    """Rows of ``queries.CASE_EVENT_COLUMNS`` of one case at or after ``since``, oldest first.

    Datetimes and dates come back as the driver returns them; see ``HotPath.result_*``.
    """
    statement = hot.select_case_events
    cursor.execute(statement.sql, statement.parameters((case_id, hot.bind_datetime(since))))
    rows: list[Any] = cursor.fetchall()
    return rows


MAX_CASES_PER_READ = 256
"""Cases read by one statement (SQLite allows 999 parameters in old builds); a power of
two (:func:`select_events_of_cases`)."""


def select_events_of_cases(
    *, cursor: Any, hot: HotPath, case_ids: Sequence[str], since: datetime
) -> list[Any]:
    """Rows of ``queries.EVENT_COLUMNS`` of ``case_ids`` at or after ``since``, by case and
    then oldest first: a few statements for many cases (a batch's read, the reservation's
    re-read).

    A statement reads a power of two of case ids, a chunk padded with its last id (read
    once all the same): batches of every size share nine compiled statements instead of
    compiling one per size.
    """
    rows: list[Any] = []
    bound_since = hot.bind_datetime(since)
    for start in range(0, len(case_ids), MAX_CASES_PER_READ):
        chunk = case_ids[start : start + MAX_CASES_PER_READ]
        size = 1 << (len(chunk) - 1).bit_length()
        statement = hot.select_events_of_cases(size)
        values = (*chunk, *(chunk[-1],) * (size - len(chunk)), bound_since)
        cursor.execute(statement.sql, statement.parameters(values))
        rows.extend(cursor.fetchall())
    return rows


def insert_events(*, cursor: Any, hot: HotPath, rows: Sequence[Sequence[Any]]) -> None:
    """Insert event rows: values in ``insert_event.keys`` order, bound (``bind_*``) already.

    A taken event_id raises the driver's IntegrityError.
    """
    _execute_all(cursor, hot.insert_event, rows)


def insert_decisions(*, cursor: Any, hot: HotPath, rows: Sequence[Sequence[Any]]) -> int:
    """Insert decision rows: values in ``insert_decision.keys`` order, bound already.

    Returns how many were inserted: a row whose (case_id, request_digest) is stored
    already is skipped. A taken decision_id raises the driver's IntegrityError.
    """
    _execute_all(cursor, hot.insert_decision, rows)
    inserted: int = cursor.rowcount  # executemany: the sum (sqlite3, psycopg)
    return inserted


def select_request_decision(
    *, cursor: Any, hot: HotPath, case_id: str, request_digest: str
) -> Any | None:
    """The ``DECISION_ROW_KEYS`` values of the decision stored for this request of the
    case, or ``None``."""
    statement = hot.select_request_decision
    cursor.execute(statement.sql, statement.parameters((case_id, request_digest)))
    return cursor.fetchone()


BoundRows = tuple[DriverStatement, list[tuple[Any, ...]], Sequence[str]]
"""An insert-or-ignore statement, its rows' values bound for the driver, and per row the
decision it is stored for (``CompanionRows.decision_ids``; empty: none named)."""
_OWN_TABLES = frozenset({queries.EVENTS.name, queries.DECISIONS.name})


def bind_companions(*, hot: HotPath, companions: Sequence[CompanionRows]) -> list[BoundRows]:
    """``companions`` as statements and bound values, ready for :func:`insert_companions`.

    Raises ``ValueError`` for a table that is not one of the ledger's other tables, a row
    with other columns than the first, or a naive datetime.
    """
    bound: list[BoundRows] = []
    for companion in companions:
        if not companion.rows:
            continue
        if companion.table in _OWN_TABLES or companion.table not in LEDGER_METADATA.tables:
            raise ValueError(
                f"companion rows go to another ledger table, not {companion.table!r}; "
                f"one of {sorted(set(LEDGER_METADATA.tables) - _OWN_TABLES)}"
            )
        columns = frozenset(companion.rows[0])
        statement = hot.insert_or_ignore(companion.table, columns)
        values = []
        for row in companion.rows:
            if row.keys() != columns:
                raise ValueError(
                    f"companion rows of {companion.table} must all have the columns "
                    f"{sorted(columns)}; one has {sorted(row)}"
                )
            values.append(tuple(_bind(hot, row[key]) for key in statement.keys))
        bound.append((statement, values, companion.decision_ids))
    return bound


def _bind(hot: HotPath, value: Any) -> Any:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} cannot be stored: pass a timezone-aware "
                "value (tzinfo=UTC)"
            )
        return hot.bind_datetime(value)
    if isinstance(value, date):
        return hot.bind_date(value)
    return value


def insert_companions(
    *, cursor: Any, rows: Sequence[BoundRows], skip: Set[str] = frozenset()
) -> None:
    """Insert rows bound by :func:`bind_companions`, skipping those whose key is stored and
    those stored for a decision in ``skip``."""
    for statement, values, decision_ids in rows:
        if skip and decision_ids:
            values = [v for v, d in zip(values, decision_ids, strict=True) if d not in skip]
        if values:
            _execute_all(cursor, statement, values)


def _execute_all(cursor: Any, statement: DriverStatement, rows: Sequence[Sequence[Any]]) -> None:
    # One row (every unary Decide) takes the plain path; executemany pays off for the
    # stream's batches. (sqlite3 keeps an executemany statement open until the cursor is
    # finalised, which matters only when a connection dies mid-transaction.)
    if len(rows) == 1:
        cursor.execute(statement.sql, statement.parameters(rows[0]))
    elif statement.named:
        cursor.executemany(statement.sql, [statement.parameters(row) for row in rows])
    else:
        cursor.executemany(statement.sql, rows)
