"""OpenTelemetry traces, exported only when ``TACT_OTEL_EXPORTER`` says where.

The spans come from the official gRPC instrumentation
(``opentelemetry-instrumentation-grpc``'s server interceptor: one span per call, W3C
trace context taken from the caller's metadata); :mod:`engine.telemetry` adds the
decision id (``tact.decision_id``) and writes the trace id into the access log. With
``none`` (the default) no interceptor is installed and nothing is recorded.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc

from engine.settings import Settings

log = logging.getLogger(__name__)

SERVICE_NAME = "tact"


def tracer_provider(exporter_name: str, *, exporter: Any = None) -> Any:
    """An SDK tracer provider exporting to ``exporter`` (tests pass an in-memory one), or
    to the exporter ``exporter_name`` names."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif exporter_name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter_name == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        # Endpoint, headers and TLS from the standard OTEL_EXPORTER_OTLP_* variables.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        raise ValueError(f"unknown TACT_OTEL_EXPORTER {exporter_name!r}; use none, console, otlp")
    return provider


def configured_provider(settings: Settings) -> Any:
    """The tracer provider ``TACT_OTEL_EXPORTER`` asks for (made this process's global
    one, for the access log's trace ids), or None with ``none``."""
    if settings.otel_exporter == "none":
        return None
    from opentelemetry import trace

    provider = tracer_provider(settings.otel_exporter)
    trace.set_tracer_provider(provider)
    log.info("OpenTelemetry traces on (exporter %s)", settings.otel_exporter)
    return provider


def tracing_interceptors(provider: Any) -> list[grpc.ServerInterceptor]:
    """The official gRPC server interceptor recording to ``provider``; none without one."""
    if provider is None:
        return []
    from opentelemetry.instrumentation.grpc import server_interceptor

    return [server_interceptor(tracer_provider=provider)]
