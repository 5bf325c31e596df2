"""Reading a case from JSON for ``tact rules explain``.

Two forms are accepted: the protobuf JSON of ``tact.v1.Case`` (as the core system sends
it; parsed and validated by the service's own converter, ``engine.convert``), and a
plain JSON of the :class:`CaseSnapshot` fields plus ``recent_events`` (handy for
hand-written cases). :func:`parse_case` is the one entry point; it returns the snapshot
and the ledger events, which is all the explanation needs.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.catalogue import Action, Channel
from engine.compliance.model import FlagsSpec
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


class CaseJsonError(ValueError):
    """The case JSON is unusable; the message names the field and what to write."""


def _enum(enum: Any, value: object, field: str) -> Any:
    try:
        if isinstance(value, int):
            return enum(value)
        return enum[str(value).upper()]
    except (KeyError, ValueError):
        names = ", ".join(m.name for m in enum)
        raise ValueError(f"{field}: {value!r} is not one of {names}") from None


class _Debtor(BaseModel):
    model_config = ConfigDict(extra="forbid")
    age_band: str | int = "UNSPECIFIED"
    language: str = ""
    tenure_months: int = 0
    prior_on_time_ratio: float = 0.5
    risk_score: float = 0.5
    has_app: bool = False


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event_id: str = ""
    kind: str | int
    occurred_at: datetime
    channel: str | int = "NONE"
    action: str | int | None = None
    amount_minor: int = 0
    until: date | None = None
    decision_id: str = ""

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at needs a UTC offset, e.g. 2024-03-11T09:30:00Z")
        return value


class _Case(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_id: str
    debtor_id: str = ""
    country: str = Field(pattern=r"^[A-Z]{2}$")
    subdivision: str | None = Field(None, pattern=r"^[A-Z]{2}-[A-Z0-9]{1,3}$")
    timezone: str | None = None
    currency: str = "XXX"
    outstanding_minor: int = 0
    original_minor: int = 0
    days_past_due: int = 0
    product: str | int = "UNSPECIFIED"
    debtor: _Debtor = Field(default_factory=_Debtor)
    consents: dict[str, str | int] = Field(default_factory=dict)
    flags: FlagsSpec = Field(default_factory=FlagsSpec)
    recent_events: list[_Event] = Field(default_factory=list)


_PROTO_KEYS = frozenset({"caseId", "debtorId", "daysPastDue", "recentEvents", "outstanding"})


def parse_case(text: str) -> tuple[CaseSnapshot, list[LedgerEvent]]:
    """Case JSON (``tact.v1.Case`` protobuf JSON, or the plain form) → (snapshot, events);
    raises :class:`CaseJsonError` saying what to fix."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CaseJsonError(
            f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if isinstance(data, dict) and _PROTO_KEYS & data.keys():
        return parse_proto_case(text)
    return parse_plain_case(data)


def parse_proto_case(text: str) -> tuple[CaseSnapshot, list[LedgerEvent]]:
    """``tact.v1.Case`` protobuf JSON → domain types, through the service's validation."""
    from google.protobuf import json_format

    from engine.convert import case_from_proto
    from engine.errors import InvalidRequestError
    from tact.v1 import case_pb2

    try:
        message = json_format.Parse(text, case_pb2.Case())
        return case_from_proto(message)
    except json_format.ParseError as exc:
        raise CaseJsonError(f"invalid tact.v1.Case JSON: {exc}") from None
    except InvalidRequestError as exc:
        raise CaseJsonError(f"invalid case: {exc}") from None


def parse_plain_case(data: object) -> tuple[CaseSnapshot, list[LedgerEvent]]:
    """The plain form: CaseSnapshot fields (enums by name) + ``recent_events``."""
    try:
        raw = _Case.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise CaseJsonError(f"invalid case JSON: {problems}") from None
    try:
        snapshot = CaseSnapshot(
            case_id=raw.case_id,
            debtor_id=raw.debtor_id,
            country=raw.country,
            timezone=raw.timezone or None,
            currency=raw.currency,
            outstanding_minor=raw.outstanding_minor,
            original_minor=raw.original_minor,
            days_past_due=raw.days_past_due,
            product=_enum(Product, raw.product, "product"),
            debtor=DebtorProfile(
                age_band=_enum(AgeBand, raw.debtor.age_band, "debtor.age_band"),
                language=raw.debtor.language,
                tenure_months=raw.debtor.tenure_months,
                prior_on_time_ratio=raw.debtor.prior_on_time_ratio,
                risk_score=raw.debtor.risk_score,
                has_app=raw.debtor.has_app,
            ),
            consents={
                _enum(Channel, ch, "consents"): _enum(ConsentStatus, st, f"consents.{ch}")
                for ch, st in raw.consents.items()
            },
            flags=CaseFlags(**raw.flags.model_dump()),
            subdivision=raw.subdivision,
        )
        if raw.subdivision and raw.subdivision[:2] != raw.country:
            raise ValueError(f"subdivision {raw.subdivision} is not in country {raw.country}")
        events = [
            LedgerEvent(
                event_id=e.event_id or f"json-{k}",
                case_id=raw.case_id,
                kind=_enum(EventKind, e.kind, f"recent_events[{k}].kind"),
                occurred_at=e.occurred_at,
                channel=_enum(Channel, e.channel, f"recent_events[{k}].channel"),
                action=(
                    _enum(Action, e.action, f"recent_events[{k}].action")
                    if e.action is not None
                    else None
                ),
                amount_minor=e.amount_minor,
                until=e.until,
                decision_id=e.decision_id,
            )
            for k, e in enumerate(raw.recent_events)
        ]
    except ValueError as exc:
        raise CaseJsonError(str(exc)) from None
    return snapshot, events
