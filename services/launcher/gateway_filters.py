"""The gateway's HTTP filters, in order: the token's identity (jwt_authn, lenient), local_ratelimit,
the token requirement (jwt_authn, strict), buffer (REST routes only), the REST 401 challenge (on
responses only), grpc_json_transcoder, grpc_stats, router.

Authentication runs in two passes around the rate limit.  The first verifies
a token when there is one and forwards its claims as headers, but lets a call
with a missing or failed token go on without them; the rate limit then draws
from the caller's tenant bucket, or from the default bucket when there is no
verified tenant; the second refuses every call that needs a token and has no
valid one.  Its refusals thus pass back through the rate limit, so they carry
``x-ratelimit-*`` headers as every response does, and calls with bad tokens
draw from the default bucket: once it is dry, they get RESOURCE_EXHAUSTED /
429 without reaching the second pass.  The first pass still checks each
failing token's signature (only valid tokens are cached); bounding that work
would take a limit before authentication, per connection or client address.

Before any filter runs, an early header mutation drops every ``x-aiplat-*``
header the client sent: those headers carry identity, and only the gateway
sets them (jwt_authn from a verified token).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta

import betterproto2

from services.launcher.catalog import TrafficClass
from services.launcher.gateway_api import (
    core,
    early_header_mutation,
    envoy_type,
    grpc_stats,
    hcm,
    jwt_authn,
    local_ratelimit,
    matcher,
    metadata,
    mutation_rules,
    pack,
    protobuf,
    ratelimit,
    route,
    router,
    transcoder,
)
from services.launcher.gateway_clusters import GATEWAY_METADATA, IDENTITY_PROVIDER_CLUSTER, TRAFFIC_KEY
from services.launcher.gateway_model import (
    CLIENT_CONTENT_TYPE_HEADER,
    HTTP_METHOD_HEADER,
    IDENTITY_HEADER_PREFIX,
    ROLES_HEADER,
    SUBJECT_HEADER,
    TENANT_HEADER,
    Bucket,
    GatewayConfig,
    LocalJwks,
    RateLimits,
)
from services.launcher.gateway_replies import CHALLENGE_FILTER, rest_challenge
from services.launcher.gateway_routes import BODY_LIMIT_FILTER, public_matches, rest_body_limit
from services.launcher.gateway_rpcs import service_rpcs

JWT_PROVIDER = "aiplat"
IDENTITY_FILTER = "aiplat.token_identity"
"""The first, lenient jwt_authn pass: a valid token's claims as headers, before the rate limit."""
AUTHENTICATION_FILTER = "envoy.filters.http.jwt_authn"
"""The second, strict jwt_authn pass, after the rate limit: no valid token, no call (but public ones)."""
TRAFFIC_DESCRIPTOR = "traffic"
"""Rate-limit descriptor key: the traffic class of the service the call goes to."""
TENANT_DESCRIPTOR = "tenant"
"""Rate-limit descriptor key: the caller's tenant, from the verified token."""
_MIN_FILL_INTERVAL = timedelta(milliseconds=50)  # Envoy's lower bound

VERIFIED_TOKENS_CACHED = 10_000
"""Verified tokens each Envoy worker keeps, so repeated calls skip the signature check."""


def edge_headers() -> core.TypedExtensionConfig:
    """As the request arrives, before routing and filters: drop every ``x-aiplat-*`` header the client
    sent, then record the client's HTTP method and content type (the transcoder turns every REST call
    into a gRPC POST)."""
    remove = mutation_rules.HeaderMutation(
        remove_on_match=mutation_rules.HeaderMutationRemoveOnMatch(
            key_matcher=matcher.StringMatcher(prefix=IDENTITY_HEADER_PREFIX, ignore_case=True)
        )
    )
    method = mutation_rules.HeaderMutation(
        append=core.HeaderValueOption(
            header=core.HeaderValue(key=HTTP_METHOD_HEADER, value="%REQ(:METHOD)%"),
            append_action=core.HeaderValueOptionHeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
        )
    )
    content_type = mutation_rules.HeaderMutation(
        append=core.HeaderValueOption(
            # Left out when the client sent none (an empty value is not added).
            header=core.HeaderValue(key=CLIENT_CONTENT_TYPE_HEADER, value="%REQ(CONTENT-TYPE)%"),
            append_action=core.HeaderValueOptionHeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
        )
    )
    return core.TypedExtensionConfig(
        name="envoy.http.early_header_mutation.header_mutation",
        typed_config=pack(early_header_mutation.HeaderMutation(mutations=[remove, method, content_type])),
    )


