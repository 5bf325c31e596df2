"""Contact limits hold under concurrency: real `tact serve` processes, real clients.

Norwegian cases whose only open channel is the phone (limit: one call a day), decided by
16 concurrent clients at once — half with unary ``Decide`` calls, half with
``DecideStream`` — on the SQLite ledger of one ``tact serve`` with ``TACT_PROCESSES=2``,
and on PostgreSQL behind two replicas (separate ``tact serve`` processes). The over-limit
calls are counted from the ledger afterwards.

Whether two decisions for one case overlap is up to the scheduler, so every run makes them
overlap on purpose: ``TACT_TEST_RESERVATION_HOLD_SECONDS`` makes each group of decisions
wait between its ledger read and its write. Every request is its own (its own ``now``,
milliseconds apart). With the serialisation on, the later writers must re-check and wait
(0 over-limit calls, exactly one call per case); switched off
(``TACT_TEST_SERIALISE_RESERVATIONS=false``) the same run reserves calls past the limit —
the proof that these tests can fail.

The same load with *identical* requests (one ``now`` for all: every client sends each
case's one request, a stream twice) is request idempotency under concurrency: however
the decisions overlap, across processes and replicas, each request is stored once and
every caller gets that one decision — with the serialisation on or off, because the
ledger's unique index on the request decides, not the per-case lock.
"""

from __future__ import annotations

import subprocess
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
import pytest
from sqlmodel import Session, col, select

from engine.catalogue import Channel
from engine.convert import datetime_to_timestamp
from engine.ledger import open_ledger
from engine.ledger.models import DecisionRow
from engine.state import EventKind
from tact.v1 import case_pb2, decision_service_pb2, decision_service_pb2_grpc, types_pb2
from tests.support.databases import require_postgres
from tests.support.processes import kill, start_serve, wait_serving
from tests.support.service_calls import fresh, phone_only_case

NOW = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)  # Thursday 09:30 in Oslo
OSLO = ZoneInfo("Europe/Oslo")
CLIENTS = 16
CASES = 3
HOLD_S = "0.3"
RECHECKED = "reserved a contact for this case meanwhile"
"""What the explanation of a decision turned into a wait by the re-check says."""


@dataclass
class Run:
    decisions: list[decision_service_pb2.Decision]
    over_limit: int
    """Calls reserved past one a day per case, counted from the ledger."""
    calls: dict[str, int]
    """Calls reserved per case on the day."""
    stored: dict[str, int]
    """Decisions stored per case."""


def _request(case: case_pb2.Case, now: datetime) -> decision_service_pb2.DecideRequest:
    return decision_service_pb2.DecideRequest(case=case, now=datetime_to_timestamp(now))


def _client(
    address: str,
    k: int,
    cases: Sequence[case_pb2.Case],
    start: threading.Barrier,
    *,
    identical: bool,
) -> list[decision_service_pb2.Decision]:
    """Client ``k``: even ones call ``Decide`` once per case, odd ones send every case
    twice on one ``DecideStream``; each on its own channel (another connection, so
    SO_REUSEPORT spreads them over the processes). Each request has its own ``now``,
    unless ``identical``: then all have ``NOW``."""
    with grpc.insecure_channel(address) as channel:
        stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
        grpc.channel_ready_future(channel).result(timeout=30)
        start.wait(timeout=30)
        order = [cases[(k + i) % len(cases)] for i in range(len(cases))]
        if k % 2 == 0:
            requests = [_request(c, _now(k, i, identical)) for i, c in enumerate(order)]
            return [stub.Decide(r, timeout=60) for r in requests]
        requests = [_request(c, _now(k, i, identical)) for i, c in enumerate(order * 2)]
        return list(stub.DecideStream(iter(requests), timeout=60))


def _now(client: int, i: int, identical: bool) -> datetime:
    return NOW if identical else NOW + timedelta(milliseconds=10 * client + i)


