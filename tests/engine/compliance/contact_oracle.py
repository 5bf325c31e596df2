"""An independent reading of "which events count as a contact" (docs/rules.md, under
``contact_limit``): a case's ledger events → the counters the rules read, written from the
guide without the engine's fold (engine/history.py, engine/contacts.py).

* Reports of a contact: ``CONTACT_ATTEMPTED``; tact's reservation (``CONTACT_PLANNED``)
  until the contact is reported; ``CALL_CONNECTED`` / ``CALL_NOT_CONNECTED``, a
  ``CONVERSATION`` on the phone or on no channel, ``PROMISE_TO_PAY`` / ``PLAN_AGREED``
  on the phone (calls); ``CONTACT_DELIVERED`` / ``OPENED`` / ``CLICKED`` (a message of
  their channel).
* Reports sharing a decision id, or naming another by ``attempt_event_id``, are one
  contact; a report tied to nothing is a contact of its own. A copy of a report (same id,
  same content) is one report.
* A contact happened when its attempt was placed, else at its first report (a reservation
  alone: when it was planned). A call is *not connected* when a report says so and none
  says it connected; it was placed *with consent* when it connected (or nobody said) and a
  direct prior consent came at or before it, its day being day 1 of 7.

:func:`random_ledger` draws ledgers whose contacts are reported in all these ways (for one
contact at most one attempt, so that no tie is ambiguous).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from engine.catalogue import Action, Channel
from engine.state import HISTORY_DAYS, NEVER, EventKind, HistorySummary, LedgerEvent

K = EventKind
_CALL_OUTCOMES = {K.CALL_CONNECTED, K.CALL_NOT_CONNECTED}
_PHONE_AGREEMENTS = {K.PROMISE_TO_PAY, K.PLAN_AGREED}
_MESSAGE_OUTCOMES = {K.CONTACT_DELIVERED, K.CONTACT_OPENED, K.CONTACT_CLICKED}


def _says_call(e: LedgerEvent) -> bool:
    if e.kind in _CALL_OUTCOMES:
        return True
    if e.kind is K.CONVERSATION:
        return e.channel in (Channel.PHONE, Channel.NONE)
    return e.kind in _PHONE_AGREEMENTS and e.channel is Channel.PHONE


def _reports_contact(e: LedgerEvent) -> bool:
    return e.kind in (K.CONTACT_ATTEMPTED, K.CONTACT_PLANNED) or (
        e.kind in _MESSAGE_OUTCOMES or _says_call(e)
    )


def history_from_events(events: list[LedgerEvent], as_of: date, tz: ZoneInfo) -> HistorySummary:
    """The contact counters and notice/consent/conversation days of ``events`` as of local
    day ``as_of`` (the rest of the summary stays at its defaults)."""
    unique = list(dict.fromkeys(events))  # LedgerEvent is a frozen dataclass: copies are equal
    reports = [e for e in unique if _reports_contact(e)]
    # Union-find over reports: one set per contact.
    parent = list(range(len(reports)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    def tie(i: int, j: int) -> None:
        parent[root(i)] = root(j)

    first_with: dict[tuple[str, str], int] = {}

    def join(i: int, key: tuple[str, str]) -> None:
        """Tie report ``i`` to the first report with ``key`` (an id named but not in the
        history still ties together the reports that name it)."""
        if key in first_with:
            tie(i, first_with[key])
        else:
            first_with[key] = i

    for i, e in enumerate(reports):
        join(i, ("id", e.event_id))
        if e.decision_id:
            join(i, ("decision", e.decision_id))
        if e.attempt_event_id:
            join(i, ("id", e.attempt_event_id))
    contacts: dict[int, list[LedgerEvent]] = {}
    for i, e in enumerate(reports):
        contacts.setdefault(root(i), []).append(e)

    h = HistorySummary()

    def ago(at: datetime) -> int:
        return (as_of - at.astimezone(tz).date()).days

    consents = [e.occurred_at for e in unique if e.kind is K.CALL_CONSENT]
    for members in contacts.values():
        attempts = [e for e in members if e.kind is K.CONTACT_ATTEMPTED]
        reported = [e for e in members if e.kind is not K.CONTACT_PLANNED]
        at = min(e.occurred_at for e in (attempts or reported or members))
        calls = [e for e in members if _says_call(e)]
        channel = next((e.channel for e in attempts), None)
        if channel is None:
            planned = [e.channel for e in members if e.kind is K.CONTACT_PLANNED]
            outcome_channels = [e.channel for e in members if e.kind in _MESSAGE_OUTCOMES]
            channel = (planned or ([Channel.PHONE] if calls else outcome_channels) or [None])[0]
        action = next((e.action for e in members if e.action is not None), None)
        days = ago(at)
        if days < 0:
            continue
        if channel is not None and days < HISTORY_DAYS:
            h.contacts_by_day[days, channel] += 1
        if channel is Channel.PHONE and days < HISTORY_DAYS:
            said_no = any(e.kind is K.CALL_NOT_CONNECTED for e in calls)
            said_yes = any(e.kind is not K.CALL_NOT_CONNECTED for e in calls)
            if said_no and not said_yes:
                h.calls_not_connected_by_day[days] += 1
            elif any(c <= at and 0 <= ago(c) - days < 7 for c in consents):
                h.calls_with_consent_by_day[days] += 1
        if action is Action.REMINDER:
            h.days_since_first_reminder = _oldest(h.days_since_first_reminder, days)
            if channel in (Channel.LETTER, Channel.EMAIL):
                h.days_since_first_written_reminder = _oldest(
                    h.days_since_first_written_reminder, days
                )
        elif action is Action.DEMAND:
            h.days_since_first_demand = _oldest(h.days_since_first_demand, days)
    for e in unique:
        days = ago(e.occurred_at)
        if days >= 0 and e.kind is K.CONVERSATION:
            h.days_since_conversation = min(h.days_since_conversation, days)
        elif days >= 0 and e.kind is K.CALL_CONSENT:
            h.days_since_call_consent = min(h.days_since_call_consent, days)
    return h


def _oldest(current: int, days: int) -> int:
    return days if current == NEVER else max(current, days)


# ---- random ledgers ------------------------------------------------------------------------
_CALL_REPORTS = (
    (K.CALL_CONNECTED, Channel.NONE),
    (K.CALL_NOT_CONNECTED, Channel.NONE),
    (K.CALL_NOT_CONNECTED, Channel.PHONE),
    (K.CONVERSATION, Channel.NONE),
    (K.CONVERSATION, Channel.PHONE),
    (K.PROMISE_TO_PAY, Channel.PHONE),
    (K.PLAN_AGREED, Channel.PHONE),
)
_MESSAGE_CHANNELS = (Channel.SMS, Channel.EMAIL, Channel.LETTER, Channel.PUSH)


@dataclass
class _Ledger:
    case_id: str
    events: list[LedgerEvent]
    n: int = 0

    def add(self, kind: EventKind, at: datetime, channel: Channel, **ids: object) -> str:
        self.n += 1
        event_id = f"{self.case_id}-e{self.n}"
        self.events.append(LedgerEvent(event_id, self.case_id, kind, at, channel, **ids))  # type: ignore[arg-type]
        return event_id


def random_ledger(
    case_id: str, decided_at: datetime, rng: np.random.Generator
) -> list[LedgerEvent]:
    """A case's ledger up to ``decided_at``: a few contacts in the last two weeks, each
    reported by a random subset of its events, tied by decision id, by attempt_event_id or
    not at all; older reminders and demands (notices); direct prior consents; copies."""
    ledger = _Ledger(case_id, [])
    for k in range(int(rng.integers(0, 12))):
        at = decided_at - timedelta(minutes=int(rng.integers(1, 14 * 24 * 60)))
        call = rng.random() < 0.6
        channel = Channel.PHONE if call else _MESSAGE_CHANNELS[int(rng.integers(4))]
        action = Action.AGENT_CALL if call else [Action.REMINDER, Action.DEMAND][k % 2]
        tied = ("decision", "external", "none")[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
        decision = {"decision_id": f"{case_id}-d{k}"} if tied == "decision" else {}
        reserved = tied == "decision" and rng.random() < 0.5
        if reserved:  # tact's reservation, planned before (alone: not reported yet)
            planned_at = at - timedelta(minutes=30)
            ledger.add(K.CONTACT_PLANNED, planned_at, channel, action=action, **decision)
        outcomes = (
            [_CALL_REPORTS[int(i)] for i in rng.choice(7, int(rng.integers(0, 4)), replace=False)]
            if call
            else [(kind, channel) for kind in _MESSAGE_OUTCOMES if rng.random() < 0.4]
        )
        first = ""
        if rng.random() < 0.7 or not (outcomes or reserved):
            first = ledger.add(K.CONTACT_ATTEMPTED, at, channel, action=action, **decision)
        for m, (kind, outcome_channel) in enumerate(outcomes, start=1):
            ids: dict[str, object] = dict(decision)
            if tied == "external" and first:
                ids["attempt_event_id"] = first
            event_id = ledger.add(kind, at + timedelta(minutes=m), outcome_channel, **ids)
            first = first or (event_id if tied == "external" else "")
    for _ in range(int(rng.integers(0, 3))):  # notices: reminders and demands, by letter or not
        at = decided_at - timedelta(
            days=int(rng.integers(0, 50)), minutes=int(rng.integers(1, 600))
        )
        channel = _MESSAGE_CHANNELS[int(rng.integers(4))]
        action = [Action.REMINDER, Action.DEMAND][int(rng.integers(2))]
        ledger.add(K.CONTACT_ATTEMPTED, at, channel, action=action)
    if rng.random() < 0.3:
        at = decided_at - timedelta(
            days=int(rng.integers(0, 12)), minutes=int(rng.integers(1, 600))
        )
        ledger.add(K.CALL_CONSENT, at, Channel.PHONE)
    events = ledger.events
    copies = [events[int(i)] for i in rng.choice(len(events), min(2, len(events)), replace=False)]
    return [*events, *copies] if events else events


__all__ = ["history_from_events", "random_ledger"]
