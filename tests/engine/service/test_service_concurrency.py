"""The decision service under many calls at once: streams (order, batches, cancellation,
failure), concurrent Decide/CheckAction calls decided in groups, and what a group stores."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from engine.compliance import ComplianceEngine
from engine.convert import datetime_to_timestamp
from engine.service import RunningServer, create_server
from engine.settings import Settings
from tact.v1 import case_pb2, decision_service_pb2, decision_service_pb2_grpc, types_pb2
from tests.support.decide_examples import (
    EXAMPLES,
    NOW,
    check_action,
    decide,
    load_case,
    se_case,
)


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
