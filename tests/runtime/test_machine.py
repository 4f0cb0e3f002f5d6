"""The cores a process may use."""

from __future__ import annotations

import os

import pytest

from services.runtime import machine


def test_usable_cores_follow_the_cpu_affinity() -> None:
    assert machine.usable_cores() == len(os.sched_getaffinity(0))


def test_without_affinity_every_core_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(machine.os, "sched_getaffinity")
    monkeypatch.setattr(machine.os, "cpu_count", lambda: 6)
    assert machine.usable_cores() == 6