def _remote_jwks(url: str, cache_seconds: int) -> jwt_authn.RemoteJwks:
    return jwt_authn.RemoteJwks(
        http_uri=core.HttpUri(uri=url, cluster=IDENTITY_PROVIDER_CLUSTER, timeout=timedelta(seconds=5)),
        cache_duration=timedelta(seconds=cache_seconds),
        # Fetched in the background from startup on; the listener waits for the first answer.
        async_fetch=jwt_authn.JwksAsyncFetch(fast_listener=False),
        retry_policy=core.RetryPolicy(
            num_retries=3,
            retry_back_off=core.BackoffStrategy(
                base_interval=timedelta(milliseconds=500), max_interval=timedelta(seconds=5)
            ),
        ),
    )


def _provider(config: GatewayConfig) -> jwt_authn.JwtProvider:
    tokens = config.tokens
    return jwt_authn.JwtProvider(
        issuer=tokens.issuer,
        audiences=[tokens.audience],
        local_jwks=core.DataSource(filename=tokens.jwks.path) if isinstance(tokens.jwks, LocalJwks) else None,
        remote_jwks=None
        if isinstance(tokens.jwks, LocalJwks)
        else _remote_jwks(tokens.jwks.url, tokens.jwks.cache_seconds),
        from_headers=[jwt_authn.JwtHeader(name="authorization", value_prefix="Bearer ")],
        # Services verify the token again (defence in depth), so it travels on.
        forward=True,
        # A client sends the same token until it expires: verify its signature once, not on every call.
        # Envoy still checks a cached token's expiry on each use.
        jwt_cache_config=jwt_authn.JwtCacheConfig(jwt_cache_size=VERIFIED_TOKENS_CACHED),
        claim_to_headers=[
            jwt_authn.JwtClaimToHeader(header_name=SUBJECT_HEADER, claim_name="sub"),
            jwt_authn.JwtClaimToHeader(header_name=TENANT_HEADER, claim_name="tenant"),
            jwt_authn.JwtClaimToHeader(header_name=ROLES_HEADER, claim_name="roles"),
        ],
    )


def _token_if_any() -> jwt_authn.JwtRequirement:
    """A token is verified when there is one; a call without one, or with one that fails, goes on
    without the claim headers.  The provider requirement comes first so that its cache of verified
    tokens is used (a bare ``allow_missing_or_failed`` checks every signature)."""
    return jwt_authn.JwtRequirement(
        requires_any=jwt_authn.JwtRequirementOrList(
            requirements=[
                jwt_authn.JwtRequirement(provider_name=JWT_PROVIDER),
                jwt_authn.JwtRequirement(allow_missing_or_failed=protobuf.Empty()),
            ]
        )
    )


def identity(config: GatewayConfig) -> jwt_authn.JwtAuthentication:
    """The first pass, on every call: a valid token's claims become the identity headers, so that the
    rate limit finds the tenant; no token, or one that fails, is no error yet.

    Headers come from a verified token only: jwt_authn adds them once the signature, issuer, audience
    and expiry have passed, and the client's own were dropped on arrival.
    """
    return jwt_authn.JwtAuthentication(
        providers={JWT_PROVIDER: _provider(config)},
        rules=[jwt_authn.RequirementRule(match=route.RouteMatch(prefix="/"), requires=_token_if_any())],
        stat_prefix="identity",
    )


