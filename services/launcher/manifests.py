"""Kubernetes and Istio manifests for the many-machine deployment, rendered from the catalogue.

`istio/base/` holds plain Kubernetes objects (one file per service: ServiceAccount,
Deployment, Service), every pod on CPU with the default image; `istio/mesh/` is the Istio overlay on
top of it (strict mTLS, authorization, destination rules, the ingress and the mesh's routes).
`istio/gpu/` is a Kustomize Component that moves the services with GPUs in the catalogue
(:attr:`ServiceSpec.gpus`) to GPU nodes with the CUDA image; `istio/mesh-gpu/` is the mesh overlay
with it. Run
``python -m services.launcher.manifests`` after changing the catalogue; a test fails when the
committed files are stale.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from services.launcher import envoy_config
from services.launcher.catalog import GATEWAY, SERVICES, ServiceSpec
from services.launcher.cluster_names import (
    GATEWAY_NAME,
    GRPC_PORT,
    IMAGE,
    NAMESPACE,
    instances_host,
    instances_service,
)
from services.launcher.settings import LauncherSettings

ROOT = Path(__file__).resolve().parents[2] / "istio"
_METRICS_PORT = 9090
_GATEWAY_CONFIG_DIR = "/etc/aiplat/envoy"
_HARDENED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}
"""Every container's security context: no privileges, nothing written outside its volumes."""
_POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "fsGroup": 10001,
    "seccompProfile": {"type": "RuntimeDefault"},
}
"""Every pod's security context: the image's unprivileged user, the runtime's default seccomp filter."""

_SHUTDOWN_GRACE_SECONDS = 10
"""``<PREFIX>SHUTDOWN_GRACE_SECONDS``: how long in-flight calls may run after SIGTERM."""
_PEER_PING_TIMEOUT_SECONDS = 10
"""``<PREFIX>PEER_PING_TIMEOUT_SECONDS``: how long a stalled client can hold the drain beyond the grace."""
_PRE_STOP_SECONDS = 10
"""Pause before SIGTERM while the pod leaves the Endpoints: the gateway re-resolves the headless
Service every 5 s (and health-checks every second), sidecars hear from istiod within seconds, and until
then new calls still arrive; the service refuses new calls as soon as it gets SIGTERM."""
_SERVICE_DRAIN_SECONDS = _PRE_STOP_SECONDS + _SHUTDOWN_GRACE_SECONDS + _PEER_PING_TIMEOUT_SECONDS
"""The longest a service pod may take from deletion to its process's exit."""
_GATEWAY_PRE_STOP_SECONDS = 10
"""The gateway's pause before SIGTERM (Envoy exits at once on SIGTERM, cutting its calls)."""
_MARGIN_SECONDS = 5
"""Time a pod gets beyond its drain before it is killed."""

