"""Prometheus metrics (one process and TACT_PROCESSES=2), OpenTelemetry spans from the
official gRPC instrumentation with the decision id, and the JSON access log."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from engine.convert import datetime_to_timestamp
from engine.logs import JsonLogFormatter
from engine.service import RunningServer, create_server
from engine.settings import REPO_ROOT
from tact.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    case_pb2,
    decision_service_pb2,
    decision_service_pb2_grpc,
    types_pb2,
)
from tests.support.processes import free_port, stopped, wait_serving
from tests.support.serving import NOW, example_case, test_settings

CASE = example_case()


def _request(case_id: str, dry_run: bool = False) -> decision_service_pb2.DecideRequest:
    case = case_pb2.Case()
    case.CopyFrom(CASE)
    case.case_id = case_id
    return decision_service_pb2.DecideRequest(
        case=case, now=datetime_to_timestamp(NOW), dry_run=dry_run
    )


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and labels.items() <= dict(sample_labels).items()
    )


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[RunningServer, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    server = create_server(
        test_settings(tmp_path, metrics_port=0, http_port=0), tracer_provider=provider
    )
    yield server, exporter
    server.stop(0)


def test_metrics_spans_and_access_log_of_one_decision(
    traced: tuple[RunningServer, InMemorySpanExporter],
) -> None:
    running, exporter = traced
    assert running.doors.metrics_port
    before = scrape(running.doors.metrics_port)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    access = logging.getLogger("tact.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
            decision = stub.Decide(_request("telemetry-1"), timeout=10)
            list(stub.DecideStream(iter([_request("telemetry-2"), _request("telemetry-3")])))
            admin = admin_service_pb2_grpc.AdminServiceStub(channel)
            admin.ReloadRules(admin_service_pb2.ReloadRulesRequest(), timeout=30)
    finally:
        access.removeHandler(handler)
    after = scrape(running.doors.metrics_port)

    action = types_pb2.Action.Name(decision.treatment.action)
    labels = {"action": action, "arm": decision.policy.arm}
    assert total(after, "tact_decisions_total", **labels) >= (
        total(before, "tact_decisions_total", **labels) + 1
    )
    assert total(after, "tact_decisions_total") == total(before, "tact_decisions_total") + 3
    rpc = "DecisionService/Decide"
    assert total(after, "tact_rpc_duration_seconds_count", rpc=rpc) == (
        total(before, "tact_rpc_duration_seconds_count", rpc=rpc) + 1
    )
    assert total(after, "tact_rpcs_total", rpc="DecisionService/DecideStream", code="OK") >= 1
    assert total(after, "tact_decide_group_size_count", rpc="Decide") >= 1
    assert total(after, "tact_rule_reloads_total", trigger="admin", outcome="unchanged") >= 1
    for hit in decision.rule_hits:
        assert total(after, "tact_blocked_steps_total", rule_id=hit.rule_id) >= 1

    decide_spans = [s for s in exporter.get_finished_spans() if s.name.endswith("/Decide")]
    assert len(decide_spans) == 1
    span = decide_spans[0]
    assert span.attributes is not None
    assert span.attributes["tact.decision_id"] == decision.decision_id

    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    decide_log = next(r for r in records if r["rpc"] == rpc)
    assert decide_log["status"] == "OK" and decide_log["level"] == "INFO"
    assert decide_log["decision_id"] == decision.decision_id
    assert decide_log["trace_id"] == format(span.context.trace_id, "032x")
    assert {"time", "duration_ms", "caller"} <= decide_log.keys()
    assert CASE.debtor_id not in stream.getvalue()  # no case data in the access log


def test_http_door_calls_are_traced_in_the_callers_trace(
    traced: tuple[RunningServer, InMemorySpanExporter],
) -> None:
    running, exporter = traced
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    body = json_format.MessageToJson(_request("traced-http", dry_run=True)).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{running.doors.http_port}/tact.v1.DecisionService/Decide",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        decision = json.loads(response.read())
    spans = [s for s in exporter.get_finished_spans() if s.name.endswith("/Decide")]
    assert len(spans) == 1 and spans[0].attributes is not None
    assert spans[0].attributes["tact.decision_id"] == decision["decisionId"]
    assert format(spans[0].context.trace_id, "032x") == trace_id


def test_metrics_add_up_across_server_processes(tmp_path: Path) -> None:
    """TACT_PROCESSES=2: the supervisor serves /metrics, summing both processes' files."""
    port, metrics_port, http_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "TACT_PORT": str(port),
        "TACT_METRICS_PORT": str(metrics_port),
        "TACT_HTTP_PORT": str(http_port),
        "TACT_DATABASE_URL": f"sqlite:///{tmp_path / 'tact.db'}",
        "TACT_PROCESSES": "2",
        "TACT_POLICY": "ladder",
        "TACT_GRACE_SECONDS": "1",
        "TACT_RULES_WATCH": "false",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tact.cli import main; main()", "serve"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    calls = 24
    try:
        wait_serving(f"127.0.0.1:{port}", proc)
        for i in range(calls):  # a connection each: SO_REUSEPORT spreads connections
            with grpc.insecure_channel(
                f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
            ) as channel:
                stub = decision_service_pb2_grpc.DecisionServiceStub(channel)
                stub.Decide(_request(f"mp-{i}", dry_run=True), timeout=30)
        http_calls = 6  # both processes serve the HTTP door on the same port too
        body = json_format.MessageToJson(_request("mp-http", dry_run=True)).encode()
        for _ in range(http_calls):
            request = urllib.request.Request(
                f"http://127.0.0.1:{http_port}/tact.v1.DecisionService/Decide",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
        samples = scrape(metrics_port)
        assert total(samples, "tact_decisions_total") == calls + http_calls
        assert total(samples, "tact_rpcs_total", rpc="DecisionService/Decide", code="OK") == (
            calls + http_calls
        )
        proc.send_signal(signal.SIGTERM)
        assert stopped(proc, 30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_exporters_are_built_only_when_configured(tmp_path: Path) -> None:
    from engine.tracing import configured_provider, tracer_provider, tracing_interceptors

    assert configured_provider(test_settings(tmp_path)) is None  # default: none, no spans
    assert tracing_interceptors(None) == []
    for name in ("console", "otlp"):  # built without connecting anywhere
        provider = tracer_provider(name)
        assert provider.resource.attributes["service.name"] == "tact"
        provider.shutdown()
    with pytest.raises(ValueError, match="TACT_OTEL_EXPORTER"):
        tracer_provider("jaeger")
