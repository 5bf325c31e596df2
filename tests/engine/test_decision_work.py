"""What one served decision does, counted (never timed): the metric series it looks up
and the handlers gRPC is given for it.

These pin the work of the hot path that docs/benchmarks.md measured ("Regression check",
cause located): a count that grows is a regression to explain before it is accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics import MetricWrapperBase

from engine.interceptor import ErrorMappingInterceptor
from engine.service import RunningServer
from engine.telemetry import LabelledChildren, TelemetryInterceptor
from tact.v1 import decision_service_pb2, decision_service_pb2_grpc
from tests.support.service_calls import fresh, phone_only_case
from tests.support.serving import start


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningServer]:
    server = start(tmp_path)
    yield server
    server.stop(0)


@pytest.fixture
def stub(running: RunningServer) -> Iterator[decision_service_pb2_grpc.DecisionServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield decision_service_pb2_grpc.DecisionServiceStub(channel)


def _decide(stub: Any, case_id: str) -> decision_service_pb2.Decision:
    request = decision_service_pb2.DecideRequest(case=phone_only_case(case_id))
    decision: decision_service_pb2.Decision = stub.Decide(request, timeout=10)
    return decision


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