_STORES = frozenset({"models"})
"""Services with a store: their database URL comes from the ``aiplat-<service>-database`` Secret
(key ``url``). Required, as a replica falling back to a SQLite file of its own would split the data."""
_ARTIFACT_CLAIM = "aiplat-artifacts"
_ARTIFACT_DIR = "/var/lib/aiplat-artifacts"
"""Where the shared artifact volume is mounted, the same in every pod: model management records
artifact locations under it and inference reads them there."""
_ARTIFACT_WRITERS = frozenset({"models"})
_DATA_DIR = "/var/lib/aiplat"
_DATA_MIB = 256
"""Size limit of every pod's data directory (an emptyDir): in the cluster a service keeps little
there, as its store is PostgreSQL, its artifacts are on the shared volume, and the inference cache and
the uploads in progress have volumes of their own."""
_TMP_MIB = 512
"""Size limit of every pod's private /tmp: temporary files, CuPy's compiled kernels on GPU pods."""
_INFERENCE_CACHE_DIR = "/var/cache/aiplat-inference"
"""The inference pod's cache of verified artifacts (``AIPLAT_INFERENCE_CACHE_DIR``), sized by
:attr:`LauncherSettings.cluster_inference_cache_gib`."""
_LARGEST_ARTIFACT_GIB = 2
"""The largest artifact model management accepts (``AIPLAT_MODELS_MAX_UPLOAD_BYTES``'s default, which
the cluster keeps), in GiB: the room the inference cache's volume keeps for a download in progress."""
_STAGING_DIR = "/var/lib/aiplat-staging"
"""The model management pod's uploads and imports in progress (``AIPLAT_MODELS_STAGING_DIR``), sized
by :attr:`LauncherSettings.cluster_upload_staging_gib`."""
_LOG_MIB = 256
"""Ephemeral storage a container needs beyond its pod's emptyDirs: its logs, which the kubelet counts
against it (and rotates at 5 files of 10 MiB by default); the root filesystem is read-only."""
_ARTIFACT_READERS = frozenset({"inference"})
_TOKEN_DIR = "/var/run/secrets/aiplat/service-token"
"""Where a service's platform token (Secret ``aiplat-<service>-service-token``, key ``token``) is
mounted; a whole-volume mount, so a rotated token reaches the file."""
_PEER_METHODS: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("inference", "models"): (
        "/aiplat.models.v1.DeploymentService/WatchDeployments",
        "/aiplat.models.v1.DeploymentService/GetDeployment",
        "/aiplat.models.v1.DeploymentService/ReportDeploymentStatus",
        "/aiplat.models.v1.ModelRegistryService/GetModelVersion",
    ),
}
"""``(caller, callee)``: the methods a service calls on its peer, all the mesh lets it call."""
_INGRESS_PRINCIPAL = "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
_INGRESS_SELECTOR = {"istio": "ingressgateway"}
INGRESS_TLS_SECRET = "aiplat-gateway-tls"
"""The ingress gateway's certificate and key: a ``kubernetes.io/tls`` Secret in the ingress gateway's
namespace (``istio-system``), where Istio looks for a Gateway's ``credentialName``."""
NO_SIDECAR_RETRIES = {"attempts": 0}
"""Istio's sidecars retry twice by default on UNAVAILABLE and CANCELLED, whatever the method: a write
or an inference call would run again. The platform's gateway retries what is safe to retry, method by
method; every mesh route turns the sidecars' own retries off."""


