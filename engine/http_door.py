"""The JSON/HTTP door: tact's unary RPCs over HTTP/1.1 in the Connect protocol's unary
shape, for callers without gRPC.

``POST /tact.v1.DecisionService/Decide`` with ``Content-Type: application/json`` and the
request in the proto3 JSON mapping answers ``200`` and the response in JSON (or
``application/proto`` both ways). An error answers the Connect error JSON
``{"code": "invalid_argument", "message": …, "details": [{"type", "value", "debug"}]}``
with the HTTP status the Connect protocol assigns to the code. ``Connect-Timeout-Ms``
is the call's deadline.

Same servicers as the gRPC server (one pipeline, one group commit), same
:class:`~engine.auth.Authenticator` (``Authorization: Bearer …``), same status mapping
(:mod:`engine.status`) and the same metrics under the same RPC names. Why not the
``connectrpc`` package: see docs/deployment.md ("The JSON/HTTP door").
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from google.protobuf import json_format, message
from google.rpc import code_pb2, status_pb2

from engine.auth import CURRENT_DOOR, CURRENT_PRINCIPAL, Authenticator, AuthError
from engine.errors import FieldViolation, InvalidRequestError
from engine.limits import quote
from engine.security import auth_status
from engine.status import grpc_code, to_status
from engine.telemetry import AUTH_DENIED, TelemetryInterceptor, rpc_name, tag_span

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 4 * 1024 * 1024
"""As gRPC's default message limit."""

CONNECT_CODES: dict[int, tuple[str, int]] = {
    code_pb2.CANCELLED: ("canceled", 499),
    code_pb2.UNKNOWN: ("unknown", 500),
    code_pb2.INVALID_ARGUMENT: ("invalid_argument", 400),
    code_pb2.DEADLINE_EXCEEDED: ("deadline_exceeded", 504),
    code_pb2.NOT_FOUND: ("not_found", 404),
    code_pb2.ALREADY_EXISTS: ("already_exists", 409),
    code_pb2.PERMISSION_DENIED: ("permission_denied", 403),
    code_pb2.RESOURCE_EXHAUSTED: ("resource_exhausted", 429),
    code_pb2.FAILED_PRECONDITION: ("failed_precondition", 400),
    code_pb2.ABORTED: ("aborted", 409),
    code_pb2.OUT_OF_RANGE: ("out_of_range", 400),
    code_pb2.UNIMPLEMENTED: ("unimplemented", 501),
    code_pb2.INTERNAL: ("internal", 500),
    code_pb2.UNAVAILABLE: ("unavailable", 503),
    code_pb2.DATA_LOSS: ("data_loss", 500),
    code_pb2.UNAUTHENTICATED: ("unauthenticated", 401),
}
"""gRPC code → (Connect code, HTTP status), as the Connect protocol specifies them."""


@dataclass(frozen=True)
class UnaryMethod:
    request_type: type[message.Message]
    call: Callable[[Any, Any], message.Message]


def unary_methods(servicers: dict[str, Any], descriptors: list[Any]) -> dict[str, UnaryMethod]:
    """``/package.Service/Method`` → its request type and servicer method, for every unary
    method of the services (``descriptors``), served by ``servicers[service full name]``."""
    from google.protobuf import message_factory

    methods: dict[str, UnaryMethod] = {}
    for service in descriptors:
        servicer = servicers[service.full_name]
        for method in service.methods:
            if method.client_streaming or method.server_streaming:
                continue
            request_type = message_factory.GetMessageClass(method.input_type)
            methods[f"/{service.full_name}/{method.name}"] = UnaryMethod(
                request_type, getattr(servicer, method.name)
            )
    return methods


class _CallAborted(Exception):
    def __init__(self, status: status_pb2.Status) -> None:
        super().__init__(status.message)
        self.status = status


