"""Envoy's API packages (from envoy-data-plane) under short names: ``route.RouteMatch``, ``core.Address``.

Importing them here once keeps a deprecation warning that the generated
classes raise as they are defined (pydantic, about their validators) out of
every module, and out of test runs where warnings are errors.
"""

from __future__ import annotations

import warnings

import betterproto2
from pydantic.warnings import PydanticDeprecationWarning

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message=".*`@model_validator` with mode='after' on a classmethod",
        category=PydanticDeprecationWarning,
    )
    from envoy_data_plane.envoy.config.accesslog import v3 as accesslog
    from envoy_data_plane.envoy.config.bootstrap import v3 as bootstrap
    from envoy_data_plane.envoy.config.cluster import v3 as cluster
    from envoy_data_plane.envoy.config.common.mutation_rules import v3 as mutation_rules
    from envoy_data_plane.envoy.config.core import v3 as core
    from envoy_data_plane.envoy.config.endpoint import v3 as endpoint
    from envoy_data_plane.envoy.config.listener import v3 as listener
    from envoy_data_plane.envoy.config.overload import v3 as overload
    from envoy_data_plane.envoy.config.route import v3 as route
    from envoy_data_plane.envoy.config.trace import v3 as trace
    from envoy_data_plane.envoy.extensions.access_loggers.stream import v3 as stream_log
    from envoy_data_plane.envoy.extensions.common.matching import v3 as matching
    from envoy_data_plane.envoy.extensions.common.ratelimit import v3 as ratelimit
    from envoy_data_plane.envoy.extensions.filters.common.matcher.action import v3 as matcher_action
    from envoy_data_plane.envoy.extensions.filters.http.buffer import v3 as buffer
    from envoy_data_plane.envoy.extensions.filters.http.grpc_json_transcoder import v3 as transcoder
    from envoy_data_plane.envoy.extensions.filters.http.grpc_stats import v3 as grpc_stats
    from envoy_data_plane.envoy.extensions.filters.http.header_mutation import v3 as header_mutation
    from envoy_data_plane.envoy.extensions.filters.http.jwt_authn import v3 as jwt_authn
    from envoy_data_plane.envoy.extensions.filters.http.local_ratelimit import v3 as local_ratelimit
    from envoy_data_plane.envoy.extensions.filters.http.router import v3 as router
    from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager import v3 as hcm
    from envoy_data_plane.envoy.extensions.http.early_header_mutation.header_mutation import (
        v3 as early_header_mutation,
    )
    from envoy_data_plane.envoy.extensions.resource_monitors.downstream_connections import (
        v3 as downstream_connections,
    )
    from envoy_data_plane.envoy.extensions.retry.host.previous_hosts import v3 as previous_hosts
    from envoy_data_plane.envoy.extensions.transport_sockets.tls import v3 as tls
    from envoy_data_plane.envoy.extensions.upstreams.http import v3 as upstream_http
    from envoy_data_plane.envoy.type import v3 as envoy_type
    from envoy_data_plane.envoy.type.matcher import v3 as matcher
    from envoy_data_plane.envoy.type.metadata import v3 as metadata
    from envoy_data_plane.google import protobuf
    from envoy_data_plane.xds.core import v3 as xds_core
    from envoy_data_plane.xds.type.matcher import v3 as xds_matcher

__all__ = [
    "accesslog",
    "bootstrap",
    "buffer",
    "cluster",
    "core",
    "downstream_connections",
    "early_header_mutation",
    "endpoint",
    "envoy_type",
    "grpc_stats",
    "hcm",
    "header_mutation",
    "jwt_authn",
    "listener",
    "local_ratelimit",
    "matcher",
    "matcher_action",
    "matching",
    "metadata",
    "mutation_rules",
    "overload",
    "pack",
    "previous_hosts",
    "protobuf",
    "ratelimit",
    "route",
    "router",
    "stream_log",
    "tls",
    "trace",
    "transcoder",
    "upstream_http",
    "xds_core",
    "xds_matcher",
]


def pack(message: betterproto2.Message) -> protobuf.Any:
    """``message`` as a ``google.protobuf.Any``: an extension's ``typed_config``."""
    return protobuf.Any.pack(message)
