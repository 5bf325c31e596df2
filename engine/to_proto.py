"""Translation from tact's domain types to the public protobuf API (``tact.v1``): the
inverse of :mod:`engine.convert` (decisions, events and cases as messages).

On every response's path: Timestamps are built with integer arithmetic and messages in
one constructor call where that saves copies (bench/bench_convert.py; equality with the
straightforward versions: tests/engine/test_convert_speedups.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from google.protobuf.timestamp_pb2 import Timestamp

from engine.catalogue import DEFERRAL_DAYS, PLAN_INSTALMENTS, SETTLEMENT_DISCOUNT, Offer, Treatment
from engine.state import CaseSnapshot, LedgerEvent
from engine.timetext import LocalTimeText
from tact.v1 import case_pb2, types_pb2

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS_PER_DAY = 86400


def utc_seconds_nanos(at: datetime) -> tuple[int, int]:
    """``(seconds, nanos)`` of the Timestamp for ``at`` (naive means local time, as in
    ``datetime.astimezone``)."""
    utc = at if at.tzinfo is UTC else at.astimezone(UTC)
    delta = utc - _EPOCH
    return delta.days * _SECONDS_PER_DAY + delta.seconds, utc.microsecond * 1000


def datetime_to_timestamp(at: datetime) -> Timestamp:
    seconds, nanos = utc_seconds_nanos(at)
    return Timestamp(seconds=seconds, nanos=nanos)


_LOCAL_ISO = LocalTimeText(datetime.isoformat)


def local_isoformat(at: datetime, zone: ZoneInfo) -> str:
    """``at.astimezone(zone).isoformat()``, remembered for UTC instants (send times
    repeat; formatting with a ZoneInfo offset is slow)."""
    return _LOCAL_ISO(at, zone)


def treatment_values(
    t: Treatment, index: int, *, outstanding_minor: int, currency: str
) -> dict[str, Any]:
    """Keyword arguments of ``types_pb2.Treatment`` for ``t`` (sub-messages as dicts), for
    building it inside its parent message's constructor in one go."""
    values: dict[str, Any] = {
        "action": int(t.action),
        "channel": int(t.channel),
        "tone": int(t.tone),
        "slot": int(t.slot),
        "catalogue_index": index,
    }
    offer = t.offer
    if offer is not Offer.NONE:
        terms: dict[str, Any] = {"kind": int(offer)}
        if offer in PLAN_INSTALMENTS:
            n = PLAN_INSTALMENTS[offer]
            terms["instalments"] = n
            terms["instalment_amount"] = {
                "amount_minor": -(-outstanding_minor // n),
                "currency": currency,
            }
        elif offer in DEFERRAL_DAYS:
            terms["deferral_days"] = DEFERRAL_DAYS[offer]
        elif offer in SETTLEMENT_DISCOUNT:
            discount = SETTLEMENT_DISCOUNT[offer]
            terms["discount"] = discount
            terms["settlement_amount"] = {
                "amount_minor": round(outstanding_minor * (1 - discount)),
                "currency": currency,
            }
        values["offer"] = terms
    return values


def treatment_to_proto(
    t: Treatment, index: int, *, outstanding_minor: int, currency: str
) -> types_pb2.Treatment:
    # Enum values travel as plain ints: the catalogue's IntEnums mirror the proto enums.
    return types_pb2.Treatment(
        **treatment_values(t, index, outstanding_minor=outstanding_minor, currency=currency)
    )


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
        "attempt_event_id": event.attempt_event_id,
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
        "subdivision": snapshot.subdivision or "",
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
    "case_to_proto",
    "datetime_to_timestamp",
    "event_to_proto",
    "local_isoformat",
    "treatment_to_proto",
    "treatment_values",
    "utc_seconds_nanos",
]