class HttpCallContext:
    """What the servicers read of a gRPC ``ServicerContext``, for one HTTP call."""

    def __init__(self, method: str, headers: Any, timeout_s: float | None) -> None:
        self._method = method
        self._headers = headers
        self._deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self._code: grpc.StatusCode | None = None

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def is_active(self) -> bool:
        return True

    def invocation_metadata(self) -> list[tuple[str, str]]:
        return [(k.lower(), v) for k, v in self._headers.items()]

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        pass

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise _CallAborted(status_pb2.Status(code=code.value[0], message=details))

    def abort_with_status(self, status: Any) -> None:
        raise _CallAborted(status_pb2.Status(code=status.code.value[0], message=status.details))


def connect_error(status: status_pb2.Status) -> tuple[int, dict[str, Any]]:
    """(HTTP status, Connect error JSON) of a ``google.rpc.Status``."""
    code, http_status = CONNECT_CODES.get(status.code, ("unknown", 500))
    body: dict[str, Any] = {"code": code, "message": status.message}
    details = []
    for detail in status.details:
        entry: dict[str, Any] = {
            "type": detail.TypeName(),
            "value": base64.b64encode(detail.value).decode().rstrip("="),
        }
        try:  # the well-known detail types decode; others go as bytes only
            entry["debug"] = json.loads(json_format.MessageToJson(detail))
            entry["debug"].pop("@type", None)
        except (json_format.Error, TypeError, ValueError):
            pass
        details.append(entry)
    if details:
        body["details"] = details
    return http_status, body


def _bad_body(problem: str) -> status_pb2.Status:
    return to_status(InvalidRequestError([FieldViolation("", problem)]))


class HttpDoor(ThreadingHTTPServer):
    """The door's HTTP server (one thread per connection)."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        *,
        methods: dict[str, UnaryMethod],
        authenticator: Authenticator,
        tls: ssl.SSLContext | None = None,
        reuse_port: bool = False,
        tracer: Any = None,
    ) -> None:
        self.methods = methods
        self.tracer = tracer
        """OpenTelemetry tracer: a span per call, the caller's W3C trace context continued."""
        self.authenticator = authenticator
        self.reuse_port = reuse_port
        super().__init__(address, _DoorHandler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)

    def server_bind(self) -> None:
        if self.reuse_port:  # TACT_PROCESSES > 1: every process listens on the port
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="tact-http", daemon=True)
        thread.start()
        return thread


