"""Authentication and role checks for every incoming call.

The caller's identity comes only from the verified ``authorization: Bearer``
token.  Headers that the gateway derives from the token (``x-aiplat-tenant``,
``x-aiplat-subject``) are never trusted on their own: a call that carries
them without a token is UNAUTHENTICATED, and one whose headers disagree with
its token is rejected too, since that means something between the gateway and
the service rewrote them.

A stream lives only as long as its token: when the token expires, the
stream ends with UNAUTHENTICATED (reason ``TOKEN_EXPIRED``), and the client
calls again with a fresh one.  Otherwise a watch opened once would go on
delivering for ever with a token long expired or revoked by rotation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping
from contextvars import Token
from functools import partial
from types import TracebackType

import grpc

from services.runtime.auth import (
    ANONYMOUS,
    Identity,
    Role,
    TokenVerifier,
    required_role,
    reset_identity,
    set_identity,
)
from services.runtime.errors import DomainError, PermissionDenied, Unauthenticated
from services.runtime.transport._deadline import reset_deadline, set_deadline
from services.runtime.transport._handlers import WrappedHandlers
from services.runtime.transport._types import Context, Handler, ServerInterceptor
from services.runtime.transport.errors import abort_internal, abort_with
from services.runtime.transport.methods import is_public

_log = logging.getLogger(__name__)

# Headers the gateway derives from the verified token, checked against it when present.
IDENTITY_HEADERS = {"x-aiplat-tenant": "tenant", "x-aiplat-subject": "subject"}


class AuthInterceptor(ServerInterceptor):
    """Verifies the caller, checks the method's role, and binds the identity and deadline.

    ``verifier`` None means no key source is configured, which settings only
    allow together with ``required=False``.
    """

    def __init__(
        self,
        verifier: TokenVerifier | None,
        method_roles: Mapping[str, Role],
        *,
        required: bool = True,
        public_methods: Collection[str] = (),
    ) -> None:
        if required and verifier is None:
            raise ValueError("authentication is required but no token verifier is configured")
        self._verifier = verifier
        self._method_roles = dict(method_roles)
        self._required = required
        self._public = frozenset(public_methods)
        self._handlers = WrappedHandlers(partial(self._guard, streaming=False))
        self._stream_handlers = WrappedHandlers(partial(self._guard, streaming=True))

    @property
    def verifier(self) -> TokenVerifier | None:
        return self._verifier

    async def authenticate(self, context: Context) -> Identity:
        """The caller of ``context``'s call; raises Unauthenticated."""
        header: str | None = None
        claimed: dict[str, str] = {}
        # One pass over the metadata: this runs on every call.
        for key, raw in context.invocation_metadata() or ():
            if key == "authorization" or key in IDENTITY_HEADERS:
                value = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
                if key == "authorization":
                    header = value if header is None else header
                else:
                    claimed.setdefault(key, value)
        if header is None:
            if self._required:
                raise Unauthenticated("a bearer token is required", reason="TOKEN_MISSING")
            return ANONYMOUS
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated(
                "the authorization header must be 'Bearer <token>'", reason="TOKEN_MALFORMED"
            )
        if self._verifier is None:
            raise Unauthenticated("tokens cannot be verified by this service", reason="TOKEN_UNVERIFIABLE")
        identity = await self._verifier.verify(token)
        for key, value in claimed.items():
            if value != getattr(identity, IDENTITY_HEADERS[key]):
                raise Unauthenticated(
                    "identity headers do not match the token", reason="IDENTITY_HEADER_MISMATCH"
                )
        return identity

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        method = handler_call_details.method
        handler = await continuation(handler_call_details)
        if is_public(method) or method in self._public:
            return handler
        streaming = handler is not None and (handler.request_streaming or handler.response_streaming)
        return (self._stream_handlers if streaming else self._handlers).get(method, handler)

    def _guard(self, method: str, *, streaming: bool) -> Callable[[Context], _Authenticate]:
        return partial(_Authenticate, self, method, required_role(self._method_roles, method), streaming)


class _Authenticate:
    """Runs around one call: verify the caller and its role, then bind its identity and deadline."""

    __slots__ = (
        "_context",
        "_deadline",
        "_expired",
        "_expiry",
        "_identity",
        "_interceptor",
        "_method",
        "_needed",
        "_streaming",
    )

    def __init__(
        self, interceptor: AuthInterceptor, method: str, needed: Role, streaming: bool, context: Context
    ) -> None:
        self._interceptor = interceptor
        self._method = method
        self._needed = needed
        self._streaming = streaming
        self._context = context
        self._deadline: Token[float | None] | None = None
        self._identity: Token[Identity | None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._expired = False

    async def __aenter__(self) -> None:
        method, context, needed = self._method, self._context, self._needed
        try:
            identity = await self._interceptor.authenticate(context)
            if not identity.has_role(needed):
                raise PermissionDenied(
                    f"{method} needs the {needed.name.lower()} role",
                    reason="ROLE_INSUFFICIENT",
                    metadata={"requiredRole": needed.name.lower()},
                )
        except DomainError as error:
            # Key-source failures (JWKS_UNAVAILABLE) pass through here too, with their own code.
            _log.info("rejected %s: %s", method, error.reason, extra={"grpc_method": method})
            await abort_with(context, error)
        except Exception:
            # Error mapping sits inside this interceptor, so this one maps its own failures.
            _log.exception("authenticating %s failed unexpectedly", method, extra={"grpc_method": method})
            await abort_internal(context)
        self._deadline = set_deadline(context.time_remaining())
        self._identity = set_identity(identity)
        if self._streaming:
            # Unary calls end soon enough: only streams pay for the timer.
            self._end_at_expiry(identity)

    def _end_at_expiry(self, identity: Identity) -> None:
        verifier, task = self._interceptor.verifier, asyncio.current_task()
        left = None if verifier is None else verifier.seconds_left(identity)
        if left is not None and task is not None:
            self._expiry = asyncio.get_running_loop().call_later(left, self._expire, task)

    def _expire(self, task: asyncio.Task[object]) -> None:
        self._expired = True
        task.cancel()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if self._expiry is not None:
            self._expiry.cancel()
        # A stream's generator that gRPC abandons (its client stopped reading, then shutdown came) is
        # closed later by the garbage collector, in another context: there is nothing to restore there.
        with contextlib.suppress(ValueError):
            if self._identity is not None:
                reset_identity(self._identity)
            if self._deadline is not None:
                reset_deadline(self._deadline)
        if self._expired and exc_type in (None, asyncio.CancelledError):
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            _log.info("ended %s: its token expired", self._method, extra={"grpc_method": self._method})
            await abort_with(
                self._context,
                Unauthenticated(
                    "the token expired while the stream was open; call again with a fresh one",
                    reason="TOKEN_EXPIRED",
                ),
            )
        return False