def _labels(spec: ServiceSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/part-of": "aiplat"}


def _gpu_image() -> str:
    """The CUDA variant of the image (``<name>-gpu``: onnxruntime-gpu and CuPy), for pods with GPUs."""
    name, _, tag = IMAGE.rpartition(":")
    return f"{name}-gpu:{tag}"


def _peer_address(peer: str) -> str:
    return f"{peer}.{NAMESPACE}.svc.cluster.local:{GRPC_PORT}"


def _env(spec: ServiceSpec, settings: LauncherSettings) -> list[dict[str, Any]]:
    prefix = spec.env_prefix
    env: list[dict[str, Any]] = [
        {"name": f"{prefix}HOST", "value": "0.0.0.0"},  # the pod network, behind the sidecar
        {"name": f"{prefix}PORT", "value": str(GRPC_PORT)},
        {"name": f"{prefix}METRICS_PORT", "value": str(_METRICS_PORT)},
        {"name": f"{prefix}DATA_DIR", "value": _DATA_DIR},
        # The identity provider the gateway verifies tokens against, so the services accept the same.
        {"name": f"{prefix}JWKS_URL", "value": settings.idp_jwks_url},
        {"name": f"{prefix}JWT_ISSUER", "value": settings.idp_issuer},
        {"name": f"{prefix}JWT_AUDIENCE", "value": settings.idp_audience},
        # Explicit, as terminationGracePeriodSeconds and the sidecar's drain are sized from them.
        {"name": f"{prefix}SHUTDOWN_GRACE_SECONDS", "value": str(_SHUTDOWN_GRACE_SECONDS)},
        {"name": f"{prefix}PEER_PING_TIMEOUT_SECONDS", "value": str(_PEER_PING_TIMEOUT_SECONDS)},
    ]
    env += [{"name": f"{prefix}{peer.upper()}_ADDRESS", "value": _peer_address(peer)} for peer in spec.peers]
    if spec.service_token:
        env.append({"name": f"{prefix}SERVICE_TOKEN_FILE", "value": f"{_TOKEN_DIR}/token"})
    if spec.name in _STORES:
        reference = {"name": f"aiplat-{spec.name}-database", "key": "url"}
        env.append({"name": f"{prefix}DATABASE_URL", "valueFrom": {"secretKeyRef": reference}})
    if spec.name in _ARTIFACT_WRITERS:
        env.append({"name": f"{prefix}ARTIFACT_URL", "value": _ARTIFACT_DIR})
        env.append({"name": f"{prefix}STAGING_DIR", "value": _STAGING_DIR})
    if spec.name in _ARTIFACT_READERS:
        env.append({"name": f"{prefix}CACHE_DIR", "value": _INFERENCE_CACHE_DIR})
        env.append({"name": f"{prefix}CACHE_LIMIT_GIB", "value": f"{_inference_cache_limit_gib(settings):g}"})
    return env


def _inference_cache_limit_gib(settings: LauncherSettings) -> float:
    """What the cached artifacts may take of the inference cache's volume: the rest holds the download
    in progress (its ``.part`` file, at most the largest artifact or the limit itself, as a larger one
    fails before it is downloaded), so the kubelet never evicts the pod for outgrowing the volume."""
    volume = settings.cluster_inference_cache_gib
    return max(volume - _LARGEST_ARTIFACT_GIB, volume / 2)


def _quantity(mib: int) -> str:
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


def _scratch(spec: ServiceSpec, settings: LauncherSettings) -> list[tuple[str, str, int]]:
    """The pod's emptyDirs on its node's disk: ``(volume, mount path, size limit in MiB)``."""
    scratch = [("data", _DATA_DIR, _DATA_MIB), ("tmp", "/tmp", _TMP_MIB)]  # a private /tmp, not the node's
    if spec.name in _ARTIFACT_WRITERS:
        scratch.append(("staging", _STAGING_DIR, settings.cluster_upload_staging_gib * 1024))
    if spec.name in _ARTIFACT_READERS:
        scratch.append(("inference-cache", _INFERENCE_CACHE_DIR, settings.cluster_inference_cache_gib * 1024))
    return scratch


def _volumes(
    spec: ServiceSpec, settings: LauncherSettings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pod's volumes and the container's mounts."""
    scratch = _scratch(spec, settings)
    volumes: list[dict[str, Any]] = [
        {"name": name, "emptyDir": {"sizeLimit": _quantity(mib)}} for name, _, mib in scratch
    ]
    mounts: list[dict[str, Any]] = [{"name": name, "mountPath": path} for name, path, _ in scratch]
    if spec.name in _ARTIFACT_WRITERS | _ARTIFACT_READERS:
        volumes.append({"name": "artifacts", "persistentVolumeClaim": {"claimName": _ARTIFACT_CLAIM}})
        mounts.append(
            {"name": "artifacts", "mountPath": _ARTIFACT_DIR, "readOnly": spec.name not in _ARTIFACT_WRITERS}
        )
    if spec.service_token:
        secret = {"secretName": f"aiplat-{spec.name}-service-token", "defaultMode": 0o440}
        volumes.append({"name": "service-token", "secret": secret})
        mounts.append({"name": "service-token", "mountPath": _TOKEN_DIR, "readOnly": True})
    return volumes, mounts


def _container(spec: ServiceSpec, settings: LauncherSettings, mounts: list[dict[str, Any]]) -> dict[str, Any]:
    # Requested as well as limited: the scheduler places the pod where its emptyDirs fit, full.
    storage = _quantity(sum(mib for _, _, mib in _scratch(spec, settings)) + _LOG_MIB)
    resources: dict[str, Any] = {
        "requests": {"cpu": spec.cpu_request, "memory": spec.memory_request, "ephemeral-storage": storage},
        "limits": {"cpu": spec.cpu_limit, "memory": spec.memory_limit, "ephemeral-storage": storage},
    }
    return {
        "name": spec.name,
        "image": IMAGE,
        "command": ["python", "-m", spec.module],
        "ports": [
            {"name": "grpc", "containerPort": GRPC_PORT},
            {"name": "metrics", "containerPort": _METRICS_PORT},
        ],
        "env": _env(spec, settings),
        # Further deployment-specific settings (OTLP endpoint, log level, ...) come from these.
        "envFrom": [
            {"configMapRef": {"name": "aiplat-platform", "optional": True}},
            {"secretRef": {"name": f"aiplat-{spec.name}", "optional": True}},
        ],
        "resources": resources,
        "readinessProbe": {"grpc": {"port": GRPC_PORT}, "periodSeconds": 5},
        "livenessProbe": {"grpc": {"port": GRPC_PORT}, "periodSeconds": 10, "failureThreshold": 6},
        "startupProbe": {"grpc": {"port": GRPC_PORT}, "periodSeconds": 2, "failureThreshold": 60},
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(_PRE_STOP_SECONDS)]}}},
        "securityContext": dict(_HARDENED),
        "volumeMounts": mounts,
    }


def _disruption_budget(name: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """At most one pod of a replicated Deployment evicted at a time (node drains, upgrades)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(labels)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(labels)}},
    }


