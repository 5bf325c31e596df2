"""The ledger's SQL: plain keyword-only functions taking an open ``Connection`` or ``Session``.

The caller (:class:`engine.ledger.store.Ledger`) owns transactions, retries and error
translation; these functions only say what to read or write. The hot-path statements
(a case's events, a decision and its reservation) are SQLAlchemy Core statements built
once at import; :mod:`engine.ledger.driver` compiles and runs them on the driver
connection. Their Core executors here (``select_case_events``, ``insert_event``,
``insert_decision``) are the measured "before" of ``bench/bench_ledger.py``.
The rest uses SQLModel's ``session.exec(select(...))``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from engine.ledger.experiment_models import delete_experiment_rows
from engine.ledger.models import LEDGER_METADATA, DecisionRow, LedgerEventRow, OutcomeRow

EVENTS = LEDGER_METADATA.tables[LedgerEventRow.__tablename__]
DECISIONS = LEDGER_METADATA.tables[DecisionRow.__tablename__]
OUTCOMES = LEDGER_METADATA.tables[OutcomeRow.__tablename__]

EVENT_COLUMNS = (
    EVENTS.c.event_id,
    EVENTS.c.case_id,
    EVENTS.c.kind,
    EVENTS.c.occurred_at,
    EVENTS.c.channel,
    EVENTS.c.action,
    EVENTS.c.amount_minor,
    EVENTS.c.until,
    EVENTS.c.decision_id,
    EVENTS.c.debtor_id,
    EVENTS.c.attempt_event_id,
)
"""Columns read back into ``engine.state.LedgerEvent``, in its field order."""

SELECT_CASE_EVENTS = (
    sa.select(*EVENT_COLUMNS)
    .where(EVENTS.c.case_id == sa.bindparam("case_id"))
    .where(EVENTS.c.occurred_at >= sa.bindparam("since"))
    # id breaks ties between events of the same instant in recording order.
    .order_by(EVENTS.c.occurred_at, EVENTS.c.id)
)
CASE_EVENT_COLUMNS = tuple(column for column in EVENT_COLUMNS if column is not EVENTS.c.case_id)
"""``EVENT_COLUMNS`` but the case id, which a read by case already knows (hot path)."""
SELECT_CASE_EVENT_ROWS = (
    sa.select(*CASE_EVENT_COLUMNS)
    .where(EVENTS.c.case_id == sa.bindparam("case_id"))
    .where(EVENTS.c.occurred_at >= sa.bindparam("since"))
    .order_by(EVENTS.c.occurred_at, EVENTS.c.id)
)
"""``SELECT_CASE_EVENTS`` without the case id: what ``engine.ledger.driver`` runs."""


def select_events_of_cases(keys: Sequence[str]) -> sa.Select[Any]:
    """``SELECT_CASE_EVENTS`` of the cases bound to ``keys`` (one placeholder each; then
    ``since``), by case, then oldest first."""
    return (
        sa.select(*EVENT_COLUMNS)
        .where(EVENTS.c.case_id.in_([sa.bindparam(key) for key in keys]))
        .where(EVENTS.c.occurred_at >= sa.bindparam("since"))
        .order_by(EVENTS.c.case_id, EVENTS.c.occurred_at, EVENTS.c.id)
    )


_SELECT_EVENT = (
    sa.select(*EVENT_COLUMNS)
    .where(EVENTS.c.case_id == sa.bindparam("case_id"))
    .where(EVENTS.c.event_id == sa.bindparam("event_id"))
)
STORED_CONTENT_COLUMNS = (
    EVENTS.c.case_id,
    EVENTS.c.event_id,
    EVENTS.c.debtor_id,
    EVENTS.c.kind,
    EVENTS.c.channel,
    EVENTS.c.action,
    EVENTS.c.occurred_at,
    EVENTS.c.amount_minor,
    EVENTS.c.currency,
    EVENTS.c.until,
    EVENTS.c.decision_id,
    EVENTS.c.attempt_event_id,
    EVENTS.c.source,
)
"""What an event was stored with (all but the bookkeeping ``id`` and ``recorded_at``): a
second report with the same key is a duplicate only if all of it is equal."""
_KEY = sa.tuple_(EVENTS.c.case_id, EVENTS.c.event_id)
REQUEST_KEY = (DECISIONS.c.case_id, DECISIONS.c.request_digest)
"""A decision's idempotency key: its request within its case (unique; NULLs never clash)."""


def select_request_decision(columns: Sequence[str]) -> sa.Select[Any]:
    """``columns`` of the decision stored for a request (``case_id``, ``request_digest``)."""
    return sa.select(*(DECISIONS.c[name] for name in columns)).where(
        DECISIONS.c.case_id == sa.bindparam("case_id"),
        DECISIONS.c.request_digest == sa.bindparam("request_digest"),
    )


_INSERT_EVENT = sa.insert(EVENTS)
_INSERT_DECISION = sa.insert(DECISIONS)


def _insert_events_if_new(dialect: Any) -> Any:
    insert = sqlite.insert(EVENTS) if dialect == "sqlite" else postgresql.insert(EVENTS)
    return insert.on_conflict_do_nothing(
        index_elements=[EVENTS.c.case_id, EVENTS.c.event_id]
    ).returning(EVENTS.c.case_id, EVENTS.c.event_id)


