"""What `kubectl apply -k` gets from each overlay: CPU by default, GPUs from the `gpu` component, and
no pod that can fill its node's disk."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.launcher.catalog import SERVICES, service_by_name
from services.launcher.cluster_names import IMAGE
from services.launcher.manifests import render, service_objects, write
from services.launcher.settings import LauncherSettings

_GPU_IMAGE = IMAGE.replace(":", "-gpu:")
_GPU_KEYS = ("nvidia.com/gpu",)
_CPU_OVERLAYS = ("base", "mesh")
_GPU_OVERLAYS = ("mesh-gpu",)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The manifests with the default settings, written once into a directory of their own."""
    root = tmp_path_factory.mktemp("istio")
    write(root, render(SERVICES))
    return root


def _kind(directory: Path) -> str:
    (kustomization,) = [d for d in yaml.safe_load_all((directory / "kustomization.yaml").read_text()) if d]
    kind: str = kustomization["kind"]
    return kind


def _overlays(root: Path) -> list[str]:
    """Every directory a user can apply: a Kustomization (a Component is only included by one)."""
    return sorted(
        str(path.parent.relative_to(root))
        for path in root.rglob("kustomization.yaml")
        if _kind(path.parent) == "Kustomization"
    )


@functools.cache
def _kustomize(root: Path, overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the overlay tests render with `kubectl kustomize`")
    result = subprocess.run(
        [kubectl, "kustomize", str(root / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {overlay}: {result.stderr}"
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def _pods(root: Path, overlay: str) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o["spec"]["template"]["spec"]
        for o in _kustomize(root, overlay)
        if o["kind"] == "Deployment"
    }


_UNITS = {"": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def _bytes(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|)", quantity)
    assert match, f"{quantity!r}: expected a binary quantity"
    return int(match[1]) * _UNITS[match[2]]


def test_the_applied_overlays_are_the_cpu_ones_and_mesh_with_gpus(tree: Path) -> None:
    assert _overlays(tree) == sorted((*_CPU_OVERLAYS, *_GPU_OVERLAYS))
    assert _kind(tree / "gpu") == "Component"


@pytest.mark.parametrize("overlay", [*_CPU_OVERLAYS, *_GPU_OVERLAYS])
def test_every_overlay_renders_every_service_once(tree: Path, overlay: str) -> None:
    objects = _kustomize(tree, overlay)
    keys = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(keys) == len(set(keys)), "an object is there twice"
    assert {spec.name for spec in SERVICES} <= set(_pods(tree, overlay))


@pytest.mark.parametrize("overlay", _CPU_OVERLAYS)
def test_the_cpu_overlays_run_on_any_node_with_the_default_image(tree: Path, overlay: str) -> None:
    for name, pod in _pods(tree, overlay).items():
        assert "nodeSelector" not in pod, name
        assert "tolerations" not in pod, name
        for container in pod["containers"]:
            assert container["image"] == IMAGE, name
            for kind in ("requests", "limits"):
                assert not set(container["resources"].get(kind, {})) & set(_GPU_KEYS), name
            assert "CUPY_CACHE_DIR" not in {v["name"] for v in container.get("env", [])}, name


def test_the_gpu_overlay_puts_the_gpu_services_on_gpu_nodes_with_the_cuda_image(tree: Path) -> None:
    pods = _pods(tree, "mesh-gpu")
    gpu_services = {spec.name: spec for spec in SERVICES if spec.gpus}
    assert gpu_services, "the catalogue has a service on GPUs"
    for name, pod in pods.items():
        (container,) = pod["containers"]
        if name not in gpu_services:
            assert container["image"] == IMAGE, name
            assert "nodeSelector" not in pod, name
            continue
        assert container["image"] == _GPU_IMAGE
        assert container["resources"]["limits"]["nvidia.com/gpu"] == gpu_services[name].gpus
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        env = {v["name"]: v.get("value") for v in container["env"]}
        assert env["CUPY_CACHE_DIR"].startswith("/tmp/"), "the root filesystem is read-only"
        # The component adds to the pod; what the base and the mesh gave it stays.
        (cpu_container,) = _pods(tree, "mesh")[name]["containers"]
        assert {v["name"] for v in cpu_container["env"]} < set(env)
        assert container["volumeMounts"] == cpu_container["volumeMounts"]
        assert container["resources"]["requests"] == cpu_container["resources"]["requests"]


def test_the_gpu_overlay_is_the_mesh_overlay_with_the_gpu_deployments_patched(tree: Path) -> None:
    gpu_services = {spec.name for spec in SERVICES if spec.gpus}

    def unpatched(overlay: str) -> list[dict[str, Any]]:
        return [
            o
            for o in _kustomize(tree, overlay)
            if not (o["kind"] == "Deployment" and o["metadata"]["name"] in gpu_services)
        ]

    assert unpatched("mesh-gpu") == unpatched("mesh")
    mesh = {o["metadata"]["name"]: o for o in _kustomize(tree, "mesh") if o["kind"] == "Deployment"}
    for o in _kustomize(tree, "mesh-gpu"):
        if o["kind"] == "Deployment" and o["metadata"]["name"] in gpu_services:
            # The sidecar settings of the mesh overlay survive the component.
            annotations = o["spec"]["template"]["metadata"]["annotations"]
            assert annotations == mesh[o["metadata"]["name"]]["spec"]["template"]["metadata"]["annotations"]


def test_the_gpu_patched_deployments_pass_the_api_schema_strictly(tree: Path) -> None:
    # The committed files are checked one by one; what the component patches in exists only rendered.
    version = kubernetes_validate.latest_version()
    for o in _kustomize(tree, "mesh-gpu"):
        if o["kind"] == "Deployment":
            kubernetes_validate.validate(o, version, strict=True)


@pytest.mark.parametrize("overlay", [*_CPU_OVERLAYS, *_GPU_OVERLAYS])
def test_no_pod_can_fill_its_nodes_disk(tree: Path, overlay: str) -> None:
    for name, pod in _pods(tree, overlay).items():
        scratch = [v for v in pod["volumes"] if "emptyDir" in v]
        for volume in scratch:
            assert "sizeLimit" in volume["emptyDir"], f"{name}: emptyDir {volume['name']} is unbounded"
        (container,) = pod["containers"]
        resources = container["resources"]
        limit = _bytes(resources["limits"]["ephemeral-storage"])
        # The kubelet evicts a pod whose emptyDirs and logs together pass its containers' limits:
        # they must leave room for every emptyDir full, and the scheduler must find that room.
        assert limit > sum(_bytes(v["emptyDir"]["sizeLimit"]) for v in scratch), name
        assert _bytes(resources["requests"]["ephemeral-storage"]) == limit, name


def test_the_inference_cache_is_sized_by_its_setting() -> None:
    def cache(settings: LauncherSettings) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        (deployment,) = [
            o for o in service_objects(service_by_name("inference"), settings) if o["kind"] == "Deployment"
        ]
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {v["name"]: v.get("value") for v in container["env"]}
        (mount,) = [
            m for m in container["volumeMounts"] if m["mountPath"] == env["AIPLAT_INFERENCE_CACHE_DIR"]
        ]
        (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        return volume["emptyDir"], container["resources"]["limits"], container["resources"]["requests"]

    default, default_limits, _ = cache(LauncherSettings())
    assert _bytes(default["sizeLimit"]) >= 2 * 2**30, "room for a few models"
    volume, limits, requests = cache(LauncherSettings(cluster_inference_cache_gib=40))
    assert volume["sizeLimit"] == "40Gi"
    grown = _bytes(limits["ephemeral-storage"]) - _bytes(default_limits["ephemeral-storage"])
    assert grown == 40 * 2**30 - _bytes(default["sizeLimit"])
    assert requests["ephemeral-storage"] == limits["ephemeral-storage"]