def authentication(config: GatewayConfig) -> jwt_authn.JwtAuthentication:
    """The second pass: a verified token on every request except the public ones (health, server
    metadata), after the rate limit.

    A public call's token, when it carries one, was verified by the first pass, so that its tenant
    pays for it from its own bucket: otherwise one tenant polling readiness would drain the bucket
    that every caller without a token shares.  This pass leaves public calls alone (a rule without a
    requirement), whatever their token.  On the others it removes the identity headers and sets them
    again from the token it verifies, which its own cache of verified tokens makes cheap.
    """
    open_rules = [jwt_authn.RequirementRule(match=match) for match in public_matches(config.upstreams)]
    required = jwt_authn.RequirementRule(
        match=route.RouteMatch(prefix="/"), requires=jwt_authn.JwtRequirement(provider_name=JWT_PROVIDER)
    )
    return jwt_authn.JwtAuthentication(
        providers={JWT_PROVIDER: _provider(config)}, rules=[*open_rules, required]
    )


def token_bucket(bucket: Bucket) -> envoy_type.TokenBucket:
    """Rates of one request per second and more refill every second (rounded to whole requests);
    slower ones refill one token every ``1 / rate`` seconds."""
    if bucket.requests_per_second >= 1:
        tokens, interval = round(bucket.requests_per_second), timedelta(seconds=1)
    else:
        tokens, interval = 1, timedelta(milliseconds=math.ceil(1000 / bucket.requests_per_second))
    return envoy_type.TokenBucket(
        max_tokens=bucket.burst, tokens_per_fill=tokens, fill_interval=max(interval, _MIN_FILL_INTERVAL)
    )


def _descriptor(traffic: TrafficClass, tenant: str, bucket: Bucket) -> ratelimit.LocalRateLimitDescriptor:
    return ratelimit.LocalRateLimitDescriptor(
        entries=[
            ratelimit.RateLimitDescriptorEntry(key=TRAFFIC_DESCRIPTOR, value=traffic.value),
            # An empty value makes the descriptor a template: every tenant gets a bucket of its own.
            ratelimit.RateLimitDescriptorEntry(key=TENANT_DESCRIPTOR, value=tenant),
        ],
        token_bucket=token_bucket(bucket),
    )


def _descriptors(limits: RateLimits) -> Iterator[ratelimit.LocalRateLimitDescriptor]:
    # Tenants with sizes of their own come first: the first descriptor that matches is used.
    for tenant, own in sorted(limits.tenants.items()):
        yield from (_descriptor(traffic, tenant, own[traffic]) for traffic in TrafficClass if traffic in own)
    yield from (_descriptor(traffic, "", limits.default[traffic]) for traffic in TrafficClass)


UNROUTED_TRAFFIC = TrafficClass.CONTROL_PLANE
"""The bucket a tenant's call that matches no route draws from (an unknown path, method or service,
e.g. the ``grpc.reflection.v1`` grpcurl tries first): it has no cluster to take a traffic class from."""


def _tenant_descriptor() -> route.RateLimit:
    """The descriptor ``(traffic, tenant)`` of a call, from the target cluster's metadata and the
    tenant header; a call without the header has none and draws from the default bucket.

    A call that matches no route has no cluster: without a default it too would have no descriptor and
    drain the default bucket, so that one tenant's wrong calls would refuse every caller without a tenant.
    """
    traffic = route.RateLimitActionMetaData(
        descriptor_key=TRAFFIC_DESCRIPTOR,
        metadata_key=metadata.MetadataKey(
            key=GATEWAY_METADATA, path=[metadata.MetadataKeyPathSegment(key=TRAFFIC_KEY)]
        ),
        source=route.RateLimitActionMetaDataSource.CLUSTER_ENTRY,
        default_value=UNROUTED_TRAFFIC.value,
    )
    tenant = route.RateLimitActionRequestHeaders(header_name=TENANT_HEADER, descriptor_key=TENANT_DESCRIPTOR)
    return route.RateLimit(
        actions=[route.RateLimitAction(metadata=traffic), route.RateLimitAction(request_headers=tenant)]
    )


