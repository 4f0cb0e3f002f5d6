"""What this machine offers a process."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
OWN_CGROUPS = Path("/proc/self/cgroup")


def usable_cores() -> int:
    """Cores this process may keep busy: its CPU affinity on Linux (a container's cpuset), else every
    core, and no more than its CPU quota (a container's CPU limit) allows, rounded up."""
    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    quota = cpu_quota_cores()
    return cores if quota is None else max(1, min(cores, math.ceil(quota)))


def cpu_quota_cores(root: Path = CGROUP_ROOT, own: Path = OWN_CGROUPS) -> float | None:
    """The CPU time the process's control groups allow per unit of wall time (a Kubernetes CPU limit of
    ``"4"`` gives 4.0); None where none is set or none can be read.

    Thread pools sized by the core count alone would have every thread of a container limited to a few
    cores of a large node throttled in turn.
    """
    try:
        lines = own.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    quotas: list[float] = []
    for line in lines:
        _, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        relative = path.strip().lstrip("/")
        if controllers == "":  # cgroup v2: every ancestor's limit applies
            quotas += _v2_quotas(root, relative)
        elif "cpu" in controllers.split(","):
            quotas += _v1_quotas(root / controllers, relative)
    return min(quotas, default=None)


def _v2_quotas(root: Path, relative: str) -> list[float]:
    quotas = []
    directory = root / relative
    while True:
        fields = _read(directory / "cpu.max").split()
        if len(fields) == 2 and fields[0] != "max" and _positive(fields[0]) and _positive(fields[1]):
            quotas.append(int(fields[0]) / int(fields[1]))
        if directory == root or root not in directory.parents:
            return quotas
        directory = directory.parent


def _v1_quotas(controller: Path, relative: str) -> list[float]:
    if not controller.is_dir():
        controller = controller.parent / "cpu"
    quotas = []
    # Inside a container the own group is the mounted root; on a host it is the listed path.
    for directory in {controller, controller / relative}:
        quota, period = _read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us")
        if _positive(quota) and _positive(period):
            quotas.append(int(quota) / int(period))
    return quotas


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _positive(text: str) -> bool:
    return text.isdigit() and int(text) > 0
