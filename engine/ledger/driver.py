"""The hot path, run on the driver (DBAPI) connection instead of SQLAlchemy's executor.

Each decision reads its case's events and stores itself with its contact reservation.
Measured on SQLite (``bench/bench_ledger.py``), SQLAlchemy's execution layer — events,
compiled-cache lookup, result and type processing, ``Connection`` bookkeeping — cost
several times the database work of these three statements, and the service's storage
budget is well under a millisecond per decision. So the statements are still written
with SQLAlchemy Core from the SQLModel tables, but compiled once per dialect here and
executed on the pooled driver connection; values are converted by the small functions
below, which store exactly what :class:`engine.ledger.models.UTCDateTime` stores (tests
read back through both paths).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from engine.ledger import queries


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """SQL text for one dialect, and how to lay out its parameters."""

    sql: str
    order: tuple[str, ...] | None
    """Parameter names in placeholder order (positional paramstyles), or ``None``."""

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        return values if self.order is None else tuple(values[name] for name in self.order)


def compile_statement(
    statement: sa.Executable, dialect: Dialect, *, column_keys: Sequence[str] | None = None
) -> DriverStatement:
    compiled = statement.compile(  # type: ignore[attr-defined]
        dialect=dialect, column_keys=list(column_keys) if column_keys is not None else None
    )
    order = tuple(compiled.positiontup) if compiled.positional else None
    return DriverStatement(sql=compiled.string, order=order)


def sqlite_datetime(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME text of ``value`` in UTC (fixed width: sorts by time)."""
    if value is None:
        return None
    v = value.astimezone(UTC)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d} "
        f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    )


def _sqlite_result_datetime(value: str) -> datetime:
    # Appending the offset is ~3x faster than parsing then .replace(tzinfo=UTC).
    return datetime.fromisoformat(value + "+00:00")


def _sqlite_result_date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


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
    insert_event: DriverStatement
    insert_decision: DriverStatement
    sqlite: bool
    bind_datetime: Callable[[datetime | None], Any]
    """A UTC instant (or ``None``) as the driver should receive it."""
    bind_date: Callable[[date | None], Any]
    result_datetime: Callable[[Any], datetime]
    """A non-null timestamp as the driver returns it → timezone-aware UTC."""
    result_date: Callable[[Any], date | None]

    @classmethod
    def for_dialect(
        cls, dialect: Dialect, *, event_keys: Sequence[str], decision_keys: Sequence[str]
    ) -> HotPath:
        sqlite = dialect.name == "sqlite"
        return cls(
            select_case_events=compile_statement(queries.SELECT_CASE_EVENTS, dialect),
            insert_event=compile_statement(
                sa.insert(queries.EVENTS), dialect, column_keys=event_keys
            ),
            insert_decision=compile_statement(
                sa.insert(queries.DECISIONS), dialect, column_keys=decision_keys
            ),
            sqlite=sqlite,
            bind_datetime=sqlite_datetime if sqlite else _same,
            bind_date=_sqlite_bind_date if sqlite else _same,
            result_datetime=_sqlite_result_datetime if sqlite else _postgres_result_datetime,
            result_date=_sqlite_result_date if sqlite else _same,
        )


# -- statements (keyword-only, like engine.ledger.queries, but on a DBAPI cursor) ---------


def select_case_events(*, cursor: Any, hot: HotPath, case_id: str, since: datetime) -> list[Any]:
    """Rows of ``queries.EVENT_COLUMNS`` of one case at or after ``since``, oldest first.

    Datetimes and dates come back as the driver returns them; see ``HotPath.result_*``.
    """
    params = {"case_id": case_id, "since": hot.bind_datetime(since)}
    cursor.execute(hot.select_case_events.sql, hot.select_case_events.parameters(params))
    rows: list[Any] = cursor.fetchall()
    return rows


def insert_events(*, cursor: Any, hot: HotPath, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert event rows (as made by ``store._event_row``); a taken event_id raises."""
    params = [
        hot.insert_event.parameters(
            {
                **row,
                "occurred_at": hot.bind_datetime(row["occurred_at"]),
                "recorded_at": hot.bind_datetime(row["recorded_at"]),
                "until": hot.bind_date(row["until"]),
            }
        )
        for row in rows
    ]
    _execute_all(cursor, hot.insert_event.sql, params)


def insert_decisions(*, cursor: Any, hot: HotPath, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert decision rows (as made by ``store._decision_row``); a taken id raises."""
    params = [
        hot.insert_decision.parameters(
            {
                **row,
                "decided_at": hot.bind_datetime(row["decided_at"]),
                "send_at": hot.bind_datetime(row["send_at"]),
                "next_review_at": hot.bind_datetime(row["next_review_at"]),
            }
        )
        for row in rows
    ]
    _execute_all(cursor, hot.insert_decision.sql, params)


def _execute_all(cursor: Any, sql: str, params: Sequence[Any]) -> None:
    # One row (every unary Decide) takes the plain path; executemany pays off for the
    # stream's batches. (sqlite3 keeps an executemany statement open until the cursor is
    # finalised, which matters only when a connection dies mid-transaction.)
    if len(params) == 1:
        cursor.execute(sql, params[0])
    else:
        cursor.executemany(sql, params)
