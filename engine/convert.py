"""Translation between the public protobuf API (``tact.v1``) and tact's domain types.

Validation happens here, once, and collects *every* problem of a request into one
``InvalidRequestError`` so a caller can fix all fields in one round trip.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import IntEnum
from functools import cache
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf.timestamp_pb2 import Timestamp

from engine.catalogue import (
    CATALOGUE,
    DEFERRAL_DAYS,
    PLAN_INSTALMENTS,
    SETTLEMENT_DISCOUNT,
    Action,
    Channel,
    Offer,
    Slot,
    Treatment,
)
from engine.errors import FieldViolation, InvalidRequestError
from engine.state import (
    AgeBand,
    CaseFlags,
    CaseSnapshot,
    ConsentStatus,
    DebtorProfile,
    EventKind,
    LedgerEvent,
    Product,
)
from tact.v1 import case_pb2, types_pb2

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MAX_ID = 128
_CHANNELS = frozenset(int(ch) for ch in Channel if ch is not Channel.NONE)
_CHANNEL_NAMES = [ch.name for ch in Channel if ch is not Channel.NONE]
_ACTIONS = frozenset(int(a) for a in Action)
_EVENT_KINDS = frozenset(int(k) for k in EventKind)
_CONSENT_STATUSES = frozenset(int(s) for s in ConsentStatus)


def timestamp_to_datetime(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def datetime_to_timestamp(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at.astimezone(UTC))
    return ts


def _timestamp_to_date(ts: Timestamp) -> date:
    # Dates travel as Timestamps at 00:00 UTC of that calendar date (protobuf convention
    # for date-only values in this API); any time part is ignored.
    return ts.ToDatetime(tzinfo=UTC).date()


class _Collector:
    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def check(self, ok: bool, field: str, description: str) -> bool:
        if not ok:
            self.violations.append(FieldViolation(field, description))
        return ok

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidRequestError(self.violations)


def _check_id(c: _Collector, value: str, field: str) -> None:
    c.check(bool(value), field, "is required (a non-empty pseudonymous id)")
    c.check(len(value) <= _MAX_ID, field, f"is longer than {_MAX_ID} characters")


def _check_money(c: _Collector, money: types_pb2.Money, field: str, *, required: bool) -> None:
    if not required and not money.currency and money.amount_minor == 0:
        return
    c.check(
        bool(_CURRENCY.match(money.currency)),
        f"{field}.currency",
        f"must be an ISO 4217 code like 'SEK', got {money.currency!r}",
    )
    c.check(money.amount_minor >= 0, f"{field}.amount_minor", "must be ≥ 0 (minor units)")


@cache
def _enum_members(enum_cls: type[IntEnum]) -> tuple[frozenset[int], list[str]]:
    return frozenset(int(m) for m in enum_cls), [m.name for m in enum_cls]


def _enum_value(
    c: _Collector, enum_cls: type[IntEnum], value: int, field: str, *, allow_zero: bool
) -> int:
    if value == 0 and allow_zero:
        return 0
    valid, names = _enum_members(enum_cls)
    if value not in valid:
        c.check(False, field, f"must be one of {names}, got {value}")
    return value


def parse_zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def case_from_proto(
    case: case_pb2.Case, prefix: str = "case"
) -> tuple[CaseSnapshot, list[LedgerEvent]]:
    """Validate a ``tact.v1.Case`` and convert it; InvalidRequestError lists every problem."""
    c = _Collector()
    _check_id(c, case.case_id, f"{prefix}.case_id")
    _check_id(c, case.debtor_id, f"{prefix}.debtor_id")
    c.check(
        bool(_COUNTRY.match(case.country)),
        f"{prefix}.country",
        f"must be an ISO 3166-1 alpha-2 code in upper case like 'SE', got {case.country!r}",
    )
    if case.timezone:
        c.check(
            parse_zone(case.timezone) is not None,
            f"{prefix}.timezone",
            f"unknown IANA time zone {case.timezone!r}; use a name like 'Europe/Oslo' "
            "or leave it empty",
        )
    c.check(case.HasField("outstanding"), f"{prefix}.outstanding", "is required")
    _check_money(c, case.outstanding, f"{prefix}.outstanding", required=True)
    _check_money(c, case.original, f"{prefix}.original", required=False)
    if case.original.currency and case.outstanding.currency:
        c.check(
            case.original.currency == case.outstanding.currency,
            f"{prefix}.original.currency",
            "must equal outstanding.currency",
        )
    c.check(case.days_past_due >= 0, f"{prefix}.days_past_due", "must be ≥ 0")
    _enum_value(c, Product, case.product, f"{prefix}.product", allow_zero=True)
    d = case.debtor
    _enum_value(c, AgeBand, d.age_band, f"{prefix}.debtor.age_band", allow_zero=True)
    c.check(d.tenure_months >= 0, f"{prefix}.debtor.tenure_months", "must be ≥ 0")
    for name in ("prior_on_time_ratio", "risk_score"):
        value = getattr(d, name)
        c.check(0.0 <= value <= 1.0, f"{prefix}.debtor.{name}", f"must be in [0, 1], got {value}")
    consents: dict[Channel, ConsentStatus] = {}
    for i, consent in enumerate(case.consents):
        field = f"{prefix}.consents[{i}]"
        known_channel = consent.channel in _CHANNELS
        c.check(known_channel, f"{field}.channel", f"must be one of {_CHANNEL_NAMES}")
        known_status = consent.status in _CONSENT_STATUSES
        c.check(known_status, f"{field}.status", f"unknown ConsentStatus {consent.status}")
        if known_channel and known_status:
            channel = Channel(consent.channel)
            c.check(channel not in consents, f"{field}.channel", "appears twice; one per channel")
            consents[channel] = ConsentStatus(consent.status)
    events = [
        ev
        for i, e in enumerate(case.recent_events)
        if (ev := _event_from_proto(c, e, f"{prefix}.recent_events[{i}]", case_id=case.case_id))
    ]
    c.raise_if_any()

    f = case.flags
    snapshot = CaseSnapshot(
        case_id=case.case_id,
        debtor_id=case.debtor_id,
        country=case.country,
        timezone=case.timezone or None,
        currency=case.outstanding.currency,
        outstanding_minor=case.outstanding.amount_minor,
        original_minor=case.original.amount_minor or case.outstanding.amount_minor,
        days_past_due=case.days_past_due,
        product=Product(case.product),
        debtor=DebtorProfile(
            age_band=AgeBand(d.age_band),
            language=d.language,
            tenure_months=d.tenure_months,
            prior_on_time_ratio=d.prior_on_time_ratio if d.ByteSize() else 0.5,
            risk_score=d.risk_score if d.ByteSize() else 0.5,
            has_app=d.has_app,
        ),
        consents=consents,
        flags=CaseFlags(
            dispute=f.dispute,
            cease_communication=f.cease_communication,
            vulnerable=f.vulnerable,
            bankruptcy=f.bankruptcy,
            deceased=f.deceased,
            breathing_space_until=(
                _timestamp_to_date(f.breathing_space_until)
                if f.HasField("breathing_space_until")
                else None
            ),
            mental_health_crisis=f.mental_health_crisis,
            time_barred=f.time_barred,
            hardship=f.hardship,
        ),
    )
    return snapshot, events


def _event_from_proto(
    c: _Collector, e: case_pb2.Event, field: str, *, case_id: str | None
) -> LedgerEvent | None:
    ok = True
    ok &= c.check(bool(e.event_id), f"{field}.event_id", "is required (the idempotency key)")
    ok &= c.check(len(e.event_id) <= _MAX_ID, f"{field}.event_id", "is longer than 128 characters")
    if case_id is None:
        ok &= c.check(bool(e.case_id), f"{field}.case_id", "is required")
    elif e.case_id:
        ok &= c.check(
            e.case_id == case_id, f"{field}.case_id", "must equal case.case_id or be empty"
        )
    ok &= c.check(e.type != 0, f"{field}.type", "is required (an EventType)")
    if e.type:
        ok &= c.check(
            e.type in _EVENT_KINDS,
            f"{field}.type",
            f"unknown EventType {e.type}",
        )
        ok &= c.check(
            e.type != EventKind.CONTACT_PLANNED,
            f"{field}.type",
            "CONTACT_PLANNED is written by tact itself; report CONTACT_ATTEMPTED instead",
        )
    ok &= c.check(e.HasField("occurred_at"), f"{field}.occurred_at", "is required (UTC)")
    if e.channel:
        ok &= c.check(
            e.channel in {int(ch) for ch in Channel}, f"{field}.channel", "unknown Channel"
        )
    if e.action:
        ok &= c.check(e.action in _ACTIONS, f"{field}.action", "unknown Action")
    if e.type in (EventKind.CONTACT_ATTEMPTED, EventKind.OPT_OUT, EventKind.CONSENT_GRANTED):
        ok &= c.check(e.channel != 0, f"{field}.channel", "is required for this event type")
    if e.type == EventKind.BREATHING_SPACE_STARTED:
        ok &= c.check(e.HasField("until"), f"{field}.until", "is required: the last day")
    if e.HasField("amount"):
        _check_money(c, e.amount, f"{field}.amount", required=False)
    if not ok:
        return None
    return LedgerEvent(
        event_id=e.event_id,
        case_id=e.case_id or (case_id or ""),
        kind=EventKind(e.type),
        occurred_at=timestamp_to_datetime(e.occurred_at),
        channel=Channel(e.channel),
        action=Action(e.action) if e.action else None,
        amount_minor=e.amount.amount_minor,
        until=_timestamp_to_date(e.until) if e.HasField("until") else None,
        decision_id=e.decision_id,
    )


@dataclass(frozen=True, slots=True)
class ParsedEvents:
    """Validated ``RecordEvents`` input, with per-event fields LedgerEvent does not carry."""

    events: list[LedgerEvent]
    debtor_ids: dict[str, str]
    """event_id → debtor id."""
    currencies: dict[str, str]
    """event_id → ISO 4217 code of the event's amount (payments, promises)."""


