"""The cores a process may use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.runtime import machine


def test_usable_cores_follow_the_cpu_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine, "cpu_quota_cores", lambda: None)
    assert machine.usable_cores() == len(os.sched_getaffinity(0))


def test_without_affinity_every_core_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(machine.os, "sched_getaffinity")
    monkeypatch.setattr(machine.os, "cpu_count", lambda: 6)
    monkeypatch.setattr(machine, "cpu_quota_cores", lambda: None)
    assert machine.usable_cores() == 6


def _cgroups(tmp_path: Path, own: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    own_file = tmp_path / "own-cgroup"
    own_file.write_text(own)
    return root, own_file


def test_a_cgroup_v2_limit_is_the_lowest_along_the_groups_ancestors(tmp_path: Path) -> None:
    root, own = _cgroups(
        tmp_path,
        "0::/kubepods/pod1/app\n",
        {
            "cpu.max": "max 100000\n",
            "kubepods/cpu.max": "800000 100000\n",
            "kubepods/pod1/cpu.max": "250000 100000\n",
            "kubepods/pod1/app/cpu.max": "max 100000\n",
        },
    )
    assert machine.cpu_quota_cores(root, own) == 2.5


def test_a_cgroup_v1_quota_counts_and_no_quota_is_none(tmp_path: Path) -> None:
    root, own = _cgroups(
        tmp_path,
        "4:memory:/x\n2:cpu,cpuacct:/\n",
        {"cpu,cpuacct/cpu.cfs_quota_us": "150000\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"},
    )
    assert machine.cpu_quota_cores(root, own) == 1.5

    unlimited, own = _cgroups(
        tmp_path / "other",
        "1:cpu:/\n0::/\n",
        {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
    )
    assert machine.cpu_quota_cores(unlimited, own) is None
    assert machine.cpu_quota_cores(unlimited, tmp_path / "missing") is None


def test_usable_cores_are_capped_by_the_quota_rounded_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(machine.os, "sched_getaffinity", lambda _: set(range(64)))
    monkeypatch.setattr(machine, "cpu_quota_cores", lambda: 3.5)
    assert machine.usable_cores() == 4
    monkeypatch.setattr(machine, "cpu_quota_cores", lambda: 0.25)
    assert machine.usable_cores() == 1
    monkeypatch.setattr(machine, "cpu_quota_cores", lambda: None)
    assert machine.usable_cores() == 64
