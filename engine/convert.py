"""Translation between the public protobuf API (``tact.v1``) and tact's domain types.

Validation happens here, once, and collects *every* problem of a request into one
``InvalidRequestError`` so a caller can fix all fields in one round trip. Every field is
checked against the documented limits (:mod:`engine.limits`: lengths, history size,
amounts, the timestamp range) before anything is computed from it. The way back (domain
→ messages) is :mod:`engine.to_proto`, re-exported here.

This is on every request's path, so the hot functions read each protobuf field once into
a local, build a violation's field path and message only when the check fails, look enum
members up in prebuilt dicts, and convert Timestamps with integer arithmetic instead of
``Timestamp.ToDatetime``/``FromDatetime`` (bench/bench_convert.py; equality with the
straightforward versions: tests/engine/test_convert_speedups.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.protobuf.timestamp_pb2 import Timestamp

from engine.catalogue import (
    CATALOGUE,
    Action,
    Channel,
    Offer,
    Slot,
    Tone,
    Treatment,
)
from engine.errors import FieldViolation, InvalidRequestError
from engine.limits import (
    MAX_EVENTS,
    MAX_ID_LENGTH,
    MAX_TIMEZONE_LENGTH,
    check_amount,
    check_count,
    check_id,
    check_language,
    check_timestamp,
    quote,
    timestamp_in_range,
)
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
from engine.to_proto import (  # re-exported: callers import both directions from here
    case_to_proto,
    datetime_to_timestamp,
    event_to_proto,
    local_isoformat,
    treatment_to_proto,
    treatment_values,
    utc_seconds_nanos,
)
from tact.v1 import case_pb2, decision_service_pb2, types_pb2

_CHANNELS = frozenset(int(ch) for ch in Channel if ch is not Channel.NONE)
_CHANNEL_NAMES = [ch.name for ch in Channel if ch is not Channel.NONE]
_ACTIONS = frozenset(int(a) for a in Action)
_EVENT_KINDS = frozenset(int(k) for k in EventKind)

# Enum members by wire value: a dict lookup instead of an IntEnum call per field.
_PRODUCT_BY_VALUE = {int(m): m for m in Product}
_AGE_BAND_BY_VALUE = {int(m): m for m in AgeBand}
_CHANNEL_BY_VALUE = {int(m): m for m in Channel}
_ACTION_BY_VALUE = {int(m): m for m in Action}
_EVENT_KIND_BY_VALUE = {int(m): m for m in EventKind}
_CONSENT_BY_VALUE = {int(m): m for m in ConsentStatus}
_CHANNEL_REQUIRED = frozenset(
    {EventKind.CONTACT_ATTEMPTED, EventKind.OPT_OUT, EventKind.CONSENT_GRANTED}
)
_MESSAGE_OUTCOMES = frozenset(
    {EventKind.CONTACT_DELIVERED, EventKind.CONTACT_OPENED, EventKind.CONTACT_CLICKED}
)
_UNTIED_MESSAGE_OUTCOME = (
    "is required for a delivery, open or click that names neither decision_id nor "
    "attempt_event_id (the message it reports counts against its channel's limits)"
)

# Timestamp ↔ datetime by arithmetic. Timestamp.ToDatetime/FromDatetime give the same
# values (tests/engine/test_convert_speedups.py) but cost several times more.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_SECONDS_MIN = -62135596800  # 0001-01-01T00:00:00Z, the range Timestamp.ToDatetime accepts
_SECONDS_MAX = 253402300799  # 9999-12-31T23:59:59Z
_NANOS_PER_SECOND = 1_000_000_000
_SECONDS_PER_DAY = 86400


def timestamp_to_datetime(ts: Timestamp) -> datetime:
    seconds, nanos = ts.seconds, ts.nanos
    if _SECONDS_MIN <= seconds <= _SECONDS_MAX and 0 <= nanos < _NANOS_PER_SECOND:
        return _EPOCH + timedelta(0, seconds, nanos // 1000)
    return ts.ToDatetime(tzinfo=UTC)  # out of range: raises its ValueError


def _timestamp_to_date(ts: Timestamp) -> date:
    # Dates travel as Timestamps at 00:00 UTC of that calendar date (protobuf convention
    # for date-only values in this API); any time part is ignored.
    seconds, nanos = ts.seconds, ts.nanos
    if _SECONDS_MIN <= seconds <= _SECONDS_MAX and 0 <= nanos < _NANOS_PER_SECOND:
        return date.fromordinal(_EPOCH_ORDINAL + seconds // _SECONDS_PER_DAY)
    return ts.ToDatetime(tzinfo=UTC).date()  # out of range: raises its ValueError


def _is_code(value: str, length: int) -> bool:
    """Whether ``value`` is exactly ``length`` ASCII capitals (an ISO country or currency
    code). A regex ``^[A-Z]{3}$`` would also accept ``"SEK\n"``."""
    return len(value) == length and value.isascii() and value.isalpha() and value.isupper()


def _is_subdivision_of(code: str, country: str) -> bool:
    """Whether ``code`` is an ISO 3166-2 code of ``country`` (``^[A-Z]{2}-[A-Z0-9]{1,3}$``).
    A regex would also accept a trailing newline (see :func:`_is_code`)."""
    prefix, dash, part = code[:2], code[2:3], code[3:]
    return (
        prefix == country
        and _is_code(prefix, 2)
        and dash == "-"
        and 1 <= len(part) <= 3
        and part.isascii()
        and part.isalnum()
        and part == part.upper()
    )


def _check_money(
    out: list[FieldViolation], money: types_pb2.Money, field: str, *, required: bool
) -> None:
    currency, amount = money.currency, money.amount_minor
    if not required and not currency and amount == 0:
        return
    if not _is_code(currency, 3):
        out.append(
            FieldViolation(
                f"{field}.currency", f"must be an ISO 4217 code like 'SEK', got {quote(currency)}"
            )
        )
    check_amount(out, amount, f"{field}.amount_minor")


@cache
def _enum_members(enum_cls: type[IntEnum]) -> tuple[frozenset[int], list[str]]:
    return frozenset(int(m) for m in enum_cls), [m.name for m in enum_cls]


def _check_enum(out: list[FieldViolation], enum_cls: type[IntEnum], value: int, field: str) -> None:
    """A value of ``enum_cls`` (0, "unspecified", allowed) or a violation."""
    if value:
        valid, names = _enum_members(enum_cls)
        if value not in valid:
            out.append(FieldViolation(field, f"must be one of {names}, got {value}"))


def parse_zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def case_from_proto(
    case: case_pb2.Case, prefix: str = "case"
) -> tuple[CaseSnapshot, list[LedgerEvent]]:
    """Validate a ``tact.v1.Case`` and convert it; InvalidRequestError lists every problem."""
    out: list[FieldViolation] = []
    converted = _case(out, case, prefix)
    if converted is None:
        raise InvalidRequestError(out)
    return converted


def _case(
    out: list[FieldViolation], case: case_pb2.Case, prefix: str
) -> tuple[CaseSnapshot, list[LedgerEvent]] | None:
    """Case ``prefix`` converted, or None with its violations appended to ``out``."""
    reported = len(out)
    case_id = case.case_id
    debtor_id = case.debtor_id
    country = case.country
    subdivision = case.subdivision
    timezone = case.timezone
    outstanding = case.outstanding
    original = case.original
    days_past_due = case.days_past_due
    product = case.product
    d = case.debtor
    age_band = d.age_band
    tenure_months = d.tenure_months
    ratio = d.prior_on_time_ratio
    risk = d.risk_score

    check_id(out, case_id, f"{prefix}.case_id")
    check_id(out, debtor_id, f"{prefix}.debtor_id")
    if not _is_code(country, 2):
        out.append(
            FieldViolation(
                f"{prefix}.country",
                f"must be an ISO 3166-1 alpha-2 code in upper case like 'SE', got {quote(country)}",
            )
        )
    if subdivision and not _is_subdivision_of(subdivision, country):
        out.append(
            FieldViolation(
                f"{prefix}.subdivision",
                f"must be an ISO 3166-2 code of the country like '{country or 'US'}-MA' "
                f"(^[A-Z]{{2}}-[A-Z0-9]{{1,3}}$, starting with country), got {quote(subdivision)}; "
                "or leave it empty",
            )
        )
    if timezone and (len(timezone) > MAX_TIMEZONE_LENGTH or parse_zone(timezone) is None):
        out.append(
            FieldViolation(
                f"{prefix}.timezone",
                f"unknown IANA time zone {quote(timezone)}; use a name like 'Europe/Oslo' "
                "or leave it empty",
            )
        )
    if not case.HasField("outstanding"):
        out.append(FieldViolation(f"{prefix}.outstanding", "is required"))
    _check_money(out, outstanding, f"{prefix}.outstanding", required=True)
    _check_money(out, original, f"{prefix}.original", required=False)
    currency = outstanding.currency
    original_currency = original.currency
    if original_currency and currency and original_currency != currency:
        out.append(FieldViolation(f"{prefix}.original.currency", "must equal outstanding.currency"))
    if days_past_due < 0:
        out.append(FieldViolation(f"{prefix}.days_past_due", "must be ≥ 0"))
    _check_enum(out, Product, product, f"{prefix}.product")
    _check_enum(out, AgeBand, age_band, f"{prefix}.debtor.age_band")
    if tenure_months < 0:
        out.append(FieldViolation(f"{prefix}.debtor.tenure_months", "must be ≥ 0"))
    if not 0.0 <= ratio <= 1.0:
        out.append(
            FieldViolation(
                f"{prefix}.debtor.prior_on_time_ratio", f"must be in [0, 1], got {ratio}"
            )
        )
    if not 0.0 <= risk <= 1.0:
        out.append(FieldViolation(f"{prefix}.debtor.risk_score", f"must be in [0, 1], got {risk}"))
    check_language(out, d.language, f"{prefix}.debtor.language")
    f = case.flags
    has_breathing_space_until = f.HasField("breathing_space_until")
    if has_breathing_space_until:
        check_timestamp(out, f.breathing_space_until, f"{prefix}.flags.breathing_space_until")
    consents: dict[Channel, ConsentStatus] = {}
    listed: Sequence[case_pb2.ChannelConsent] = case.consents
    # One per channel: more can only be duplicates (reported once, not per entry).
    if not check_count(out, len(listed), f"{prefix}.consents", len(_CHANNELS)):
        listed = ()
    for i, consent in enumerate(listed):
        channel_value, status_value = consent.channel, consent.status
        channel = _CHANNEL_BY_VALUE.get(channel_value) if channel_value else None
        status = _CONSENT_BY_VALUE.get(status_value)
        if channel is None:
            out.append(
                FieldViolation(
                    f"{prefix}.consents[{i}].channel", f"must be one of {_CHANNEL_NAMES}"
                )
            )
        if status is None:
            out.append(
                FieldViolation(
                    f"{prefix}.consents[{i}].status", f"unknown ConsentStatus {status_value}"
                )
            )
        if channel is not None and status is not None:
            if channel in consents:
                out.append(
                    FieldViolation(
                        f"{prefix}.consents[{i}].channel", "appears twice; one per channel"
                    )
                )
            consents[channel] = status
    events: list[LedgerEvent] = []
    recent = case.recent_events
    if recent and check_count(out, len(recent), f"{prefix}.recent_events", MAX_EVENTS):
        path = f"{prefix}.recent_events"
        for i, e in enumerate(recent):
            if (ev := _event_from_proto(out, e, path, i, case_id=case_id)) is not None:
                events.append(ev)
    if len(out) > reported:
        return None

    has_debtor = d.ByteSize() != 0
    snapshot = CaseSnapshot(
        case_id=case_id,
        debtor_id=debtor_id,
        country=country,
        timezone=timezone or None,
        currency=currency,
        outstanding_minor=outstanding.amount_minor,
        original_minor=original.amount_minor or outstanding.amount_minor,
        days_past_due=days_past_due,
        product=_PRODUCT_BY_VALUE[product],
        debtor=DebtorProfile(
            age_band=_AGE_BAND_BY_VALUE[age_band],
            language=d.language,
            tenure_months=tenure_months,
            prior_on_time_ratio=ratio if has_debtor else 0.5,
            risk_score=risk if has_debtor else 0.5,
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
                _timestamp_to_date(f.breathing_space_until) if has_breathing_space_until else None
            ),
            mental_health_crisis=f.mental_health_crisis,
            time_barred=f.time_barred,
            hardship=f.hardship,
        ),
        subdivision=subdivision or None,
    )
    return snapshot, events


def _event_from_proto(
    out: list[FieldViolation],
    e: case_pb2.Event,
    path: str,
    i: int,
    *,
    case_id: str | None,
) -> LedgerEvent | None:
    """Event ``path[i]``: validated (violations appended to ``out``) and converted."""
    event_id = e.event_id
    event_case_id = e.case_id
    attempt_event_id = e.attempt_event_id
    kind = e.type
    channel = e.channel
    action = e.action
    has_occurred_at = e.HasField("occurred_at")
    has_until = e.HasField("until")
    problems: list[tuple[str, str]] = []
    if not event_id:
        problems.append(("event_id", "is required (the idempotency key)"))
    else:
        _check_text(problems, event_id, "event_id")
    if attempt_event_id:
        reported = len(problems)
        _check_text(problems, attempt_event_id, "attempt_event_id")
        # A valid id may still be the wrong one (one problem per field: an id that is not
        # valid is not also compared).
        if len(problems) == reported and attempt_event_id == event_id:
            problems.append(
                ("attempt_event_id", "names the event itself; name the attempt's event_id")
            )
    if case_id is None:
        if not event_case_id:
            problems.append(("case_id", "is required"))
        else:
            _check_text(problems, event_case_id, "case_id")
    elif event_case_id and event_case_id != case_id:
        problems.append(("case_id", "must equal case.case_id or be empty"))
    if e.debtor_id:
        _check_text(problems, e.debtor_id, "debtor_id")
    if e.decision_id:
        _check_text(problems, e.decision_id, "decision_id")
    if not kind:
        problems.append(("type", "is required (an EventType)"))
    else:
        if kind not in _EVENT_KINDS:
            problems.append(("type", f"unknown EventType {kind}"))
        elif kind == EventKind.CONTACT_PLANNED:
            problems.append(
                (
                    "type",
                    "CONTACT_PLANNED is written by tact itself; report CONTACT_ATTEMPTED instead",
                )
            )
    if not has_occurred_at:
        problems.append(("occurred_at", "is required (UTC)"))
    else:
        _check_instant(problems, e.occurred_at, "occurred_at")
    if channel and channel not in _CHANNEL_BY_VALUE:
        problems.append(("channel", "unknown Channel"))
    if action and action not in _ACTIONS:
        problems.append(("action", "unknown Action"))
    if kind in _CHANNEL_REQUIRED and not channel:
        problems.append(("channel", "is required for this event type"))
    elif kind in _MESSAGE_OUTCOMES and not (channel or e.decision_id or attempt_event_id):
        # It implies a message was sent, which must count against the limits of its channel.
        problems.append(("channel", _UNTIED_MESSAGE_OUTCOME))
    if kind == EventKind.BREATHING_SPACE_STARTED and not has_until:
        problems.append(("until", "is required: the last day"))
    elif has_until:
        _check_instant(problems, e.until, "until")
    if problems:
        field = f"{path}[{i}]"
        out.extend(FieldViolation(f"{field}.{name}", text) for name, text in problems)
    has_amount = e.HasField("amount")
    if has_amount:
        _check_money(out, e.amount, f"{path}[{i}].amount", required=False)
    if problems:
        return None
    return LedgerEvent(
        event_id=event_id,
        case_id=event_case_id or (case_id or ""),
        kind=_EVENT_KIND_BY_VALUE[kind],
        occurred_at=timestamp_to_datetime(e.occurred_at),
        channel=_CHANNEL_BY_VALUE[channel],
        action=_ACTION_BY_VALUE[action] if action else None,
        amount_minor=e.amount.amount_minor if has_amount else 0,
        until=_timestamp_to_date(e.until) if has_until else None,
        decision_id=e.decision_id,
        attempt_event_id=attempt_event_id,
    )


# The checks of an event's ids and times, as (name, description) problems as
# _event_from_proto keeps them. Events come in hundreds: a valid value costs one test.
def _check_text(problems: list[tuple[str, str]], value: str, name: str) -> None:
    if len(value) <= MAX_ID_LENGTH and value.isprintable():
        return
    found: list[FieldViolation] = []
    check_id(found, value, name)
    problems.extend((v.field, v.description) for v in found)


def _check_instant(problems: list[tuple[str, str]], ts: Timestamp, name: str) -> None:
    if timestamp_in_range(ts):
        return
    found: list[FieldViolation] = []
    check_timestamp(found, ts, name)
    problems.extend((v.field, v.description) for v in found)


@dataclass(frozen=True, slots=True)
class ParsedEvents:
    """Validated ``RecordEvents`` input, with per-event fields LedgerEvent does not carry.

    The lists run alongside ``events`` (an event id is unique only within its case, so
    two events of a request may share one)."""

    events: list[LedgerEvent]
    debtor_ids: list[str]
    """Debtor id of each event."""
    currencies: list[str]
    """ISO 4217 code of each event's amount (payments, promises; "" when none)."""


