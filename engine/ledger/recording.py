"""Idempotent recording of caller events: which events of a call are new, which repeat a
stored one (duplicates) and which reuse a taken id with other content (conflicts).

The idempotency key is ``(case_id, event_id)``: an id is unique within its case, and the
same id in another case is another event. The first write of a key wins; a later event
with that key is a *duplicate* when every stored field is equal (a retry, ignored) and a
*conflict* otherwise (not stored, and reported with what differs, so nothing is dropped
silently). :meth:`engine.ledger.store.Ledger.record_events` runs the statements; this
module decides per event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.catalogue import Action, Channel
from engine.ledger.records import EventOutcome, EventStatus
from engine.state import EventKind

Key = tuple[str, str]
"""(case_id, event_id)."""

CONTENT_FIELDS: tuple[str, ...] = (
    "kind",
    "occurred_at",
    "channel",
    "action",
    "amount_minor",
    "currency",
    "until",
    "decision_id",
    "attempt_event_id",
    "debtor_id",
    "source",
)
"""Stored fields that make an event's content (all but its key and the bookkeeping)."""

_NAMES: dict[str, type[EventKind] | type[Channel] | type[Action]] = {
    "kind": EventKind,
    "channel": Channel,
    "action": Action,
}


def key_of(row: Mapping[str, Any]) -> Key:
    return row["case_id"], row["event_id"]


def first_of_each_key(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The rows to try to insert: the first of each key, sorted by key (concurrent batches
    then take unique-index locks in one order, so PostgreSQL cannot deadlock them)."""
    first: dict[Key, Mapping[str, Any]] = {}
    for row in rows:
        first.setdefault(key_of(row), row)
    return [first[key] for key in sorted(first)]


def differences(stored: Mapping[str, Any], sent: Mapping[str, Any]) -> list[str]:
    """``"field: stored X, sent Y"`` for every content field that differs."""
    out = []
    for name in CONTENT_FIELDS:
        a, b = stored.get(name), sent.get(name)
        if (a or None) != (b or None):  # "" and None both mean "not given"
            out.append(f"{_field(name)}: stored {_text(name, a)}, sent {_text(name, b)}")
    return out


def outcomes(
    rows: Sequence[Mapping[str, Any]],
    inserted: set[Key],
    stored: Mapping[Key, Mapping[str, Any]],
) -> list[EventOutcome]:
    """Per row, in order: stored (the first row of a key that was inserted), duplicate or
    conflict (compared with what the key holds now: the stored event, or the first row)."""
    first_row: dict[Key, Mapping[str, Any]] = {}
    result: list[EventOutcome] = []
    for row in rows:
        key = key_of(row)
        is_first = key not in first_row
        first_row.setdefault(key, row)
        if is_first and key in inserted:
            result.append(EventOutcome(*key, EventStatus.STORED))
            continue
        holder = first_row[key] if key in inserted else stored.get(key)
        if holder is None:  # cannot happen: a key not inserted is stored by someone else
            result.append(
                EventOutcome(
                    *key, EventStatus.CONFLICT, "the id is taken; the event was not stored"
                )
            )
            continue
        diff = differences(holder, row)
        if diff:
            result.append(EventOutcome(*key, EventStatus.CONFLICT, "; ".join(diff)))
        else:
            result.append(EventOutcome(*key, EventStatus.DUPLICATE))
    return result


def _field(name: str) -> str:
    # As the caller knows it (tact.v1.Event): `type`, `amount.currency`.
    return {"kind": "type", "currency": "amount.currency", "amount_minor": "amount"}.get(name, name)


def _text(name: str, value: Any) -> str:
    if value is None or value == "":
        return "(none)"
    enum = _NAMES.get(name)
    if enum is not None:
        try:
            return enum(value).name
        except ValueError:
            return str(value)
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)
