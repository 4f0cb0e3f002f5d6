"""Authentication and role checks for every incoming call.

The caller's identity comes only from the verified ``authorization: Bearer``
token.  Headers that the gateway derives from the token (``x-aiplat-tenant``,
``x-aiplat-subject``) are never trusted on their own: a call that carries
them without a token is UNAUTHENTICATED, and one whose headers disagree with
its token is rejected too, since that means something between the gateway and
the service rewrote them.
"""

from __future__ import annotations

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
        self._handlers = WrappedHandlers(self._guard)

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
        return self._handlers.get(method, handler)

    def _guard(self, method: str) -> Callable[[Context], _Authenticate]:
        return partial(_Authenticate, self, method, required_role(self._method_roles, method))


class _Authenticate:
    """Runs around one call: verify the caller and its role, then bind its identity and deadline."""

    __slots__ = ("_context", "_deadline", "_identity", "_interceptor", "_method", "_needed")

    def __init__(self, interceptor: AuthInterceptor, method: str, needed: Role, context: Context) -> None:
        self._interceptor = interceptor
        self._method = method
        self._needed = needed
        self._context = context
        self._deadline: Token[float | None] | None = None
        self._identity: Token[Identity | None] | None = None

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

    async def __aexit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if self._identity is not None:
            reset_identity(self._identity)
        if self._deadline is not None:
            reset_deadline(self._deadline)
        return False
