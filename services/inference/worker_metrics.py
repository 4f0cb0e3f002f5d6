"""The workers' metrics behind the parent's one ``/metrics`` port.

Each worker serves its own registry on a loopback port only the parent
knows.  On every scrape the parent reads them all and re-exposes every
sample with a ``worker`` label, so one scrape target shows the whole
process group (sum over ``worker`` for service totals) and the catalogue's
metrics port keeps its meaning whatever the number of workers.  Chosen over
prometheus_client's multiprocess mode, which cannot carry the metrics the
workers compute at scrape time from their models' statistics.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable, Iterator, Sequence

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

__all__ = ["WorkerMetrics"]

_log = logging.getLogger(__name__)

_SCRAPE_SECONDS = 5.0


class WorkerMetrics(Collector):
    """Collects the ``/metrics`` of each worker, labelled ``worker="<index>"``."""

    def __init__(self, endpoints: Callable[[], Sequence[str]]) -> None:
        """``endpoints()``: each worker's metrics URL, by worker index."""
        self._endpoints = endpoints

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for index, url in enumerate(self._endpoints()):
            try:
                with urllib.request.urlopen(url, timeout=_SCRAPE_SECONDS) as reply:
                    text = reply.read().decode("utf-8")
            except OSError as error:
                # A worker that cannot answer (stopping, or stuck) must not fail the whole scrape.
                _log.warning(
                    "cannot read the metrics of worker %d: %s", index, error, extra={"worker": index}
                )
                continue
            worker = str(index)
            for family in text_string_to_metric_families(text):
                target = merged.get(family.name)
                if target is None:
                    target = merged[family.name] = Metric(
                        family.name, family.documentation, family.type, family.unit
                    )
                for sample in family.samples:
                    target.add_sample(
                        sample.name,
                        {**sample.labels, "worker": worker},
                        sample.value,
                        sample.timestamp,
                        sample.exemplar,
                    )
        yield from merged.values()
