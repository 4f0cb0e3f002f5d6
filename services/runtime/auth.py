"""Who is calling: token verification, identities, roles, and the identity of the current call.

Core code reads the caller with :func:`current_identity`; it never sees gRPC
metadata.  The transport side (:mod:`services.runtime.transport.auth`) verifies
the bearer token and binds the identity for the duration of the call.
Identity comes only from a verified token, never from headers a proxy added.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from services.runtime.errors import Unauthenticated
from services.runtime.jwks import SUPPORTED_ALGORITHMS, FileKeySet, KeySet, KeySnapshot, UrlKeySet
from services.runtime.settings import ServiceSettings


class Role(enum.IntEnum):
    """Roles in increasing order of power; a role includes every role below it."""

    VIEWER = 1
    EDITOR = 2
    ADMIN = 3

    @classmethod
    def parse(cls, name: str) -> Role | None:
        """The role spelled ``name`` in a token (``viewer``), or None for names this version does not know."""
        return cls.__members__.get(name.upper())


@dataclass(frozen=True)
class Identity:
    """The verified caller of the current request."""

    subject: str
    """The token's ``sub``: the user or workload."""
    tenant: str
    """The tenant every resource of the call belongs to."""
    roles: frozenset[Role]
    """Roles granted by the token."""
    token: str | None = field(default=None, repr=False, compare=False)
    """The raw bearer token, forwarded on calls to other services; never logged."""
    expires_at: float | None = None
    """The token's ``exp`` in seconds since the epoch."""

    def has_role(self, required: Role) -> bool:
        """Whether any granted role is at least ``required``."""
        return any(role >= required for role in self.roles)


ANONYMOUS = Identity(subject="anonymous", tenant="default", roles=frozenset({Role.ADMIN}))
"""Who a call without a token runs as when ``auth_required`` is off (isolated local tests only)."""

_current: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("aiplat_identity", default=None)


def current_identity() -> Identity:
    """The caller of the request being served; UNAUTHENTICATED outside of one."""
    identity = _current.get()
    if identity is None:
        raise Unauthenticated("no caller identity in this context", reason="NO_IDENTITY")
    return identity


def identity_or_none() -> Identity | None:
    """The caller of the request being served, or None (background work)."""
    return _current.get()


@contextlib.contextmanager
def bind_identity(identity: Identity) -> Iterator[Identity]:
    """Run a block as ``identity``: used by tests of core code and by background work."""
    token = set_identity(identity)
    try:
        yield identity
    finally:
        reset_identity(token)


def set_identity(identity: Identity) -> contextvars.Token[Identity | None]:
    """Make ``identity`` the caller until :func:`reset_identity`; the transport's per-call binding."""
    return _current.set(identity)


def reset_identity(token: contextvars.Token[Identity | None]) -> None:
    """Undo :func:`set_identity`."""
    _current.reset(token)


def required_role(method_roles: Mapping[str, Role], full_method: str) -> Role:
    """The role ``full_method`` (``/pkg.Service/Method``) needs.

    Methods a service did not declare need ADMIN: forgetting to declare a new
    method then makes it too strict (caught by the first test or user) rather
    than open to every viewer (caught by nobody).
    """
    return method_roles.get(full_method, Role.ADMIN)


@dataclass
class _CacheEntry:
    identity: Identity
    valid_until: float
    generation: int


