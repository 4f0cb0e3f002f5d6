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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.runtime.errors import ERROR_DOMAIN, Code, DomainError
from services.runtime.transport._handlers import wrap_handler
from services.runtime.transport._types import Context, Handler, ServerInterceptor

_log = logging.getLogger(__name__)

INTERNAL_MESSAGE = "internal error"
"""The only text a client gets for an unexpected failure."""


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def to_status_proto(error: DomainError) -> status_pb2.Status:
    """The ``google.rpc.Status`` for ``error``, with its details."""
    details = [
        _pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata))
    ]
    if error.violations:
        violations = [
            error_details_pb2.BadRequest.FieldViolation(
                field=violation.field, description=violation.description, reason=violation.reason
            )
            for violation in error.violations
        ]
        details.append(_pack(error_details_pb2.BadRequest(field_violations=violations)))
    if error.retry_after_seconds is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_after_seconds * 1e9))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return status_pb2.Status(code=int(error.code), message=error.message, details=details)


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


class ErrorMappingInterceptor(ServerInterceptor):
    """Turns exceptions escaping a servicer into statuses (innermost interceptor)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        method = handler_call_details.method

        @asynccontextmanager
        async def guard(context: Context) -> AsyncIterator[None]:
            try:
                yield
            except grpc.aio.AbortError:
                # The servicer (or a health/reflection servicer) already chose a status.
                raise
            except NotImplementedError:
                # What the generated base servicer raises for a method the service does not implement.
                await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented")
            except DomainError as error:
                if error.code == Code.INTERNAL:
                    _log.error("%s failed: %r", method, error, exc_info=error)
                await abort_with(context, error)
            except Exception as error:
                _log.error(
                    "%s failed unexpectedly: %s",
                    method,
                    type(error).__name__,
                    exc_info=error,
                    extra={"grpc_method": method},
                )
                await abort_internal(context)

        handler = await continuation(handler_call_details)
        return wrap_handler(handler, guard)
