"""A PNG of a benchmark table: throughput and latency side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from benchmarks.stats import Row


def write_plot(rows: Sequence[Row], path: Path) -> Path:
    labels = [f"{r.model}\n{r.target.replace(', ', chr(10))}\nc={r.concurrency}" for r in rows]
    figure, (throughput, latency) = plt.subplots(2, 1, figsize=(max(8, len(rows) * 1.6), 9))
    positions = range(len(rows))
    throughput.bar(positions, [r.inferences_per_second for r in rows], color="tab:blue")
    throughput.set_yscale("log")
    throughput.set_ylabel("inferences / s (log)")
    throughput.set_xticks(list(positions), labels, fontsize=7)
    width = 0.4
    latency.bar([p - width / 2 for p in positions], [r.p50_ms for r in rows], width, label="p50")
    latency.bar([p + width / 2 for p in positions], [r.p99_ms for r in rows], width, label="p99")
    latency.set_yscale("log")
    latency.set_ylabel("latency ms (log)")
    latency.set_xticks(list(positions), labels, fontsize=7)
    latency.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
