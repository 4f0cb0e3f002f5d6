"""Envoy configuration for the one-machine mode: one listener, gRPC routed by service name.

The configuration is plain data rendered as JSON (which Envoy reads as YAML).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.launcher.catalog import ServiceSpec

_HTTP_CONNECTION_MANAGER = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_HTTP_PROTOCOL_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


@dataclass(frozen=True)
class Upstream:
    """A running service instance the gateway routes to."""

    spec: ServiceSpec
    host: str
    port: int


def _cluster(upstream: Upstream) -> dict[str, Any]:
    return {
        "name": upstream.spec.name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": _HTTP_PROTOCOL_OPTIONS,
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": upstream.spec.name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": upstream.host, "port_value": upstream.port}
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }


def _routes(upstreams: Sequence[Upstream]) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = []
    for upstream in upstreams:
        for grpc_service in upstream.spec.grpc_services:
            routes.append(
                {
                    "match": {"prefix": f"/{grpc_service}/", "grpc": {}},
                    # Streams (watches, log follows) must not be cut by the default 15 s route timeout.
                    "route": {"cluster": upstream.spec.name, "timeout": "0s"},
                }
            )
    return routes


def render(
    upstreams: Sequence[Upstream], *, listen_host: str, listen_port: int, admin_port: int
) -> Mapping[str, Any]:
    """Build the bootstrap configuration for the given upstreams."""
    connection_manager = {
        "@type": _HTTP_CONNECTION_MANAGER,
        "stat_prefix": "gateway",
        "codec_type": "AUTO",
        "route_config": {
            "name": "platform",
            "virtual_hosts": [{"name": "platform", "domains": ["*"], "routes": _routes(upstreams)}],
        },
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [
                {
                    "name": "gateway",
                    "address": {"socket_address": {"address": listen_host, "port_value": listen_port}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": connection_manager,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [_cluster(upstream) for upstream in upstreams],
        },
    }


def write(config: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path