class _DoorHandler(BaseHTTPRequestHandler):
    server: HttpDoor
    protocol_version = "HTTP/1.1"
    server_version = "tact"
    disable_nagle_algorithm = True  # small answers must not wait for the client's ACK

    def log_message(self, format: str, *args: Any) -> None:  # the access log covers calls
        log.debug("http %s: " + format, self.address_string(), *args)

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        # end_headers, with the body in the same write (one segment for small answers)
        buffered: list[bytes] = self._headers_buffer  # type: ignore[attr-defined]
        buffered += [b"\r\n", body]
        self.flush_headers()

    def _reply_error(self, status: status_pb2.Status) -> None:
        http_status, body = connect_error(status)
        self._reply(http_status, json.dumps(body).encode(), "application/json")

    def do_GET(self) -> None:
        self._reply_error(
            status_pb2.Status(
                code=code_pb2.UNIMPLEMENTED,
                message="use POST /<package.Service>/<Method> with a JSON body (Connect unary)",
            )
        )

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True  # the unread chunks must not be taken for a request
            self._reply(HTTPStatus.LENGTH_REQUIRED, b"send a Content-Length\n", "text/plain")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._reply(HTTPStatus.BAD_REQUEST, b"bad Content-Length\n", "text/plain")
            return
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._reply_error(
                status_pb2.Status(
                    code=code_pb2.RESOURCE_EXHAUSTED,
                    message=f"request body of {length} bytes exceeds {MAX_BODY_BYTES}",
                )
            )
            return
        body = self.rfile.read(length)
        method = self.server.methods.get(path)
        if method is None:
            self._reply_error(
                status_pb2.Status(
                    code=code_pb2.UNIMPLEMENTED,
                    message=f"no unary method {quote(path)}; streams (DecideStream) are "
                    "served over gRPC only",
                )
            )
            return
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in ("application/json", "application/proto"):
            self._reply(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                b"Content-Type must be application/json or application/proto\n",
                "text/plain",
            )
            return
        self._call(path, method, body, binary=content_type == "application/proto")

    def _timeout(self) -> float | None:
        value = self.headers.get("Connect-Timeout-Ms")
        if value is None:
            return None
        try:
            return max(int(value), 0) / 1000
        except ValueError:
            return None

    def _call(self, path: str, method: UnaryMethod, body: bytes, *, binary: bool) -> None:
        """Answer the call; its span, metrics and access log are done before the answer
        leaves (a caller that has its answer sees them)."""
        if self.server.tracer is None:
            self._reply(*self._answer(path, method, body, binary=binary))
            return
        from opentelemetry import propagate, trace

        service, _, name = path.strip("/").partition("/")
        with self.server.tracer.start_as_current_span(
            path.strip("/"),
            context=propagate.extract(self.headers),
            kind=trace.SpanKind.SERVER,
            attributes={"rpc.system": "connect_rpc", "rpc.service": service, "rpc.method": name},
        ):
            reply = self._answer(path, method, body, binary=binary)
        self._reply(*reply)

    def _answer(
        self, path: str, method: UnaryMethod, body: bytes, *, binary: bool
    ) -> tuple[int, bytes, str]:
        """(HTTP status, body, content type) of the call."""
        context = HttpCallContext(path, self.headers, self._timeout())
        rpc, started = rpc_name(path), time.perf_counter()
        response: message.Message | None = None
        error: status_pb2.Status | None = None
        door_token = CURRENT_DOOR.set("http")
        principal_token = None
        try:
            principal = self.server.authenticator.authorize(path, self.headers.get("Authorization"))
            principal_token = CURRENT_PRINCIPAL.set(principal)
            request = self._parse(method.request_type, body, binary=binary)
            response = method.call(request, context)
        except AuthError as exc:
            AUTH_DENIED.labels(exc.reason).inc()
            error = auth_status(exc, path)
        except _CallAborted as exc:
            error = exc.status
        except Exception as exc:
            error = to_status(exc)
        finally:
            if error is not None:
                context.set_code(grpc_code(error))
            elif decision_id := getattr(response, "decision_id", ""):
                tag_span(decision_id)
            # Counted before the answer leaves, as the gRPC server does.
            TelemetryInterceptor.finish(
                rpc,
                started,
                context,
                error is not None,
                tracing=self.server.tracer is not None,
                decision_id=getattr(response, "decision_id", "") or "",
            )
            if principal_token is not None:
                CURRENT_PRINCIPAL.reset(principal_token)
            CURRENT_DOOR.reset(door_token)
        if error is not None:
            http_status, error_body = connect_error(error)
            return http_status, json.dumps(error_body).encode(), "application/json"
        assert response is not None
        if binary:
            return 200, response.SerializeToString(), "application/proto"
        return 200, json_format.MessageToJson(response, indent=None).encode(), "application/json"

    @staticmethod
    def _parse(request_type: type[message.Message], body: bytes, *, binary: bool) -> Any:
        request = request_type()
        try:
            if binary:
                request.ParseFromString(body)
            else:
                json_format.Parse(body.decode("utf-8") if body else "{}", request)
        except (json_format.ParseError, message.DecodeError, UnicodeDecodeError) as exc:
            name = request_type.DESCRIPTOR.full_name
            form = "binary protobuf" if binary else "proto3 JSON"
            raise _CallAborted(
                _bad_body(f"is not a valid {name} in {form}: {quote(str(exc))}")
            ) from None
        return request
