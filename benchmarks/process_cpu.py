"""CPU time spent per request by the platform's processes and by the load generator (Linux ``/proc``).

A row's throughput alone does not say what limits it; the CPU each part of the path spends per
request does, and whether the machine's cores were all busy.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

ROLES = (
    ("envoy", "gateway"),
    ("services.inference", "inference"),
    ("benchmarks.bare_grpc", "inference"),
    ("services.models", "models"),
)
"""A process's role, from a word of its command line; a process without one takes its parent's.
The bare gRPC servers stand in for the inference service in the rows that measure them."""


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of ``pid`` so far (0 when it is gone)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    # The command name may hold spaces and parentheses: fields are counted after its closing one.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_PER_SECOND


def _children(pid: int) -> Iterator[int]:
    try:
        tasks = list((_PROC / str(pid) / "task").iterdir())
    except OSError:
        return
    for task in tasks:
        try:
            yield from (int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue


def _role(pid: int, inherited: str) -> str:
    try:
        command = (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return inherited
    return next((role for word, role in ROLES if word in command), inherited)


def cpu_by_role(root: int) -> dict[str, float]:
    """CPU seconds so far of ``root`` and every process below it, summed by role."""
    totals: dict[str, float] = {}
    stack = [(root, "launcher")]
    while stack:
        pid, inherited = stack.pop()
        role = _role(pid, inherited)
        totals[role] = totals.get(role, 0.0) + cpu_seconds(pid)
        stack.extend((child, role) for child in _children(pid))
    return totals


def waited_children_cpu_seconds() -> float:
    """CPU seconds of this process's finished children (the load generators it waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds by role of the processes at and below ``roots`` at one moment, with the load
    generators' as ``load generator``."""

    roots: tuple[int, ...]
    seconds: Mapping[str, float]

    @classmethod
    def take(cls, *roots: int) -> CpuSnapshot:
        totals: dict[str, float] = {}
        for root in roots:
            for role, seconds in cpu_by_role(root).items():
                totals[role] = totals.get(role, 0.0) + seconds
        return cls(roots, {**totals, "load generator": waited_children_cpu_seconds()})

    def per_request_us(self, later: CpuSnapshot, requests: int) -> dict[str, float]:
        """Microseconds of CPU per request, by role, between this snapshot and ``later``."""
        if requests <= 0:
            return {}
        return {
            role: (later.seconds[role] - self.seconds.get(role, 0.0)) / requests * 1e6
            for role in later.seconds
        }
