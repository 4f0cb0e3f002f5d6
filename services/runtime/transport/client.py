"""Calls to other services that carry the caller's identity, trace context and deadline.

``open_channel`` gives a channel whose every call

* forwards the bearer token of the call being served (unless the call sets
  its own ``authorization``), so the callee sees the same caller;
* carries the current trace context as ``traceparent`` (via the tracing
  interceptors), so both services' spans form one trace;
* has a deadline: the call's own timeout, else ``default_timeout``, never
  later than the deadline of the call being served.
"""

from __future__ import annotations

from typing import Any

import grpc

from services.runtime.auth import identity_or_none
from services.runtime.tracing import Tracing, global_client_interceptors
from services.runtime.transport import _deadline
from services.runtime.transport._types import (
    StreamStreamClientInterceptor,
    StreamUnaryClientInterceptor,
    UnaryStreamClientInterceptor,
    UnaryUnaryClientInterceptor,
)


def outgoing_call_details(
    details: grpc.aio.ClientCallDetails, default_timeout: float
) -> grpc.aio.ClientCallDetails:
    """``details`` with the caller's token and a bounded deadline added."""
    metadata = grpc.aio.Metadata(*tuple(details.metadata or ()))
    identity = identity_or_none()
    if identity is not None and identity.token and "authorization" not in metadata:
        metadata.add("authorization", f"Bearer {identity.token}")
    timeout = details.timeout if details.timeout is not None else default_timeout
    remaining = _deadline.remaining()
    if remaining is not None:
        timeout = min(timeout, remaining)
    return grpc.aio.ClientCallDetails(
        details.method, timeout, metadata, details.credentials, details.wait_for_ready
    )


class ForwardingInterceptor(
    UnaryUnaryClientInterceptor,
    UnaryStreamClientInterceptor,
    StreamUnaryClientInterceptor,
    StreamStreamClientInterceptor,
):
    """Adds the caller's token and a deadline to every outgoing call, whatever its shape."""

    def __init__(self, default_timeout: float = 10.0) -> None:
        self._default_timeout = default_timeout

    def __repr__(self) -> str:
        return f"ForwardingInterceptor(default_timeout={self._default_timeout!r})"

    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(outgoing_call_details(client_call_details, self._default_timeout), request)

    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(outgoing_call_details(client_call_details, self._default_timeout), request)

    async def intercept_stream_unary(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        details = outgoing_call_details(client_call_details, self._default_timeout)
        return await continuation(details, request_iterator)

    async def intercept_stream_stream(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        details = outgoing_call_details(client_call_details, self._default_timeout)
        return await continuation(details, request_iterator)


def open_channel(
    target: str,
    *,
    tracing: Tracing | None = None,
    default_timeout: float = 10.0,
    options: list[tuple[str, Any]] | None = None,
) -> grpc.aio.Channel:
    """A plain-text channel to another service (mTLS, where used, is the sidecar's job).

    ``tracing`` None uses the process-wide tracer provider (the one
    ``run_service`` installs).
    """
    tracing_interceptors = (
        tracing.client_interceptors() if tracing is not None else global_client_interceptors()
    )
    # Tracing first: its span is the parent whose context the callee continues.
    interceptors: list[Any] = [*tracing_interceptors, ForwardingInterceptor(default_timeout)]
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