def events_from_proto(events: list[case_pb2.Event]) -> ParsedEvents:
    """Validate ``RecordEvents`` input; InvalidRequestError lists every bad field."""
    c = _Collector()
    c.check(bool(events), "events", "is empty; send at least one event")
    out: list[LedgerEvent] = []
    debtors: dict[str, str] = {}
    currencies: dict[str, str] = {}
    for i, e in enumerate(events):
        ev = _event_from_proto(c, e, f"events[{i}]", case_id=None)
        if ev is not None:
            out.append(ev)
            debtors[ev.event_id] = e.debtor_id
            if e.amount.currency:
                currencies[ev.event_id] = e.amount.currency
    c.raise_if_any()
    return ParsedEvents(out, debtors, currencies)


def treatment_from_proto(t: types_pb2.Treatment, field: str = "proposed") -> Treatment:
    """The catalogue treatment a caller proposes (``CheckAction``)."""
    c = _Collector()
    c.check(t.action != 0, f"{field}.action", "is required")
    action = Action(t.action) if t.action in _ACTIONS else None
    c.check(action is not None or t.action == 0, f"{field}.action", f"unknown Action {t.action}")
    if action is not None and action is not Action.WAIT:
        c.check(t.channel != 0, f"{field}.channel", "is required for a contact")
    c.raise_if_any()
    assert action is not None
    if action is Action.WAIT:
        return CATALOGUE[CATALOGUE.WAIT_INDEX]
    channel = Channel(t.channel)
    slot = Slot(t.slot) if t.slot else (Slot.POST if channel is Channel.LETTER else Slot.MORNING)
    # Tone and offer do not change what the law allows; pick any catalogue entry that
    # matches the fields the caller gave, so partial proposals are accepted.
    fields: dict[str, int] = {"action": action, "channel": channel, "slot": slot}
    if t.tone:
        fields["tone"] = t.tone
    if t.offer.kind:
        fields["offer"] = t.offer.kind
    matches = CATALOGUE.find(**fields)
    if matches.size == 0:
        allowed = sorted({CATALOGUE[i].channel.name for i in CATALOGUE.find(action=action)})
        raise InvalidRequestError(
            [
                FieldViolation(
                    field,
                    f"{action.name} via {channel.name} in slot {slot.name} is not a tact "
                    f"treatment; channels for {action.name}: {allowed}",
                )
            ]
        )
    return CATALOGUE[int(matches[0])]


