"""The server's other listeners: Prometheus ``/metrics`` and the JSON/HTTP door."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from typing import Any

from engine.auth import Authenticator
from engine.http_door import HttpDoor, unary_methods
from engine.settings import Settings
from engine.telemetry import start_metrics_server
from tact.v1 import admin_service_pb2, decision_service_pb2

log = logging.getLogger(__name__)


def http_tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The door's TLS (mutual with a client CA): the same files as the gRPC server's."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    if settings.tls_client_ca is not None:
        context.load_verify_locations(cafile=str(settings.tls_client_ca))
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@dataclass
class SideDoors:
    metrics_server: Any = None
    metrics_port: int | None = None
    http: HttpDoor | None = None

    @property
    def http_port(self) -> int | None:
        return None if self.http is None else self.http.port

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        decisions: Any,
        admin: Any,
        authenticator: Authenticator,
        tracer_provider: Any = None,
    ) -> SideDoors:
        """Bind what the settings ask for (ports 0: free ports); a bind that fails closes
        what was opened and raises."""
        doors = cls()
        try:
            if settings.metrics_port is not None:
                doors.metrics_server, doors.metrics_port = start_metrics_server(
                    settings.host, settings.metrics_port
                )
                log.info("metrics on http://%s:%d/metrics", settings.host, doors.metrics_port)
            if settings.http_port is not None:
                services = [
                    decision_service_pb2.DESCRIPTOR.services_by_name["DecisionService"],
                    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"],
                ]
                servicers = {services[0].full_name: decisions, services[1].full_name: admin}
                doors.http = HttpDoor(
                    (settings.host, settings.http_port),
                    methods=unary_methods(servicers, services),
                    authenticator=authenticator,
                    tls=http_tls_context(settings),
                    reuse_port=settings.processes > 1,
                    tracer=(
                        tracer_provider.get_tracer("tact.http_door")
                        if tracer_provider is not None
                        else None
                    ),
                )
                doors.http.start()
                log.info("JSON/HTTP door on %s:%d", settings.host, doors.http.port)
        except BaseException:
            doors.close_http()
            doors.close_metrics()
            raise
        return doors

    def close_http(self) -> None:
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()
            self.http = None

    def close_metrics(self) -> None:
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server.server_close()
            self.metrics_server = None