def _always() -> core.RuntimeFractionalPercent:
    # Both fractions default to 0 %, which would leave the limits off.
    return core.RuntimeFractionalPercent(
        default_value=envoy_type.FractionalPercent(
            numerator=100, denominator=envoy_type.FractionalPercentDenominatorType.HUNDRED
        )
    )


def rate_limit(config: GatewayConfig) -> local_ratelimit.LocalRateLimit:
    """Per-tenant token buckets by traffic class."""
    limits = config.rate_limits
    return local_ratelimit.LocalRateLimit(
        stat_prefix="tenant_rate_limit",
        rate_limits=[_tenant_descriptor()],
        token_bucket=token_bucket(limits.untenanted),
        filter_enabled=_always(),
        filter_enforced=_always(),
        descriptors=list(_descriptors(limits)),
        # The default bucket is for calls without a tenant only; a tenant's calls never drain it.
        always_consume_default_token_bucket=False,
        max_dynamic_descriptors=limits.max_tenants,
        rate_limited_as_resource_exhausted=True,
        enable_x_ratelimit_headers=ratelimit.XRateLimitHeadersRfcVersion.DRAFT_VERSION_03,
    )


def transcoding(config: GatewayConfig) -> transcoder.GrpcJsonTranscoder:
    """REST to gRPC for every catalogue service, strict about paths and query parameters."""
    services = sorted({rpc.service for upstream in config.upstreams for rpc in service_rpcs(upstream.spec)})
    return transcoder.GrpcJsonTranscoder(
        proto_descriptor=config.descriptor_set,
        services=services,
        print_options=transcoder.GrpcJsonTranscoderPrintOptions(
            always_print_enums_as_ints=False,
            preserve_proto_field_names=False,
            stream_newline_delimited=True,
        ),
        # Keep the REST route: its timeout and retry policy, not those of the gRPC route.
        match_incoming_request_route=True,
        convert_grpc_status=True,
        query_param_unescape_plus=True,
        request_validation_options=transcoder.GrpcJsonTranscoderRequestValidationOptions(
            reject_unknown_method=True,
            reject_unknown_query_parameters=True,
            reject_binding_body_field_collisions=True,
        ),
        max_request_body_size=config.max_request_body_bytes,
        max_response_body_size=config.max_response_body_bytes,
    )


def method_stats() -> grpc_stats.FilterConfig:
    """Per-method request and status counters, named ``aiplat_models_v1_...`` rather than with dots."""
    return grpc_stats.FilterConfig(
        stats_for_all_methods=True, enable_upstream_stats=True, replace_dots_in_grpc_service_name=True
    )


def http_filters(config: GatewayConfig) -> list[hcm.HttpFilter]:
    """The filter chain in the order requests meet it.

    The strict token check comes after the rate limit, so that its refusals (401, UNAUTHENTICATED)
    carry the ``x-ratelimit-*`` headers and calls with bad tokens draw from the default bucket.
    The body limit comes after the token check and the rate limit, so a refused call is not held
    first, and it is off but on REST routes: gRPC streams through, and a gRPC message over the
    services' limit gets RESOURCE_EXHAUSTED from the service.
    """
    chain: list[tuple[str, betterproto2.Message]] = [
        (IDENTITY_FILTER, identity(config)),
        ("envoy.filters.http.local_ratelimit", rate_limit(config)),
        (AUTHENTICATION_FILTER, authentication(config)),
        (BODY_LIMIT_FILTER, rest_body_limit(config)),
        (CHALLENGE_FILTER, rest_challenge()),
        ("envoy.filters.http.grpc_json_transcoder", transcoding(config)),
        ("envoy.filters.http.grpc_stats", method_stats()),
        ("envoy.filters.http.router", router.Router()),
    ]
    return [
        hcm.HttpFilter(name=name, typed_config=pack(typed), disabled=name == BODY_LIMIT_FILTER)
        for name, typed in chain
    ]
