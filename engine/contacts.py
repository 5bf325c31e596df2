"""Which ledger events report the same contact, and what each contact was.

A call placed or a message sent reaches tact as any subset of events: the attempt
(``CONTACT_ATTEMPTED``), its outcome (``CALL_CONNECTED`` / ``CALL_NOT_CONNECTED``,
``CONTACT_DELIVERED`` / ``OPENED`` / ``CLICKED``), what was said on the phone
(``CONVERSATION``; ``PROMISE_TO_PAY`` and ``PLAN_AGREED`` with channel PHONE) and tact's
own reservation (``CONTACT_PLANNED``). Contact limits must count every contact exactly
once however it was reported, so the events are grouped into contacts first:

* an outcome event with ``attempt_event_id`` belongs to the contact of that event (the
  attempt, or the first report of a contact reported without one); an id that is not in
  the history still ties together the events that name it;
* otherwise an outcome event with ``decision_id`` belongs to the latest attempt of that
  decision reported at or before it (the earliest attempt if none is before it), else to
  the decision's reservation, else to the other events of that decision;
* an attempt is always a contact of its own (a redial of one decision is a second call),
  and a reservation gives way to the attempts of its decision.

Fail closed: an event that implies a contact and is tied to no other is a contact of its
own; a call counts as *not connected* (excluded by limits that exclude such calls, Reg F
12 CFR 1006.14(b)(3)) only when an event says so and no event of the same call says it
connected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from engine.catalogue import Action, Channel
from engine.state import EventKind, LedgerEvent

CALL_OUTCOME_KINDS = frozenset({EventKind.CALL_CONNECTED, EventKind.CALL_NOT_CONNECTED})
"""Outcomes of a call: whatever their ``channel`` field says, they report a call."""
PHONE_AGREEMENT_KINDS = frozenset({EventKind.PROMISE_TO_PAY, EventKind.PLAN_AGREED})
"""Agreements that imply a connected call when made on the phone (``channel`` PHONE)."""
MESSAGE_OUTCOME_KINDS = frozenset(
    {EventKind.CONTACT_DELIVERED, EventKind.CONTACT_OPENED, EventKind.CONTACT_CLICKED}
)
"""Outcomes that imply a message of their ``channel`` was sent."""
_CONTACT_KINDS = (
    frozenset({EventKind.CONTACT_ATTEMPTED, EventKind.CONTACT_PLANNED}) | MESSAGE_OUTCOME_KINDS
)


def implies_call(event: LedgerEvent) -> bool:
    """Whether ``event`` implies that a call was placed."""
    kind = event.kind
    if kind in CALL_OUTCOME_KINDS:
        return True
    if kind is EventKind.CONVERSATION:  # a right-party contact is a call unless said otherwise
        return event.channel in (Channel.PHONE, Channel.NONE)
    return kind in PHONE_AGREEMENT_KINDS and event.channel is Channel.PHONE


def reports_contact(event: LedgerEvent) -> bool:
    """Whether ``event`` is (or implies) a contact: it takes part in the grouping."""
    kind = event.kind
    return kind in _CONTACT_KINDS or implies_call(event)


@dataclass(frozen=True, slots=True)
class Contact:
    """One call placed or message sent (or reserved by tact), however it was reported."""

    occurred_at: datetime
    """When it was placed: the attempt's time, else the earliest report's (a reservation's
    planned time only when nothing else reports it)."""
    channel: Channel
    """NONE when no event of the contact says its channel (it is then not counted)."""
    action: Action | None
    not_connected: bool
    """A call some event reports as not connected and none as connected."""
    planned: bool
    """Only tact's reservation reports it so far."""


