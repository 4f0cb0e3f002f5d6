"""The Dockerfile builds every image the cluster manifests run, each with what its pods need.

No image is built here (the base images come from a registry this machine cannot reach): these tests
hold the Dockerfile and the manifests to each other.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from services.launcher.catalog import SERVICES
from services.launcher.cluster_names import IMAGE
from services.launcher.manifests import gateway_objects, gpu_component, service_objects
from services.launcher.settings import LauncherSettings

ROOT = Path(__file__).resolve().parents[2]
_POD_USER = 10001


@dataclass
class Stage:
    name: str
    base: str
    lines: list[str] = field(default_factory=list)

    def runs(self, pattern: str) -> bool:
        return any(re.search(pattern, line) for line in self.lines if line.startswith("RUN"))


def _stages() -> list[Stage]:
    """The Dockerfile's build stages in order, each with its instructions (continuations joined)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if match := re.fullmatch(r"FROM (\S+) AS (\S+)", line):
            stages.append(Stage(name=match[2], base=match[1]))
        else:
            stages[-1].lines.append(line)
    return stages


def _images() -> set[str]:
    """Every image a pod runs: those of the base, and those the gpu component patches in."""
    patches = [yaml.safe_load(patch["patch"]) for patch in gpu_component(SERVICES)["patches"]]
    containers = [
        container
        for objects in [
            gateway_objects(LauncherSettings()),
            *(service_objects(spec) for spec in SERVICES),
            patches,
        ]
        for o in objects
        if o["kind"] == "Deployment"
        for container in o["spec"]["template"]["spec"]["containers"]
    ]
    return {container["image"] for container in containers}


def _documented_builds() -> dict[str, str | None]:
    """``image: target`` of each build command the Dockerfile's header gives (None: the default stage)."""
    builds: dict[str, str | None] = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if match := re.search(r"docker build (?:--target (\S+) )?-t (\S+) \.", line):
            builds[match[2]] = match[1]
    return builds


def test_every_image_the_manifests_run_has_a_build_of_its_own() -> None:
    names = {stage.name for stage in _stages()}
    builds = _documented_builds()
    assert _images() == {IMAGE, IMAGE.replace(":", "-gpu:")}
    assert set(builds) == _images()
    for image, target in builds.items():
        assert target is None or target in names, image


def test_the_default_image_has_the_cpu_runtime_and_the_gpu_image_the_cuda_one() -> None:
    stages = {stage.name: stage for stage in _stages()}
    default = _stages()[-1]
    gpu = stages[_documented_builds()[IMAGE.replace(":", "-gpu:")] or ""]
    assert default.runs(r"pip install [^&]*\s\.(\s|$)"), "the default image installs aiplat without extras"
    assert gpu.runs(r"pip install [^&]*'\.\[gpu\]'"), "the GPU image installs the gpu extra"
    # onnxruntime-gpu loads the CUDA runtime, cuBLAS and cuDNN of one CUDA major from the base image,
    # and CuPy's build must be for that major too.
    base_cuda = re.search(r"cuda:(\d+)\.", gpu.base)
    assert base_cuda is not None
    assert "cudnn" in gpu.base

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = " ".join(project["optional-dependencies"]["gpu"])
    cupy = re.search(r"cupy-cuda(\d+)x", extra)
    runtime = re.search(r"onnxruntime-gpu>=(\d+)\.(\d+)", extra)
    assert cupy is not None
    assert runtime is not None
    assert base_cuda[1] == cupy[1] == "13"
    # Releases from 1.31 on are built for CUDA 13; older ones for CUDA 12.
    assert (int(runtime[1]), int(runtime[2])) >= (1, 31)
    # Both builds own the onnxruntime module: the gpu extra must leave the CPU one out.
    (cpu_runtime,) = [d for d in project["dependencies"] if d.startswith("onnxruntime")]
    assert "extra != 'gpu'" in cpu_runtime


def test_every_image_runs_as_the_pods_user_with_the_modules_the_pods_start() -> None:
    for stage in _stages():
        assert f"USER {_POD_USER}" in stage.lines, stage.name
        assert stage.runs(rf"useradd --uid {_POD_USER}\b"), stage.name
        copied = {line.split()[1] for line in stage.lines if line.startswith("COPY")}
        # `python -m services.<name>` and the gateway's descriptor set under gen/.
        assert {"gen", "services", "pyproject.toml"} <= copied, stage.name
