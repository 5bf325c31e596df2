"""Wrapping a gRPC method handler's behaviour, whatever its shape (unary or streaming)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

Behaviour = Callable[..., Any]

HANDLER_KINDS: tuple[tuple[str, Callable[..., grpc.RpcMethodHandler]], ...] = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler),
    ("unary_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_unary", grpc.stream_unary_rpc_method_handler),
    ("stream_stream", grpc.stream_stream_rpc_method_handler),
)
"""(attribute of a method handler, constructor of such a handler), for each RPC shape."""


def rewrap(
    handler: grpc.RpcMethodHandler,
    answered: Callable[[Behaviour], Behaviour],
    streamed: Callable[[Behaviour], Behaviour],
) -> grpc.RpcMethodHandler:
    """``handler`` with its behaviour wrapped by ``answered`` (one response) or ``streamed``
    (a response stream: the wrapper must be a generator), serializers kept."""
    for kind, make in HANDLER_KINDS:
        behaviour = getattr(handler, kind)
        if behaviour is None:
            continue
        wrap = streamed if kind.endswith("stream") else answered
        return make(
            wrap(behaviour),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


class BehaviourInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """A server interceptor that wraps each handler's behaviour: subclasses say how, for
    calls with one response (:meth:`answered`) and with a response stream
    (:meth:`streamed`, a generator)."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        if handler is None:
            return None
        return rewrap(
            handler,
            lambda behaviour: self.answered(behaviour, details),
            lambda behaviour: self.streamed(behaviour, details),
        )

    def answered(self, behaviour: Behaviour, details: grpc.HandlerCallDetails) -> Behaviour:
        raise NotImplementedError

    def streamed(self, behaviour: Behaviour, details: grpc.HandlerCallDetails) -> Behaviour:
        raise NotImplementedError