def reported_contacts(events: Sequence[LedgerEvent]) -> list[Contact]:
    """The contacts that ``events`` (one case's, duplicates removed, oldest first) report,
    each once; see the module docstring for how events are tied together."""
    reports = [e for e in events if reports_contact(e)]
    attempts: dict[str, list[int]] = {}
    planned: dict[str, int] = {}
    index_of: dict[str, int] = {}
    for i, e in enumerate(reports):
        index_of.setdefault(e.event_id, i)  # a reused id names its first event
        if e.decision_id:
            if e.kind is EventKind.CONTACT_ATTEMPTED:
                attempts.setdefault(e.decision_id, []).append(i)
            elif e.kind is EventKind.CONTACT_PLANNED:
                planned.setdefault(e.decision_id, i)
    superseded = {i for d, i in planned.items() if d in attempts}

    def by_decision(decision_id: str, at: datetime) -> int | str:
        tried = attempts.get(decision_id)
        if tried:
            before = [i for i in tried if reports[i].occurred_at <= at]
            return before[-1] if before else tried[0]
        return planned.get(decision_id, f"decision:{decision_id}")

    # Each outcome points at what it reports on: an attempt or reservation (index), another
    # outcome (index: a contact reported without an attempt), or a placeholder (str) for an
    # anchor that is not in the history.
    target: dict[int, int | str] = {}
    for i, e in enumerate(reports):
        if e.kind is EventKind.CONTACT_ATTEMPTED or e.kind is EventKind.CONTACT_PLANNED:
            continue
        if e.attempt_event_id:
            named = index_of.get(e.attempt_event_id)
            if named is None:
                target[i] = f"ref:{e.attempt_event_id}"
            elif named in superseded:  # a reservation that its decision's attempts replace
                target[i] = by_decision(reports[named].decision_id, e.occurred_at)
            elif named != i:
                target[i] = named
        elif e.decision_id:
            target[i] = by_decision(e.decision_id, e.occurred_at)

    groups: dict[int | str, list[int]] = {}
    for i in range(len(reports)):
        if i not in superseded:
            groups.setdefault(_anchor(i, target), []).append(i)
    return [_contact([reports[i] for i in members]) for members in groups.values()]


def _anchor(node: int, target: dict[int, int | str]) -> int | str:
    """Follow outcome → target links to the contact's anchor; a loop of outcomes naming
    each other (malformed input) is one contact, anchored at its first event."""
    path: list[int] = []
    current: int | str = node
    while isinstance(current, int) and current in target:
        if current in path:
            return min(path[path.index(current) :])
        path.append(current)
        current = target[current]
    return current


_ANCHOR_KINDS = frozenset({EventKind.CONTACT_ATTEMPTED, EventKind.CONTACT_PLANNED})


def _contact(members: list[LedgerEvent]) -> Contact:
    """The contact reported by ``members`` (oldest first; at most one attempt or
    reservation among them, as the grouping guarantees)."""
    if len(members) == 1 and members[0].kind in _ANCHOR_KINDS:  # the usual case, fast
        [e] = members
        return Contact(
            e.occurred_at, e.channel, e.action, False, e.kind is EventKind.CONTACT_PLANNED
        )
    anchor = next((e for e in members if e.kind in _ANCHOR_KINDS), None)
    outcomes = [e for e in members if e is not anchor]
    if anchor is not None and anchor.kind is EventKind.CONTACT_ATTEMPTED:
        occurred_at = anchor.occurred_at
    else:  # a reservation gives its planned time only when nothing reports the contact
        occurred_at = outcomes[0].occurred_at if outcomes else members[0].occurred_at
    calls = [e for e in outcomes if implies_call(e)]
    channel = anchor.channel if anchor is not None else Channel.NONE
    if channel is Channel.NONE:
        if calls:
            channel = Channel.PHONE
        else:
            channel = next((e.channel for e in outcomes if e.channel is not Channel.NONE), channel)
    action = anchor.action if anchor is not None else None
    if action is None:
        action = next((e.action for e in members if e.action is not None), None)
    refused = any(e.kind is EventKind.CALL_NOT_CONNECTED for e in calls)
    connected = any(e.kind is not EventKind.CALL_NOT_CONNECTED for e in calls)
    return Contact(
        occurred_at=occurred_at,
        channel=channel,
        action=action,
        not_connected=channel is Channel.PHONE and refused and not connected,
        planned=anchor is not None and anchor.kind is EventKind.CONTACT_PLANNED and not outcomes,
    )