def treatment_to_proto(
    t: Treatment, index: int, *, outstanding_minor: int, currency: str
) -> types_pb2.Treatment:
    offer = types_pb2.Offer(kind=cast(Any, int(t.offer)))
    if t.offer in PLAN_INSTALMENTS:
        n = PLAN_INSTALMENTS[t.offer]
        offer.instalments = n
        offer.instalment_amount.CopyFrom(
            types_pb2.Money(amount_minor=-(-outstanding_minor // n), currency=currency)
        )
    elif t.offer in DEFERRAL_DAYS:
        offer.deferral_days = DEFERRAL_DAYS[t.offer]
    elif t.offer in SETTLEMENT_DISCOUNT:
        discount = SETTLEMENT_DISCOUNT[t.offer]
        offer.discount = discount
        offer.settlement_amount.CopyFrom(
            types_pb2.Money(
                amount_minor=round(outstanding_minor * (1 - discount)), currency=currency
            )
        )
    # Enum values travel as plain ints: the catalogue's IntEnums mirror the proto enums.
    values: dict[str, Any] = {
        "action": int(t.action),
        "channel": int(t.channel),
        "tone": int(t.tone),
        "offer": offer if t.offer is not Offer.NONE else None,
        "slot": int(t.slot),
        "catalogue_index": index,
    }
    return types_pb2.Treatment(**values)


def _date_to_timestamp(day: date) -> Timestamp:
    return datetime_to_timestamp(datetime(day.year, day.month, day.day, tzinfo=UTC))


def event_to_proto(event: LedgerEvent, *, currency: str = "") -> case_pb2.Event:
    """A domain ledger event as ``tact.v1.Event`` (the inverse of the parser)."""
    values: dict[str, Any] = {
        "event_id": event.event_id,
        "case_id": event.case_id,
        "debtor_id": event.debtor_id,
        "type": int(event.kind),
        "occurred_at": datetime_to_timestamp(event.occurred_at),
        "channel": int(event.channel),
        "action": int(event.action) if event.action is not None else 0,
        "decision_id": event.decision_id,
    }
    if event.amount_minor:
        values["amount"] = types_pb2.Money(amount_minor=event.amount_minor, currency=currency)
    if event.until is not None:
        values["until"] = _date_to_timestamp(event.until)
    return case_pb2.Event(**values)


def case_to_proto(
    snapshot: CaseSnapshot, recent_events: Sequence[LedgerEvent] = ()
) -> case_pb2.Case:
    """A domain case as ``tact.v1.Case`` (the inverse of :func:`case_from_proto`)."""
    d, f = snapshot.debtor, snapshot.flags
    flags: dict[str, Any] = {
        "dispute": f.dispute,
        "cease_communication": f.cease_communication,
        "vulnerable": f.vulnerable,
        "bankruptcy": f.bankruptcy,
        "deceased": f.deceased,
        "mental_health_crisis": f.mental_health_crisis,
        "time_barred": f.time_barred,
        "hardship": f.hardship,
    }
    if f.breathing_space_until is not None:
        flags["breathing_space_until"] = _date_to_timestamp(f.breathing_space_until)
    values: dict[str, Any] = {
        "case_id": snapshot.case_id,
        "debtor_id": snapshot.debtor_id,
        "country": snapshot.country,
        "timezone": snapshot.timezone or "",
        "outstanding": types_pb2.Money(
            amount_minor=snapshot.outstanding_minor, currency=snapshot.currency
        ),
        "original": types_pb2.Money(
            amount_minor=snapshot.original_minor, currency=snapshot.currency
        ),
        "days_past_due": snapshot.days_past_due,
        "product": int(snapshot.product),
        "debtor": case_pb2.DebtorProfile(
            age_band=cast(Any, int(d.age_band)),
            language=d.language,
            tenure_months=d.tenure_months,
            prior_on_time_ratio=d.prior_on_time_ratio,
            risk_score=d.risk_score,
            has_app=d.has_app,
        ),
        "consents": [
            case_pb2.ChannelConsent(channel=cast(Any, int(c)), status=cast(Any, int(status)))
            for c, status in snapshot.consents.items()
        ],
        "flags": case_pb2.CaseFlags(**flags),
        "recent_events": [event_to_proto(e, currency=snapshot.currency) for e in recent_events],
    }
    return case_pb2.Case(**values)


__all__ = [
    "case_from_proto",
    "case_to_proto",
    "datetime_to_timestamp",
    "event_to_proto",
    "events_from_proto",
    "parse_zone",
    "timestamp_to_datetime",
    "treatment_from_proto",
    "treatment_to_proto",
]