def _run(addresses: Sequence[str], database_url: str, *, identical: bool = False) -> Run:
    cases = [phone_only_case(fresh("no-race")) for _ in range(CASES)]
    start = threading.Barrier(CLIENTS)
    results: list[list[decision_service_pb2.Decision]] = [[] for _ in range(CLIENTS)]
    errors: list[BaseException] = []

    def client(k: int) -> None:
        try:
            address = addresses[k % len(addresses)]
            results[k] = _client(address, k, cases, start, identical=identical)
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    decisions = [d for result in results for d in result]
    assert len(decisions) == CLIENTS // 2 * CASES * 3
    assert not [d.error for d in decisions if d.error.code], "no decision may fail"
    ledger = open_ledger(database_url)
    try:
        calls = {}
        for case in cases:
            events = ledger.events_for_case(case.case_id, since=NOW - timedelta(days=1))
            calls[case.case_id] = sum(
                e.kind is EventKind.CONTACT_PLANNED
                and e.channel is Channel.PHONE
                and e.occurred_at.astimezone(OSLO).date() == NOW.astimezone(OSLO).date()
                for e in events
            )
        with Session(ledger.engine) as session:
            case_ids = [case.case_id for case in cases]
            stored = Counter(
                session.exec(
                    select(DecisionRow.case_id).where(col(DecisionRow.case_id).in_(case_ids))
                ).all()
            )
    finally:
        ledger.close()
    over = sum(max(0, n - 1) for n in calls.values())
    print(f"calls per case {sorted(calls.values())}, over the limit {over}, stored {stored}")
    return Run(decisions, over, calls, dict(stored))


@contextmanager
def _serving(env: dict[str, str], replicas: int) -> Iterator[list[str]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        addresses = []
        for _ in range(replicas):
            address, proc = start_serve(env)
            procs.append(proc)
            addresses.append(address)
        for address, proc in zip(addresses, procs, strict=True):
            wait_serving(address, proc)
        yield addresses
    finally:
        for proc in procs:
            kill(proc)


def _env(database_url: str, *, serialise: bool, processes: int) -> dict[str, str]:
    return {
        "TACT_DATABASE_URL": database_url,
        "TACT_PROCESSES": str(processes),
        "TACT_POLICY": "ladder",
        "TACT_RULES_WATCH": "false",
        "TACT_GRACE_SECONDS": "1",
        "TACT_TEST_RESERVATION_HOLD_SECONDS": HOLD_S,
        "TACT_TEST_SERIALISE_RESERVATIONS": "true" if serialise else "false",
    }


def _check_identical(run: Run) -> None:
    """Identical requests: one decision per case, stored once, given to every caller."""
    by_case: dict[str, set[str]] = {}
    for decision in run.decisions:
        by_case.setdefault(decision.case_id, set()).add(decision.decision_id)
    assert all(len(ids) == 1 for ids in by_case.values()), f"decision ids per case: {by_case}"
    assert set(run.stored.values()) == {1}, f"decisions stored per case: {run.stored}"
    assert set(run.calls.values()) == {1}, f"one call per case: {run.calls}"
    replayed = sum(d.replayed for d in run.decisions)
    assert replayed == len(run.decisions) - CASES, "every answer but the first is the stored one"
    assert not [d for d in run.decisions if RECHECKED in d.explanation], "none decided again"


def _check(run: Run, *, serialise: bool) -> None:
    rechecked = sum(RECHECKED in d.explanation for d in run.decisions)
    if serialise:
        assert run.over_limit == 0, f"calls reserved per case: {run.calls}"
        assert set(run.calls.values()) == {1}, f"one call per case: {run.calls}"
        assert rechecked > 0, "no decision overlapped another: the test proved nothing"
        delivered_calls = sum(d.treatment.channel == types_pb2.CHANNEL_PHONE for d in run.decisions)
        assert delivered_calls == CASES, "every call delivered is the one reserved"
    else:
        assert run.over_limit > 0, (
            f"without serialisation the overlapping decisions should pass the limit: {run.calls}"
        )
        assert rechecked == 0


SERIALISE = pytest.mark.parametrize("serialise", [True, False], ids=["serialised", "unserialised"])
REQUESTS = pytest.mark.parametrize(
    "identical", [False, True], ids=["distinct-requests", "identical-requests"]
)


def _check_run(run: Run, *, serialise: bool, identical: bool) -> None:
    if identical:
        _check_identical(run)
    else:
        _check(run, serialise=serialise)


@SERIALISE
@REQUESTS
def test_sqlite_two_processes_reserve_at_most_the_limit(
    serialise: bool, identical: bool, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'tact.db'}"
    with _serving(_env(url, serialise=serialise, processes=2), replicas=1) as addresses:
        run = _run(addresses, url, identical=identical)
    _check_run(run, serialise=serialise, identical=identical)


@pytest.mark.postgres
@SERIALISE
@REQUESTS
def test_postgres_two_replicas_reserve_at_most_the_limit(
    serialise: bool, identical: bool, postgres_schema_url: str
) -> None:
    require_postgres()
    env = _env(postgres_schema_url, serialise=serialise, processes=1)
    with _serving(env, replicas=2) as addresses:
        run = _run(addresses, postgres_schema_url, identical=identical)
    _check_run(run, serialise=serialise, identical=identical)
