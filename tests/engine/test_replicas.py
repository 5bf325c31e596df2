"""Two replicas on one PostgreSQL behind the client's round-robin; one is killed mid-load.

The topology of ``deploy/`` as processes: two ``tact serve`` processes on one PostgreSQL
schema, and clients whose channels list both addresses with gRPC's ``round_robin``
policy (as a client of the Kubernetes headless Service would). Seven client threads —
six with unary ``Decide``, one with a ``DecideStream`` — decide Norwegian phone-only cases
(NO.calls.per-day: one call a day), every case several times with the SAME request (same
case, same ``now``); a call that fails ``UNAVAILABLE`` is sent again as it was, a stream
resends what it had not been answered. One replica gets SIGKILL once a third of the
decisions are in. Afterwards the ledger must hold every decision a client received (none
lost), at most one reservation per request digest and per case (none duplicated) and
exactly one call per case (exact limits).

What keeps a retried request from reserving twice is NOT request idempotency: ``Decide``
has none (each attempt is a new decision with a new uuid; the request digest is stored,
``decision.inputs_digest``, but not looked up). It is the per-case serialised re-check of
``engine/reservations.py``: the retry is decided against a ledger that already holds the
first attempt's reservation, and stored as a WAIT. So a retry with another ``now`` or
case id would pass these checks just the same (another request, not a duplicate); the
twin that fails them is the run without the serialisation
(``TACT_TEST_SERIALISE_RESERVATIONS=false``), where identical requests that overlap
reserve a call each. One consequence is counted, not asserted: when SIGKILL lands after a
call's commit and before its reply, the client's retry gets a WAIT and the stored call is
known to no client (an *orphan* reservation: the limit holds, the call is not made).

``TACT_TEST_RESERVATION_HOLD_SECONDS`` keeps every group in flight for a moment between
its decision and its write, so that decisions for one case overlap and the kill finds
calls in flight.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest

from engine.catalogue import Channel
from engine.convert import datetime_to_timestamp
from engine.ledger import open_ledger
from engine.state import EventKind
from tact.v1 import case_pb2, decision_service_pb2, decision_service_pb2_grpc, types_pb2
from tests.support.databases import require_postgres
from tests.support.processes import kill, start_serve, wait_serving
from tests.support.service_calls import fresh, phone_only_case

NOW = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)  # Thursday 09:30 in Oslo
OSLO = ZoneInfo("Europe/Oslo")
CASES = 8
ROUNDS = 3
UNARY_CLIENTS = 6
HOLD_S = "0.05"
ATTEMPTS = 50
TOTAL = (UNARY_CLIENTS + 1) * CASES * ROUNDS


@dataclass
class Load:
    """What the clients saw."""

    received: list[decision_service_pb2.Decision] = field(default_factory=list)
    retries: int = 0
    """Calls (or streams) sent again after ``UNAVAILABLE``."""
    after_kill: int = 0
    """Decisions received after the SIGKILL."""
    killed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def got(self, decision: decision_service_pb2.Decision) -> int:
        with self.lock:
            self.received.append(decision)
            self.after_kill += self.killed.is_set()
            return len(self.received)

    def retried(self) -> None:
        with self.lock:
            self.retries += 1


def _request(case: case_pb2.Case) -> decision_service_pb2.DecideRequest:
    return decision_service_pb2.DecideRequest(case=case, now=datetime_to_timestamp(NOW))


def _round_robin(addresses: Sequence[str]) -> grpc.Channel:
    target = "ipv4:" + ",".join(addresses)
    return grpc.insecure_channel(target, options=[("grpc.lb_policy_name", "round_robin")])


def _unavailable(error: grpc.RpcError) -> bool:
    return isinstance(error, grpc.Call) and error.code() is grpc.StatusCode.UNAVAILABLE


def _unary_client(
    channel: grpc.Channel, requests: Sequence[decision_service_pb2.DecideRequest], load: Load
) -> None:
    stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
    for request in requests:
        for attempt in range(ATTEMPTS):
            try:
                decision = stub.Decide(request, timeout=30)
            except grpc.RpcError as error:
                if not _unavailable(error) or attempt == ATTEMPTS - 1:
                    raise
                load.retried()
                time.sleep(0.05)
                continue
            load.got(decision)
            break


def _stream_client(
    channel: grpc.Channel, requests: Sequence[decision_service_pb2.DecideRequest], load: Load
) -> None:
    """One stream; when it breaks, the requests it had not answered (answers come in
    order) go again on a new stream."""
    stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
    pending = list(requests)
    for attempt in range(ATTEMPTS):
        answered = 0
        try:
            for decision in stub.DecideStream(iter(pending), timeout=60):
                load.got(decision)
                answered += 1
            assert answered == len(pending), f"stream answered {answered} of {len(pending)}"
            return
        except grpc.RpcError as error:
            if not _unavailable(error) or attempt == ATTEMPTS - 1:
                raise
            load.retried()
            pending = pending[answered:]
            time.sleep(0.05)


@contextmanager
def _replicas(env: dict[str, str], n: int) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    served: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for _ in range(n):
            served.append(start_serve(env))
        for address, proc in served:
            wait_serving(address, proc)
        yield served
    finally:
        for _, proc in served:
            kill(proc)


def _env(database_url: str, *, serialise: bool) -> dict[str, str]:
    return {
        "TACT_DATABASE_URL": database_url,
        "TACT_PROCESSES": "1",
        "TACT_POLICY": "ladder",
        "TACT_RULES_WATCH": "false",
        "TACT_GRACE_SECONDS": "1",
        "TACT_TEST_RESERVATION_HOLD_SECONDS": HOLD_S,
        "TACT_TEST_SERIALISE_RESERVATIONS": "true" if serialise else "false",
    }


def _load(
    addresses: Sequence[str], cases: Sequence[case_pb2.Case], kill_one: Callable[[], None]
) -> Load:
    """Every client sends every case ``ROUNDS`` times (in the same order, so that the
    clients decide the same case at about the same time); ``kill_one`` runs once a third
    of the decisions are in."""
    load = Load()
    requests = [_request(c) for _ in range(ROUNDS) for c in cases]
    channels = [_round_robin(addresses) for _ in range(UNARY_CLIENTS + 1)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(channels))

    def client(k: int) -> None:
        try:
            grpc.channel_ready_future(channels[k]).result(timeout=30)
            start.wait(timeout=30)
            run = _stream_client if k == UNARY_CLIENTS else _unary_client
            run(channels[k], requests, load)
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(len(channels))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(load.received) < TOTAL // 3 and time.monotonic() < deadline and not errors:
        time.sleep(0.01)
    kill_one()
    load.killed.set()
    for thread in threads:
        thread.join(60)
    for channel in channels:
        channel.close()
    assert not errors, errors
    assert len(load.received) == TOTAL, f"{len(load.received)} of {TOTAL} decisions received"
    return load


@dataclass
class Stored:
    calls: dict[str, int]
    """Calls reserved per case on the day."""
    reservations_per_digest: dict[str, int]
    missing: list[str]
    """Decision ids a client received that the ledger does not hold."""
    orphans: int
    """Reserved calls whose decision no client received."""


def _stored(database_url: str, cases: Sequence[case_pb2.Case], load: Load) -> Stored:
    received = {d.decision_id for d in load.received}
    ledger = open_ledger(database_url)
    try:
        missing = [i for i in sorted(received) if ledger.get_decision(i) is None]
        events = ledger.events_for_cases([c.case_id for c in cases], since=NOW - timedelta(days=1))
        planned = [
            e
            for case_events in events.values()
            for e in case_events
            if e.kind is EventKind.CONTACT_PLANNED
            and e.channel is Channel.PHONE
            and e.occurred_at.astimezone(OSLO).date() == NOW.astimezone(OSLO).date()
        ]
        per_digest: dict[str, int] = {}
        for event in planned:
            record = ledger.get_decision(event.decision_id)
            assert record is not None, f"reservation {event.event_id} without its decision"
            per_digest[record.inputs_digest] = per_digest.get(record.inputs_digest, 0) + 1
    finally:
        ledger.close()
    calls = {c.case_id: 0 for c in cases}
    for event in planned:
        calls[event.case_id] += 1
    orphans = sum(e.decision_id not in received for e in planned)
    return Stored(calls, per_digest, missing, orphans)


@pytest.mark.postgres
@pytest.mark.parametrize("serialise", [True, False], ids=["serialised", "unserialised"])
def test_two_replicas_one_killed_mid_load_lose_and_duplicate_nothing(
    serialise: bool, postgres_schema_url: str
) -> None:
    require_postgres()
    cases = [phone_only_case(fresh("replicas")) for _ in range(CASES)]
    with _replicas(_env(postgres_schema_url, serialise=serialise), 2) as served:
        addresses = [address for address, _ in served]
        victim = served[1][1]

        def kill_one() -> None:
            victim.send_signal(signal.SIGKILL)

        load = _load(addresses, cases, kill_one)
        assert victim.wait(10) == -signal.SIGKILL
    stored = _stored(postgres_schema_url, cases, load)
    delivered = sum(d.treatment.channel == types_pb2.CHANNEL_PHONE for d in load.received)
    print(
        f"retries {load.retries}, received after the kill {load.after_kill}, calls per case "
        f"{sorted(stored.calls.values())}, delivered calls {delivered}, orphans {stored.orphans}"
    )
    assert not [d.error.code for d in load.received if d.error.code], "no decision may fail"
    assert load.retries > 0, "the kill found no call in flight: the test proved nothing"
    assert load.after_kill > 0, "no decision after the kill: the survivor served nothing"
    assert not stored.missing, f"decisions received but not stored: {stored.missing}"
    if serialise:
        assert max(stored.reservations_per_digest.values()) == 1, stored.reservations_per_digest
        assert set(stored.calls.values()) == {1}, f"exactly one call per case: {stored.calls}"
        assert delivered + stored.orphans == CASES, "every reserved call reached a client or none"
    else:  # the twin that shows these checks can fail
        assert max(stored.reservations_per_digest.values()) > 1, stored.reservations_per_digest
        assert max(stored.calls.values()) > 1, stored.calls
