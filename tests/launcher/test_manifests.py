"""The committed Kubernetes/Istio manifests match the catalogue and are hardened."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from services.launcher import envoy_config
from services.launcher.catalog import SERVICES, ServiceSpec
from services.launcher.manifests import ROOT, gateway_objects, render, service_objects
from services.launcher.settings import LauncherSettings

_SPEC = ServiceSpec(
    name="inference",
    module="services.inference",
    env_prefix="AIPLAT_INFERENCE_",
    grpc_services=("inference.GRPCInferenceService",),
    port=50052,
    metrics_port=9102,
    gpus=1,
)


def test_committed_manifests_are_up_to_date() -> None:
    rendered = render(SERVICES)
    committed = {str(p.relative_to(ROOT)): p.read_text() for p in ROOT.rglob("*.yaml")}
    assert committed == rendered, "istio/ is stale: run `python -m services.launcher.manifests`"


def test_service_manifest_is_hardened_and_probed_over_grpc() -> None:
    account, deployment, service, instances = service_objects(_SPEC)
    assert account["kind"] == "ServiceAccount"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert set(container["resources"]) == {"requests", "limits"}
    # GPUs come from the gpu component only: the base runs anywhere.
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert "nodeSelector" not in pod
    assert "grpc" in container["readinessProbe"]
    assert service["spec"]["ports"][0]["name"] == "grpc"
    assert instances["spec"]["clusterIP"] == "None", "the gateway needs every pod's address"
    assert instances["spec"]["selector"] == service["spec"]["selector"]


def test_mesh_overlay_enforces_strict_mtls() -> None:
    documents = list(yaml.safe_load_all(render([_SPEC])["mesh/mesh.yaml"]))
    (peer,) = [d for d in documents if d["kind"] == "PeerAuthentication"]
    assert peer["spec"]["mtls"]["mode"] == "STRICT"
    rules = [d for d in documents if d["kind"] == "DestinationRule"]
    assert [r["spec"]["trafficPolicy"]["tls"]["mode"] for r in rules] == ["ISTIO_MUTUAL"]


def test_base_kustomization_lists_every_service_file() -> None:
    files = render([_SPEC])
    (kustomization,) = yaml.safe_load_all(files["base/kustomization.yaml"])
    assert kustomization["resources"] == [
        "namespace.yaml",
        "artifacts.yaml",
        "inference.yaml",
        "gateway.yaml",
    ]
    assert "base/inference.yaml" in files
    assert Path(ROOT).name == "istio"


def test_the_gateway_runs_the_committed_cluster_file_against_every_pod() -> None:
    account, config_map, deployment, service, budget = gateway_objects(LauncherSettings())
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    committed = (envoy_config.ROOT / envoy_config.CLUSTER_FILE).read_text()
    assert config_map["data"] == {envoy_config.CLUSTER_FILE: committed}
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    (container,) = pod["containers"]
    command = container["command"]
    assert command[0] == "envoy"
    assert command[command.index("--config-path") + 1].endswith(envoy_config.CLUSTER_FILE)
    # As many workers as the pod has CPUs, not as many as the node has.
    assert command[command.index("--concurrency") + 1] == container["resources"]["limits"]["cpu"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert service["spec"]["ports"][0]["port"] == container["ports"][0]["containerPort"]

    # Each upstream of the cluster file is the headless Service of its service's pods.
    headless = {
        f"{obj['metadata']['name']}.aiplat.svc.cluster.local"
        for spec in SERVICES
        for obj in service_objects(spec)
        if obj["kind"] == "Service" and obj["spec"].get("clusterIP") == "None"
    }
    rendered = yaml.safe_load(committed)
    hosts = {
        endpoint["endpoint"]["address"]["socket_address"]["address"]
        for cluster in rendered["static_resources"]["clusters"]
        if cluster["name"] in {spec.name for spec in SERVICES}
        for group in cluster["load_assignment"]["endpoints"]
        for endpoint in group["lb_endpoints"]
    }
    assert hosts == headless


def test_the_mesh_lets_the_gateway_call_the_services() -> None:
    documents = list(yaml.safe_load_all(render([_SPEC])["mesh/mesh.yaml"]))
    (policy,) = [
        d for d in documents if d["kind"] == "AuthorizationPolicy" and d["metadata"]["name"] == "inference"
    ]
    principals = policy["spec"]["rules"][0]["from"][0]["source"]["principals"]
    assert "cluster.local/ns/aiplat/sa/aiplat-gateway" in principals


OLDEST_KUBERNETES = "1.29.0"
"""The oldest Kubernetes release the manifests are checked against: the oldest that current Istio
releases support."""
ISTIO_GROUPS = ("security.istio.io/", "networking.istio.io/")
"""Istio's own kinds, whose schemas come with Istio's CRDs rather than with Kubernetes."""


def _committed_resources() -> list[tuple[str, dict[str, object]]]:
    """``(file, resource)`` for every resource the manifests apply."""
    resources = []
    for path in sorted(ROOT.rglob("*.yaml")):
        if path.name == "kustomization.yaml":  # read by kustomize, never applied
            continue
        documents = yaml.safe_load_all(path.read_text())
        resources += [(str(path.relative_to(ROOT)), document) for document in documents if document]
    return resources


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, kubernetes_validate.latest_version()])
def test_every_kubernetes_resource_passes_the_api_schema_strictly(version: str) -> None:
    checked, istio = set(), set()
    for path, resource in _committed_resources():
        kind = f"{resource['apiVersion']}/{resource['kind']}"
        if str(resource["apiVersion"]).startswith(ISTIO_GROUPS):
            istio.add(kind)
            continue
        # Strict: a misspelt field fails here, where the API server would drop it or refuse the file.
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{path}: {kind} is not valid for Kubernetes {version}: {error}")
        checked.add(kind)
    expected = {
        "v1/Namespace",
        "v1/ServiceAccount",
        "v1/Service",
        "v1/ConfigMap",
        "v1/PersistentVolumeClaim",
        "apps/v1/Deployment",
        "policy/v1/PodDisruptionBudget",
    }
    assert checked >= expected
    # What no Kubernetes schema covers is named here, so that a new kind cannot go unchecked unnoticed.
    assert istio == {
        "security.istio.io/v1/PeerAuthentication",
        "security.istio.io/v1/AuthorizationPolicy",
        "networking.istio.io/v1/DestinationRule",
        "networking.istio.io/v1/Gateway",
        "networking.istio.io/v1/VirtualService",
    }
