"""``Decide`` is idempotent per request, end to end: a real server on port 0, a real channel,
the real rules, a real ledger (SQLite file, and PostgreSQL when reachable).

A request is its case content and its ``now`` (``engine.service`` digests them). A repeat
of a stored request — a retry after a lost reply, or the same request arriving twice at
once — gets the stored decision (``replayed``) and stores nothing: no second decision, no
second reservation, so no *orphan* call that the limits count and nobody makes.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from sqlmodel import Session, col, select

from engine.convert import datetime_to_timestamp
from engine.ledger.models import DecisionRow
from engine.service import RunningServer, create_server
from engine.settings import Settings
from engine.state import EventKind
from tact.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    case_pb2,
    decision_service_pb2,
    decision_service_pb2_grpc,
    types_pb2,
)
from tests.support.service_calls import fresh, phone_only_case

AT = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)  # Thursday 09:30 in Oslo: the ladder calls
NOW = datetime_to_timestamp(AT)
COMMIT_HOLD_S = 1.5
"""How long the server holds each reply after its commit (``TACT_TEST_COMMIT_HOLD_SECONDS``)
in the lost-reply test; the first call's deadline is half of it."""


def _serve(database_url: str, **settings: Any) -> RunningServer:
    return create_server(
        Settings(port=0, database_url=database_url, rules_watch=False, policy="ladder", **settings)
    )


def _request(case: case_pb2.Case, **fields: Any) -> decision_service_pb2.DecideRequest:
    fields.setdefault("now", NOW)
    return decision_service_pb2.DecideRequest(case=case, **fields)


def _stored(running: RunningServer, case_id: str) -> tuple[list[str], list[str]]:
    """The case's stored decision ids, and the decision ids of its reserved contacts."""
    ledger = running.components.ledger
    with Session(ledger.engine) as session:
        decisions = session.exec(
            select(DecisionRow.decision_id).where(col(DecisionRow.case_id) == case_id)
        ).all()
    events = ledger.events_for_case(case_id, since=AT - timedelta(days=1))
    planned = [e.decision_id for e in events if e.kind is EventKind.CONTACT_PLANNED]
    return sorted(decisions), planned


def _as_dict(decision: decision_service_pb2.Decision) -> dict[str, Any]:
    """Every field of a decision but ``replayed``."""
    fields = json_format.MessageToDict(decision)
    fields.pop("replayed", None)
    return fields


def test_a_repeated_request_gets_the_identical_decision_and_stores_nothing(
    running: RunningServer, stub: decision_service_pb2_grpc.DecisionServiceStub
) -> None:
    case = phone_only_case(fresh("idem"))
    first = stub.Decide(_request(case), timeout=10)
    again = stub.Decide(_request(case), timeout=10)
    assert first.treatment.channel == types_pb2.CHANNEL_PHONE and not first.replayed
    assert again.replayed
    assert _as_dict(again) == _as_dict(first)  # id, treatment, send time, policy, explanation
    assert _stored(running, case.case_id) == ([first.decision_id], [first.decision_id])


def test_include_inputs_is_not_part_of_the_request(
    running: RunningServer, stub: decision_service_pb2_grpc.DecisionServiceStub
) -> None:
    # How to answer, not what to decide: a retry that asks for the inputs gets the stored
    # decision, without them (the inputs of a decision are not stored).
    case = phone_only_case(fresh("idem-inputs"))
    first = stub.Decide(_request(case), timeout=10)
    again = stub.Decide(_request(case, include_inputs=True), timeout=10)
    assert again.replayed and again.decision_id == first.decision_id
    assert not again.HasField("inputs")
    assert _stored(running, case.case_id) == ([first.decision_id], [first.decision_id])


def test_a_retry_after_a_lost_reply_gets_the_stored_call(database_url: str) -> None:
    # The first call's reply is lost after its commit (its deadline passes while the
    # server holds the reply, as when a replica dies between commit and reply). Before
    # request idempotency its retry was decided again: a WAIT (the first attempt's call is
    # in the ledger), and that call an orphan.
    running = _serve(database_url, test_commit_hold_seconds=COMMIT_HOLD_S)
    try:
        case = phone_only_case(fresh("idem-lost"))
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
            with pytest.raises(grpc.RpcError) as lost:
                stub.Decide(_request(case), timeout=COMMIT_HOLD_S / 2)
            assert lost.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            [stored], [planned] = _stored(running, case.case_id)  # committed all the same
            retried = stub.Decide(_request(case), timeout=10)
    finally:
        running.stop(0)
    assert retried.replayed and retried.decision_id == stored == planned
    assert retried.treatment.channel == types_pb2.CHANNEL_PHONE, "the call, not a WAIT"
    assert retried.send_at.seconds > 0


def test_another_now_or_another_case_content_is_another_request(
    running: RunningServer, stub: decision_service_pb2_grpc.DecisionServiceStub
) -> None:
    case = phone_only_case(fresh("idem-new"))
    first = stub.Decide(_request(case), timeout=10)
    later = datetime_to_timestamp(AT + timedelta(seconds=1))
    at_another_now = stub.Decide(_request(case, now=later), timeout=10)
    changed = case_pb2.Case()
    changed.CopyFrom(case)
    changed.days_past_due += 1
    with_other_content = stub.Decide(_request(changed), timeout=10)
    assert not at_another_now.replayed and not with_other_content.replayed
    ids = {first.decision_id, at_another_now.decision_id, with_other_content.decision_id}
    assert len(ids) == 3
    # New requests, decided against the ledger: the one call a day is the first one's.
    assert at_another_now.treatment.action == types_pb2.ACTION_WAIT
    assert with_other_content.treatment.action == types_pb2.ACTION_WAIT
    decisions, planned = _stored(running, case.case_id)
    assert decisions == sorted(ids) and planned == [first.decision_id]