def events_from_proto(events: list[case_pb2.Event]) -> ParsedEvents:
    """Validate ``RecordEvents`` input; InvalidRequestError lists every bad field."""
    violations: list[FieldViolation] = []
    if not events:
        violations.append(FieldViolation("events", "is empty; send at least one event"))
    if not check_count(violations, len(events), "events", MAX_EVENTS):
        raise InvalidRequestError(violations)
    out: list[LedgerEvent] = []
    debtors: list[str] = []
    currencies: list[str] = []
    for i, e in enumerate(events):
        ev = _event_from_proto(violations, e, "events", i, case_id=None)
        if ev is not None:
            out.append(ev)
            debtors.append(e.debtor_id)
            currencies.append(e.amount.currency)
    if violations:
        raise InvalidRequestError(violations)
    return ParsedEvents(out, debtors, currencies)


def treatment_from_proto(t: types_pb2.Treatment, field: str = "proposed") -> Treatment:
    """The catalogue treatment a caller proposes (``CheckAction``)."""
    out: list[FieldViolation] = []
    treatment = _treatment(out, t, field)
    if treatment is None:
        raise InvalidRequestError(out)
    return treatment


def _treatment(out: list[FieldViolation], t: types_pb2.Treatment, field: str) -> Treatment | None:
    """Treatment ``field`` as a catalogue entry, or None with its violations in ``out``."""
    reported = len(out)
    action_value, channel_value, slot_value = t.action, t.channel, t.slot
    tone_value, offer_value = t.tone, t.offer.kind
    if not action_value:
        out.append(FieldViolation(f"{field}.action", "is required"))
    action = _ACTION_BY_VALUE.get(action_value)
    if action_value and action is None:
        out.append(FieldViolation(f"{field}.action", f"unknown Action {action_value}"))
    if action is not None and action is not Action.WAIT and not channel_value:
        out.append(FieldViolation(f"{field}.channel", "is required for a contact"))
    _check_enum(out, Channel, channel_value, f"{field}.channel")
    _check_enum(out, Tone, tone_value, f"{field}.tone")
    _check_enum(out, Slot, slot_value, f"{field}.slot")
    _check_enum(out, Offer, offer_value, f"{field}.offer.kind")
    if len(out) > reported or action is None:
        return None
    if action is Action.WAIT:
        return CATALOGUE[CATALOGUE.WAIT_INDEX]
    channel = Channel(channel_value)
    slot = (
        Slot(slot_value)
        if slot_value
        else (Slot.POST if channel is Channel.LETTER else Slot.MORNING)
    )
    # Tone and offer do not change what the law allows; pick any catalogue entry that
    # matches the fields the caller gave, so partial proposals are accepted.
    fields: dict[str, int] = {"action": action, "channel": channel, "slot": slot}
    if tone_value:
        fields["tone"] = tone_value
    if offer_value:
        fields["offer"] = offer_value
    matches = CATALOGUE.find(**fields)
    if matches.size == 0:
        allowed = sorted({CATALOGUE[i].channel.name for i in CATALOGUE.find(action=action)})
        out.append(
            FieldViolation(
                field,
                f"{action.name} via {channel.name} in slot {slot.name} is not a tact "
                f"treatment; channels for {action.name}: {allowed}",
            )
        )
        return None
    return CATALOGUE[int(matches[0])]


