"""The gateway's route table: one gRPC route per RPC and one REST route per HTTP binding.

Routes carry what differs per method: the cluster, the timeout (streams are
not cut by the unary timeout) and the retry policy (reads only).  REST
routes match the incoming REST path: the transcoder keeps that route rather
than matching again on the gRPC path it produces.  Only REST routes turn on
the buffer filter, which holds a whole request body and refuses one over the
limit with 413; gRPC calls stream through.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from services.launcher.gateway_api import buffer, core, matcher, pack, previous_hosts, route
from services.launcher.gateway_model import GatewayConfig, Upstream
from services.launcher.gateway_rpcs import HttpBinding, Rpc, is_idempotent, rest_bindings, service_rpcs

HEALTH_PREFIX = "/grpc.health.v1.Health/"
"""The standard gRPC health service; answered by the first service in the catalogue."""
HEALTH_WATCH = Rpc(
    service="grpc.health.v1.Health",
    method="Watch",
    client_streaming=False,
    server_streaming=True,
    bindings=(),
)
"""The health service's one stream: it stays open until the client leaves, so the call timeout must not
cut it (``Check`` and ``List`` are unary)."""
REFLECTION_PREFIX = "/grpc.reflection.v1alpha.ServerReflection/"
"""Server reflection; answered by the first service in the catalogue, which describes every service
(``aiplat up`` tells it which).  Clients asking for ``grpc.reflection.v1`` first get UNIMPLEMENTED and
fall back to it, as grpcurl does."""

BODY_LIMIT_FILTER = "envoy.filters.http.buffer"
"""The HTTP filter that enforces the REST request body limit; off unless a route turns it on."""

VALUELESS_QUERY_PARAMETER = r"[^?]*\?(?:[^&]*&)*(?:[^=&]+|=[^&]*)(?:&.*)?"
"""A path whose query has a parameter without ``=`` (``?flag``) or without a name (``?=x``).  The
transcoder skips such a parameter where it refuses an unknown ``name=value`` one, so a misspelt
flag would be silently ignored; empty parts (``a=1&&b=2``) are harmless and pass."""
VALUELESS_QUERY_MESSAGE = "every query parameter must be name=value"

RETRY_ON = "reset,connect-failure,refused-stream,unavailable"
"""Unavailable instances and broken connections only: a call that timed out may have done its work."""
RETRIES = 2


def _retry_policy() -> route.RetryPolicy:
    return route.RetryPolicy(
        retry_on=RETRY_ON,
        num_retries=RETRIES,
        # No per_try_timeout: an attempt is never cut short and sent again, so slow inference is not doubled.
        retry_host_predicate=[
            route.RetryPolicyRetryHostPredicate(
                name="envoy.retry_host_predicates.previous_hosts",
                typed_config=pack(previous_hosts.PreviousHostsPredicate()),
            )
        ],
        host_selection_retry_max_attempts=5,
        retry_back_off=route.RetryPolicyRetryBackOff(
            base_interval=timedelta(milliseconds=25), max_interval=timedelta(milliseconds=250)
        ),
    )


def _action(upstream: Upstream, rpc: Rpc | None, config: GatewayConfig) -> route.RouteAction:
    streaming = rpc is not None and rpc.streaming
    return route.RouteAction(
        cluster=upstream.spec.name,
        # 0 disables the whole-call timeout: a watch or an upload lasts as long as it needs to.
        timeout=timedelta(0) if streaming else timedelta(seconds=config.unary_timeout_seconds),
        idle_timeout=timedelta(seconds=config.stream_idle_timeout_seconds) if streaming else None,
        retry_policy=_retry_policy() if rpc is not None and is_idempotent(upstream.spec, rpc) else None,
        auto_host_rewrite=_mesh_authority(upstream),
    )


def _mesh_authority(upstream: Upstream) -> bool | None:
    """In the cluster, the upstream call names the service's headless host (not the client's authority),
    so the pod's Istio sidecar applies that host's VirtualService: the one that turns off the sidecar's
    own retries, leaving the retry decision to this gateway's per-method policy."""
    return True if upstream.resolve_dns else None


def _grpc_route(upstream: Upstream, rpc: Rpc, config: GatewayConfig) -> route.Route:
    return route.Route(
        name=f"grpc {rpc.service}/{rpc.method}",
        match=route.RouteMatch(path=rpc.path, grpc=route.RouteMatchGrpcRouteMatchOptions()),
        route=_action(upstream, rpc, config),
        decorator=route.Decorator(operation=f"{rpc.service}/{rpc.method}"),
    )


