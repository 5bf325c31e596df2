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


class WrappedHandlers:
    """The wrapped handler of each method, made once: gRPC asks the interceptors for a
    call's handler on every call, and wrapping one anew builds a handler and its closures
    each time (on the thread that serves every connection's events).

    A method's wrapped handler is reused while the handler below it is the same object:
    the servers' registered handlers are, and so are those of the interceptors below that
    keep a :class:`WrappedHandlers`; one that wraps anew per call gets wrapped anew. Keys
    are methods that have a handler, so the cache is as large as the server's services.
    """

    __slots__ = ("_by_method",)

    def __init__(self) -> None:
        self._by_method: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def get(
        self,
        method: str,
        handler: grpc.RpcMethodHandler,
        wrap: Callable[[grpc.RpcMethodHandler], grpc.RpcMethodHandler],
    ) -> grpc.RpcMethodHandler:
        """``wrap(handler)``, made once per method and handler."""
        made = self._by_method.get(method)
        if made is not None and made[0] is handler:
            return made[1]
        wrapped = wrap(handler)
        self._by_method[method] = (handler, wrapped)
        return wrapped


class BehaviourInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """A server interceptor that wraps each handler's behaviour: subclasses say how, for
    calls with one response (:meth:`answered`) and with a response stream
    (:meth:`streamed`, a generator).

    A method's wrapper is made once (:class:`WrappedHandlers`), so it may depend on the
    method's name only: what differs per call (metadata, deadline) comes from the call's
    context.
    """

    def __init__(self) -> None:
        self._wrapped = WrappedHandlers()

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(details)
        if handler is None:
            return None
        method: str = details.method
        return self._wrapped.get(
            method,
            handler,
            lambda below: rewrap(
                below,
                lambda behaviour: self.answered(behaviour, method),
                lambda behaviour: self.streamed(behaviour, method),
            ),
        )

    def answered(self, behaviour: Behaviour, method: str) -> Behaviour:
        raise NotImplementedError

    def streamed(self, behaviour: Behaviour, method: str) -> Behaviour:
        raise NotImplementedError
