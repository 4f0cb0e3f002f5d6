"""Wrap an RPC method handler's behaviour in an async context manager, whatever its shape.

grpc.aio interceptors only get to see the handler, not the call; to run code
around the call (and see its outcome) the behaviour itself must be replaced.
One helper does it for the four RPC shapes, so every interceptor is written
as a plain ``async with`` block.

grpc.aio asks every interceptor for a handler on every call.  Wrapping anew
each time (closures, a handler tuple) costs about as much as a small RPC
itself, so :class:`WrappedHandlers` wraps each method's handler once and
hands the same wrapped handler to every later call.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, NamedTuple, TypeAlias

import grpc

from services.runtime.errors import InvalidArgument
from services.runtime.transport._types import Context, Handler

Guard: TypeAlias = Callable[["Context"], AbstractAsyncContextManager[None]]
"""Makes the context manager that runs around one call, given the call's context."""


class Undecodable(NamedTuple):
    """Stands in for a request message that did not parse (see ``check_requests``)."""

    error: str


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """``deserializer`` returning :class:`Undecodable` instead of raising: grpc would answer an
    exception in a deserializer with UNKNOWN, while a malformed request is the client's error."""
    if deserializer is None:
        return None

    def deserialize(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception as error:  # DecodeError, invalid UTF-8 in a string field
            return Undecodable(str(error))

    return deserialize


def _undecodable(request: Undecodable) -> InvalidArgument:
    return InvalidArgument(f"the request message does not parse: {request.error}", reason="MALFORMED_REQUEST")


async def _checked_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, Undecodable):
            raise _undecodable(request)
        yield request


def _check_request(behavior: Callable[..., Any], *, streaming: bool) -> Callable[..., Any]:
    """``behavior`` raising INVALID_ARGUMENT for an :class:`Undecodable` request, inside the guards."""

    def checked(request: Any, context: Context) -> Any:
        if streaming:
            return behavior(_checked_stream(request), context)
        if isinstance(request, Undecodable):
            raise _undecodable(request)
        return behavior(request, context)

    # Response streams keep their shape: an async generator stays one (see _wrap_stream_response).
    if inspect.isasyncgenfunction(behavior):

        async def checked_stream(request: Any, context: Context) -> AsyncIterator[Any]:
            async for response in checked(request, context):
                yield response

        return checked_stream
    return checked


def _wrap_unary_response(behavior: Callable[..., Any], guard: Guard) -> Callable[..., Any]:
    async def wrapped(request: Any, context: Context) -> Any:
        async with guard(context):
            result = behavior(request, context)
            # Tolerates plain functions as well as coroutine functions.
            return await result if inspect.isawaitable(result) else result

    return wrapped


def _wrap_stream_response(behavior: Callable[..., Any], guard: Guard) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behavior):
        # A streaming handler that writes with ``await context.write()`` (the health Watch does).
        return _wrap_unary_response(behavior, guard)

    async def wrapped(request: Any, context: Context) -> AsyncIterator[Any]:
        async with guard(context):
            async for response in behavior(request, context):
                yield response

    return wrapped


def _behavior(behavior: Callable[..., Any] | None) -> Callable[..., Any]:
    if behavior is None:
        raise ValueError("RPC method handler without a behaviour for its own shape")
    return behavior


def wrap_handler(handler: Handler | None, guard: Guard, *, check_requests: bool = False) -> Handler:
    """A handler like ``handler`` whose behaviour runs inside ``guard(context)``.

    ``check_requests``: a request message that does not parse raises
    INVALID_ARGUMENT (reason ``MALFORMED_REQUEST``) inside the guard.
    """
    if handler is None:
        # An unknown method: grpc answers UNIMPLEMENTED itself.
        return None  # type: ignore[return-value]
    deserializer = handler.request_deserializer
    options: dict[str, Any] = {
        "request_deserializer": _tolerant(deserializer) if check_requests else deserializer,
        "response_serializer": handler.response_serializer,
    }

    def behavior(method: Callable[..., Any] | None) -> Callable[..., Any]:
        own = _behavior(method)
        return _check_request(own, streaming=handler.request_streaming) if check_requests else own

    if handler.request_streaming and handler.response_streaming:
        wrapped = _wrap_stream_response(behavior(handler.stream_stream), guard)
        return grpc.stream_stream_rpc_method_handler(wrapped, **options)
    if handler.request_streaming:
        wrapped = _wrap_unary_response(behavior(handler.stream_unary), guard)
        return grpc.stream_unary_rpc_method_handler(wrapped, **options)
    if handler.response_streaming:
        wrapped = _wrap_stream_response(behavior(handler.unary_stream), guard)
        return grpc.unary_stream_rpc_method_handler(wrapped, **options)
    wrapped = _wrap_unary_response(behavior(handler.unary_unary), guard)
    return grpc.unary_unary_rpc_method_handler(wrapped, **options)


class WrappedHandlers:
    """One interceptor's wrapped handlers, built once per method.

    ``make_guard(method)`` builds the guard of one method; the guard is then
    called with each call's context.  A handler object that changes (a
    server with new handlers) is wrapped again.
    """

    __slots__ = ("_check_requests", "_make_guard", "_wrapped")

    def __init__(self, make_guard: Callable[[str], Guard], *, check_requests: bool = False) -> None:
        self._make_guard = make_guard
        self._check_requests = check_requests
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    def get(self, method: str, handler: Handler | None) -> Handler:
        """``handler`` of ``method`` wrapped in its guard (None stays None: an unknown method)."""
        if handler is None:
            return None  # type: ignore[return-value]
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = wrap_handler(handler, self._make_guard(method), check_requests=self._check_requests)
        # Keyed by method name: only registered methods get here, so the map stays small.
        self._wrapped[method] = (handler, wrapped)
        return wrapped


def metadata_value(context: Context, key: str) -> str | None:
    """The first value of invocation metadata ``key`` (lower-case), as text."""
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None
