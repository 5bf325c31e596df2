"""The decision service end to end: a real server on port 0, a real channel, real rules,
a real ledger (SQLite file, and PostgreSQL when reachable). Streams, groups and concurrent
calls: test_service_concurrency.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from engine.catalogue import CATALOGUE
from engine.convert import datetime_to_timestamp
from engine.service import RULES_HEALTH_NAME, SERVICE_NAME, RunningServer, create_server
from engine.settings import Settings
from tact.v1 import case_pb2, decision_service_pb2, decision_service_pb2_grpc, types_pb2
from tests.support.decide_examples import (
    EXAMPLES,
    NOW,
    bad_request_fields,
    check_action,
    decide,
    load_case,
    se_case,
)

# What the ladder decides for each example at NOW (Thursday 2026-11-26 09:00 UTC): the
# step, when to send it (UTC, and local) or when to review a wait, and the rules that
# shaped the day. Worked out from the rule files: e.g. Stockholm is at 10:00, so the
# SMS reminder goes in the midday slot at 11:00 local; Chicago is at 03:00, so the
# e-mail demand waits for 08:00 local; the Danish dispute and the German vulnerable
# debtor wait for 08:00 the next local morning; the GB breathing space ends 2027-01-20.
_COMMON = ["consent.push", "push.needs-app", "legal.notice", "window.calls", "window.messages"]
_US = [*_COMMON, "window.letters"]
EXPECTED: dict[str, tuple[str, str | None, str, str | None, list[str]]] = {
    "de-vulnerable": (
        "WAIT",
        None,
        "",
        "2026-11-27T07:00:00+00:00",
        ["vulnerable.human-only", *_COMMON],
    ),
    "dk-dispute": (
        "WAIT",
        None,
        "",
        "2026-11-27T07:00:00+00:00",
        ["dispute.hold", *_COMMON, "DK.notice.10-days"],
    ),
    "fi-sms-opt-out": (
        "REMINDER/EMAIL/NEUTRAL/MIDDAY",
        "2026-11-26T09:00:00+00:00",
        "2026-11-26T11:00:00+02:00",
        None,
        ["consent.opt-out", *_COMMON, "FI.reminder.waiting-period"],
    ),
    "gb-breathing-space": (
        "WAIT",
        None,
        "",
        "2027-01-21T08:00:00+00:00",
        [*_COMMON, "GB.breathing-space.standard"],
    ),
    "no-telecom-called-today": (
        "REMINDER/SMS/NEUTRAL/MIDDAY",
        "2026-11-26T10:00:00+00:00",
        "2026-11-26T11:00:00+01:00",
        None,
        [*_COMMON, "NO.calls.per-day", "NO.inkassovarsel"],
    ),
    "se-hardship-late": (
        "AGENT_CALL/PHONE/NEUTRAL/AFTERNOON",
        "2026-11-26T13:00:00+00:00",
        "2026-11-26T14:00:00+01:00",
        None,
        [
            "hardship.no-pressure",
            "consent.push",
            "push.needs-app",
            "window.calls",
            "window.messages",
        ],
    ),
    "se-telecom-early": (
        "REMINDER/SMS/NEUTRAL/MIDDAY",
        "2026-11-26T10:00:00+00:00",
        "2026-11-26T11:00:00+01:00",
        None,
        # No inkassokrav yet: both of its notice periods hold legal action back
        # (legal.notice, the 8 days; SE.legal.bank-days, the 4 bank days after receipt).
        ["legal.notice", "window.calls", "window.messages", "SE.legal.bank-days"],
    ),
    "us-card-7in7": (
        "DEMAND/EMAIL/FIRM/MORNING",
        "2026-11-26T14:00:00+00:00",
        "2026-11-26T08:00:00-06:00",
        None,
        [*_US, "US.calls.7-in-7", "US.validation-period"],
    ),
    "us-conversation-cooldown": (
        "DEMAND/EMAIL/FIRM/MORNING",
        "2026-11-26T16:00:00+00:00",
        "2026-11-26T08:00:00-08:00",
        None,
        [*_US, "US.calls.after-conversation", "US.validation-period"],
    ),
    "us-unknown-timezone": (  # 14:00 New York = 09:00 Honolulu: the first time all zones allow
        "AGENT_CALL/PHONE/NEUTRAL/AFTERNOON",
        "2026-11-26T19:00:00+00:00",
        "2026-11-26T14:00:00-05:00",
        None,
        [*_US, "US.validation-period", "tact.timezone-unknown"],
    ),
}


def _utc(ts: Timestamp) -> str | None:
    return ts.ToDatetime(tzinfo=UTC).isoformat() if ts.ByteSize() else None


def test_every_example_has_its_expected_decision() -> None:
    assert set(EXPECTED) == {p.stem for p in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_gets_a_compliant_explained_decision(stub, path: Path) -> None:
    case = load_case(path)
    decision = decide(stub, case)
    assert decision.decision_id and decision.case_id == case.case_id
    assert decision.ruleset_version and decision.explanation
    assert (decision.policy.name, decision.policy.propensity) == ("ladder", 1.0)
    label, send_at, send_at_local, review_at, rule_ids = EXPECTED[path.stem]
    assert CATALOGUE[decision.treatment.catalogue_index].label == label
    assert (_utc(decision.send_at), decision.send_at_local) == (send_at, send_at_local)
    assert _utc(decision.next_review_at) == review_at
    assert [h.rule_id for h in decision.rule_hits] == rule_ids
    if decision.treatment.action != types_pb2.ACTION_WAIT:
        # The service's own check agrees that the chosen step is allowed at send_at.
        check = stub.CheckAction(
            decision_service_pb2.CheckActionRequest(
                case=case, proposed=decision.treatment, at=decision.send_at
            ),
            timeout=10,
        )
        assert check.allowed, (decision, check)


def test_decision_is_persisted_with_its_reservation(stub, running: RunningServer) -> None:
    case = se_case()
    decision = decide(stub, case)
    ledger = running.components.ledger
    record = ledger.get_decision(decision.decision_id)
    assert record is not None and record.case_id == case.case_id
    assert record.ruleset_version == decision.ruleset_version
    planned = ledger.events_for_case(case.case_id, since=NOW - timedelta(days=1))
    if decision.treatment.action != types_pb2.ACTION_WAIT:
        assert [e.decision_id for e in planned] == [decision.decision_id]
    else:
        assert planned == []


def test_dry_run_persists_nothing(stub, running: RunningServer) -> None:
    case = se_case()
    decision = decide(stub, case, dry_run=True)
    assert decision.dry_run
    assert running.components.ledger.get_decision(decision.decision_id) is None
    assert running.components.ledger.events_for_case(case.case_id, since=NOW - timedelta(1)) == []


def test_reservation_counts_against_the_next_decision(stub) -> None:
    """A reserved contact is in the ledger: deciding twice never doubles today's contact.
    The same case decided alone again (dry run, nothing reserved) gets the SMS again."""
    case = se_case()
    first = decide(stub, case)
    assert CATALOGUE[first.treatment.catalogue_index].label == "REMINDER/SMS/NEUTRAL/MIDDAY"
    assert _utc(first.send_at) == "2026-11-26T10:00:00+00:00"
    second = decide(stub, case, now=NOW + timedelta(minutes=5))
    assert second.treatment.action == types_pb2.ACTION_WAIT  # today's contact is planned
    assert _utc(second.next_review_at) == "2026-11-27T07:00:00+00:00"  # 08:00 Stockholm
    fresh = decide(stub, se_case(), now=NOW + timedelta(minutes=5), dry_run=True)
    assert CATALOGUE[fresh.treatment.catalogue_index].label == "REMINDER/SMS/NEUTRAL/MIDDAY"


def test_invalid_case_lists_every_bad_field(stub) -> None:
    case = se_case(country="sweden", days_past_due=-3, timezone="Mars/Olympus")
    case.outstanding.currency = "kr"
    with pytest.raises(grpc.RpcError) as info:
        decide(stub, case)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {
        "case.country",
        "case.days_past_due",
        "case.timezone",
        "case.outstanding.currency",
    } <= bad_request_fields(info.value)


def test_unknown_country_fails_closed(stub) -> None:
    with pytest.raises(grpc.RpcError) as info:
        decide(stub, se_case(country="ZZ"))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert info.value.details() == (
        "no rule file for country 'ZZ': tact recommends no contact. "
        "Countries with rules: DE, DK, FI, GB, NO, SE, US (subdivisions with their own: US-MA)"
    )


def test_record_events_is_idempotent(stub, running: RunningServer) -> None:
    case_id = f"se-{uuid.uuid4().hex[:8]}"
    events = [
        case_pb2.Event(
            event_id=f"{case_id}-{i}",
            case_id=case_id,
            debtor_id="d1",
            type=case_pb2.EVENT_TYPE_CONTACT_ATTEMPTED,
            occurred_at=datetime_to_timestamp(NOW - timedelta(hours=i)),
            channel=types_pb2.CHANNEL_SMS,
            action=types_pb2.ACTION_REMINDER,
        )
        for i in range(3)
    ]
    request = decision_service_pb2.RecordEventsRequest(events=events)
    first = stub.RecordEvents(request, timeout=10)
    again = stub.RecordEvents(request, timeout=10)
    assert (first.stored, first.duplicates) == (3, 0)
    assert (again.stored, again.duplicates) == (0, 3)
    stored = running.components.ledger.events_for_case(case_id, since=NOW - timedelta(days=1))
    assert len(stored) == 3


def test_record_events_rejects_bad_events(stub) -> None:
    bad = case_pb2.Event(event_id="", case_id="c", type=case_pb2.EVENT_TYPE_OPT_OUT)
    with pytest.raises(grpc.RpcError) as info:
        stub.RecordEvents(decision_service_pb2.RecordEventsRequest(events=[bad]), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"events[0].event_id", "events[0].occurred_at", "events[0].channel"} <= (
        bad_request_fields(info.value)
    )


def test_recorded_opt_out_blocks_the_channel(stub) -> None:
    case = se_case()
    stub.RecordEvents(
        decision_service_pb2.RecordEventsRequest(
            events=[
                case_pb2.Event(
                    event_id=f"{case.case_id}-optout",
                    case_id=case.case_id,
                    type=case_pb2.EVENT_TYPE_OPT_OUT,
                    occurred_at=datetime_to_timestamp(NOW - timedelta(days=1)),
                    channel=types_pb2.CHANNEL_SMS,
                )
            ]
        ),
        timeout=10,
    )
    check = check_action(stub, case, types_pb2.ACTION_REMINDER, types_pb2.CHANNEL_SMS, NOW)
    assert not check.allowed
    assert [v.rule_id for v in check.violations] == ["consent.opt-out"]
    assert not check.HasField("next_allowed_at")  # an opt-out does not lapse
    email = check_action(stub, case, types_pb2.ACTION_REMINDER, types_pb2.CHANNEL_EMAIL, NOW)
    assert email.allowed and not email.violations


def test_check_action_blocks_calls_at_night_with_next_allowed_time(stub) -> None:
    case = se_case()
    night = datetime(2026, 11, 26, 22, 30, tzinfo=UTC)  # 23:30 in Stockholm
    check = check_action(stub, case, types_pb2.ACTION_AGENT_CALL, types_pb2.CHANNEL_PHONE, night)
    assert not check.allowed
    # The rule that excludes 23:30 is cited (SE window.calls: weekdays 08-20), not tact's
    # own send slots (tact.send-slots is for hours no rule sets).
    assert [v.rule_id for v in check.violations] == ["window.calls"]
    # Friday 08:00 in Stockholm, when window.calls (weekdays 08–20) opens.
    assert _utc(check.next_allowed_at) == "2026-11-27T07:00:00+00:00"


def test_us_seven_calls_in_seven_days_blocks_an_eighth(stub) -> None:
    case = load_case(EXAMPLES[[p.stem for p in EXAMPLES].index("us-card-7in7")])
    at = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # 10:00 in Chicago, 7 calls since the 20th
    check = check_action(stub, case, types_pb2.ACTION_AGENT_CALL, types_pb2.CHANNEL_PHONE, at)
    assert not check.allowed
    assert [v.rule_id for v in check.violations] == ["US.calls.7-in-7"]
    # The calls of the 20th (day 1) leave the 7-day window on day 8, the 27th; calls from
    # 08:00 in Chicago.
    assert _utc(check.next_allowed_at) == "2026-11-27T14:00:00+00:00"


def test_health_and_reflection(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for name in ("", SERVICE_NAME, RULES_HEALTH_NAME):
        response = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
    )
    names = {s.name for r in responses for s in r.list_services_response.service}
    assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names


def test_expired_deadline_writes_nothing(stub, running: RunningServer) -> None:
    case = se_case()
    with pytest.raises(grpc.RpcError) as info:
        stub.Decide(
            decision_service_pb2.DecideRequest(case=case, now=datetime_to_timestamp(NOW)),
            timeout=0.000001,
        )
    assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert running.components.ledger.events_for_case(case.case_id, since=NOW - timedelta(1)) == []


def test_database_outage_recommends_no_contact_and_writes_nothing(
    stub, running: RunningServer
) -> None:
    case = se_case()
    running.components.ledger.close()  # the database goes away under a running server
    with pytest.raises(grpc.RpcError) as info:
        decide(stub, case)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "no contact" in info.value.details()
    # The stream reports the outage per case instead of breaking.
    request = decision_service_pb2.DecideRequest(case=case, now=datetime_to_timestamp(NOW))
    [decision] = list(stub.DecideStream(iter([request]), timeout=10))
    assert decision.error.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert decision.treatment.action == types_pb2.ACTION_WAIT and not decision.decision_id


def test_breathing_space_waits_until_the_morning_after_it_ends(stub) -> None:
    case = load_case(EXAMPLES[[p.stem for p in EXAMPLES].index("gb-breathing-space")])
    decision = decide(stub, case)  # breathing space until 2027-01-20 inclusive
    assert decision.treatment.action == types_pb2.ACTION_WAIT
    review = decision.next_review_at.ToDatetime(tzinfo=UTC)
    assert review == datetime(2027, 1, 21, 8, 0, tzinfo=UTC)  # 08:00 in London (GMT)
    assert [h.rule_id for h in decision.rule_hits] == EXPECTED["gb-breathing-space"][4]


def test_exploration_logs_the_true_propensity(tmp_path: Path) -> None:
    """With TACT_EXPLORE the treatment is drawn and its logging probability reported."""
    running = create_server(
        Settings(
            port=0,
            database_url=f"sqlite:///{tmp_path / 'explore.db'}",
            rules_watch=False,
            policy="random",
            explore=True,
        )
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
            request = decision_service_pb2.DecideRequest(
                case=se_case(), now=datetime_to_timestamp(NOW), dry_run=True, include_inputs=True
            )
            decisions = [stub.Decide(request, timeout=10) for _ in range(20)]
    finally:
        running.stop(0)
    allowed = len(decisions[0].inputs.allowed_indices)
    assert allowed > 2
    assert all(d.policy.sampled for d in decisions)
    assert all(d.policy.propensity == pytest.approx(1 / allowed) for d in decisions)
    assert len({d.treatment.catalogue_index for d in decisions}) > 1


def test_an_invalid_now_is_a_field_error(stub) -> None:
    from google.protobuf.timestamp_pb2 import Timestamp

    request = decision_service_pb2.DecideRequest(case=se_case(), now=Timestamp(seconds=3 * 10**11))
    with pytest.raises(grpc.RpcError) as info:
        stub.Decide(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(info.value) == {"now"}


def test_codes_with_a_trailing_newline_are_rejected(stub) -> None:
    case = se_case()
    case.outstanding.currency = "SEK\n"
    case.country = "SE\n"
    with pytest.raises(grpc.RpcError) as info:
        decide(stub, case)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {"case.outstanding.currency", "case.country"} <= bad_request_fields(info.value)