def decide_request_from_proto(
    request: decision_service_pb2.DecideRequest,
) -> tuple[CaseSnapshot, list[LedgerEvent], datetime]:
    """A ``Decide`` request validated and converted: the case, the caller's history and the
    decision instant (the server clock when ``now`` is unset). InvalidRequestError lists
    every problem of the case and of ``now``."""
    out: list[FieldViolation] = []
    case = _case(out, request.case, "case")
    now = _instant(out, request, "now")
    if case is None or now is None:
        raise InvalidRequestError(out)
    return case[0], case[1], now


def check_request_from_proto(
    request: decision_service_pb2.CheckActionRequest,
) -> tuple[CaseSnapshot, list[LedgerEvent], Treatment, datetime]:
    """A ``CheckAction`` request validated and converted: the case, the caller's history,
    the proposed treatment and its instant (the server clock when ``at`` is unset)."""
    out: list[FieldViolation] = []
    case = _case(out, request.case, "case")
    proposed = _treatment(out, request.proposed, "proposed")
    at = _instant(out, request, "at")
    if case is None or proposed is None or at is None:
        raise InvalidRequestError(out)
    return case[0], case[1], proposed, at


def _instant(
    out: list[FieldViolation],
    request: decision_service_pb2.DecideRequest | decision_service_pb2.CheckActionRequest,
    name: str,
) -> datetime | None:
    """Timestamp field ``name`` of ``request`` (the server clock when unset), or None with
    a violation in ``out``."""
    if not request.HasField(name):
        return datetime.now(UTC)
    ts = getattr(request, name)
    return timestamp_to_datetime(ts) if check_timestamp(out, ts, name) else None


__all__ = [
    "case_from_proto",
    "case_to_proto",
    "check_request_from_proto",
    "datetime_to_timestamp",
    "decide_request_from_proto",
    "event_to_proto",
    "events_from_proto",
    "local_isoformat",
    "parse_zone",
    "timestamp_to_datetime",
    "treatment_from_proto",
    "treatment_to_proto",
    "treatment_values",
    "utc_seconds_nanos",
]
