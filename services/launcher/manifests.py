"""Kubernetes and Istio manifests for the many-machine deployment, rendered from the catalogue.

`istio/base/` holds plain Kubernetes objects (one file per service: ServiceAccount,
Deployment, Service); `istio/mesh/` is the Istio overlay on top of it (strict mTLS,
authorization, destination rules). Run ``python -m services.launcher.manifests`` after
changing the catalogue; a test fails when the committed files are stale.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from services.launcher import envoy_config
from services.launcher.catalog import GATEWAY, SERVICES, ServiceSpec
from services.launcher.cluster_names import GATEWAY_NAME, GRPC_PORT, IMAGE, NAMESPACE, instances_service
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


def _labels(spec: ServiceSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/part-of": "aiplat"}


def _container(spec: ServiceSpec) -> dict[str, Any]:
    prefix = spec.env_prefix
    resources: dict[str, Any] = {
        "requests": {"cpu": spec.cpu_request, "memory": spec.memory_request},
        "limits": {"cpu": spec.cpu_limit, "memory": spec.memory_limit},
    }
    if spec.gpus:
        resources["limits"]["nvidia.com/gpu"] = spec.gpus
    return {
        "name": spec.name,
        "image": IMAGE,
        "command": ["python", "-m", spec.module],
        "ports": [
            {"name": "grpc", "containerPort": GRPC_PORT},
            {"name": "metrics", "containerPort": _METRICS_PORT},
        ],
        "env": [
            {"name": f"{prefix}HOST", "value": "0.0.0.0"},  # the pod network, behind the sidecar
            {"name": f"{prefix}PORT", "value": str(GRPC_PORT)},
            {"name": f"{prefix}METRICS_PORT", "value": str(_METRICS_PORT)},
            {"name": f"{prefix}DATA_DIR", "value": "/var/lib/aiplat"},
        ],
        # Deployment-specific values (database URL, JWKS URL, artifact storage) come from these.
        "envFrom": [
            {"configMapRef": {"name": "aiplat-platform", "optional": True}},
            {"secretRef": {"name": f"aiplat-{spec.name}", "optional": True}},
        ],
        "resources": resources,
        "readinessProbe": {"grpc": {"port": GRPC_PORT}, "periodSeconds": 5},
        "livenessProbe": {"grpc": {"port": GRPC_PORT}, "periodSeconds": 10, "failureThreshold": 6},
        "startupProbe": {"grpc": {"port": GRPC_PORT}, "periodSeconds": 2, "failureThreshold": 60},
        "securityContext": dict(_HARDENED),
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/aiplat"},
            {"name": "tmp", "mountPath": "/tmp"},  # a private emptyDir, not a shared /tmp
        ],
    }


def service_objects(spec: ServiceSpec) -> list[dict[str, Any]]:
    labels = _labels(spec)
    account = f"aiplat-{spec.name}"
    pod_spec: dict[str, Any] = {
        "serviceAccountName": account,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # SIGTERM drains in-flight calls; the pod gets longer than the service's own grace period.
        "terminationGracePeriodSeconds": 30,
        "containers": [_container(spec)],
        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }
    if spec.gpus:
        pod_spec["nodeSelector"] = {"nvidia.com/gpu.present": "true"}
        pod_spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return [
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
            "requests": {"cpu": "500m", "memory": "256Mi"},
            "limits": {"cpu": str(_GATEWAY_CPUS), "memory": "1Gi"},
        },
        # The admin port is on loopback only; the listener itself tells whether Envoy is up.
        "readinessProbe": {"tcpSocket": {"port": GATEWAY.port}, "periodSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": GATEWAY.port}, "periodSeconds": 10, "failureThreshold": 6},
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
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001},
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
    ]


def _mesh_objects(services: Sequence[ServiceSpec]) -> list[dict[str, Any]]:
    principals = [
        f"cluster.local/ns/{NAMESPACE}/sa/aiplat-{name}"
        for name in (GATEWAY_NAME, *(s.name for s in services))
    ]
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": NAMESPACE},
            "spec": {"mtls": {"mode": "STRICT"}},
        },
        {
            # Only the ingress gateway, the platform's gateway and its own services may call its services.
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "platform-callers", "namespace": NAMESPACE},
            "spec": {
                "action": "ALLOW",
                "rules": [
                    {
                        "from": [
                            {
                                "source": {
                                    "principals": [
                                        "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",
                                        *principals,
                                    ]
                                }
                            }
                        ]
                    }
                ],
            },
        },
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
    return objects


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
        "mesh/mesh.yaml": _dump(_mesh_objects(services)),
    }
    files |= {f"base/{spec.name}.yaml": _dump(service_objects(spec)) for spec in services}
    files[f"base/{GATEWAY_NAME}.yaml"] = _dump(gateway_objects(settings))
    base_resources = ["namespace.yaml", *(f"{spec.name}.yaml" for spec in services), f"{GATEWAY_NAME}.yaml"]
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
                    }
                ],
            }
        ]
    )
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description="Render istio/ from the service catalogue.")
    parser.add_argument("--out", type=Path, default=ROOT)
    args = parser.parse_args()
    for relative, content in render(SERVICES).items():
        path = args.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    print(f"rendered {len(SERVICES)} services into {args.out}")


if __name__ == "__main__":
    main()
