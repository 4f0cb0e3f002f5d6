"""The Envoy gateway's configuration, built as typed Envoy API objects from the service catalogue.

One listener serves gRPC and REST (HTTP/1.1 and HTTP/2) on one port:
identity headers from the client are dropped, then jwt_authn verifies the
token when there is one and forwards its claims as headers, local_ratelimit
draws from the tenant's bucket (or the shared one), a second jwt_authn pass
refuses calls that need a token and have no valid one, the buffer filter
holds a REST body up to its limit, the gRPC-JSON transcoder turns REST into
gRPC, and the router sends the call to a healthy instance.

``aiplat up`` renders the one-machine file into the data directory;
``python -m services.launcher.envoy_config`` renders ``envoy/local.yaml``
and ``envoy/cluster.yaml`` (a test fails when they are stale).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from services.launcher.catalog import GATEWAY, SERVICES, ServiceSpec, TrafficClass
from services.launcher.cluster_names import GRPC_PORT, instances_host
from services.launcher.gateway_bootstrap import bootstrap, render
from services.launcher.gateway_model import (
    Bucket,
    Endpoint,
    GatewayConfig,
    LocalJwks,
    RateLimits,
    RemoteJwks,
    TokenPolicy,
    Upstream,
)
from services.launcher.gateway_rpcs import DESCRIPTOR_SET
from services.launcher.settings import LauncherSettings
from services.runtime.devkeys import DEFAULT_AUDIENCE, DEFAULT_ISSUER

__all__ = [
    "ROOT",
    "Endpoint",
    "GatewayConfig",
    "Upstream",
    "bootstrap",
    "cluster_config",
    "local_config",
    "render",
    "write",
]

ROOT = Path(__file__).resolve().parents[2] / "envoy"
"""Where the committed configurations live."""
LOCAL_FILE = "local.yaml"
CLUSTER_FILE = "cluster.yaml"
DESCRIPTOR_IN_REPOSITORY = "gen/aiplat_descriptor.binpb"
"""The descriptor set relative to the repository root (``/app`` in the image), Envoy's working directory."""


def _sized(default: Bucket, rate: float | None, burst: int | None) -> Bucket:
    return Bucket(rate or default.requests_per_second, burst or default.burst)


def rate_limits(settings: LauncherSettings) -> RateLimits:
    """The settings' buckets: defaults per traffic class, tenant overrides, and calls without a tenant."""
    control = Bucket(settings.control_plane_requests_per_second, settings.control_plane_burst)
    inference = Bucket(settings.inference_requests_per_second, settings.inference_burst)
    tenants = {
        tenant: {
            TrafficClass.CONTROL_PLANE: _sized(
                control, own.control_plane_requests_per_second, own.control_plane_burst
            ),
            TrafficClass.INFERENCE: _sized(inference, own.inference_requests_per_second, own.inference_burst),
        }
        for tenant, own in settings.tenant_rate_limits.items()
    }
    return RateLimits(
        default={TrafficClass.CONTROL_PLANE: control, TrafficClass.INFERENCE: inference},
        untenanted=Bucket(settings.untenanted_requests_per_second, settings.untenanted_burst),
        tenants=tenants,
        max_tenants=2 * settings.expected_tenants,
    )


def _config(
    settings: LauncherSettings,
    upstreams: Sequence[Upstream],
    *,
    listen: Endpoint,
    tokens: TokenPolicy,
    descriptor_set: str,
) -> GatewayConfig:
    return GatewayConfig(
        upstreams=tuple(upstreams),
        listen=listen,
        admin=Endpoint("127.0.0.1", settings.admin_port),
        tokens=tokens,
        rate_limits=rate_limits(settings),
        descriptor_set=descriptor_set,
        max_request_body_bytes=settings.max_request_body_bytes,
        max_response_body_bytes=settings.max_response_body_bytes,
        unary_timeout_seconds=settings.unary_timeout_seconds,
        stream_idle_timeout_seconds=settings.stream_idle_timeout_seconds,
        otlp_endpoint=settings.otlp_endpoint,
    )


def local_config(
    settings: LauncherSettings,
    upstreams: Sequence[Upstream],
    *,
    jwks_path: Path | str,
    descriptor_set: Path | str = DESCRIPTOR_SET,
) -> GatewayConfig:
    """One machine: services on loopback, tokens checked against the development JWKS file."""
    return _config(
        settings,
        upstreams,
        listen=Endpoint(settings.host, settings.gateway_port),
        tokens=TokenPolicy(
            issuer=DEFAULT_ISSUER, audience=DEFAULT_AUDIENCE, jwks=LocalJwks(path=str(jwks_path))
        ),
        descriptor_set=str(descriptor_set),
    )


def cluster_config(settings: LauncherSettings, services: Sequence[ServiceSpec] = SERVICES) -> GatewayConfig:
    """Kubernetes: every pod of each service by its headless Service's DNS name, keys fetched from the
    identity provider."""
    upstreams = [
        Upstream(
            spec=spec,
            endpoints=(Endpoint(instances_host(spec), GRPC_PORT),),
            resolve_dns=True,
        )
        for spec in services
    ]
    return _config(
        settings,
        upstreams,
        listen=Endpoint("0.0.0.0", GATEWAY.port),  # the pod network
        tokens=TokenPolicy(
            issuer=settings.idp_issuer,
            audience=settings.idp_audience,
            jwks=RemoteJwks(url=settings.idp_jwks_url),
        ),
        descriptor_set=DESCRIPTOR_IN_REPOSITORY,
    )


def committed_files(settings: LauncherSettings) -> dict[str, str]:
    """The contents of ``envoy/``'s rendered files, keyed by file name."""
    local = local_config(
        settings,
        [Upstream.local(spec, settings.host, spec.port) for spec in SERVICES],
        jwks_path=settings.data_dir / "keys" / "jwks.json",
        descriptor_set=DESCRIPTOR_IN_REPOSITORY,
    )
    return {
        LOCAL_FILE: _yaml(render(local), "one machine, run from the repository root after `aiplat token`"),
        CLUSTER_FILE: _yaml(render(cluster_config(settings)), "Kubernetes, run from the image's /app"),
    }


def _yaml(config: Mapping[str, Any], what: str) -> str:
    header = (
        f"# Envoy gateway configuration for {what}.\n"
        "# Rendered by `python -m services.launcher.envoy_config` from services/launcher/catalog.py.\n"
    )
    return header + yaml.safe_dump(dict(config), sort_keys=False, width=110)


def write(config: Mapping[str, Any], path: Path) -> Path:
    """Write ``config`` as JSON or YAML, after the file's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix in {".yaml", ".yml"}:
        text = yaml.safe_dump(dict(config), sort_keys=False)
    else:
        text = json.dumps(config, indent=2) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Render envoy/ from the service catalogue and the settings.")
    parser.add_argument("--out", type=Path, default=ROOT, help="folder to write into (default: envoy/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, content in committed_files(LauncherSettings()).items():
        (args.out / name).write_text(content, encoding="utf-8")
    print(f"rendered {LOCAL_FILE} and {CLUSTER_FILE} for {len(SERVICES)} services into {args.out}")


if __name__ == "__main__":
    main()
