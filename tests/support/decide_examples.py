"""The example cases and the calls the decision-service tests make with them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import grpc
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from engine.convert import datetime_to_timestamp
from tact.v1 import case_pb2, decision_service_pb2, types_pb2

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "cases").glob("*.json"))
# A Thursday morning in Europe, night in the Americas.
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def load_case(path: Path, *, fresh_id: bool = True) -> case_pb2.Case:
    case = json_format.Parse(path.read_text(), case_pb2.Case())
    if fresh_id:  # PostgreSQL schema is shared by the session: keep cases apart
        suffix = uuid.uuid4().hex[:8]
        case.case_id = f"{case.case_id}-{suffix}"
        for event in case.recent_events:
            event.case_id = case.case_id
            event.event_id = f"{event.event_id}-{suffix}"
            if event.attempt_event_id:
                event.attempt_event_id = f"{event.attempt_event_id}-{suffix}"
    return case


def se_case(**overrides: object) -> case_pb2.Case:
    case = load_case(EXAMPLES[[p.stem for p in EXAMPLES].index("se-telecom-early")])
    for name, value in overrides.items():
        setattr(case, name, value)
    return case


def decide(stub, case: case_pb2.Case, now: datetime = NOW, dry_run: bool = False):
    request = decision_service_pb2.DecideRequest(
        case=case, now=datetime_to_timestamp(now), dry_run=dry_run
    )
    return stub.Decide(request, timeout=10)


def check_action(stub, case: case_pb2.Case, action: int, channel: int, at: datetime):
    """CheckAction for ``action`` by ``channel`` at ``at``."""
    return stub.CheckAction(
        decision_service_pb2.CheckActionRequest(
            case=case,
            proposed=types_pb2.Treatment(action=action, channel=channel),  # type: ignore[arg-type]
            at=datetime_to_timestamp(at),
        ),
        timeout=10,
    )


def bad_request_fields(err: grpc.RpcError) -> set[str]:
    status = rpc_status.from_call(err)
    assert status is not None, "INVALID_ARGUMENT must carry google.rpc.Status details"
    fields: set[str] = set()
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        assert detail.Unpack(bad)
        fields |= {v.field for v in bad.field_violations}
    return fields
