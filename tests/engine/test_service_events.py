"""RecordEvents and what the recorded events make of a case, through a real gRPC server on
port 0, a real channel, the real rule files and a real ledger (SQLite, and PostgreSQL when
reachable)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from tact.v1 import case_pb2, decision_service_pb2, types_pb2
from tests.support.service_calls import case, check, event, fresh, record, violation_ids

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # Thursday 10:00 in New York
STATUS = decision_service_pb2
NY = "America/New_York"


def us_case(case_id: str) -> case_pb2.Case:
    return case(case_id, "US", NY)


def test_an_opt_out_reusing_another_cases_event_id_is_stored_and_honoured(decisions) -> None:
    """The issue's scenario: a PAYMENT of case A and an OPT_OUT of case B share an event id."""
    shared = fresh("ev")
    case_a, case_b = fresh("case-a"), fresh("case-b")
    payment = event(
        case_a,
        shared,
        case_pb2.EVENT_TYPE_PAYMENT,
        NOW - timedelta(days=2),
        amount=types_pb2.Money(amount_minor=1_000, currency="USD"),
    )
    assert record(decisions, payment).stored == 1
    assert check(
        decisions, us_case(case_b), types_pb2.ACTION_REMINDER, types_pb2.CHANNEL_SMS, NOW
    ).allowed

    opt_out = event(
        case_b,
        shared,
        case_pb2.EVENT_TYPE_OPT_OUT,
        NOW - timedelta(days=1),
        channel=types_pb2.CHANNEL_SMS,
    )
    response = record(decisions, opt_out)
    assert (response.stored, response.duplicates, response.conflicts) == (1, 0, 0)
    assert [(r.case_id, r.event_id, r.status) for r in response.results] == [
        (case_b, shared, STATUS.EVENT_STATUS_STORED)
    ]
    refused = check(
        decisions, us_case(case_b), types_pb2.ACTION_REMINDER, types_pb2.CHANNEL_SMS, NOW
    )
    assert not refused.allowed
    assert violation_ids(refused) == ["consent.opt-out"]
    # Case A is untouched: still contactable by SMS.
    assert check(
        decisions, us_case(case_a), types_pb2.ACTION_REMINDER, types_pb2.CHANNEL_SMS, NOW
    ).allowed


def test_a_conflict_is_reported_per_event_and_the_rest_of_the_batch_is_stored(decisions) -> None:
    case_id = fresh("case")
    taken = event(
        case_id,
        "e-1",
        case_pb2.EVENT_TYPE_PAYMENT,
        NOW - timedelta(days=3),
        amount=types_pb2.Money(amount_minor=500, currency="USD"),
    )
    record(decisions, taken)
    batch = [
        event(case_id, "e-0", case_pb2.EVENT_TYPE_COMPLAINT, NOW - timedelta(days=2)),
        event(
            case_id,
            "e-1",
            case_pb2.EVENT_TYPE_OPT_OUT,
            NOW - timedelta(days=1),
            channel=types_pb2.CHANNEL_PHONE,
        ),
        taken,
        event(
            case_id,
            "e-2",
            case_pb2.EVENT_TYPE_OPT_OUT,
            NOW - timedelta(days=1),
            channel=types_pb2.CHANNEL_EMAIL,
        ),
    ]
    response = record(decisions, *batch)
    assert (response.stored, response.duplicates, response.conflicts) == (2, 1, 1)
    assert [r.status for r in response.results] == [
        STATUS.EVENT_STATUS_STORED,
        STATUS.EVENT_STATUS_CONFLICT,
        STATUS.EVENT_STATUS_DUPLICATE,
        STATUS.EVENT_STATUS_STORED,
    ]
    assert response.results[1].detail.startswith("type: stored PAYMENT, sent OPT_OUT")
    # The e-mail opt-out after the conflict is in force; the conflicting phone one is not.
    debtor = us_case(case_id)
    email = check(decisions, debtor, types_pb2.ACTION_REMINDER, types_pb2.CHANNEL_EMAIL, NOW)
    assert not email.allowed and violation_ids(email) == ["consent.opt-out"]
    assert check(
        decisions, debtor, types_pb2.ACTION_AGENT_CALL, types_pb2.CHANNEL_PHONE, NOW
    ).allowed


