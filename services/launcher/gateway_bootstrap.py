"""The whole Envoy bootstrap: one listener (gRPC and REST on one port), its filters, routes and clusters.

Requests meet, in order: an early header mutation that drops identity headers
sent by the client and records the HTTP method and content type, jwt_authn (the claims of a valid
token), local_ratelimit, jwt_authn again (refusing calls without a valid token), the buffer filter
(REST routes only), the gRPC-JSON transcoder, grpc_stats and the router.  Errors Envoy answers
itself are JSON statuses for REST clients (:mod:`services.launcher.gateway_replies`).  Every request
is logged as one JSON line on stdout; spans go to the OpenTelemetry collector when one is configured.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from betterproto2 import Casing

from services.launcher import gateway_clusters, gateway_filters, gateway_replies, gateway_routes
from services.launcher.gateway_api import (
    accesslog,
    core,
    downstream_connections,
    hcm,
    listener,
    overload,
    pack,
    protobuf,
    stream_log,
    trace,
)
from services.launcher.gateway_api import bootstrap as envoy_bootstrap
from services.launcher.gateway_model import Endpoint, GatewayConfig

ACCESS_LOG_FORMAT = {
    "time": "%START_TIME%",
    "tenant": "%REQ(X-AIPLAT-TENANT)%",
    "subject": "%REQ(X-AIPLAT-SUBJECT)%",
    "roles": "%REQ(X-AIPLAT-ROLES)%",
    "method": "%REQ(X-AIPLAT-HTTP-METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "rpc": "%REQ(:PATH)%",
    "protocol": "%PROTOCOL%",
    "status": "%RESPONSE_CODE%",
    "grpc_status": "%GRPC_STATUS(SNAKE_STRING)%",
    "response_flags": "%RESPONSE_FLAGS%",
    "details": "%RESPONSE_CODE_DETAILS%",
    "duration_ms": "%DURATION%",
    "route": "%ROUTE_NAME%",
    "upstream": "%UPSTREAM_HOST%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "trace_id": "%TRACE_ID%",
}
"""One JSON line per request on stdout."""


def _address(endpoint: Endpoint) -> core.Address:
    return core.Address(socket_address=core.SocketAddress(address=endpoint.host, port_value=endpoint.port))


def _access_log() -> accesslog.AccessLog:
    json_lines = core.SubstitutionFormatString(json_format=protobuf.Struct.from_dict(ACCESS_LOG_FORMAT))
    return accesslog.AccessLog(
        name="envoy.access_loggers.stdout",
        typed_config=pack(stream_log.StdoutAccessLog(log_format=json_lines)),
    )


def _tracing(config: GatewayConfig) -> hcm.HttpConnectionManagerTracing | None:
    if config.otlp_endpoint is None:
        return None
    tracer = trace.OpenTelemetryConfig(
        grpc_service=core.GrpcService(
            envoy_grpc=core.GrpcServiceEnvoyGrpc(cluster_name=gateway_clusters.COLLECTOR_CLUSTER),
            timeout=timedelta(seconds=2),
        ),
        service_name="gateway",
    )
    # The tracer continues an incoming traceparent and passes its own on to the service.
    return hcm.HttpConnectionManagerTracing(
        provider=trace.TracingHttp(name="envoy.tracers.opentelemetry", typed_config=pack(tracer))
    )


def _connection_manager(config: GatewayConfig) -> hcm.HttpConnectionManager:
    return hcm.HttpConnectionManager(
        stat_prefix="gateway",
        # HTTP/1.1 and HTTP/2 (gRPC, and REST over either) on one port.
        codec_type=hcm.HttpConnectionManagerCodecType.AUTO,
        early_header_mutation_extensions=[gateway_filters.edge_headers()],
        route_config=gateway_routes.route_configuration(config),
        http_filters=gateway_filters.http_filters(config),
        local_reply_config=gateway_replies.local_replies(),
        access_log=[_access_log()],
        tracing=_tracing(config),
        use_remote_address=True,
        normalize_path=True,
        merge_slashes=True,
        path_with_escaped_slashes_action=hcm.HttpConnectionManagerPathWithEscapedSlashesAction.REJECT_REQUEST,
        # `x_aiplat_tenant` must not reach a service that would read it as `x-aiplat-tenant`.
        common_http_protocol_options=core.HttpProtocolOptions(
            headers_with_underscores_action=core.HttpProtocolOptionsHeadersWithUnderscoresAction.DROP_HEADER
        ),
    )


def _listener(config: GatewayConfig) -> listener.Listener:
    manager = listener.Filter(
        name="envoy.filters.network.http_connection_manager", typed_config=pack(_connection_manager(config))
    )
    return listener.Listener(
        name="gateway",
        address=_address(config.listen),
        filter_chains=[listener.FilterChain(filters=[manager])],
    )


def _connection_limit(config: GatewayConfig) -> overload.OverloadManager:
    monitor = downstream_connections.DownstreamConnectionsConfig(
        max_active_downstream_connections=config.max_connections
    )
    return overload.OverloadManager(
        resource_monitors=[
            overload.ResourceMonitor(
                name="envoy.resource_monitors.global_downstream_max_connections", typed_config=pack(monitor)
            )
        ]
    )


def bootstrap(config: GatewayConfig) -> envoy_bootstrap.Bootstrap:
    """The whole static configuration."""
    return envoy_bootstrap.Bootstrap(
        admin=envoy_bootstrap.Admin(address=_address(config.admin)),
        static_resources=envoy_bootstrap.BootstrapStaticResources(
            listeners=[_listener(config)], clusters=gateway_clusters.clusters(config)
        ),
        overload_manager=_connection_limit(config),
    )


def _proto_name(attribute: str) -> str:
    return attribute


def render(config: GatewayConfig) -> dict[str, Any]:
    """The configuration with the proto field names Envoy's documentation uses, ready for JSON or YAML."""
    # betterproto2's casings rewrite names with digits (consecutive_5xx becomes consecutive_5_xx or
    # consecutive5Xx, which Envoy rejects); the attribute names are the proto names, so they are kept.
    return bootstrap(config).to_dict(casing=cast(Casing, _proto_name))