class TokenVerifier:
    """Verifies bearer tokens (signature, issuer, audience, expiry) into identities.

    Verified tokens are cached by their exact string for at most
    ``cache_ttl_seconds`` and never past their ``exp``; the cache is bounded
    (least recently used entries go first) and forgotten when the keys change.
    """

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str,
        audience: str,
        leeway_seconds: float = 30.0,
        cache_size: int = 1024,
        cache_ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        self._cache_size = cache_size
        self._cache_ttl = cache_ttl_seconds
        self._clock = clock
        self._cache: OrderedDict[str, _CacheEntry] = OrderedDict()

    def __repr__(self) -> str:
        return f"TokenVerifier(keys={self._keys!r}, issuer={self._issuer!r}, audience={self._audience!r})"

    def seconds_left(self, identity: Identity) -> float | None:
        """How long the token ``identity`` came from stays acceptable (its ``exp`` and the leeway); None
        when it does not expire."""
        if identity.expires_at is None:
            return None
        return max(0.0, identity.expires_at + self._leeway - self._clock())

    async def verify(self, token: str) -> Identity:
        """The identity ``token`` proves; :class:`Unauthenticated` with a specific reason otherwise."""
        snapshot = await self._keys.snapshot()
        now = self._clock()
        cached = self._cache.get(token)
        if cached is not None and cached.generation == snapshot.generation and now < cached.valid_until:
            self._cache.move_to_end(token)
            return cached.identity
        self._cache.pop(token, None)
        identity = await self._verify_uncached(token, snapshot, now)
        self._remember(token, identity, snapshot.generation, now)
        return identity

    async def _verify_uncached(self, token: str, snapshot: KeySnapshot, now: float) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise Unauthenticated("the bearer token is malformed", reason="TOKEN_MALFORMED") from error
        algorithm = header.get("alg")
        if algorithm not in SUPPORTED_ALGORITHMS:
            raise Unauthenticated(
                "the token's signing algorithm is not accepted", reason="TOKEN_ALGORITHM_UNSUPPORTED"
            )
        kid = header.get("kid")
        kid = kid if isinstance(kid, str) else None
        key = snapshot.find(kid)
        if key is None:
            snapshot = await self._keys.refresh_for_unknown_kid()
            key = snapshot.find(kid)
        if key is None:
            raise Unauthenticated("the token was signed by an unknown key", reason="TOKEN_KEY_UNKNOWN")
        if key.algorithm_name != algorithm:
            raise Unauthenticated("the token's algorithm does not match its key", reason="TOKEN_KEY_MISMATCH")
        claims = self._decode(token, key, algorithm)
        self._check_times(claims, now)
        return _identity_from_claims(claims, token)

    def _check_times(self, claims: Mapping[str, Any], now: float) -> None:
        # Checked here rather than by PyJWT so that the verifier and its cache share one clock.
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, int | float) or (nbf is not None and not isinstance(nbf, int | float)):
            raise Unauthenticated("the token's exp or nbf is not a number", reason="TOKEN_CLAIMS_INVALID")
        if now >= exp + self._leeway:
            raise Unauthenticated("the token has expired", reason="TOKEN_EXPIRED")
        if nbf is not None and now < nbf - self._leeway:
            raise Unauthenticated("the token is not valid yet", reason="TOKEN_NOT_YET_VALID")

    def _decode(self, token: str, key: jwt.PyJWK, algorithm: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                issuer=self._issuer,
                audience=self._audience,
                options={
                    "require": ["exp", "iss", "aud", "sub"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError as error:
            raise Unauthenticated(
                "the token is for another audience", reason="TOKEN_AUDIENCE_INVALID"
            ) from error
        except jwt.InvalidIssuerError as error:
            raise Unauthenticated("the token has an unknown issuer", reason="TOKEN_ISSUER_INVALID") from error
        except jwt.InvalidSignatureError as error:
            raise Unauthenticated(
                "the token's signature does not verify", reason="TOKEN_SIGNATURE_INVALID"
            ) from error
        except jwt.MissingRequiredClaimError as error:
            raise Unauthenticated(
                f"the token lacks a claim: {error}", reason="TOKEN_CLAIMS_INVALID"
            ) from error
        except jwt.PyJWTError as error:
            raise Unauthenticated("the bearer token is invalid", reason="TOKEN_INVALID") from error
        return claims

    def _remember(self, token: str, identity: Identity, generation: int, now: float) -> None:
        expires_at = identity.expires_at if identity.expires_at is not None else now
        valid_until = min(now + self._cache_ttl, expires_at)
        if valid_until <= now:
            return
        self._cache[token] = _CacheEntry(identity, valid_until, generation)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def _identity_from_claims(claims: Mapping[str, Any], token: str) -> Identity:
    subject = claims.get("sub")
    tenant = claims.get("tenant")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("the token has no subject", reason="TOKEN_CLAIMS_INVALID")
    # Every resource is tenant-scoped, so a token without a tenant cannot be used for anything.
    if not isinstance(tenant, str) or not tenant:
        raise Unauthenticated("the token has no tenant", reason="TOKEN_CLAIMS_INVALID")
    exp = claims.get("exp")
    return Identity(
        subject=subject,
        tenant=tenant,
        roles=_parse_roles(claims.get("roles")),
        token=token,
        expires_at=float(exp) if isinstance(exp, int | float) else None,
    )


def _parse_roles(raw: object) -> frozenset[Role]:
    # Providers put roles either in a JSON list or in one space-separated string.
    names: Iterable[object] = raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else ()
    roles = (Role.parse(name) for name in names if isinstance(name, str))
    return frozenset(role for role in roles if role is not None)


FILE_KEYS_CHECK_SECONDS = 1.0
"""How often a service looks at its JWKS file for changes (and at once for a token naming an unknown key)."""


def verifier_from_settings(settings: ServiceSettings) -> TokenVerifier | None:
    """The verifier for the settings' key source and claims; None when no key source is set."""
    keys: KeySet
    if settings.jwks_path is not None:
        keys = FileKeySet(settings.jwks_path, check_interval_seconds=FILE_KEYS_CHECK_SECONDS)
    elif settings.jwks_url is not None:
        keys = UrlKeySet(settings.jwks_url)
    else:
        return None
    return TokenVerifier(keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
