"""The committed Kubernetes/Istio manifests match the catalogue and are hardened."""

from __future__ import annotations

from pathlib import Path

import yaml

from services.launcher.catalog import SERVICES, ServiceSpec
from services.launcher.manifests import ROOT, render, service_objects

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
    account, deployment, service = service_objects(_SPEC)
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
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "grpc" in container["readinessProbe"]
    assert service["spec"]["ports"][0]["name"] == "grpc"


def test_mesh_overlay_enforces_strict_mtls() -> None:
    documents = list(yaml.safe_load_all(render([_SPEC])["mesh/mesh.yaml"]))
    (peer,) = [d for d in documents if d["kind"] == "PeerAuthentication"]
    assert peer["spec"]["mtls"]["mode"] == "STRICT"
    rules = [d for d in documents if d["kind"] == "DestinationRule"]
    assert [r["spec"]["trafficPolicy"]["tls"]["mode"] for r in rules] == ["ISTIO_MUTUAL"]


def test_base_kustomization_lists_every_service_file() -> None:
    files = render([_SPEC])
    (kustomization,) = yaml.safe_load_all(files["base/kustomization.yaml"])
    assert kustomization["resources"] == ["namespace.yaml", "inference.yaml"]
    assert "base/inference.yaml" in files
    assert Path(ROOT).name == "istio"
