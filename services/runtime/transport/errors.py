"""Domain errors to ``google.rpc.Status``: the one place where errors meet the wire.

A :class:`~services.runtime.errors.DomainError` becomes its canonical code
with an ``ErrorInfo`` (stable reason, domain ``aiplat.dev``, metadata), a
``BadRequest`` with the field violations, and a ``RetryInfo`` when it says
when to retry.  Clients read them with ``grpc_status.rpc_status.from_call``.
Any other exception becomes INTERNAL with a generic message, so internals
never leak; the full traceback goes to the log with the trace id.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from types import TracebackType
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.runtime.errors import ERROR_DOMAIN, Code, DomainError
from services.runtime.transport._handlers import WrappedHandlers
from services.runtime.transport._types import Context, Handler, ServerInterceptor

_log = logging.getLogger(__name__)

INTERNAL_MESSAGE = "internal error"
"""The only text a client gets for an unexpected failure."""


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


MESSAGE_BUDGET = 2048
"""Bytes of the status message as it travels (``grpc-message``, percent-encoded)."""
DETAILS_BUDGET = 3072
"""Bytes of the encoded details (``grpc-status-details-bin``, base64 on the wire: a third more)."""
MAX_DETAIL_TEXT = 256
"""Characters of each metadata value, field path and violation description."""
_ELLIPSIS = "\u2026"


def clip_text(text: str, limit: int = MAX_DETAIL_TEXT) -> str:
    """``text``, cut to ``limit`` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def _clip_message(text: str) -> str:
    """``text`` cut to fit :data:`MESSAGE_BUDGET` once percent-encoded (3 bytes a byte outside ASCII)."""
    budget = MESSAGE_BUDGET - 9  # room for the ellipsis, encoded
    size = 0
    for i, char in enumerate(text):
        size += 1 if " " <= char <= "~" and char != "%" else 3 * len(char.encode())
        if size > budget:
            return text[:i] + _ELLIPSIS
    return text


def to_status_proto(error: DomainError) -> status_pb2.Status:
    """The ``google.rpc.Status`` for ``error``, with its details.

    Messages echo what clients sent (names, values), and a status travels in
    the trailers, which gRPC caps (8 KiB by default): past the cap the client
    would get a transport error instead of this status.  So the texts are
    clipped, and violations past :data:`DETAILS_BUDGET` are left out, their
    number given as ``violationsNotShown``.
    """
    metadata = {key: clip_text(value) for key, value in error.metadata.items()}
    violations = [
        error_details_pb2.BadRequest.FieldViolation(
            field=clip_text(violation.field),
            description=clip_text(violation.description),
            reason=violation.reason,
        )
        for violation in error.violations
    ]
    shown = len(violations)
    while True:
        details = [
            _pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=metadata))
        ]
        if shown:
            details.append(_pack(error_details_pb2.BadRequest(field_violations=violations[:shown])))
        if error.retry_after_seconds is not None:
            delay = duration_pb2.Duration()
            delay.FromNanoseconds(int(error.retry_after_seconds * 1e9))
            details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
        status = status_pb2.Status(
            code=int(error.code), message=_clip_message(error.message), details=details
        )
        if shown <= 1 or status.ByteSize() <= DETAILS_BUDGET:
            return status
        shown = max(1, shown * DETAILS_BUDGET // status.ByteSize())
        metadata = {**metadata, "violationsNotShown": str(len(violations) - shown)}


def to_grpc_status(error: DomainError) -> grpc.Status:
    """The ``grpc.Status`` (code, message, ``grpc-status-details-bin`` trailer) for ``error``."""
    status: grpc.Status = rpc_status.to_status(to_status_proto(error))
    return status


async def abort_with(context: Context, error: DomainError) -> NoReturn:
    """End the call with ``error``'s status and details (raises, like ``context.abort``)."""
    status = to_grpc_status(error)
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises


async def abort_internal(context: Context) -> NoReturn:
    """End the call with INTERNAL and the generic message; the caller logs the cause."""
    status: grpc.Status = rpc_status.to_status(
        status_pb2.Status(
            code=code_pb2.INTERNAL,
            message=INTERNAL_MESSAGE,
            details=[_pack(error_details_pb2.ErrorInfo(reason="INTERNAL", domain=ERROR_DOMAIN))],
        )
    )
    await context.abort(status.code, status.details, status.trailing_metadata)
    raise AssertionError("context.abort returned")  # pragma: no cover - abort always raises


class _MapErrors:
    """Runs around one call: what escapes the servicer becomes a status (see the module docstring)."""

    __slots__ = ("_context", "_method")

    def __init__(self, method: str, context: Context) -> None:
        self._method = method
        self._context = context

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> bool:
        # BaseExceptions (cancellation) and statuses the servicer already chose pass through.
        if not isinstance(error, Exception) or isinstance(error, grpc.aio.AbortError):
            return False
        method, context = self._method, self._context
        if isinstance(error, NotImplementedError):
            # What the generated base servicer raises for a method the service does not implement.
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented")
        if isinstance(error, DomainError):
            if error.code == Code.INTERNAL:
                _log.error("%s failed: %r", method, error, exc_info=error)
            await abort_with(context, error)
        _log.error(
            "%s failed unexpectedly: %s",
            method,
            type(error).__name__,
            exc_info=error,
            extra={"grpc_method": method},
        )
        await abort_internal(context)
        return False  # not reached: abort_internal raises


class ErrorMappingInterceptor(ServerInterceptor):
    """Turns exceptions escaping a servicer into statuses (innermost interceptor), a request message
    that does not parse included (INVALID_ARGUMENT, ``MALFORMED_REQUEST``)."""

    def __init__(self) -> None:
        self._handlers = WrappedHandlers(lambda method: partial(_MapErrors, method), check_requests=True)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        return self._handlers.get(handler_call_details.method, await continuation(handler_call_details))