def _upsert_outcome(dialect: Any) -> Any:
    insert = sqlite.insert(OUTCOMES) if dialect == "sqlite" else postgresql.insert(OUTCOMES)
    new, old = insert.excluded, OUTCOMES.c
    paid = old.paid_minor_total + new.paid_minor_total
    closed = sa.or_(old.closed, new.closed)
    return insert.on_conflict_do_update(
        index_elements=[old.case_id],
        set_={
            "paid_minor_total": paid,
            "closed": closed,
            "resolved": sa.and_(closed, paid > 0),
            # Events may arrive out of order: keep the latest instant.
            "last_event_at": sa.case(
                (new.last_event_at > old.last_event_at, new.last_event_at),
                else_=old.last_event_at,
            ),
            # A later call may name the debtor an earlier one did not.
            "debtor_id": sa.case((old.debtor_id == "", new.debtor_id), else_=old.debtor_id),
        },
    )


_INSERT_EVENTS_IF_NEW = {name: _insert_events_if_new(name) for name in ("sqlite", "postgresql")}
_UPSERT_OUTCOME = {name: _upsert_outcome(name) for name in ("sqlite", "postgresql")}


def select_case_events(*, connection: Connection, case_id: str, since: Any) -> Sequence[sa.Row]:
    """Rows of ``EVENT_COLUMNS`` of one case at or after ``since``, oldest first."""
    return connection.execute(SELECT_CASE_EVENTS, {"case_id": case_id, "since": since}).all()


def select_event(*, connection: Connection, case_id: str, event_id: str) -> sa.Row | None:
    """The ``EVENT_COLUMNS`` row of one event, or ``None``."""
    return connection.execute(_SELECT_EVENT, {"case_id": case_id, "event_id": event_id}).first()


def insert_events_if_new(
    *, connection: Connection, rows: Sequence[Mapping[str, Any]]
) -> set[tuple[str, str]]:
    """Insert ``rows`` whose (case_id, event_id) is not stored yet; return the keys inserted.

    ``INSERT ... ON CONFLICT (case_id, event_id) DO NOTHING`` makes concurrent recorders of
    the same event (threads, replicas) agree without a read-then-write race.
    """
    statement = _INSERT_EVENTS_IF_NEW[connection.dialect.name]
    return {(case_id, event_id) for case_id, event_id in connection.execute(statement, list(rows))}


_KEYS_PER_SELECT = 500
"""Keys per ``IN`` list of :func:`select_stored_content` (well under every driver's limit)."""


def select_stored_content(
    *, connection: Connection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """``STORED_CONTENT_COLUMNS`` of the stored events with these (case_id, event_id) keys."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for start in range(0, len(keys), _KEYS_PER_SELECT):
        chunk = list(keys[start : start + _KEYS_PER_SELECT])
        statement = sa.select(*STORED_CONTENT_COLUMNS).where(_KEY.in_(chunk))
        for row in connection.execute(statement).mappings():
            found[(row["case_id"], row["event_id"])] = dict(row)
    return found


def insert_event(*, connection: Connection, row: Mapping[str, Any]) -> None:
    """Insert one event; an existing event_id raises ``IntegrityError``."""
    connection.execute(_INSERT_EVENT, row)


def insert_decision(*, connection: Connection, row: Mapping[str, Any]) -> None:
    """Insert one decision; an existing decision_id raises ``IntegrityError``."""
    connection.execute(_INSERT_DECISION, row)


def upsert_outcomes(*, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add per-case increments (payments, closure) to the ``outcome`` roll-up."""
    if rows:
        connection.execute(_UPSERT_OUTCOME[connection.dialect.name], list(rows))


def get_decision(*, session: Session, decision_id: str) -> DecisionRow | None:
    return session.exec(select(DecisionRow).where(DecisionRow.decision_id == decision_id)).first()


def get_outcome(*, session: Session, case_id: str) -> OutcomeRow | None:
    return session.exec(select(OutcomeRow).where(OutcomeRow.case_id == case_id)).first()


def cases_of_debtor(*, session: Session, debtor_id: str) -> set[str]:
    """Every case id linked to ``debtor_id`` by a decision, an outcome or an event."""
    cases: set[str] = set()
    for model in (DecisionRow, OutcomeRow, LedgerEventRow):
        statement = select(model.case_id).where(model.debtor_id == debtor_id).distinct()
        cases.update(session.exec(statement))
    return cases


def delete_debtor_rows(*, session: Session, debtor_id: str, case_ids: Iterable[str]) -> int:
    """Delete the debtor's rows, and rows of the debtor's cases that carry no debtor id,
    with the experiment tags and case arms of those decisions and cases.

    Returns the number of rows deleted.
    """
    cases = sorted(case_ids)
    deleted = delete_experiment_rows(session, debtor_id)  # found by decision: first
    for model in (LedgerEventRow, DecisionRow, OutcomeRow):
        anonymous_of_case = sa.and_(col(model.debtor_id) == "", col(model.case_id).in_(cases))
        statement = sa.delete(model).where(
            sa.or_(col(model.debtor_id) == debtor_id, anonymous_of_case)
        )
        result = session.execute(statement)
        deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted
