"""Conversions between the ledger's domain records and its rows (both write paths).

:class:`engine.ledger.store.Ledger` writes events and decisions through SQLAlchemy
(``*_row``: dicts by column) or on the driver's hot path (``*_values``: tuples in
``EVENT_ROW_KEYS`` / ``DECISION_ROW_KEYS`` order, already bound); reads come back through
``events_from_rows`` / ``decision_from_row``. The checks here turn records the database
could not hold into ``ValueError`` before anything is written.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from engine.catalogue import Action, Channel
from engine.ledger import driver
from engine.ledger.models import SOURCE_DECISION, DecisionRow
from engine.ledger.records import DecisionRecord
from engine.state import EventKind, LedgerEvent

OUTCOME_KINDS = frozenset({EventKind.PAYMENT, EventKind.CASE_CLOSED})
"""Event kinds rolled up into the ``outcome`` table."""
# Enum members by value: cheaper than calling the enum for every row read.
KINDS = {int(k): k for k in EventKind}
CHANNELS = {int(c): c for c in Channel}
ACTIONS: dict[int | None, Action | None] = {int(a): a for a in Action}
ACTIONS[None] = None
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
"""Columns written for an event (all but the surrogate ``id``); keys of ``event_row``."""
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
    "request_digest",
)
"""Columns of a decision; keys of ``decision_row``."""
MAX_BIGINT = 2**63 - 1
MIN_BIGINT = -(2**63)


def check_event(event: LedgerEvent) -> None:
    if not event.event_id or not event.case_id:
        raise ValueError(f"event {event!r} needs a non-empty event_id and case_id")
    if event.occurred_at.utcoffset() is None:
        raise ValueError(
            f"event {event.event_id!r}: occurred_at {event.occurred_at.isoformat()} is naive; "
            "pass a timezone-aware datetime (UTC)"
        )
    if not MIN_BIGINT <= event.amount_minor <= MAX_BIGINT:
        raise ValueError(
            f"event {event.event_id!r}: amount_minor {event.amount_minor} does not fit in 64 bits"
        )
    if event.kind not in KINDS:
        raise ValueError(
            f"event {event.event_id!r}: kind {event.kind!r} is not an engine.state.EventKind"
        )
    if event.channel not in CHANNELS or event.action not in ACTIONS:
        raise ValueError(
            f"event {event.event_id!r}: channel {event.channel!r} / action {event.action!r} "
            "must be engine.catalogue.Channel / Action members (action may be None)"
        )


def event_row(
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


def event_from_row(row: Sequence[Any]) -> LedgerEvent:
    """Row of ``queries.EVENT_COLUMNS`` → event (datetimes already UTC-aware)."""
    event_id, case_id, *rest = row  # CASE_EVENT_COLUMNS are these columns but the case id
    [event] = events_from_rows([(event_id, *rest)], case_id, _as_is, _as_is)
    return event


def events_by_case(
    rows: Sequence[Sequence[Any]],
    case_ids: Sequence[str],
    to_datetime: Callable[[Any], datetime],
    to_date: Callable[[Any], date | None],
) -> dict[str, list[LedgerEvent]]:
    """Rows of ``queries.EVENT_COLUMNS`` → each case's events (every id a key), in row order."""
    by_case: dict[str, list[Sequence[Any]]] = {case_id: [] for case_id in case_ids}
    for event_id, case_id, *rest in rows:
        by_case[case_id].append((event_id, *rest))
    return {
        case_id: events_from_rows(case_rows, case_id, to_datetime, to_date)
        for case_id, case_rows in by_case.items()
    }


def _as_is(value: Any) -> Any:
    return value


def events_from_rows(
    rows: Sequence[Sequence[Any]],
    case_id: str,
    to_datetime: Callable[[Any], datetime],
    to_date: Callable[[Any], date | None],
) -> list[LedgerEvent]:
    """Rows of ``queries.CASE_EVENT_COLUMNS`` of case ``case_id`` → events (UTC-aware)."""
    kinds, channels, actions = KINDS, CHANNELS, ACTIONS
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


def outcome_increments(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
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


def check_reservation(record: DecisionRecord, reservation: LedgerEvent) -> None:
    check_event(reservation)
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


def reservation_for(record: DecisionRecord, reservation: LedgerEvent) -> LedgerEvent:
    """The reservation as stored: ``decision_id`` and an empty ``debtor_id`` filled in."""
    check_reservation(record, reservation)
    return replace(
        reservation,
        decision_id=record.decision_id,
        debtor_id=reservation.debtor_id or record.debtor_id,
    )


def reservation_values(
    record: DecisionRecord, reservation: LedgerEvent, hot: driver.HotPath, recorded_at: Any
) -> tuple[Any, ...]:
    """``event_row`` of ``reservation_for(record, reservation)``, as the driver binds it.

    Values in ``EVENT_ROW_KEYS`` order (a test holds the two in step); ``recorded_at`` is
    bound already. Checked by :func:`check_reservation` beforehand.
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


def decision_row(record: DecisionRecord) -> dict[str, Any]:
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
        "request_digest": record.inputs_digest if record.replayable else None,
    }


def decision_values(
    record: DecisionRecord, bind: Callable[[datetime | None], Any]
) -> tuple[Any, ...]:
    """``decision_row(record)`` as the driver binds it, in ``DECISION_ROW_KEYS`` order."""
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
        record.inputs_digest if record.replayable else None,
    )


@functools.lru_cache(maxsize=1024)
def _rule_ids_json(rule_ids: tuple[str, ...]) -> str:
    # A service sees a few distinct rule-id sets over and over; json.dumps is ~10x a hit.
    return json.dumps(list(rule_ids))


def decision_from_row(row: DecisionRow) -> DecisionRecord:
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
        replayable=row.request_digest is not None,
    )


def decision_from_values(
    values: Sequence[Any], to_datetime: Callable[[Any], datetime]
) -> DecisionRecord:
    """A driver row of the ``DECISION_ROW_KEYS`` columns → its record (``to_datetime``:
    ``HotPath.result_datetime``)."""
    row = dict(zip(DECISION_ROW_KEYS, values, strict=True))
    for name in ("decided_at", "send_at", "next_review_at"):
        if row[name] is not None:
            row[name] = to_datetime(row[name])
    row["rule_ids"] = tuple(json.loads(row["rule_ids"]))
    row["replayable"] = row.pop("request_digest") is not None
    return DecisionRecord(**row)
