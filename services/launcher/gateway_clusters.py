"""Upstream clusters: one per service (HTTP/2, gRPC health checks, outlier detection), plus the
identity provider's JWKS endpoint and the OpenTelemetry collector when the configuration uses them."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import timedelta
from urllib.parse import urlsplit

from services.launcher import gateway_model as model
from services.launcher.gateway_api import (
    cluster,
    core,
    endpoint,
    envoy_type,
    matcher,
    pack,
    protobuf,
    tls,
    upstream_http,
)

GATEWAY_METADATA = "aiplat.gateway"
"""Metadata namespace of the gateway's own facts about a cluster (its traffic class, for rate limits)."""
TRAFFIC_KEY = "traffic"
IDENTITY_PROVIDER_CLUSTER = "identity_provider"
COLLECTOR_CLUSTER = "opentelemetry_collector"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
"""Trusted CAs for the identity provider and the collector over TLS (Debian's bundle, as in the image)."""

HEALTH_CHECK_INTERVAL = timedelta(seconds=1)
"""How often each instance is asked for its gRPC health, with or without traffic."""
UNHEALTHY_THRESHOLD = 2
HEALTHY_THRESHOLD = 1


UPSTREAM_STREAMS_PER_CONNECTION = 8
"""Concurrent calls on one upstream connection before Envoy opens another.  An instance's worker
processes share its port (SO_REUSEPORT) and each accepts whole connections, so calls spread over
the workers only when they travel on several connections."""


def _protocol_options(http2: bool) -> dict[str, protobuf.Any]:
    if http2:
        explicit = upstream_http.HttpProtocolOptionsExplicitHttpConfig(
            http2_protocol_options=core.Http2ProtocolOptions(
                # Long streams (watches) across idle periods: notice a dead peer.
                connection_keepalive=core.KeepaliveSettings(
                    interval=timedelta(seconds=30), timeout=timedelta(seconds=5)
                ),
                max_concurrent_streams=UPSTREAM_STREAMS_PER_CONNECTION,
            )
        )
    else:
        explicit = upstream_http.HttpProtocolOptionsExplicitHttpConfig(
            http_protocol_options=core.Http1ProtocolOptions()
        )
    options = upstream_http.HttpProtocolOptions(explicit_http_config=explicit)
    return {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": pack(options)}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _load_assignment(name: str, endpoints: Sequence[model.Endpoint]) -> endpoint.ClusterLoadAssignment:
    return endpoint.ClusterLoadAssignment(
        cluster_name=name,
        endpoints=[
            endpoint.LocalityLbEndpoints(
                lb_endpoints=[
                    endpoint.LbEndpoint(
                        endpoint=endpoint.Endpoint(
                            address=core.Address(
                                socket_address=core.SocketAddress(address=e.host, port_value=e.port)
                            )
                        )
                    )
                    for e in endpoints
                ]
            )
        ],
    )


def _health_check() -> core.HealthCheck:
    return core.HealthCheck(
        timeout=timedelta(seconds=1),
        interval=HEALTH_CHECK_INTERVAL,
        # As often before the first call as after it, so a new instance is used at once.
        no_traffic_interval=HEALTH_CHECK_INTERVAL,
        unhealthy_threshold=UNHEALTHY_THRESHOLD,
        healthy_threshold=HEALTHY_THRESHOLD,
        grpc_health_check=core.HealthCheckGrpcHealthCheck(service_name=""),
    )


def service_cluster(upstream: model.Upstream) -> cluster.Cluster:
    """A service's instances over HTTP/2; an instance that is not SERVING gets no traffic at all."""
    name = upstream.spec.name
    return cluster.Cluster(
        name=name,
        type=cluster.ClusterDiscoveryType.STRICT_DNS
        if upstream.resolve_dns
        else cluster.ClusterDiscoveryType.STATIC,
        connect_timeout=timedelta(seconds=1),
        lb_policy=cluster.ClusterLbPolicy.ROUND_ROBIN,
        typed_extension_protocol_options=_protocol_options(http2=True),
        load_assignment=_load_assignment(name, upstream.endpoints),
        metadata=core.Metadata(
            filter_metadata={
                GATEWAY_METADATA: protobuf.Struct.from_dict({TRAFFIC_KEY: upstream.spec.traffic.value})
            }
        ),
        health_checks=[_health_check()],
        common_lb_config=cluster.ClusterCommonLbConfig(
            # Envoy's default panic threshold (50 %) would send traffic to unhealthy instances.
            healthy_panic_threshold=envoy_type.Percent(value=0.0),
            # Apply a health change at once rather than merging changes for up to a second.
            update_merge_window=timedelta(0),
        ),
        outlier_detection=cluster.OutlierDetection(
            consecutive_5xx=5,
            consecutive_gateway_failure=3,
            enforcing_consecutive_gateway_failure=100,
            interval=timedelta(seconds=5),
            base_ejection_time=timedelta(seconds=15),
            max_ejection_percent=50,
        ),
    )


def _tls(host: str) -> core.TransportSocket:
    context = tls.UpstreamTlsContext(
        sni=host,
        common_tls_context=tls.CommonTlsContext(
            validation_context=tls.CertificateValidationContext(
                trusted_ca=core.DataSource(filename=SYSTEM_CA_BUNDLE),
                match_typed_subject_alt_names=[
                    tls.SubjectAltNameMatcher(
                        san_type=tls.SubjectAltNameMatcherSanType.DNS,
                        matcher=matcher.StringMatcher(exact=host),
                    )
                ],
            )
        ),
    )
    return core.TransportSocket(name="envoy.transport_sockets.tls", typed_config=pack(context))


def url_cluster(name: str, url: str, *, http2: bool) -> cluster.Cluster:
    """A cluster reaching the host of ``url`` (TLS for https), resolved by DNS unless it is an address."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{name}: expected an http(s) URL, got {url!r}")
    secure = parts.scheme == "https"
    host = parts.hostname
    port = parts.port or (443 if secure else 80)
    return cluster.Cluster(
        name=name,
        type=cluster.ClusterDiscoveryType.STATIC if _is_ip(host) else cluster.ClusterDiscoveryType.STRICT_DNS,
        connect_timeout=timedelta(seconds=2),
        lb_policy=cluster.ClusterLbPolicy.ROUND_ROBIN,
        typed_extension_protocol_options=_protocol_options(http2=http2),
        load_assignment=_load_assignment(name, [model.Endpoint(host, port)]),
        transport_socket=_tls(host) if secure else None,
    )


def clusters(config: model.GatewayConfig) -> list[cluster.Cluster]:
    """Every cluster the configuration refers to."""
    found = [service_cluster(upstream) for upstream in config.upstreams]
    if isinstance(config.tokens.jwks, model.RemoteJwks):
        found.append(url_cluster(IDENTITY_PROVIDER_CLUSTER, config.tokens.jwks.url, http2=False))
    if config.otlp_endpoint is not None:
        found.append(url_cluster(COLLECTOR_CLUSTER, config.otlp_endpoint, http2=True))
    return found
