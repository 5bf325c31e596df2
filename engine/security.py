"""Transport security of the gRPC server: TLS / mutual TLS credentials, the rule that a
server reachable from other machines needs authentication, and the auth interceptor."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from engine.auth import ANONYMOUS, CURRENT_PRINCIPAL, Authenticator, AuthError
from engine.errors import TactError
from engine.handlers import Behaviour, BehaviourInterceptor
from engine.settings import Settings


class InsecureConfigurationError(TactError, ValueError):
    """Settings that would expose the service unsafely; the message says what to set."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name (or 0.0.0.0, ::): reachable from elsewhere


def check_exposure(settings: Settings) -> None:
    """Refuse to serve without tokens on an address other machines can reach, unless
    ``TACT_ALLOW_UNAUTHENTICATED`` says so; and refuse half-configured TLS."""
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise InsecureConfigurationError(
            "TLS needs both TACT_TLS_CERT and TACT_TLS_KEY (PEM files); one of them is unset"
        )
    if settings.tls_client_ca is not None and settings.tls_cert is None:
        raise InsecureConfigurationError(
            "TACT_TLS_CLIENT_CA (mutual TLS) needs TLS: set TACT_TLS_CERT and TACT_TLS_KEY too"
        )
    if (
        settings.auth_tokens_file is None
        and settings.auth_tokens is None
        and not settings.allow_unauthenticated
        and not is_loopback(settings.host)
    ):
        raise InsecureConfigurationError(
            f"refusing to serve {settings.host} without authentication: anyone who reaches "
            "the port could decide, record events and reload rules. Set "
            "TACT_AUTH_TOKENS_FILE (docs: README, Security), bind 127.0.0.1, or set "
            "TACT_ALLOW_UNAUTHENTICATED=1 if a proxy in front authenticates callers"
        )


def _read_pem(path: Any, what: str) -> bytes:
    try:
        data: bytes = path.read_bytes()
    except OSError as exc:
        raise InsecureConfigurationError(
            f"{what} {path}: cannot read ({exc.strerror or exc})"
        ) from None
    if b"-----BEGIN" not in data:
        raise InsecureConfigurationError(f"{what} {path}: not a PEM file")
    return data


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS credentials from the settings (mutual TLS with a client CA), or None (plaintext)."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    cert = _read_pem(settings.tls_cert, "TACT_TLS_CERT")
    key = _read_pem(settings.tls_key, "TACT_TLS_KEY")
    client_ca = (
        _read_pem(settings.tls_client_ca, "TACT_TLS_CLIENT_CA")
        if settings.tls_client_ca is not None
        else None
    )
    return grpc.ssl_server_credentials(
        [(key, cert)],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def auth_status(exc: AuthError, method: str) -> status_pb2.Status:
    """UNAUTHENTICATED or PERMISSION_DENIED with a ``google.rpc.ErrorInfo`` detail."""
    detail = any_pb2.Any()
    detail.Pack(
        error_details_pb2.ErrorInfo(reason=exc.reason, domain="tact", metadata={"method": method})
    )
    code = code_pb2.UNAUTHENTICATED if exc.unauthenticated else code_pb2.PERMISSION_DENIED
    return status_pb2.Status(code=code, message=str(exc), details=[detail])


def _authorization(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == "authorization":
            return str(value)
    return None


class AuthInterceptor(BehaviourInterceptor):
    """Checks the bearer token of every call before its request is parsed; the caller's
    :class:`~engine.auth.Principal` is in :data:`~engine.auth.CURRENT_PRINCIPAL` while
    the handler runs. Installed only when authentication is on: without it every call is
    :data:`~engine.auth.ANONYMOUS` (the context variable's default)."""

    def __init__(
        self, authenticator: Authenticator, on_denied: Callable[[str, str], None] | None = None
    ) -> None:
        super().__init__()
        self.authenticator = authenticator
        self.on_denied = on_denied

    def _check(self, method: str, context: grpc.ServicerContext) -> Any:
        CURRENT_PRINCIPAL.set(ANONYMOUS)  # until the token says who calls
        try:
            return self.authenticator.authorize(
                method, _authorization(context.invocation_metadata())
            )
        except AuthError as exc:
            if self.on_denied is not None:
                self.on_denied(method, exc.reason)
            context.abort_with_status(rpc_status.to_status(auth_status(exc, method)))

    def answered(self, behaviour: Behaviour, method: str) -> Behaviour:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            # Not reset afterwards: the access log (outside) reads it once the call is
            # over; every call sets its own first, so it never carries over.
            CURRENT_PRINCIPAL.set(self._check(method, context))
            return behaviour(request, context)

        return call

    def streamed(self, behaviour: Behaviour, method: str) -> Behaviour:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            CURRENT_PRINCIPAL.set(self._check(method, context))
            yield from behaviour(request, context)

        return call