def path_match(binding: HttpBinding) -> route.RouteMatch:
    """Match the binding's method and path: exact when the template is literal, else a regex."""
    method = route.HeaderMatcher(name=":method", string_match=matcher.StringMatcher(exact=binding.verb))
    if binding.literal:
        return route.RouteMatch(path=binding.template, headers=[method])
    return route.RouteMatch(safe_regex=matcher.RegexMatcher(regex=binding.path_regex()), headers=[method])


def rest_body_limit(config: GatewayConfig) -> buffer.Buffer:
    """The whole REST request body, held before it is transcoded: one over the limit gets 413, however
    slowly it arrives (the transcoder's own limit caps only what it holds at once, not the body)."""
    return buffer.Buffer(max_request_bytes=config.max_request_body_bytes)


def _rest_route(upstream: Upstream, rpc: Rpc, binding: HttpBinding, config: GatewayConfig) -> route.Route:
    return route.Route(
        name=f"rest {binding.verb} {binding.template}",
        match=path_match(binding),
        route=_action(upstream, rpc, config),
        decorator=route.Decorator(operation=f"{rpc.service}/{rpc.method}"),
        typed_per_filter_config={
            BODY_LIMIT_FILTER: pack(buffer.BufferPerRoute(buffer=rest_body_limit(config)))
        },
    )


def _valueless_query_route() -> route.Route:
    path = route.HeaderMatcher(
        name=":path",
        string_match=matcher.StringMatcher(safe_regex=matcher.RegexMatcher(regex=VALUELESS_QUERY_PARAMETER)),
    )
    return route.Route(
        name="refuse query parameter without a value",
        match=route.RouteMatch(prefix="/", headers=[path]),
        direct_response=route.DirectResponseAction(
            status=400, body=core.DataSource(inline_string=VALUELESS_QUERY_MESSAGE)
        ),
    )


def _health_routes(upstream: Upstream, config: GatewayConfig) -> list[route.Route]:
    """``Watch`` as the stream it is, then every other health method as a unary call."""
    grpc = route.RouteMatchGrpcRouteMatchOptions()
    return [
        route.Route(
            name="grpc health watch",
            match=route.RouteMatch(path=HEALTH_WATCH.path, grpc=grpc),
            route=_action(upstream, HEALTH_WATCH, config),
        ),
        route.Route(
            name="grpc health",
            match=route.RouteMatch(prefix=HEALTH_PREFIX, grpc=grpc),
            route=_action(upstream, None, config),
        ),
    ]


def _reflection_route(upstream: Upstream) -> route.Route:
    return route.Route(
        name="grpc reflection",
        match=route.RouteMatch(prefix=REFLECTION_PREFIX, grpc=route.RouteMatchGrpcRouteMatchOptions()),
        # A reflection stream stays open as long as the tool runs.
        route=route.RouteAction(
            cluster=upstream.spec.name, timeout=timedelta(0), auto_host_rewrite=_mesh_authority(upstream)
        ),
    )


def routes(config: GatewayConfig) -> list[route.Route]:
    """Every route: gRPC health and reflection, each service's gRPC methods, then every REST binding
    (after the refusal of query parameters without a value)."""
    first = config.upstreams[0] if config.upstreams else None
    table = [*_health_routes(first, config), _reflection_route(first)] if first is not None else []
    for upstream in config.upstreams:
        table += [_grpc_route(upstream, rpc, config) for rpc in service_rpcs(upstream.spec)]
    # REST routes of all services together, literal paths first, as the transcoder resolves them.
    owner = {name: upstream for upstream in config.upstreams for name in upstream.spec.grpc_services}
    every_rpc = [rpc for upstream in config.upstreams for rpc in service_rpcs(upstream.spec)]
    table.append(_valueless_query_route())
    table += [
        _rest_route(owner[rpc.service], rpc, binding, config) for rpc, binding in rest_bindings(every_rpc)
    ]
    return table


def public_matches(upstreams: Sequence[Upstream]) -> list[route.RouteMatch]:
    """Requests served without a token: gRPC health, and the services' public methods (gRPC and REST)."""
    matches = [route.RouteMatch(prefix=HEALTH_PREFIX)]
    for upstream in upstreams:
        for rpc in service_rpcs(upstream.spec):
            if rpc.method in upstream.spec.public_methods:
                matches.append(route.RouteMatch(path=rpc.path))
                matches += [path_match(binding) for binding in rpc.bindings]
    return matches


def route_configuration(config: GatewayConfig) -> route.RouteConfiguration:
    return route.RouteConfiguration(
        name="aiplat",
        virtual_hosts=[route.VirtualHost(name="aiplat", domains=["*"], routes=routes(config))],
    )