def service_objects(spec: ServiceSpec, settings: LauncherSettings | None = None) -> list[dict[str, Any]]:
    """ServiceAccount, Deployment, Service and headless Service of ``spec`` (and its disruption budget),
    on CPU: :func:`gpu_component` moves a service with GPUs to GPU nodes."""
    settings = settings or LauncherSettings()
    labels = _labels(spec)
    account = f"aiplat-{spec.name}"
    volumes, mounts = _volumes(spec, settings)
    pod_spec: dict[str, Any] = {
        "serviceAccountName": account,
        "automountServiceAccountToken": False,
        "securityContext": dict(_POD_SECURITY),
        # preStop, then SIGTERM drains in-flight calls for the grace period, plus a stalled client.
        "terminationGracePeriodSeconds": _SERVICE_DRAIN_SECONDS + _MARGIN_SECONDS,
        "containers": [_container(spec, settings, mounts)],
        "volumes": volumes,
    }
    objects = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": NAMESPACE, "labels": labels},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": spec.name, "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "replicas": spec.cluster_replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {
                        "labels": {**labels, "version": "v1"},
                        "annotations": {
                            "prometheus.io/scrape": "true",
                            "prometheus.io/port": str(_METRICS_PORT),
                        },
                    },
                    "spec": pod_spec,
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": spec.name, "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "selector": labels,
                "ports": [
                    {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "appProtocol": "grpc"},
                    {"name": "http-metrics", "port": _METRICS_PORT, "targetPort": "metrics"},
                ],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": instances_service(spec), "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "clusterIP": "None",  # headless: DNS answers with each ready pod
                "selector": labels,
                "ports": [{"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "appProtocol": "grpc"}],
            },
        },
    ]
    if spec.cluster_replicas >= 2:
        objects.append(_disruption_budget(spec.name, labels))
    return objects


