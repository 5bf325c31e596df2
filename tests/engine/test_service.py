"""The decision service end to end: a real server on port 0, a real channel, real rules,
a real ledger (SQLite file, and PostgreSQL when reachable)."""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from engine.catalogue import CATALOGUE
from engine.compliance import ComplianceEngine
from engine.convert import datetime_to_timestamp
from engine.service import RULES_HEALTH_NAME, SERVICE_NAME, RunningServer, create_server
from engine.settings import Settings
from tact.v1 import case_pb2, decision_service_pb2, decision_service_pb2_grpc, types_pb2

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "cases").glob("*.json"))
# A Thursday morning in Europe, night in the Americas.
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.fixture
def running(database_url: str) -> Iterator[RunningServer]:
    settings = Settings(port=0, database_url=database_url, rules_watch=False, policy="ladder")
    server = create_server(settings)
    yield server
    server.stop(0)


@pytest.fixture
def channel(running: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
        yield ch


@pytest.fixture
def stub(channel: grpc.Channel) -> decision_service_pb2_grpc.DecisionServiceStub:
    return decision_service_pb2_grpc.DecisionServiceStub(channel)


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


def test_stream_keeps_order_and_isolates_a_bad_case(stub) -> None:
    cases = [se_case() for _ in range(12)]
    cases[5].country = "sweden"
    requests = [
        decision_service_pb2.DecideRequest(case=c, now=datetime_to_timestamp(NOW), dry_run=i == 7)
        for i, c in enumerate(cases)
    ]
    decisions = list(stub.DecideStream(iter(requests), timeout=30))
    assert [d.case_id for d in decisions] == [c.case_id for c in cases]
    assert decisions[5].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert decisions[5].treatment.action == types_pb2.ACTION_WAIT and not decisions[5].decision_id
    assert all(not d.HasField("error") and d.decision_id for i, d in enumerate(decisions) if i != 5)
    assert [d.dry_run for d in decisions] == [i == 7 for i in range(12)]


def _stream_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("decide-stream-")]


