"""One benchmark row: throughput and latency quantiles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Row:
    """What one configuration reached."""

    model: str
    target: str
    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    inferences_per_request: int = 1
    note: str = ""
    cpu_us: dict[str, float] = field(default_factory=dict)
    """CPU microseconds per request by role (``inference``, ``gateway``, ``load generator``, ...)."""

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def inferences_per_second(self) -> float:
        return self.requests_per_second * self.inferences_per_request

    @property
    def busy_cores(self) -> float:
        """Cores the measured processes kept busy on average during the row."""
        return sum(self.cpu_us.values()) * self.requests_per_second / 1e6


RowKey = tuple[str, str, int]
"""A row's model, target and concurrency."""


def by_key(rows: Sequence[Row]) -> dict[RowKey, Row]:
    """``rows`` by model, target and concurrency."""
    return {(r.model, r.target, r.concurrency): r for r in rows}


def cpu_beyond(row: Row, reference: Row, role: str) -> tuple[float, float] | None:
    """The CPU per request of ``role`` in ``reference``, and what ``row`` spends beyond it; None when
    either was measured without CPU."""
    if not (row.cpu_us and reference.cpu_us):
        return None
    return reference.cpu_us[role], row.cpu_us[role] - reference.cpu_us[role]


def quantiles_ms(latencies_s: Sequence[float]) -> tuple[float, float]:
    values = np.asarray(latencies_s, dtype=np.float64) * 1000.0
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


_CPU_COLUMNS = (("inference", "inf"), ("gateway", "gw"), ("load generator", "load"))


def _cpu(row: Row) -> str:
    if not row.cpu_us:
        return ""
    parts = [
        f"{short} {row.cpu_us[role]:.0f}" for role, short in _CPU_COLUMNS if row.cpu_us.get(role, 0) >= 1
    ]
    return f"{' '.join(parts)} = {row.busy_cores:.1f} cores"


def table(rows: Sequence[Row]) -> str:
    header = (
        f"{'model':<10} {'target':<34} {'conc':>4} {'req/s':>10} {'infer/s':>10} "
        f"{'p50 ms':>8} {'p99 ms':>8}  {'CPU us/request':<36}  note"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.model:<10} {row.target:<34} {row.concurrency:>4} {row.requests_per_second:>10.0f} "
            f"{row.inferences_per_second:>10.0f} {row.p50_ms:>8.3f} {row.p99_ms:>8.3f}  {_cpu(row):<36}  "
            f"{row.note}"
        )
    return "\n".join(lines)
