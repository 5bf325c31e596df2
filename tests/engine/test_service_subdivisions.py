"""Subdivisions through the real service: a case's ISO 3166-2 subdivision picks its rule
file (US-MA over US), an unknown one gets the country's rules and the decision says so,
a malformed one is a field error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from engine.convert import datetime_to_timestamp
from tact.v1 import case_pb2, decision_service_pb2, types_pb2
from tests.support.service_calls import case, check, event, fresh, record, violation_ids

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York
PHONE, SMS = types_pb2.CHANNEL_PHONE, types_pb2.CHANNEL_SMS


def two_calls(case_id: str) -> list[case_pb2.Event]:
    return [
        event(
            case_id,
            f"call-{k}",
            case_pb2.EVENT_TYPE_CONTACT_ATTEMPTED,
            NOW - timedelta(days=2, hours=k),
            channel=PHONE,
            action=types_pb2.ACTION_AGENT_CALL,
        )
        for k in range(2)
    ]


def decide(stub, of: case_pb2.Case) -> decision_service_pb2.Decision:
    request = decision_service_pb2.DecideRequest(case=of, now=datetime_to_timestamp(NOW))
    decision: decision_service_pb2.Decision = stub.Decide(request, timeout=10)
    return decision


def test_massachusetts_allows_two_telephone_communications_in_seven_days(decisions) -> None:
    ma = case(fresh("ma"), "US", "America/New_York", subdivision="US-MA")
    us = case(fresh("us"), "US", "America/New_York")
    for debtor in (ma, us):
        assert record(decisions, *two_calls(debtor.case_id)).stored == 2
    refused = check(decisions, ma, types_pb2.ACTION_REMINDER, SMS, NOW)
    assert not refused.allowed and violation_ids(refused) == ["US-MA.telephone.2-in-7"]
    assert refused.violations[0].citation.startswith("940 CMR 7.04(1)(f)")
    # The calls were on Sunday 22nd (day 1): day 8 is Sunday 29th, 08:00 in New York.
    assert refused.next_allowed_at.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 29, 13, tzinfo=UTC)
    assert check(decisions, us, types_pb2.ACTION_REMINDER, SMS, NOW).allowed
    decision = decide(decisions, ma)
    assert decision.treatment.channel not in (PHONE, SMS)
    assert "US-MA.telephone.2-in-7" in [h.rule_id for h in decision.rule_hits]


def test_an_unknown_subdivision_is_decided_by_the_country_and_says_so(decisions) -> None:
    ca = case(fresh("ca"), "US", "America/Los_Angeles", subdivision="US-CA")
    decision = decide(decisions, ca)
    [note] = [h for h in decision.rule_hits if h.rule_id == "tact.subdivision-unknown"]
    assert "US-CA" in note.message
    assert "tact.subdivision-unknown" in decision.explanation


@pytest.mark.parametrize("code", ["SE-AB", "US-MAXX", "us-ma", "US-MA\n", "US_MA", "US-"])
def test_a_malformed_subdivision_is_a_field_error(decisions, code: str) -> None:
    with pytest.raises(grpc.RpcError) as info:
        decide(decisions, case(fresh("bad"), "US", subdivision=code))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(info.value)
    assert status is not None
    fields = set()
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        assert detail.Unpack(bad)
        fields |= {v.field for v in bad.field_violations}
    assert fields == {"case.subdivision"}
