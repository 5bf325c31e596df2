"""Prometheus metrics, per-RPC timing and the access log, for operators' dashboards.

The metrics are ``prometheus_client`` objects in its default registry. With
``TACT_PROCESSES > 1`` the supervisor sets ``PROMETHEUS_MULTIPROC_DIR`` before it starts
the server processes: each writes its samples to files there, and the supervisor alone
serves ``/metrics``, summing them (``MultiProcessCollector``), so a scrape sees the whole
replica whichever process took each call.

:class:`TelemetryInterceptor` times every call (histogram by RPC, counter by RPC and
status code), puts the decision id on the trace span and writes one access-log record
per call (rpc, status, duration, caller name, decision id; never case data).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import prometheus_client
from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client import multiprocess as prometheus_multiprocess

from engine.auth import CURRENT_PRINCIPAL
from engine.handlers import Behaviour, BehaviourInterceptor

access_log = logging.getLogger("tact.access")

DECISIONS = Counter(
    "tact_decisions",
    "Decisions returned, by action, channel and policy arm.",
    ["action", "channel", "arm"],
)
REPLAYED = Counter(
    "tact_decisions_replayed",
    "Decisions returned again for a request already decided and stored (retries); also "
    "counted in tact_decisions.",
)
BLOCKED_STEPS = Counter(
    "tact_blocked_steps",
    "Rule hits of returned decisions and CheckAction violations, by rule id.",
    ["rule_id"],
)
FAILURES = Counter("tact_failures", "Cases that got no decision, by gRPC status code.", ["code"])
RPC_LATENCY = Histogram(
    "tact_rpc_duration_seconds",
    "Server-side duration of each call (a stream: its whole life), by RPC.",
    ["rpc"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60),
)
RPCS = Counter("tact_rpcs", "Calls finished, by RPC and gRPC status code.", ["rpc", "code"])
RULE_RELOADS = Counter(
    "tact_rule_reloads", "Rule reloads, by trigger and outcome.", ["trigger", "outcome"]
)
LEDGER_ERRORS = Counter(
    "tact_ledger_errors", "Ledger failures (database unreachable, timeouts), by where.", ["where"]
)
GROUP_SIZE = Histogram(
    "tact_decide_group_size",
    "Cases decided and committed together (Decide groups, DecideStream batches).",
    ["rpc"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
)
AUTH_DENIED = Counter("tact_auth_denied", "Calls refused by authentication, by reason.", ["reason"])
ERASURES = Counter("tact_erasures", "Debtor erasures, by door (grpc, http, cli).", ["via"])


class LabelledChildren:
    """The series of one labelled metric, each looked up with ``labels()`` once.

    ``metric.labels(*values)`` validates and converts the values and takes the metric's
    lock on every call (a dozen Python calls); the hot path counts a dozen series per
    decision, and those look-ups were most of what the metrics cost a served ``Decide``
    (docs/benchmarks.md). The children are the metric's own: a scrape sees the same
    series, in multiprocess mode too. Label values must be strings.
    """

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._children.get(values)
        if child is None:  # a race only looks it up twice: labels() returns one child
            child = self._children[values] = self._metric.labels(*values)
        return child


DECISIONS_BY = LabelledChildren(DECISIONS)
BLOCKED_STEPS_BY = LabelledChildren(BLOCKED_STEPS)
RPC_LATENCY_BY = LabelledChildren(RPC_LATENCY)
RPCS_BY = LabelledChildren(RPCS)
GROUP_SIZE_BY = LabelledChildren(GROUP_SIZE)


def multiprocess_dir() -> Path | None:
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return Path(value) if value else None


def metrics_registry() -> CollectorRegistry:
    """The registry a ``/metrics`` endpoint serves: this process's, or the sum of every
    server process's files in multiprocess mode."""
    directory = multiprocess_dir()
    if directory is None:
        return prometheus_client.REGISTRY
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry, path=str(directory))
    return registry


def start_metrics_server(host: str, port: int) -> tuple[Any, int]:
    """Serve ``/metrics`` on ``host:port`` (0: a free port); returns (server, port)."""
    server, _thread = prometheus_client.start_http_server(
        port, addr=host, registry=metrics_registry()
    )
    return server, int(server.server_address[1])


def process_ended(pid: int) -> None:
    """Tell the multiprocess collector that server process ``pid`` is gone."""
    if multiprocess_dir() is not None:
        prometheus_multiprocess.mark_process_dead(pid)


def rpc_name(method: str) -> str:
    """``/tact.v1.DecisionService/Decide`` → ``DecisionService/Decide``."""
    service, _, name = method.strip("/").partition("/")
    return f"{service.rpartition('.')[2]}/{name}"


def _code_of(context: grpc.ServicerContext, failed: bool) -> str:
    code = getattr(context, "code", lambda: None)()
    if isinstance(code, grpc.StatusCode):
        return code.name
    return "UNKNOWN" if failed else "OK"


def _current_trace_id() -> str:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else ""


def tag_span(decision_id: str) -> None:
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attribute("tact.decision_id", decision_id)


class TelemetryInterceptor(BehaviourInterceptor):
    """Latency histogram, call counter, decision id on the span, one access-log record.

    ``tracing``: the server records spans (``TACT_OTEL_EXPORTER``), so each decision id
    goes on its call's span; without, no span is looked for.
    """

    def __init__(self, *, tracing: bool = False) -> None:
        super().__init__()
        self.tracing = tracing

    @staticmethod
    def finish(
        rpc: str, started: float, context: Any, failed: bool, *, tracing: bool, **extra: Any
    ) -> None:
        """Count and log a finished call; ``tracing``: its span's trace id goes in the log."""
        elapsed = time.perf_counter() - started
        code = _code_of(context, failed)
        RPC_LATENCY_BY(rpc).observe(elapsed)
        RPCS_BY(rpc, code).inc()
        if access_log.isEnabledFor(logging.INFO):
            # What access_log.info() does, less its walk up the stack for the caller's
            # file and line, which no format of ours prints (a third of the record's cost).
            record = access_log.makeRecord(
                access_log.name,
                logging.INFO,
                __file__,
                0,
                "%s %s %.1fms",
                (rpc, code, elapsed * 1000),
                None,
                extra={
                    "rpc": rpc,
                    "status": code,
                    "duration_ms": round(elapsed * 1000, 3),
                    "caller": CURRENT_PRINCIPAL.get().name,
                    "trace_id": _current_trace_id() if tracing else "",
                    **extra,
                },
            )
            access_log.handle(record)

    def answered(self, behaviour: Behaviour, method: str) -> Behaviour:
        rpc = rpc_name(method)
        tracing = self.tracing

        def call(request: Any, context: grpc.ServicerContext) -> Any:
            started, failed, response = time.perf_counter(), True, None
            try:
                response = behaviour(request, context)
                failed = False
                return response
            finally:
                decision_id = getattr(response, "decision_id", "") or ""
                if decision_id and tracing:
                    tag_span(decision_id)
                self.finish(rpc, started, context, failed, tracing=tracing, decision_id=decision_id)

        return call

    def streamed(self, behaviour: Behaviour, method: str) -> Behaviour:
        rpc = rpc_name(method)
        tracing = self.tracing

        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started, failed, sent = time.perf_counter(), True, 0
            try:
                for response in behaviour(request, context):
                    sent += 1
                    yield response
                failed = False
            finally:
                self.finish(rpc, started, context, failed, tracing=tracing, responses=sent)

        return call
