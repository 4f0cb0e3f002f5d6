"""Names and ports of the many-machine deployment, shared by the manifests and the gateway's cluster file."""

from __future__ import annotations

from services.launcher.catalog import ServiceSpec

NAMESPACE = "aiplat"
IMAGE = "aiplat:0.1.0"
GRPC_PORT = 50051
"""The gRPC port of every service inside the cluster."""
GATEWAY_NAME = "gateway"


def instances_service(spec: ServiceSpec) -> str:
    """The headless Service listing each ready pod of ``spec``: the gateway balances and health-checks
    every instance itself, as it does on one machine, instead of seeing one virtual address."""
    return f"{spec.name}-instances"


def instances_host(spec: ServiceSpec) -> str:
    return f"{instances_service(spec)}.{NAMESPACE}.svc.cluster.local"