def _wait_for_no_stream_threads(seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while _stream_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _stream_threads(), f"stream threads still running: {_stream_threads()}"


def test_stream_keeps_order_across_batches(database_url: str) -> None:
    settings = Settings(
        port=0, database_url=database_url, rules_watch=False, policy="ladder", stream_batch_size=4
    )
    server = create_server(settings)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
            stub = decision_service_pb2_grpc.DecisionServiceStub(ch)
            cases = [load_case(EXAMPLES[i % len(EXAMPLES)]) for i in range(30)]
            requests = [
                decision_service_pb2.DecideRequest(case=c, now=datetime_to_timestamp(NOW))
                for c in cases
            ]
            decisions = list(stub.DecideStream(iter(requests), timeout=60))
        assert [d.case_id for d in decisions] == [c.case_id for c in cases]
        assert all(d.decision_id and not d.HasField("error") for d in decisions)
    finally:
        server.stop(0)
    _wait_for_no_stream_threads()


def test_stream_cancelled_by_the_client_stops_its_threads(stub) -> None:
    """A client that goes away mid-stream: the reader and decider end, the server serves on."""

    def endless() -> Iterator[decision_service_pb2.DecideRequest]:
        while True:
            yield decision_service_pb2.DecideRequest(case=se_case(), now=datetime_to_timestamp(NOW))
            time.sleep(0.001)

    call = stub.DecideStream(endless(), timeout=30)
    received = [next(call) for _ in range(5)]
    assert all(d.decision_id for d in received)
    call.cancel()
    _wait_for_no_stream_threads()
    assert decide(stub, se_case()).decision_id


def test_stream_failure_outside_a_case_fails_the_stream_and_ends_its_threads(
    stub, running: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(requests: object, contexts: object) -> None:
        raise RuntimeError("decider broke")

    monkeypatch.setattr(running.decisions, "_decide_batch", broken)
    request = decision_service_pb2.DecideRequest(case=se_case(), now=datetime_to_timestamp(NOW))
    with pytest.raises(grpc.RpcError) as info:
        list(stub.DecideStream(iter([request, request]), timeout=10))
    assert info.value.code() == grpc.StatusCode.INTERNAL
    _wait_for_no_stream_threads()


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


class _FixedRules:
    """A rules source that always hands out one engine."""

    def __init__(self, engine: ComplianceEngine) -> None:
        self.current = engine


def test_concurrent_decisions_never_mix_cases(
    stub, running: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 client threads deciding and checking different countries at once get exactly the
    answers each case gets alone (durable_rules is not thread-safe: the engine must
    serialise it), also when concurrent calls are decided together in groups (one policy
    call per group).

    Decide groups run one at a time; CheckAction calls run on their own worker threads,
    so they meet each other and the groups inside durable_rules. The rules engine has its
    memo off (else durable_rules would answer each case's fact set once, before the
    threads start, and never be called concurrently), and threads switch every
    microsecond so that they meet inside evaluations."""
    from concurrent.futures import ThreadPoolExecutor

    engine = ComplianceEngine(ComplianceEngine.load().compiled)
    engine.fired_memo_size = 0
    monkeypatch.setattr(running.components.pipeline, "rules", _FixedRules(engine))
    cases = [load_case(p) for p in EXAMPLES]

    def decide_one(case: case_pb2.Case) -> tuple[object, ...]:
        request = decision_service_pb2.DecideRequest(
            case=case, now=datetime_to_timestamp(NOW), dry_run=True, include_inputs=True
        )
        decision = stub.Decide(request, timeout=30)
        return (
            decision.case_id,
            decision.treatment.SerializeToString(deterministic=True),
            tuple(h.rule_id for h in decision.rule_hits),
            tuple(decision.inputs.allowed_indices),
            tuple(decision.inputs.observation),
        )

    def check_one(case: case_pb2.Case) -> tuple[object, ...]:
        answer = check_action(stub, case, types_pb2.ACTION_AGENT_CALL, types_pb2.CHANNEL_PHONE, NOW)
        return (case.case_id, answer.SerializeToString(deterministic=True))

    def run(job: tuple[str, case_pb2.Case]) -> tuple[object, ...]:
        kind, case = job
        return (kind, *(decide_one(case) if kind == "decide" else check_one(case)))

    jobs = [("decide" if i % 2 else "check", cases[i % len(cases)]) for i in range(240)]
    alone = {(kind, case.case_id): run((kind, case)) for kind, case in jobs[:20]}
    posts_alone = engine.durable_posts
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(8) as pool:
            together = list(pool.map(run, jobs))
    finally:
        sys.setswitchinterval(switch_interval)
    assert [(f[0], f[1]) for f in together] == [(k, c.case_id) for k, c in jobs]
    assert all(f == alone[(f[0], f[1])] for f in together)  # type: ignore[index]
    groups = running.decisions.groups
    assert groups.jobs == 10 + 120
    assert groups.groups < groups.jobs, "concurrent calls should have shared groups"
    # Every verdict came from durable_rules: as many posts as when each call was alone.
    assert engine.durable_posts - posts_alone == 12 * posts_alone


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


class _Call:
    """What ``_decide_batch`` reads of one call's servicer context."""

    def __init__(self, remaining: float | None = None, active: bool = True) -> None:
        self.remaining, self.active = remaining, active

    def time_remaining(self) -> float | None:
        return self.remaining

    def is_active(self) -> bool:
        return self.active


def _decisions_stored(running: RunningServer, case_id: str) -> int:
    import sqlalchemy as sa

    from engine.ledger import queries

    with running.components.ledger.engine.connect() as connection:
        count = connection.execute(
            sa.select(sa.func.count())
            .select_from(queries.DECISIONS)
            .where(queries.DECISIONS.c.case_id == case_id)
        ).scalar_one()
    return int(count)


def test_a_group_keeps_each_call_to_itself(running: RunningServer) -> None:
    """Calls decided together (a group of concurrent Decides, or a stream batch): each
    gets its own decision or its own error, and only the good, live ones are stored."""
    from google.protobuf.timestamp_pb2 import Timestamp

    from engine.errors import InvalidRequestError
    from engine.status import DeadlineExceededError

    cases = [se_case() for _ in range(5)]
    now = datetime_to_timestamp(NOW)
    requests = [
        decision_service_pb2.DecideRequest(case=cases[0], now=now),
        decision_service_pb2.DecideRequest(case=cases[1], now=now, dry_run=True),
        decision_service_pb2.DecideRequest(case=cases[2], now=now),  # deadline passed
        decision_service_pb2.DecideRequest(case=cases[3], now=now),  # client cancelled
        decision_service_pb2.DecideRequest(case=cases[4], now=Timestamp(seconds=3 * 10**11)),
    ]
    contexts = [_Call(), _Call(), _Call(remaining=0.0), _Call(active=False), _Call()]
    results = running.decisions._decide_batch(requests, contexts)  # type: ignore[arg-type]

    assert isinstance(results[0], decision_service_pb2.Decision) and not results[0].dry_run
    assert isinstance(results[1], decision_service_pb2.Decision) and results[1].dry_run
    assert isinstance(results[2], DeadlineExceededError)
    assert isinstance(results[3], DeadlineExceededError) and "cancelled" in str(results[3])
    assert isinstance(results[4], InvalidRequestError)
    assert [v.field for v in results[4].violations] == ["now"]
    assert [_decisions_stored(running, c.case_id) for c in cases] == [1, 0, 0, 0, 0]


def test_a_failed_commit_fails_the_whole_group_and_stores_nothing(
    running: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.ledger import LedgerUnavailable

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise LedgerUnavailable("the database went away mid-commit")

    for write in ("save_decisions", "reserve_decisions"):  # waits / contacts
        monkeypatch.setattr(running.components.ledger, write, refuse)
    cases = [se_case() for _ in range(3)]
    requests = [
        decision_service_pb2.DecideRequest(case=c, now=datetime_to_timestamp(NOW), dry_run=i == 1)
        for i, c in enumerate(cases)
    ]
    results = running.decisions._decide_batch(requests, [_Call()] * 3)  # type: ignore[arg-type]
    assert isinstance(results[0], LedgerUnavailable) and isinstance(results[2], LedgerUnavailable)
    assert isinstance(results[1], decision_service_pb2.Decision) and results[1].dry_run
    monkeypatch.undo()
    assert [_decisions_stored(running, c.case_id) for c in cases] == [0, 0, 0]


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