def _gpu_patch(spec: ServiceSpec) -> dict[str, Any]:
    """``spec``'s pods on GPU nodes: the CUDA image, its GPUs, the GPU nodes' label and taint."""
    container = {
        "name": spec.name,
        "image": _gpu_image(),
        "env": [{"name": "CUPY_CACHE_DIR", "value": "/tmp/cupy"}],  # the root filesystem is read-only
        "resources": {"limits": {"nvidia.com/gpu": spec.gpus}},
    }
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": spec.name, "namespace": NAMESPACE},
        "spec": {
            "template": {
                "spec": {
                    "nodeSelector": {"nvidia.com/gpu.present": "true"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    # Strategic merge: the container's other fields, env and resources stay.
                    "containers": [container],
                }
            }
        },
    }
    return {
        "target": {"kind": "Deployment", "name": spec.name},
        "patch": yaml.safe_dump(patch, sort_keys=False),
    }


def gpu_component(services: Sequence[ServiceSpec]) -> dict[str, Any]:
    """The Kustomize Component (``istio/gpu/``) that runs each service with GPUs in the catalogue on GPU
    nodes; an overlay includes it with ``components: [../gpu]``."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1alpha1",
        "kind": "Component",
        "patches": [_gpu_patch(spec) for spec in services if spec.gpus],
    }


def artifact_objects() -> list[dict[str, Any]]:
    """The artifact volume every model management and inference pod mounts at the same path."""
    return [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": _ARTIFACT_CLAIM,
                "namespace": NAMESPACE,
                "labels": {"app.kubernetes.io/part-of": "aiplat"},
            },
            "spec": {
                # Pods on several nodes read and write it: a shared filesystem (NFS, CephFS, EFS, ...);
                # the cluster's default StorageClass, unless an overlay names one.
                "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": "100Gi"}},
            },
        }
    ]


_GATEWAY_CPUS = 2
"""CPU limit of a gateway pod, and its number of Envoy workers."""


def gateway_objects(settings: LauncherSettings) -> list[dict[str, Any]]:
    """The Envoy gateway: its rendered cluster configuration, the Deployment running it, its Service."""
    labels = {"app.kubernetes.io/name": GATEWAY_NAME, "app.kubernetes.io/part-of": "aiplat"}
    account = f"aiplat-{GATEWAY_NAME}"
    config = envoy_config.committed_files(settings)[envoy_config.CLUSTER_FILE]
    container = {
        "name": "envoy",
        "image": IMAGE,
        # The image's working directory holds gen/, where the configuration finds the descriptor set.
        # Envoy starts one worker per CPU of the node, not of its limit: pinned to the limit instead.
        "command": [
            "envoy",
            "--config-path",
            f"{_GATEWAY_CONFIG_DIR}/{envoy_config.CLUSTER_FILE}",
            "--concurrency",
            str(_GATEWAY_CPUS),
        ],
        "ports": [{"name": "http", "containerPort": GATEWAY.port}],
        "resources": {
            "requests": {"cpu": "500m", "memory": "256Mi", "ephemeral-storage": _quantity(_LOG_MIB)},
            "limits": {"cpu": str(_GATEWAY_CPUS), "memory": "1Gi", "ephemeral-storage": _quantity(_LOG_MIB)},
        },
        # The admin port is on loopback only; the listener itself tells whether Envoy is up.
        "readinessProbe": {"tcpSocket": {"port": GATEWAY.port}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": GATEWAY.port}, "periodSeconds": 10, "failureThreshold": 6},
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(_GATEWAY_PRE_STOP_SECONDS)]}}},
        "securityContext": dict(_HARDENED),
        "volumeMounts": [{"name": "config", "mountPath": _GATEWAY_CONFIG_DIR, "readOnly": True}],
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": NAMESPACE, "labels": labels},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "aiplat-gateway-envoy", "namespace": NAMESPACE, "labels": labels},
            "data": {envoy_config.CLUSTER_FILE: config},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": GATEWAY_NAME, "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": {**labels, "version": "v1"}},
                    "spec": {
                        "serviceAccountName": account,
                        "automountServiceAccountToken": False,
                        "securityContext": dict(_POD_SECURITY),
                        # Envoy exits at once on SIGTERM: the preStop pause lets the edge stop sending.
                        "terminationGracePeriodSeconds": _GATEWAY_PRE_STOP_SECONDS + _MARGIN_SECONDS,
                        "containers": [container],
                        "volumes": [
                            {"name": "config", "configMap": {"name": "aiplat-gateway-envoy"}},
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": GATEWAY_NAME, "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "selector": labels,
                "ports": [
                    {"name": "http2", "port": GATEWAY.port, "targetPort": "http", "appProtocol": "http2"}
                ],
            },
        },
        _disruption_budget(GATEWAY_NAME, labels),
    ]


def _principal(name: str) -> str:
    return f"cluster.local/ns/{NAMESPACE}/sa/aiplat-{name}"


def _authorization(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "action": "ALLOW",
            "rules": rules,
        },
    }


def _service_rules(spec: ServiceSpec, services: Sequence[ServiceSpec]) -> list[dict[str, Any]]:
    """The gateway may call every method; a peer only the methods it uses (:data:`_PEER_METHODS`)."""
    rules: list[dict[str, Any]] = [{"from": [{"source": {"principals": [_principal(GATEWAY_NAME)]}}]}]
    for caller in services:
        if spec.name not in caller.peers:
            continue
        paths = _PEER_METHODS.get((caller.name, spec.name))
        if paths is None:
            raise ValueError(f"{caller.name} calls {spec.name}: list the methods in _PEER_METHODS")
        rules.append(
            {
                "from": [{"source": {"principals": [_principal(caller.name)]}}],
                "to": [{"operation": {"paths": list(paths)}}],
            }
        )
    return rules


def _mesh_objects(services: Sequence[ServiceSpec], settings: LauncherSettings) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": NAMESPACE},
            "spec": {"mtls": {"mode": "STRICT"}},
        },
        # The edge reaches the platform's gateway only; each service, the gateway and its callers.
        _authorization(GATEWAY_NAME, [{"from": [{"source": {"principals": [_INGRESS_PRINCIPAL]}}]}]),
        *(_authorization(spec.name, _service_rules(spec, services)) for spec in services),
    ]
    objects += [
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": spec.name, "namespace": NAMESPACE},
            "spec": {
                "host": f"{spec.name}.{NAMESPACE}.svc.cluster.local",
                "trafficPolicy": {
                    "tls": {"mode": "ISTIO_MUTUAL"},
                    "outlierDetection": {
                        "consecutive5xxErrors": 5,
                        "interval": "10s",
                        "baseEjectionTime": "30s",
                    },
                },
            },
        }
        for spec in services
    ]
    objects += _ingress_objects(settings)
    for spec in services:
        objects += _service_routes(spec)
    return objects


def _virtual_service(
    name: str, hosts: list[str], destination: str, port: int = GRPC_PORT, **spec: Any
) -> dict[str, Any]:
    route = {"destination": {"host": destination, "port": {"number": port}}}
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {**spec, "hosts": hosts, "http": [{"route": [route], "retries": dict(NO_SIDECAR_RETRIES)}]},
    }


def _ingress_objects(settings: LauncherSettings) -> list[dict[str, Any]]:
    """The edge: Istio's ingress gateway terminates TLS for the platform's host and hands every call,
    gRPC and REST, to the platform's gateway, which authenticates, limits and routes it."""
    gateway_host = f"{GATEWAY_NAME}.{NAMESPACE}.svc.cluster.local"
    ingress: dict[str, Any] = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "aiplat", "namespace": NAMESPACE},
        "spec": {
            "selector": dict(_INGRESS_SELECTOR),
            "servers": [
                {
                    "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                    "tls": {"mode": "SIMPLE", "credentialName": INGRESS_TLS_SECRET},
                    "hosts": [settings.ingress_host],
                }
            ],
        },
    }
    edge = _virtual_service(
        "aiplat", [settings.ingress_host], gateway_host, GATEWAY.port, gateways=[ingress["metadata"]["name"]]
    )
    return [ingress, edge]


