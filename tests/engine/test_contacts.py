"""Every contact counts exactly once, whichever subset of events reports it.

Table-driven over every non-empty combination of the events that can report one call or
one message, for contacts tact decided (tied by ``decision_id``) and contacts placed
outside tact (tied by ``attempt_event_id``), through the real fold (``summarise_history``).
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from engine.catalogue import Action, Channel
from engine.contacts import reported_contacts
from engine.history import summarise_history
from engine.state import EventKind, HistorySummary, LedgerEvent

TZ = ZoneInfo("America/New_York")
TODAY = date(2024, 3, 11)
CALL_AT = datetime(2024, 3, 8, 15, 0, tzinfo=UTC)  # 3 local days before TODAY
AGO = 3

# (kind, channel) of each event that can report a call; the first is the attempt.
CALL_REPORTS: tuple[tuple[EventKind, Channel], ...] = (
    (EventKind.CONTACT_ATTEMPTED, Channel.PHONE),
    (EventKind.CALL_CONNECTED, Channel.NONE),
    (EventKind.CALL_NOT_CONNECTED, Channel.NONE),
    (EventKind.CONVERSATION, Channel.NONE),
    (EventKind.CONVERSATION, Channel.PHONE),
    (EventKind.PROMISE_TO_PAY, Channel.PHONE),
    (EventKind.PLAN_AGREED, Channel.PHONE),
)
CONNECTED = {
    EventKind.CALL_CONNECTED,
    EventKind.CONVERSATION,
    EventKind.PROMISE_TO_PAY,
    EventKind.PLAN_AGREED,
}
MESSAGE_REPORTS = (
    EventKind.CONTACT_ATTEMPTED,
    EventKind.CONTACT_DELIVERED,
    EventKind.CONTACT_OPENED,
    EventKind.CONTACT_CLICKED,
)


def _subsets(items: tuple) -> list[tuple]:  # type: ignore[type-arg]
    return [c for n in range(1, len(items) + 1) for c in itertools.combinations(items, n)]


def _event(
    event_id: str,
    kind: EventKind,
    channel: Channel,
    *,
    minutes: int,
    decision_id: str = "",
    attempt_event_id: str = "",
    action: Action | None = None,
) -> LedgerEvent:
    return LedgerEvent(
        event_id=event_id,
        case_id="c",
        kind=kind,
        occurred_at=CALL_AT + timedelta(minutes=minutes),
        channel=channel,
        action=action,
        decision_id=decision_id,
        attempt_event_id=attempt_event_id,
    )


def _reports(
    combination: tuple[tuple[EventKind, Channel], ...], *, decided: bool, planned: bool
) -> list[LedgerEvent]:
    """The events of one contact: tied by decision id (``decided``) or, for a contact
    placed outside tact, by ``attempt_event_id`` naming its first report."""
    events: list[LedgerEvent] = []
    if planned:  # tact's reservation, an hour before
        channel = next((c for _, c in combination if c is not Channel.NONE), Channel.PHONE)
        events.append(
            _event("planned:D", EventKind.CONTACT_PLANNED, channel, minutes=-60, decision_id="D")
        )
    anchor = ""
    for k, (kind, channel) in enumerate(combination):
        event_id = f"e{k}"
        events.append(
            _event(
                event_id,
                kind,
                channel,
                minutes=k,
                decision_id="D" if decided else "",
                attempt_event_id="" if decided or not anchor else anchor,
            )
        )
        anchor = anchor or event_id
    return events


def _summary(events: list[LedgerEvent]) -> HistorySummary:
    return summarise_history(events, as_of=TODAY, tz=TZ)


CALL_CASES = [
    pytest.param(
        combo,
        decided,
        planned,
        id=f"{'tact' if decided else 'external'}"
        f"{'+planned' if planned else ''}:{'+'.join(k.name for k, _ in combo)}",
    )
    for decided, planned in ((True, False), (True, True), (False, False))
    for combo in _subsets(CALL_REPORTS)
]


@pytest.mark.parametrize(("combination", "decided", "planned"), CALL_CASES)
def test_a_call_counts_once_whatever_reports_it(
    combination: tuple[tuple[EventKind, Channel], ...], decided: bool, planned: bool
) -> None:
    h = _summary(_reports(combination, decided=decided, planned=planned))
    kinds = {kind for kind, _ in combination}
    assert h.contacts_by_day.sum() == 1
    assert h.contacts_by_day[AGO, Channel.PHONE] == 1
    not_connected = EventKind.CALL_NOT_CONNECTED in kinds and not kinds & CONNECTED
    assert h.calls_not_connected_by_day.sum() == int(not_connected)


MESSAGE_CASES = [
    pytest.param(
        channel,
        combo,
        decided,
        planned,
        id=f"{channel.name}:"
        f"{'tact' if decided else 'external'}{'+planned' if planned else ''}:"
        f"{'+'.join(k.name for k in combo)}",
    )
    for channel in (Channel.EMAIL, Channel.SMS, Channel.PUSH, Channel.LETTER)
    for decided, planned in ((True, False), (True, True), (False, False))
    for combo in _subsets(MESSAGE_REPORTS)
]


@pytest.mark.parametrize(("channel", "kinds", "decided", "planned"), MESSAGE_CASES)
def test_a_message_counts_once_whatever_reports_it(
    channel: Channel, kinds: tuple[EventKind, ...], decided: bool, planned: bool
) -> None:
    combination = tuple((kind, channel) for kind in kinds)
    h = _summary(_reports(combination, decided=decided, planned=planned))
    assert h.contacts_by_day.sum() == 1
    assert h.contacts_by_day[AGO, channel] == 1
    assert h.calls_not_connected_by_day.sum() == 0


def test_a_reservation_alone_counts_until_reported() -> None:
    planned = _event(
        "planned:D", EventKind.CONTACT_PLANNED, Channel.SMS, minutes=0, decision_id="D"
    )
    h = _summary([planned])
    assert h.contacts_by_day[AGO, Channel.SMS] == 1


def test_unlinked_reports_of_calls_are_calls_of_their_own() -> None:
    """Fail closed: reports tied to nothing cannot be told apart, each is a call."""
    events = [
        _event(f"x{k}", kind, channel, minutes=k)
        for k, (kind, channel) in enumerate(CALL_REPORTS[1:])
    ]
    h = _summary(events)
    assert h.contacts_by_day[AGO, Channel.PHONE] == len(events)
    assert h.calls_not_connected_by_day[AGO] == 1  # the lone CALL_NOT_CONNECTED


PHONE_CALLS = {
    # A redial of one decision is a second call; each outcome belongs to the latest attempt
    # reported before it.
    "two attempts of one decision, each with its outcome": (
        [
            ("a1", EventKind.CONTACT_ATTEMPTED, Channel.PHONE, 0, "D", ""),
            ("n1", EventKind.CALL_NOT_CONNECTED, Channel.NONE, 1, "D", ""),
            ("a2", EventKind.CONTACT_ATTEMPTED, Channel.PHONE, 10, "D", ""),
            ("c2", EventKind.CALL_CONNECTED, Channel.NONE, 11, "D", ""),
        ],
        2,
        1,
    ),
    # Outcomes tied to the same attempt that is not in the history (e.g. recorded before
    # the lookback) are one call, not one each.
    "outcomes naming an attempt missing from the history": (
        [
            ("n1", EventKind.CALL_NOT_CONNECTED, Channel.NONE, 0, "", "a"),
            ("n2", EventKind.CALL_NOT_CONNECTED, Channel.NONE, 1, "", "a"),
        ],
        1,
        1,
    ),
}


@pytest.mark.parametrize(("rows", "calls", "not_connected"), PHONE_CALLS.values(), ids=PHONE_CALLS)
def test_calls_and_their_outcomes(
    rows: list[tuple[str, EventKind, Channel, int, str, str]], calls: int, not_connected: int
) -> None:
    events = [
        _event(event_id, kind, channel, minutes=m, decision_id=d, attempt_event_id=a)
        for event_id, kind, channel, m, d, a in rows
    ]
    h = _summary(events)
    assert h.contacts_by_day[AGO, Channel.PHONE] == calls
    assert h.calls_not_connected_by_day[AGO] == not_connected


def test_the_call_counts_on_the_day_it_was_placed() -> None:
    late = datetime(2024, 3, 9, 4, 50, tzinfo=UTC)  # 23:50 on the 8th in New York
    events = [
        LedgerEvent("a", "c", EventKind.CONTACT_ATTEMPTED, late, Channel.PHONE),
        LedgerEvent(
            "t",
            "c",
            EventKind.CONVERSATION,
            late + timedelta(minutes=20),  # 00:10 on the 9th
            attempt_event_id="a",
        ),
    ]
    h = _summary(events)
    assert np.flatnonzero(h.contacts_by_day[:, Channel.PHONE]).tolist() == [AGO]
    assert h.days_since_conversation == AGO - 1


def test_a_reused_event_id_with_other_content_loses_neither_event() -> None:
    """Fail closed: an opt-out that reuses the id of a payment still opts out."""
    at = CALL_AT
    payment = LedgerEvent("e1", "c", EventKind.PAYMENT, at, amount_minor=500)
    opt_out = LedgerEvent("e1", "c", EventKind.OPT_OUT, at, Channel.SMS)
    h = _summary([payment, opt_out, payment])
    assert h.payments_total == 1 and h.paid_minor_total == 500
    assert h.consent_overrides == {Channel.SMS: 2}


def test_connected_wins_over_not_connected_for_one_call() -> None:
    events = [
        _event("a", EventKind.CONTACT_ATTEMPTED, Channel.PHONE, minutes=0),
        _event("n", EventKind.CALL_NOT_CONNECTED, Channel.NONE, minutes=1, attempt_event_id="a"),
        _event("t", EventKind.CONVERSATION, Channel.PHONE, minutes=2, attempt_event_id="a"),
    ]
    [contact] = reported_contacts(events)
    assert contact.channel is Channel.PHONE and not contact.not_connected
