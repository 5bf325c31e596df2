"""The fold of a case's ledger events into the counters the rules and the featurizer read.

:func:`summarise_history` is the one place where events become a
:class:`~engine.state.HistorySummary`: the service (``engine.pipeline``), the officers'
tests (``engine.compliance.rule_tests``), explanations and the simulator's replays all call
it, so a history means the same everywhere. Contacts are counted through
:func:`engine.contacts.reported_contacts`: once each, however they were reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from engine.catalogue import Action, Channel
from engine.contacts import reported_contacts
from engine.state import (
    HISTORY_DAYS,
    NEVER,
    ConsentStatus,
    EventKind,
    HistorySummary,
    LedgerEvent,
)

CALL_CONSENT_DAYS = 7
"""Days a direct prior consent to calls lasts, its own day being day 1 (Reg F
12 CFR 1006.14(b)(3))."""


def unique_events(events: Iterable[LedgerEvent]) -> list[LedgerEvent]:
    """``events`` without repeats of one report, oldest first (stable for equal instants).

    An event whose ``event_id`` was seen with the same content is a copy and dropped; one
    that reuses an ``event_id`` with other content is kept as well (fail closed: neither an
    opt-out nor a contact is lost to an id clash; the ledger itself reports such clashes as
    conflicts and stores only the first).
    """
    seen: dict[str, list[LedgerEvent]] = {}
    kept: list[LedgerEvent] = []
    for event in events:
        versions = seen.get(event.event_id)
        if versions is None:
            seen[event.event_id] = [event]
        elif any(v.same_report(event) for v in versions):
            continue
        else:
            versions.append(event)
        kept.append(event)
    kept.sort(key=_occurred_at)
    return kept


def _occurred_at(event: LedgerEvent) -> datetime:
    return event.occurred_at


def summarise_history(
    events: Iterable[LedgerEvent], *, as_of: date, tz: ZoneInfo
) -> HistorySummary:
    """Fold one case's ledger events (any order, copies ignored) into counters.

    Day offsets are counted in the debtor's local calendar ``tz`` so that "the date of
    the conversation is day 1" (Reg F) means the debtor's date. Events after ``as_of``
    are ignored. Each contact counts once on the day it was placed, however many events
    report it (:mod:`engine.contacts`); a reservation (``CONTACT_PLANNED``) counts until
    an event of its decision reports what happened.
    """
    h = HistorySummary()
    ordered = unique_events(events)
    days: dict[datetime, int] = {}

    def days_ago(at: datetime) -> int:
        """Local days from ``at`` to ``as_of`` (0 = the same day), remembered per instant."""
        ago = days.get(at)
        if ago is None:
            ago = days[at] = (as_of - at.astimezone(tz).date()).days
        return ago

    consents = [
        (e.occurred_at, days_ago(e.occurred_at))
        for e in ordered
        if e.kind is EventKind.CALL_CONSENT
    ]
    for contact in reported_contacts(ordered):
        ago = days_ago(contact.occurred_at)
        if ago < 0:
            continue
        channel = contact.channel
        if ago < HISTORY_DAYS and channel is not Channel.NONE:
            h.contacts_by_day[ago, channel] += 1
            if channel is Channel.PHONE:
                if contact.not_connected:
                    h.calls_not_connected_by_day[ago] += 1
                elif any(
                    at <= contact.occurred_at and 0 <= day - ago < CALL_CONSENT_DAYS
                    for at, day in consents
                ):
                    h.calls_with_consent_by_day[ago] += 1
        action = contact.action
        if action is Action.REMINDER:
            h.days_since_first_reminder = _first(h.days_since_first_reminder, ago)
            if channel in (Channel.LETTER, Channel.EMAIL):
                h.days_since_first_written_reminder = _first(
                    h.days_since_first_written_reminder, ago
                )
        elif action is Action.DEMAND:
            h.days_since_first_demand = _first(h.days_since_first_demand, ago)
        elif action is Action.LEGAL_ESCALATION:
            h.days_since_legal_escalation = _first(h.days_since_legal_escalation, ago)
    for e in ordered:
        if e.kind in _STATUS_KINDS and (ago := days_ago(e.occurred_at)) >= 0:
            _fold_status(h, e, ago)
    return h


_STATUS_KINDS = frozenset(EventKind) - {
    EventKind.CONTACT_ATTEMPTED,
    EventKind.CONTACT_PLANNED,
    EventKind.CALL_CONNECTED,
    EventKind.CALL_NOT_CONNECTED,
}
"""Kinds that say something besides contacts (the rest only report contacts)."""


def _fold_status(h: HistorySummary, e: LedgerEvent, ago: int) -> None:
    """What one event (``ago`` local days old) says besides contacts: responses, money,
    agreements, permissions, protections. Order matters (a payment clears open promises,
    a resolution ends a dispute): events come oldest first."""
    kind = e.kind
    if kind is EventKind.CALL_CONSENT:
        h.days_since_call_consent = min(h.days_since_call_consent, ago)
    elif kind is EventKind.CONVERSATION:
        h.days_since_conversation = min(h.days_since_conversation, ago)
        h.conversations_30d += ago < 30
    elif kind is EventKind.CONTACT_DELIVERED:
        h.deliveries_30d += ago < 30
    elif kind is EventKind.CONTACT_OPENED:
        h.opens_30d += ago < 30
        h.opens_7d += ago < 7
    elif kind is EventKind.CONTACT_CLICKED:
        h.clicks_30d += ago < 30
    elif kind is EventKind.PAYMENT:
        h.payments_total += 1
        h.paid_minor_total += e.amount_minor
        h.days_since_last_payment = min(h.days_since_last_payment, ago)
        h.promises_open = 0
    elif kind is EventKind.PROMISE_TO_PAY:
        h.promises_open += 1
    elif kind is EventKind.PROMISE_BROKEN:
        h.promises_broken += 1
        h.promises_open = max(0, h.promises_open - 1)
    elif kind is EventKind.PLAN_AGREED:
        h.plan_active = True
    elif kind is EventKind.PLAN_BROKEN:
        h.plan_active = False
        h.plans_broken += 1
    elif kind is EventKind.PLAN_COMPLETED:
        h.plan_active = False
    elif kind is EventKind.COMPLAINT:
        h.complaints_total += 1
        h.complaints_30d += ago < 30
    elif kind is EventKind.OPT_OUT:
        h.consent_overrides[e.channel] = ConsentStatus.OPTED_OUT
    elif kind is EventKind.CONSENT_GRANTED:
        h.consent_overrides[e.channel] = ConsentStatus.GRANTED
    elif kind is EventKind.DISPUTE_OPENED:
        h.dispute_open = True
    elif kind is EventKind.DISPUTE_RESOLVED:
        h.dispute_open = False
    elif kind is EventKind.CEASE_REQUEST:
        h.cease_requested = True
    elif kind is EventKind.BREATHING_SPACE_STARTED:
        h.breathing_space_until = e.until
        h.days_since_breathing_space_started = ago
    elif kind is EventKind.BREATHING_SPACE_ENDED:
        h.breathing_space_until = None
        h.days_since_breathing_space_started = NEVER
    elif kind is EventKind.BANKRUPTCY:
        h.bankruptcy = True
    elif kind is EventKind.DECEASED:
        h.deceased = True
    elif kind is EventKind.CASE_CLOSED:
        h.closed = True


def _first(current: int, ago: int) -> int:
    return max(ago, current) if current != NEVER else ago