def _service_routes(spec: ServiceSpec) -> list[dict[str, Any]]:
    """Both names of ``spec`` (its virtual address, which peers call, and its headless one, which the
    gateway calls) with the sidecars' retries off."""
    return [
        _virtual_service(name, [host], host)
        for name, host in (
            (spec.name, f"{spec.name}.{NAMESPACE}.svc.cluster.local"),
            (instances_service(spec), instances_host(spec)),
        )
    ]


def _proxy_patch(deployment: str, drain_seconds: int) -> dict[str, Any]:
    """The sidecar of ``deployment``'s pods: ready before the app starts (its first calls go through
    it), and draining as long as the app does, instead of Istio's 5 s that would cut the calls still
    running (the kubelet sends the sidecar SIGTERM without waiting for the app's preStop)."""
    config = {"holdApplicationUntilProxyStarts": True, "terminationDrainDuration": f"{drain_seconds}s"}
    patch = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": deployment, "namespace": NAMESPACE},
        "spec": {
            "template": {
                "metadata": {"annotations": {"proxy.istio.io/config": json.dumps(config, sort_keys=True)}}
            }
        },
    }
    return {"target": {"kind": "Deployment", "name": deployment}, "patch": yaml.safe_dump(patch)}


def _dump(objects: Iterable[Mapping[str, Any]]) -> str:
    header = "# Rendered by `python -m services.launcher.manifests` from services/launcher/catalog.py.\n"
    return header + yaml.safe_dump_all(list(objects), sort_keys=False)