def test_a_request_without_now_is_never_repeated(
    running: RunningServer, stub: decision_service_pb2_grpc.DecisionServiceStub
) -> None:
    # Without `now` the server's clock is the instant: every attempt is another request.
    case = phone_only_case(fresh("idem-clock"))
    request = decision_service_pb2.DecideRequest(case=case)
    first, second = (stub.Decide(request, timeout=10) for _ in range(2))
    assert first.decision_id != second.decision_id and not second.replayed
    assert len(_stored(running, case.case_id)[0]) == 2


def test_a_resent_stream_gets_the_stored_decisions_of_what_was_decided(
    running: RunningServer, stub: decision_service_pb2_grpc.DecisionServiceStub
) -> None:
    cases = [phone_only_case(fresh("idem-stream")) for _ in range(4)]
    first = list(stub.DecideStream(iter([_request(c) for c in cases[:3]]), timeout=30))
    # The stream broke after three answers; the client resends the whole batch.
    resent = list(stub.DecideStream(iter([_request(c) for c in cases]), timeout=30))
    assert [d.replayed for d in resent] == [True, True, True, False]
    assert [_as_dict(d) for d in resent[:3]] == [_as_dict(d) for d in first]
    for decision in resent:
        assert decision.treatment.channel == types_pb2.CHANNEL_PHONE
        decisions, planned = _stored(running, decision.case_id)
        assert decisions == planned == [decision.decision_id]


def test_the_same_request_twice_in_one_stream_is_decided_once(
    running: RunningServer, stub: decision_service_pb2_grpc.DecisionServiceStub
) -> None:
    case = phone_only_case(fresh("idem-twice"))
    first, second = stub.DecideStream(iter([_request(case), _request(case)]), timeout=30)
    assert second.decision_id == first.decision_id and second.replayed != first.replayed
    assert _stored(running, case.case_id) == ([first.decision_id], [first.decision_id])


def test_dry_runs_are_never_stored_nor_answered_from_storage(
    running: RunningServer, stub: decision_service_pb2_grpc.DecisionServiceStub
) -> None:
    case = phone_only_case(fresh("idem-dry"))
    dry = stub.Decide(_request(case, dry_run=True), timeout=10)
    assert dry.dry_run and not dry.replayed
    assert _stored(running, case.case_id) == ([], [])
    decided = stub.Decide(_request(case), timeout=10)
    assert not decided.replayed and decided.decision_id != dry.decision_id
    dry_again = stub.Decide(_request(case, dry_run=True), timeout=10)
    assert dry_again.dry_run and not dry_again.replayed
    assert dry_again.decision_id not in {dry.decision_id, decided.decision_id}
    assert _stored(running, case.case_id) == ([decided.decision_id], [decided.decision_id])


def test_after_erasure_a_repeat_is_a_new_decision(
    running: RunningServer, stub: decision_service_pb2_grpc.DecisionServiceStub
) -> None:
    case = phone_only_case(fresh("idem-erased"))
    first = stub.Decide(_request(case), timeout=10)
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        admin_service_pb2_grpc.AdminServiceStub(channel).EraseDebtor(
            admin_service_pb2.EraseDebtorRequest(debtor_id=case.debtor_id, reference="DSR-1"),
            timeout=10,
        )
    again = stub.Decide(_request(case), timeout=10)
    assert not again.replayed and again.decision_id != first.decision_id
    assert again.treatment.channel == types_pb2.CHANNEL_PHONE  # the erased call is gone too
    assert _stored(running, case.case_id) == ([again.decision_id], [again.decision_id])


def test_identical_requests_at_once_on_two_servers_are_decided_once(database_url: str) -> None:
    # Two servers, two ledgers on one database: two replicas. Every group waits between
    # its decision and its write, so that the attempts on the two servers overlap; they
    # must still end as one decision.
    servers = [_serve(database_url, test_reservation_hold_seconds=0.3) for _ in range(2)]
    cases = [phone_only_case(fresh("idem-race")) for _ in range(2)]
    threads_per_case = 6
    answers: list[decision_service_pb2.Decision] = []
    errors: list[BaseException] = []
    start = threading.Barrier(threads_per_case * len(cases))

    def call(k: int) -> None:
        server, case = servers[k % 2], cases[(k // 2) % len(cases)]
        try:
            with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
                grpc.channel_ready_future(channel).result(timeout=10)
                start.wait(timeout=10)
                answers.append(stub.Decide(_request(case), timeout=30))
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=call, args=(k,)) for k in range(start.parties)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        for case in cases:
            got = [d for d in answers if d.case_id == case.case_id]
            assert len(got) == threads_per_case and len({d.decision_id for d in got}) == 1
            assert sum(not d.replayed for d in got) == 1, "one decided, the others replayed"
            assert got[0].treatment.channel == types_pb2.CHANNEL_PHONE
            assert _stored(servers[0], case.case_id) == ([got[0].decision_id],) * 2
    finally:
        for server in servers:
            server.stop(0)
