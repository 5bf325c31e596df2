"""What one served decision does, counted (never timed): its SQL statements on a real
SQLite ledger, the metric series it looks up and the handlers gRPC is given for it.

These pin the work of the hot path that docs/benchmarks.md measured ("Regression check",
cause located): a count that grows is a regression to explain before it is accepted.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics import MetricWrapperBase
from sqlalchemy import event

from engine.interceptor import ErrorMappingInterceptor
from engine.service import RunningServer
from engine.telemetry import LabelledChildren, TelemetryInterceptor
from tact.v1 import decision_service_pb2, decision_service_pb2_grpc
from tests.support.service_calls import fresh, phone_only_case
from tests.support.serving import start

CONTACT = [
    "SELECT ledger_event",  # the case's ledger, read to decide
    "BEGIN IMMEDIATE",  # SQLite's write lock: serialises the reservation with the re-read
    "SELECT ledger_event",  # the case's ledger again, under the lock (re-check)
    "INSERT INTO decision",
    "INSERT INTO ledger_event",  # the contact's reservation
    "COMMIT",
]
WAIT = [
    "SELECT ledger_event",
    "BEGIN IMMEDIATE",  # the decision is stored; nothing reserved: no lock's re-read
    "INSERT INTO decision",
    "COMMIT",
]


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningServer]:
    server = start(tmp_path)
    yield server
    server.stop(0)


def _statements(running: RunningServer) -> list[str]:
    """The statements the gRPC workers run from now on, as SQLite executes them (the
    hot path's connections are checked out of the pool once, when a worker first decides,
    so the server must not have decided yet)."""
    seen: list[str] = []

    def trace(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        def statement(sql: str) -> None:
            if threading.current_thread().name.startswith("tact-rpc"):
                seen.append(" ".join(sql.split()))

        dbapi_connection.set_trace_callback(statement)

    event.listen(running.components.ledger.engine, "checkout", trace)
    return seen


def _kinds(statements: list[str]) -> list[str]:
    return [
        next(
            (p for p in ("BEGIN IMMEDIATE", "COMMIT", "INSERT INTO decision") if s.startswith(p)),
            "INSERT INTO ledger_event"
            if s.startswith("INSERT INTO ledger_event")
            else "SELECT ledger_event"
            if s.startswith("SELECT") and "FROM ledger_event" in s
            else s,
        )
        for s in statements
    ]


def _decide(stub: Any, case_id: str) -> decision_service_pb2.Decision:
    request = decision_service_pb2.DecideRequest(case=phone_only_case(case_id))
    decision: decision_service_pb2.Decision = stub.Decide(request, timeout=10)
    return decision


def test_a_contact_takes_six_statements_and_a_wait_four(
    running: RunningServer, stub: decision_service_pb2_grpc.DecisionServiceStub
) -> None:
    statements = _statements(running)
    case_id = fresh("work")
    call = _decide(stub, case_id)  # the ladder calls; at most one call a day
    assert call.send_at.seconds and call.treatment.channel
    contact = list(statements)
    statements.clear()
    wait = _decide(stub, case_id)
    assert not wait.send_at.seconds and not wait.treatment.channel
    assert _kinds(contact) == CONTACT, contact
    assert _kinds(statements) == WAIT, statements


def test_metric_series_are_looked_up_once(
    stub: decision_service_pb2_grpc.DecisionServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(2):  # every series these decisions count exists now
        _decide(stub, fresh("series"))
        list(
            stub.DecideStream(
                iter([decision_service_pb2.DecideRequest(case=phone_only_case(fresh("series")))])
            )
        )
    looked_up: list[tuple[str, ...]] = []
    labels = MetricWrapperBase.labels

    def counted(self: Any, *values: Any, **named: Any) -> Any:
        looked_up.append(tuple(map(str, values)))
        return labels(self, *values, **named)

    monkeypatch.setattr(MetricWrapperBase, "labels", counted)
    for _ in range(3):
        _decide(stub, fresh("series"))
        list(
            stub.DecideStream(
                iter([decision_service_pb2.DecideRequest(case=phone_only_case(fresh("series")))])
            )
        )
    assert looked_up == []


def test_labelled_children_are_the_metrics_own() -> None:
    metric = Counter("work_calls", "Calls.", ["rpc"], registry=CollectorRegistry())
    by_rpc = LabelledChildren(metric)
    by_rpc("Decide").inc()
    by_rpc("Decide").inc(2)
    assert by_rpc("Decide") is metric.labels("Decide")
    assert metric.labels("Decide")._value.get() == 3


def test_interceptors_wrap_each_method_once(
    stub: decision_service_pb2_grpc.DecisionServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    _decide(stub, fresh("wrap"))
    wrapped: list[str] = []
    answered, wrap = TelemetryInterceptor.answered, ErrorMappingInterceptor._wrap

    def counted_answered(self: Any, behaviour: Any, method: str) -> Any:
        wrapped.append(method)
        return answered(self, behaviour, method)

    def counted_wrap(self: Any, handler: Any) -> Any:
        wrapped.append("error mapping")
        return wrap(self, handler)

    monkeypatch.setattr(TelemetryInterceptor, "answered", counted_answered)
    monkeypatch.setattr(ErrorMappingInterceptor, "_wrap", counted_wrap)
    for _ in range(3):
        _decide(stub, fresh("wrap"))
    assert wrapped == []
