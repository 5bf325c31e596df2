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


def tracing_interceptors(
    settings: Settings, *, provider: Any = None
) -> list[grpc.ServerInterceptor]:
    """The official gRPC server interceptor, when traces are configured (or ``provider``
    is given); an empty list otherwise."""
    if provider is None and settings.otel_exporter == "none":
        return []
    from opentelemetry import trace
    from opentelemetry.instrumentation.grpc import server_interceptor

    if provider is None:
        provider = tracer_provider(settings.otel_exporter)
        trace.set_tracer_provider(provider)  # one per process, for the access log's trace id
    log.info("OpenTelemetry traces on (exporter %s)", settings.otel_exporter)
    return [server_interceptor(tracer_provider=provider)]
