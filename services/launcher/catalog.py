"""The one description of the platform's services.

`aiplat up`, the Envoy configuration and the deployment manifests all read
this catalogue, so adding a service or moving a port changes one place.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class TrafficClass(enum.StrEnum):
    """Which of the gateway's per-tenant rate-limit buckets a service's routes draw from."""

    CONTROL_PLANE = "control-plane"
    """Registry, deployments, training, data and the other management APIs."""
    INFERENCE = "inference"
    """Predictions: many more calls per tenant, sized separately."""


OPEN_INFERENCE_READS = (
    "ServerLive",
    "ServerReady",
    "ServerMetadata",
    "ModelReady",
    "ModelMetadata",
    "ModelConfig",
    "ModelStatistics",
    "ModelInfer",
    "RepositoryIndex",
)
"""Open Inference Protocol methods without side effects (a prediction changes nothing): safe to retry."""

OPEN_INFERENCE_PUBLIC = ("ServerLive", "ServerReady", "ServerMetadata")
"""Open Inference Protocol health and server metadata, which its clients call before they have a token."""


@dataclass(frozen=True)
class ServiceSpec:
    """How to run and reach one platform service."""

    name: str
    """Short name: the folder under services/, the log prefix, the Envoy cluster."""
    module: str
    """Python module run with ``python -m`` to start the service."""
    env_prefix: str
    """Prefix of the service's settings in the environment."""
    grpc_services: tuple[str, ...]
    """Fully-qualified gRPC service names the process serves; the gateway routes them to it."""
    port: int
    """Default gRPC port in the one-machine mode."""
    metrics_port: int
    """Default Prometheus port in the one-machine mode."""
    cpu_request: str = "250m"
    """Kubernetes CPU request of one replica."""
    memory_request: str = "256Mi"
    """Kubernetes memory request of one replica."""
    cpu_limit: str = "2"
    """Kubernetes CPU limit of one replica."""
    memory_limit: str = "1Gi"
    """Kubernetes memory limit of one replica."""
    gpus: int = 0
    """GPUs one replica asks for where the cluster deployment includes the GPU component (``istio/gpu``,
    which also gives it the CUDA image and puts it on GPU nodes); 0: none, it always runs on CPU. The
    cluster base runs every service on CPU."""
    peers: tuple[str, ...] = ()
    """Services this one calls; each must start first, and its address is passed as ``<PEER>_ADDRESS``."""
    service_token: bool = False
    """Whether the service gets a platform admin token (for watching every tenant's resources)."""
    traffic: TrafficClass = TrafficClass.CONTROL_PLANE
    """The gateway rate-limit bucket its routes draw from."""
    idempotent_methods: tuple[str, ...] = ()
    """Method names, besides ``Get*`` and ``List*``, that only read: the gateway retries them on
    another instance when one is unavailable (e.g. :data:`OPEN_INFERENCE_READS`)."""
    public_methods: tuple[str, ...] = ()
    """Method names the gateway serves without a token, over gRPC and REST (health, server metadata);
    the service must accept them without a token too."""
    scales_out: bool = False
    """Whether several replicas may run side by side behind the gateway.  Not for a service whose
    processes keep state in memory that the others must see; such state goes through the shared
    store (model management's replicas poll it for deployment changes written through another
    replica, so every replica's watchers hear of every change)."""
    cluster_replicas: int = 1
    """Replicas of its Kubernetes Deployment."""
    splits_cores: bool = False
    """Whether its replicas on one machine split the machine's cores between them (``<PREFIX>CORES``):
    a service whose thread pools keep cores busy (model runs), which replicas sized each for the whole
    machine would oversubscribe."""


REPLICA_PORT_STRIDE = 100
"""One machine: replica ``i`` (from 0) of a service listens on its catalogue ports plus ``i`` times this."""


@dataclass(frozen=True)
class GatewaySpec:
    """Where the Envoy gateway listens in the one-machine mode."""

    port: int = 8080
    admin_port: int = 9901


# Services are listed here once they are implemented; `aiplat up` starts each.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        name="models",
        module="services.models",
        env_prefix="AIPLAT_MODELS_",
        grpc_services=("aiplat.models.v1.ModelRegistryService", "aiplat.models.v1.DeploymentService"),
        port=50051,
        metrics_port=9101,
        scales_out=True,
        cluster_replicas=2,
    ),
    ServiceSpec(
        name="inference",
        module="services.inference",
        env_prefix="AIPLAT_INFERENCE_",
        grpc_services=("inference.GRPCInferenceService",),
        port=50052,
        metrics_port=9102,
        cpu_request="1",
        memory_request="1Gi",
        cpu_limit="4",
        memory_limit="8Gi",
        gpus=1,
        peers=("models",),
        service_token=True,
        traffic=TrafficClass.INFERENCE,
        idempotent_methods=OPEN_INFERENCE_READS,
        public_methods=OPEN_INFERENCE_PUBLIC,
        scales_out=True,
        cluster_replicas=2,
        splits_cores=True,
    ),
)

GATEWAY = GatewaySpec()


def service_by_name(name: str) -> ServiceSpec:
    for spec in SERVICES:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in SERVICES) or "none"
    raise KeyError(f"unknown service {name!r} (known: {known})")