def render(services: Sequence[ServiceSpec], settings: LauncherSettings | None = None) -> dict[str, str]:
    """Every manifest file, keyed by its path under istio/; ``settings`` size the gateway (defaults)."""
    settings = settings or LauncherSettings()
    files = {
        "base/namespace.yaml": _dump(
            [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
        ),
        "mesh/mesh.yaml": _dump(_mesh_objects(services, settings)),
    }
    files["base/artifacts.yaml"] = _dump(artifact_objects())
    files |= {f"base/{spec.name}.yaml": _dump(service_objects(spec, settings)) for spec in services}
    files[f"base/{GATEWAY_NAME}.yaml"] = _dump(gateway_objects(settings))
    base_resources = [
        "namespace.yaml",
        "artifacts.yaml",
        *(f"{spec.name}.yaml" for spec in services),
        f"{GATEWAY_NAME}.yaml",
    ]
    files["base/kustomization.yaml"] = _dump(
        [
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": base_resources,
            }
        ]
    )
    files["mesh/kustomization.yaml"] = _dump(
        [
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["../base", "mesh.yaml"],
                "patches": [
                    {
                        "target": {"kind": "Namespace", "name": NAMESPACE},
                        "patch": yaml.safe_dump(
                            [
                                {
                                    "op": "add",
                                    "path": "/metadata/labels",
                                    "value": {"istio-injection": "enabled"},
                                }
                            ]
                        ),
                    },
                    *(_proxy_patch(spec.name, _SERVICE_DRAIN_SECONDS) for spec in services),
                    _proxy_patch(GATEWAY_NAME, _GATEWAY_PRE_STOP_SECONDS),
                ],
            }
        ]
    )
    files["gpu/kustomization.yaml"] = _dump([gpu_component(services)])
    files["mesh-gpu/kustomization.yaml"] = _dump(
        [
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["../mesh"],
                "components": ["../gpu"],
            }
        ]
    )
    return files


def write(root: Path, files: Mapping[str, str]) -> None:
    """Write :func:`render`'s ``files`` under ``root``."""
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description="Render istio/ from the service catalogue.")
    parser.add_argument("--out", type=Path, default=ROOT)
    args = parser.parse_args()
    write(args.out, render(SERVICES))
    print(f"rendered {len(SERVICES)} services into {args.out}")


if __name__ == "__main__":
    main()
