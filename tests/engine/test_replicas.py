"""Two replicas on one PostgreSQL behind the client's round-robin; one is killed mid-load.

The topology of ``deploy/`` as processes: two ``tact serve`` processes on one PostgreSQL
schema, and clients whose channels list both addresses with gRPC's ``round_robin``
policy (as a client of the Kubernetes headless Service would). Seven client threads —
six with unary ``Decide``, one with a ``DecideStream`` — decide Norwegian phone-only cases
(NO.calls.per-day: one call a day), every case several times; each request is unique
(its own ``now``, seconds apart on the same morning), and a call that fails
``UNAVAILABLE`` is sent again as it was (same case, same ``now``), a stream resends what
it had not been answered. One replica gets SIGKILL once a third of the decisions are in.
Afterwards, from the ledger: every decision a client received is stored and every
request has exactly one stored decision (none lost, none decided twice), no request holds
more than one reservation, every case has exactly one call (exact limits), and every
reserved call is one a client received (no *orphan*: a call the limit counts but no
client knows of).

``Decide`` is idempotent per request: a retry whose first attempt had committed gets the
stored decision back (``Decision.replayed``), whichever replica answers, and nothing new
is stored (the ledger's unique index on ``(case_id, request_digest)``). Before it, such a
retry was decided again against a ledger holding the first attempt's reservation — a
second decision row, a WAIT, and the first attempt's call an orphan. Two twins show the
checks can fail: without the serialisation (``TACT_TEST_SERIALISE_RESERVATIONS=false``)
overlapping requests for one case reserve a call each (the limit checks fail); with a
client that retries with ``now`` a millisecond later, every retry is another request, so
the ledger holds decisions of requests no client sent as such (the per-request checks
fail) — while the one-call limit still holds, which is why a retry with a new ``now``
(or a new case id: another case, its own call) cannot fail the limit checks.

``TACT_TEST_RESERVATION_HOLD_SECONDS`` keeps every group in flight for a moment between
its decision and its write, so that decisions for one case overlap and the kill finds
calls in flight; the ``killed-after-commits`` variant holds after the commit instead
(``TACT_TEST_COMMIT_HOLD_SECONDS``), so that the kill cuts stored decisions from their
replies and their retries are answered from the ledger (in most runs; see the end of the
test).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest
from sqlmodel import Session, col, select

from engine.catalogue import Channel
from engine.convert import datetime_to_timestamp
from engine.ledger import inputs_digest, open_ledger
from engine.ledger.models import DecisionRow
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
    retried_digests: set[str] = field(default_factory=set)
    """Request digests of the requests sent again."""
    after_kill: int = 0
    """Decisions received after the SIGKILL."""
    new_now_on_retry: bool = False
    """A client that gets the retries wrong: each one with ``now`` a millisecond later."""
    killed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def got(self, decision: decision_service_pb2.Decision) -> int:
        with self.lock:
            self.received.append(decision)
            self.after_kill += self.killed.is_set()
            return len(self.received)

    def again(
        self, requests: Sequence[decision_service_pb2.DecideRequest]
    ) -> list[decision_service_pb2.DecideRequest]:
        """``requests`` to send again after ``UNAVAILABLE``: as they were (or, for the
        client that gets it wrong, each with ``now`` a millisecond later)."""
        with self.lock:
            self.retries += 1
            self.retried_digests.update(_digest(r) for r in requests)
        if not self.new_now_on_retry:
            return list(requests)
        return [
            _request(r.case, r.now.ToDatetime(UTC) + timedelta(milliseconds=1)) for r in requests
        ]


def _request(case: case_pb2.Case, now: datetime) -> decision_service_pb2.DecideRequest:
    return decision_service_pb2.DecideRequest(case=case, now=datetime_to_timestamp(now))


def _digest(request: decision_service_pb2.DecideRequest) -> str:
    """The request digest the service stores (``decision.inputs_digest``): for a request
    that sets ``now``, that of its deterministic serialization."""
    return inputs_digest(request.SerializeToString(deterministic=True))


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
                [request] = load.again([request])
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
            pending = load.again(pending[answered:])
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


def _env(database_url: str, *, serialise: bool, after_commit: bool) -> dict[str, str]:
    """``after_commit``: hold after the commit instead of before it, so that the kill
    lands between commits and their replies."""
    return {
        "TACT_DATABASE_URL": database_url,
        "TACT_PROCESSES": "1",
        "TACT_POLICY": "ladder",
        "TACT_RULES_WATCH": "false",
        "TACT_GRACE_SECONDS": "1",
        "TACT_TEST_RESERVATION_HOLD_SECONDS": "0" if after_commit else HOLD_S,
        "TACT_TEST_COMMIT_HOLD_SECONDS": HOLD_S if after_commit else "0",
        "TACT_TEST_SERIALISE_RESERVATIONS": "true" if serialise else "false",
    }


def _requests(
    client: int, cases: Sequence[case_pb2.Case]
) -> list[decision_service_pb2.DecideRequest]:
    """Every case ``ROUNDS`` times, in the same order for every client (so that clients
    decide one case at about the same time), each request with its own ``now``."""
    return [
        _request(c, NOW + timedelta(seconds=(client * ROUNDS + round_) * CASES + i))
        for round_ in range(ROUNDS)
        for i, c in enumerate(cases)
    ]


def _load(
    addresses: Sequence[str],
    cases: Sequence[case_pb2.Case],
    kill_one: Callable[[], None],
    *,
    new_now_on_retry: bool,
) -> tuple[Load, list[str]]:
    """Runs the clients; ``kill_one`` runs once a third of the decisions are in. Returns
    what they saw and the digests of every request sent."""
    load = Load(new_now_on_retry=new_now_on_retry)
    channels = [_round_robin(addresses) for _ in range(UNARY_CLIENTS + 1)]
    requests = [_requests(k, cases) for k in range(len(channels))]
    errors: list[BaseException] = []
    start = threading.Barrier(len(channels))

    def client(k: int) -> None:
        try:
            grpc.channel_ready_future(channels[k]).result(timeout=30)
            start.wait(timeout=30)
            run = _stream_client if k == UNARY_CLIENTS else _unary_client
            run(channels[k], requests[k], load)
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
    return load, [_digest(r) for client in requests for r in client]


@dataclass
class Stored:
    calls: dict[str, int]
    """Calls reserved per case on the day."""
    decisions_per_digest: dict[str, int]
    """Stored decisions per request digest."""
    reservations_per_digest: dict[str, int]
    missing: list[str]
    """Decision ids a client received that the ledger does not hold."""
    orphans: int
    """Reserved calls whose decision no client received."""


def _stored(database_url: str, cases: Sequence[case_pb2.Case], load: Load) -> Stored:
    received = {d.decision_id for d in load.received}
    case_ids = [c.case_id for c in cases]
    ledger = open_ledger(database_url)
    try:
        with Session(ledger.engine) as session:
            rows = session.exec(
                select(DecisionRow.decision_id, DecisionRow.inputs_digest).where(
                    col(DecisionRow.case_id).in_(case_ids)
                )
            ).all()
        events = ledger.events_for_cases(case_ids, since=NOW - timedelta(days=1))
    finally:
        ledger.close()
    digest_of = dict(rows)
    planned = [
        e
        for case_events in events.values()
        for e in case_events
        if e.kind is EventKind.CONTACT_PLANNED
        and e.channel is Channel.PHONE
        and e.occurred_at.astimezone(OSLO).date() == NOW.astimezone(OSLO).date()
    ]
    calls = dict.fromkeys(case_ids, 0)
    for event in planned:
        calls[event.case_id] += 1
    return Stored(
        calls=calls,
        decisions_per_digest=Counter(digest_of.values()),
        reservations_per_digest=Counter(digest_of[e.decision_id] for e in planned),
        missing=sorted(received - digest_of.keys()),
        orphans=sum(e.decision_id not in received for e in planned),
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("serialise", "after_commit", "new_now_on_retry"),
    [(True, False, False), (True, True, False), (False, False, False), (True, False, True)],
    ids=["serialised", "killed-after-commits", "unserialised", "retries-with-new-now"],
)
def test_two_replicas_one_killed_mid_load_lose_and_duplicate_nothing(
    serialise: bool, after_commit: bool, new_now_on_retry: bool, postgres_schema_url: str
) -> None:
    require_postgres()
    cases = [phone_only_case(fresh("replicas")) for _ in range(CASES)]
    env = _env(postgres_schema_url, serialise=serialise, after_commit=after_commit)
    with _replicas(env, 2) as served:
        addresses = [address for address, _ in served]
        victim = served[1][1]

        def kill_one() -> None:
            victim.send_signal(signal.SIGKILL)

        load, digests = _load(addresses, cases, kill_one, new_now_on_retry=new_now_on_retry)
        assert victim.wait(10) == -signal.SIGKILL
    stored = _stored(postgres_schema_url, cases, load)
    delivered = sum(d.treatment.channel == types_pb2.CHANNEL_PHONE for d in load.received)
    redecided = {d: n for d, n in stored.decisions_per_digest.items() if n > 1}
    replayed = sum(d.replayed for d in load.received)
    print(
        f"retries {load.retries} ({len(load.retried_digests)} requests), received after the "
        f"kill {load.after_kill}, replayed {replayed}, re-decided {len(redecided)}, calls per "
        f"case {sorted(stored.calls.values())}, delivered calls {delivered}, orphans "
        f"{stored.orphans}"
    )
    assert len(set(digests)) == TOTAL, "every request is unique"
    assert not [d.error.code for d in load.received if d.error.code], "no decision may fail"
    assert load.retries > 0, "the kill found no call in flight: the test proved nothing"
    assert load.after_kill > 0, "no decision after the kill: the survivor served nothing"
    assert not stored.missing, f"decisions received but not stored: {stored.missing}"
    if new_now_on_retry:  # the twin that shows the request checks can fail
        # Each retry is another request: the ledger holds decisions of requests that the
        # clients never sent as such. The one-call limit holds all the same.
        assert set(stored.decisions_per_digest) - set(digests), "a retry with a new now"
        assert set(stored.calls.values()) == {1}, f"exactly one call per case: {stored.calls}"
        return
    assert set(stored.decisions_per_digest) == set(digests), "every request, and only those"
    assert not redecided, f"requests decided more than once: {redecided}"
    assert replayed <= len(load.retried_digests), "only a retried request is answered again"
    assert max(stored.reservations_per_digest.values()) == 1, stored.reservations_per_digest
    if serialise:
        assert set(stored.calls.values()) == {1}, f"exactly one call per case: {stored.calls}"
        assert stored.orphans == 0, f"{stored.orphans} reserved calls no client received"
        assert delivered == CASES, "every reserved call reached a client"
        # killed-after-commits: the kill cut stored decisions from their replies (their
        # retries replayed > 0) in 4 of 4 runs on an idle machine, 2 of 4 at a load average
        # of 6 on 2 cores (a hold of 0.3 s did worse: 1 of 4); not asserted, so that the
        # variant cannot flake. When it does cut them, the checks above cover their retries.
    else:  # the twin that shows the limit checks can fail
        assert max(stored.calls.values()) > 1, stored.calls
