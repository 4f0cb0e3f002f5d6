"""What the gateway configuration is rendered from: upstreams, token checks, rate limits, limits.

Plain values with no Envoy types, built from the launcher settings and the
catalogue by :mod:`services.launcher.envoy_config` for one machine or for the
cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.launcher.catalog import ServiceSpec, TrafficClass

IDENTITY_HEADER_PREFIX = "x-aiplat-"
"""Headers only the gateway sets (identity from the verified token); a client's own are dropped on arrival."""

TENANT_HEADER = "x-aiplat-tenant"
SUBJECT_HEADER = "x-aiplat-subject"
HTTP_METHOD_HEADER = "x-aiplat-http-method"
"""The client's HTTP method, recorded before the transcoder turns a REST call into a gRPC POST."""
CLIENT_CONTENT_TYPE_HEADER = "x-aiplat-client-content-type"
"""The content type the client sent, recorded before the transcoder gives a REST call gRPC's: it tells
the gateway's own error replies a gRPC client from a REST one."""
ROLES_HEADER = "x-aiplat-roles"
"""The ``roles`` claim; Envoy forwards a list claim as base64 of its JSON (``WyJlZGl0b3IiXQ==``)."""


@dataclass(frozen=True)
class Endpoint:
    """One address: an instance of a service, a listener, or a collector."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Upstream:
    """A service the gateway routes to, and the instances that serve it."""

    spec: ServiceSpec
    endpoints: tuple[Endpoint, ...]
    """Every instance; the gateway balances over the healthy ones."""
    resolve_dns: bool = False
    """Whether the hosts are DNS names to resolve (the cluster) rather than IP addresses."""

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise ValueError(f"upstream {self.spec.name} has no endpoint")

    @classmethod
    def local(cls, spec: ServiceSpec, host: str, *ports: int) -> Upstream:
        """Instances of ``spec`` on ``host``, one per port."""
        return cls(spec=spec, endpoints=tuple(Endpoint(host, port) for port in ports))


@dataclass(frozen=True)
class LocalJwks:
    """Signing keys from a JWKS file, read when Envoy starts."""

    path: str


@dataclass(frozen=True)
class RemoteJwks:
    """Signing keys fetched from the identity provider, in the background, and cached."""

    url: str
    cache_seconds: int = 600


@dataclass(frozen=True)
class TokenPolicy:
    """Which tokens the gateway accepts."""

    issuer: str
    audience: str
    jwks: LocalJwks | RemoteJwks


@dataclass(frozen=True)
class Bucket:
    """A token bucket: a sustained rate and the burst allowed on top of it."""

    requests_per_second: float
    burst: int

    def __post_init__(self) -> None:
        if self.requests_per_second <= 0 or self.burst < 1:
            raise ValueError(f"a bucket needs a positive rate and a burst of at least 1: {self}")


@dataclass(frozen=True)
class RateLimits:
    """Per-tenant buckets by traffic class, tenant overrides, and the bucket of calls without a tenant."""

    default: Mapping[TrafficClass, Bucket]
    """The bucket each tenant gets per traffic class unless overridden."""
    untenanted: Bucket
    """Shared by calls that carry no tenant (open endpoints such as health checks)."""
    tenants: Mapping[str, Mapping[TrafficClass, Bucket]] = field(default_factory=dict)
    """Tenants with buckets of their own size, e.g. a premium tenant's bigger inference bucket."""
    max_tenants: int = 2000
    """Tenants tracked at once per traffic class; beyond it the least recently seen bucket is reset."""

    def bucket(self, tenant: str | None, traffic: TrafficClass) -> Bucket:
        """The bucket ``tenant`` draws from for ``traffic`` (None: a call without a tenant)."""
        if tenant is None:
            return self.untenanted
        return self.tenants.get(tenant, {}).get(traffic, self.default[traffic])


@dataclass(frozen=True)
class GatewayConfig:
    """Everything one rendered gateway configuration depends on."""

    upstreams: tuple[Upstream, ...]
    listen: Endpoint
    """Where gRPC and REST clients connect."""
    admin: Endpoint
    """Envoy's admin interface (stats, /stats/prometheus, /clusters); loopback only."""
    tokens: TokenPolicy
    rate_limits: RateLimits
    descriptor_set: str
    """Path of the contracts' descriptor set, as Envoy opens it."""
    max_request_body_bytes: int
    """Largest REST request body transcoded; larger ones get 413."""
    max_response_body_bytes: int
    """Largest REST response body transcoded."""
    unary_timeout_seconds: float
    """How long a call without a stream may take, gRPC or REST."""
    stream_idle_timeout_seconds: float
    """How long a stream (a watch, a streamed upload) may stay silent before it is closed."""
    otlp_endpoint: str | None = None
    """OTLP/gRPC collector (``http://collector:4317``) that receives the gateway's spans; None: no tracing."""
    max_connections: int = 10_000
    """Downstream connections accepted at once."""

    def __post_init__(self) -> None:
        names = [upstream.spec.name for upstream in self.upstreams]
        if len(set(names)) != len(names):
            raise ValueError(f"each service must appear once among the upstreams: {names}")
        if self.admin.host not in {"127.0.0.1", "::1", "localhost"}:
            raise ValueError(f"the admin interface must stay on loopback, not {self.admin.host}")
