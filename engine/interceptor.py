"""The server interceptor: request bytes are parsed here, and every exception a handler
raises becomes a precise gRPC status (:mod:`engine.status`).

gRPC Python parses a request before any handler runs; bytes it cannot parse (a string
that is not UTF-8, corrupt framing) are answered INTERNAL "Exception deserializing
request!", with a traceback in the log, and such calls leak memory inside gRPC. So every
method is re-registered to receive its raw bytes, and the interceptor parses them with
the method's own deserializer: bytes that do not parse are the caller's INVALID_ARGUMENT,
naming the field where :mod:`engine.wire` can tell. Servicers keep their generated API
(they receive messages), and health and reflection are wrapped the same way.

A request stream yields messages, and an undecodable one raises
:class:`UndecodableRequestError` from ``next()`` without ending the stream: a servicer
may report it for that message alone and read on (``DecideStream`` does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import grpc
from grpc_status import rpc_status

from engine.errors import FieldViolation, InvalidRequestError
from engine.handlers import HANDLER_KINDS as _HANDLER_KINDS
from engine.handlers import WrappedHandlers
from engine.limits import quote
from engine.metrics import ServiceMetrics
from engine.status import grpc_code, to_status
from engine.wire import locate_wire_problem

Deserializer = Callable[[bytes], Any]


class UndecodableRequestError(InvalidRequestError):
    """Request bytes that are not a valid message of the method's request type."""


def parse_request(deserializer: Deserializer | None, data: bytes) -> Any:
    """``deserializer(data)``, or :class:`UndecodableRequestError` naming what is wrong."""
    if deserializer is None:
        return data
    try:
        return deserializer(data)
    except Exception as exc:  # any failure to parse is the caller's bytes, never ours
        raise _undecodable(deserializer, data, exc) from None


def _undecodable(deserializer: Deserializer, data: bytes, exc: Exception) -> InvalidRequestError:
    message_class = getattr(deserializer, "__self__", None)
    descriptor = getattr(message_class, "DESCRIPTOR", None)
    name = getattr(descriptor, "full_name", "the request message")
    located = locate_wire_problem(descriptor, data) if descriptor is not None else None
    if located is None:  # the runtime's reason, e.g. "Wire format was corrupt"
        reason = str(exc).rpartition(": ")[2] or type(exc).__name__
        field, problem = "", f"is not a valid {name}: {quote(reason)}"
    else:
        field, problem = located[0], f"{located[1]}; the request is not a valid {name}"
    return UndecodableRequestError([FieldViolation(field, problem)])


class ParsedRequests(Iterator[Any]):
    """The messages of a request stream, parsed one by one as they are read.

    A class rather than a generator: ``next()`` may raise UndecodableRequestError for one
    message and still yield the following ones."""

    def __init__(self, raw: Iterator[bytes], deserializer: Deserializer | None) -> None:
        self._raw, self._deserializer = raw, deserializer

    def __next__(self) -> Any:
        return parse_request(self._deserializer, next(self._raw))


class ErrorMappingInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Parses request bytes and turns every exception escaping a handler into a precise
    gRPC status (engine.status), for every method of every service on the server."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.metrics = metrics
        self._wrapped = WrappedHandlers()

    def _abort(self, context: grpc.ServicerContext, exc: Exception) -> None:
        status = to_status(exc)
        self.metrics.failed(grpc_code(status).name, exc)
        context.abort_with_status(rpc_status.to_status(status))

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return self._wrapped.get(handler_call_details.method, handler, self._wrap)

    def _wrap(self, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        parse = handler.request_deserializer
        for kind, make_handler in _HANDLER_KINDS:
            behaviour = getattr(handler, kind)
            if behaviour is None:
                continue
            request_streaming, response_streaming = kind.split("_")
            prepare: Callable[[Any], Any] = (
                partial(ParsedRequests, deserializer=parse)
                if request_streaming == "stream"
                else partial(parse_request, parse)
            )
            wrapped = (self._streamed if response_streaming == "stream" else self._answered)(
                behaviour, prepare
            )
            # No request_deserializer: gRPC hands over the raw bytes, `prepare` parses them.
            return make_handler(wrapped, response_serializer=handler.response_serializer)
        return handler

    def _answered(self, behaviour: Callable[..., Any], prepare: Callable[[Any], Any]) -> Any:
        """A handler with one response: ``behaviour``'s, or the status of its exception."""

        def call(raw: Any, context: grpc.ServicerContext) -> Any:
            try:
                return behaviour(prepare(raw), context)
            except Exception as exc:
                self._abort(context, exc)

        return call

    def _streamed(self, behaviour: Callable[..., Any], prepare: Callable[[Any], Any]) -> Any:
        """A handler with a response stream: ``behaviour``'s, ended by the status of its
        exception."""

        def call(raw: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            try:
                yield from behaviour(prepare(raw), context)
            except Exception as exc:
                self._abort(context, exc)

        return call


__all__ = [
    "ErrorMappingInterceptor",
    "ParsedRequests",
    "UndecodableRequestError",
    "parse_request",
]