def _calls(case_id: str, day: datetime, n: int, *, only: int, external: bool) -> list:
    """``n`` calls on ``day``, each reported by one ``only`` event (no CONTACT_ATTEMPTED)."""
    return [
        event(
            case_id,
            f"call-{k}",
            only,
            day + timedelta(minutes=10 * k),
            **({} if external else {"decision_id": f"dec-{k}"}),
        )
        for k in range(n)
    ]


@pytest.mark.parametrize(
    "only", [case_pb2.EVENT_TYPE_CALL_CONNECTED, case_pb2.EVENT_TYPE_CALL_NOT_CONNECTED]
)
def test_calls_reported_without_an_attempt_count_towards_regulation_f(decisions, only: int) -> None:
    """7 calls on day 1 reported only by their outcome: an 8th call on day 7 is blocked
    by 7-in-7 (connected) — and allowed when the 7 did not connect (excluded)."""
    case_id = fresh("case")
    day_1 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)  # Friday 09:00 in New York
    record(decisions, *_calls(case_id, day_1, 7, only=only, external=True))
    day_7 = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    answer = check(
        decisions, us_case(case_id), types_pb2.ACTION_AGENT_CALL, types_pb2.CHANNEL_PHONE, day_7
    )
    if only == case_pb2.EVENT_TYPE_CALL_CONNECTED:
        assert not answer.allowed
        assert violation_ids(answer) == ["US.calls.7-in-7"]
        # Day 8, 08:00 in New York: the first instant the 7 calls no longer count.
        assert answer.next_allowed_at.ToDatetime(tzinfo=UTC) == datetime(
            2026, 11, 27, 13, 0, tzinfo=UTC
        )
    else:
        assert answer.allowed


def test_an_external_busy_signal_is_tied_to_its_attempt_and_excluded(decisions) -> None:
    """Calls placed outside tact (no decision id): a CALL_NOT_CONNECTED naming its attempt
    by attempt_event_id makes that attempt an excluded call, not a second one."""
    case_id = fresh("case")
    day_1 = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    events = []
    for k in range(7):
        at = day_1 + timedelta(minutes=10 * k)
        events.append(
            event(
                case_id,
                f"att-{k}",
                case_pb2.EVENT_TYPE_CONTACT_ATTEMPTED,
                at,
                channel=types_pb2.CHANNEL_PHONE,
                action=types_pb2.ACTION_AGENT_CALL,
            )
        )
        events.append(
            event(
                case_id,
                f"busy-{k}",
                case_pb2.EVENT_TYPE_CALL_NOT_CONNECTED,
                at + timedelta(seconds=30),
                attempt_event_id=f"att-{k}",
            )
        )
    assert record(decisions, *events).stored == 14
    day_2 = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)  # Saturday 10:00 in New York
    answer = check(
        decisions, us_case(case_id), types_pb2.ACTION_AGENT_CALL, types_pb2.CHANNEL_PHONE, day_2
    )
    assert answer.allowed, answer


def test_record_events_rejects_an_outcome_naming_itself(decisions) -> None:
    bad = event("c", "e-1", case_pb2.EVENT_TYPE_CALL_NOT_CONNECTED, NOW, attempt_event_id="e-1")
    with pytest.raises(grpc.RpcError) as info:
        record(decisions, bad)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_message_outcome_tied_to_nothing_must_name_its_channel(decisions) -> None:
    """A delivery implies a message was sent; untied and channel-less it could count
    against no channel's limit, so it is refused (tied or with a channel it is stored)."""
    case_id = fresh("case")
    untied = event(case_id, "d-1", case_pb2.EVENT_TYPE_CONTACT_DELIVERED, NOW)
    with pytest.raises(grpc.RpcError) as info:
        record(decisions, untied)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "events[0].channel" in info.value.details()
    tied = event(case_id, "d-2", case_pb2.EVENT_TYPE_CONTACT_DELIVERED, NOW, attempt_event_id="a-1")
    with_channel = event(
        case_id, "d-3", case_pb2.EVENT_TYPE_CONTACT_OPENED, NOW, channel=types_pb2.CHANNEL_EMAIL
    )
    assert record(decisions, tied, with_channel).stored == 2
