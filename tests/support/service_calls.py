"""Building requests for the decision service in tests: cases, events, calls."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from engine.convert import datetime_to_timestamp
from tact.v1 import case_pb2, decision_service_pb2, types_pb2


def fresh(prefix: str) -> str:
    """An id apart from other tests' (the PostgreSQL schema is shared by the session)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def case(case_id: str, country: str = "US", timezone: str = "", **fields: Any) -> case_pb2.Case:
    """A plain case of ``country`` (USD 500, 40 days past due)."""
    return case_pb2.Case(
        case_id=case_id,
        debtor_id=f"debtor-{case_id}",
        country=country,
        timezone=timezone,
        outstanding=types_pb2.Money(amount_minor=50_000, currency="USD"),
        days_past_due=40,
        **fields,
    )


def phone_only_case(case_id: str) -> case_pb2.Case:
    """A Norwegian case 40 days past due that has opted out of every channel but the phone:
    the ``ladder`` policy calls (NO.calls.per-day: at most one call a day)."""
    return case_pb2.Case(
        case_id=case_id,
        debtor_id=f"debtor-{case_id}",
        country="NO",
        timezone="Europe/Oslo",
        outstanding=types_pb2.Money(amount_minor=50_000, currency="NOK"),
        days_past_due=40,
        consents=[
            case_pb2.ChannelConsent(channel=channel, status=case_pb2.CONSENT_STATUS_OPTED_OUT)
            for channel in (
                types_pb2.CHANNEL_EMAIL,
                types_pb2.CHANNEL_SMS,
                types_pb2.CHANNEL_LETTER,
                types_pb2.CHANNEL_PUSH,
            )
        ],
    )


def event(case_id: str, event_id: str, kind: int, at: datetime, **fields: Any) -> case_pb2.Event:
    return case_pb2.Event(
        event_id=event_id,
        case_id=case_id,
        type=kind,  # type: ignore[arg-type]
        occurred_at=datetime_to_timestamp(at),
        **fields,
    )


def record(stub: Any, *events: case_pb2.Event) -> decision_service_pb2.RecordEventsResponse:
    request = decision_service_pb2.RecordEventsRequest(events=events)
    response: decision_service_pb2.RecordEventsResponse = stub.RecordEvents(request, timeout=10)
    return response


def check(
    stub: Any, of: case_pb2.Case, action: int, channel: int, at: datetime, **treatment: Any
) -> decision_service_pb2.CheckActionResponse:
    """CheckAction for ``action`` through ``channel`` at ``at``."""
    response: decision_service_pb2.CheckActionResponse = stub.CheckAction(
        decision_service_pb2.CheckActionRequest(
            case=of,
            proposed=types_pb2.Treatment(action=action, channel=channel, **treatment),  # type: ignore[arg-type]
            at=datetime_to_timestamp(at),
        ),
        timeout=10,
    )
    return response


def violation_ids(response: decision_service_pb2.CheckActionResponse) -> list[str]:
    return [v.rule_id for v in response.violations]
