"""Prometheus metrics named like Triton's, and spans of each request's queueing and batched run.

Counters, cumulative times and the batch-size histogram are read from each
loaded version's :class:`~.stats.VersionStats` when Prometheus scrapes, so
serving a request updates nothing here, and a version's series appear and
go with the version (after an unload and load all of them start from zero
together, as Triton's do).  They keep Triton's exact names
(``nv_inference_request_success{model,version}`` ...), so its dashboards
work; the client library would append ``_total`` to a counter's name, so
they are exposed untyped, as the monotonic counts they are.  A ``tenant``
label is added, since deployment names are unique only within a tenant.
``nv_inference_request_failure`` has, as in recent Tritons, one series per
``reason`` (``REJECTED``, ``CANCELED``, ``BACKEND``, ``OTHER``; see
:class:`~.stats.FailureReason`), each present from the version's load, so
``sum`` over them is the count of failed requests.

Per batch, while spans are exported, :class:`InferenceTelemetry` adds three
spans to the trace of every sampled request of the batch:
``inference.queue`` (queued to taken), ``inference.preprocess``
(concatenation and preprocessing of its batch) and ``inference.run`` (the
ONNX Runtime run), each with the batch size, created after the fact from
the batch's timestamps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from services.inference.repository import ModelRepository
from services.inference.stats import (
    BATCH_SIZE_BUCKETS,
    BatchRecord,
    FailureReason,
    VersionStats,
    monotonic_to_epoch_ns,
)
from services.runtime.errors import DomainError

__all__ = ["BATCH_SIZE_BUCKETS", "InferenceMetrics", "InferenceTelemetry"]

_LABELS = ("model", "version", "tenant")

_COUNTERS: tuple[tuple[str, str, Callable[[VersionStats], float]], ...] = (
    (
        "nv_inference_request_success",
        "Number of successful inference requests, all batch sizes",
        lambda s: s.inference.success.count,
    ),
    ("nv_inference_count", "Number of inferences performed (batch elements)", lambda s: s.inference_count),
    (
        "nv_inference_exec_count",
        "Number of model executions performed (batches)",
        lambda s: s.execution_count,
    ),
    (
        "nv_inference_request_duration_us",
        "Cumulative inference request duration in microseconds",
        lambda s: s.inference.success.ns // 1000,
    ),
    (
        "nv_inference_queue_duration_us",
        "Cumulative inference queuing duration in microseconds",
        lambda s: s.inference.queue.ns // 1000,
    ),
    (
        "nv_inference_compute_input_duration_us",
        "Cumulative compute input duration in microseconds",
        lambda s: s.inference.compute_input.ns // 1000,
    ),
    (
        "nv_inference_compute_infer_duration_us",
        "Cumulative compute inference duration in microseconds",
        lambda s: s.inference.compute_infer.ns // 1000,
    ),
    (
        "nv_inference_compute_output_duration_us",
        "Cumulative inference compute output duration in microseconds",
        lambda s: s.inference.compute_output.ns // 1000,
    ),
)


class InferenceMetrics(Collector):
    """The per-version series, read from the repository at scrape time (in the scrape thread)."""

    def __init__(self, repository: ModelRepository) -> None:
        self._repository = repository

    def collect(self) -> Iterator[Metric]:
        counters = [(Metric(name, text, "unknown"), read) for name, text, read in _COUNTERS]
        failure = Metric(
            "nv_inference_request_failure",
            "Number of failed inference requests, all batch sizes, by reason",
            "unknown",
        )
        batch_size = HistogramMetricFamily(
            "aiplat_inference_batch_size",
            "Elements (along the batch dimension) per model execution.",
            labels=_LABELS,
        )
        pending = GaugeMetricFamily(
            "nv_inference_pending_request_count",
            "Instantaneous number of pending requests awaiting execution per-model.",
            labels=_LABELS,
        )
        info = GaugeMetricFamily(
            "aiplat_inference_version_info",
            "A loaded model version and the device and ONNX Runtime execution providers it runs on.",
            labels=(*_LABELS, "device", "providers"),
        )
        for tenant, version in self._repository.loaded():
            labels = {"model": version.model, "version": version.version, "tenant": tenant}
            stats = version.stats
            for metric, read in counters:
                metric.add_sample(metric.name, labels, float(read(stats)))
            failures = stats.failures
            for reason in FailureReason:
                failure.add_sample(failure.name, {**labels, "reason": reason.name}, float(failures[reason]))
            batch_size.add_metric(list(labels.values()), _buckets(stats), float(stats.inference_count))
            pending.add_metric(list(labels.values()), version.queued)
            providers = ",".join(version.providers)
            info.add_metric([*labels.values(), version.device, providers], 1)
        yield from (metric for metric, _ in counters)
        yield failure
        yield batch_size
        yield pending
        yield info


def _buckets(stats: VersionStats) -> list[tuple[str, float]]:
    """The batch-size histogram's cumulative buckets; ``+Inf`` is every execution."""
    buckets: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip(BATCH_SIZE_BUCKETS, stats.executions_by_size, strict=False):
        total += count
        buckets.append((f"{float(bound)}", float(total)))  # le="1.0", as Histogram writes it
    buckets.append(("+Inf", float(stats.execution_count)))
    return buckets


class InferenceTelemetry:
    """The :class:`~.stats.InferenceObserver` of the service: spans of batched runs while exported.

    ``tracer`` None creates no spans (nothing exports them).  Request
    contexts that are not sampled :class:`SpanContext` objects are ignored.
    """

    def __init__(self, tracer: Tracer | None = None) -> None:
        self._tracer = tracer

    @property
    def tracing(self) -> bool:
        """Whether request contexts are worth attaching (spans are exported)."""
        return self._tracer is not None

    def use_tracer(self, tracer: Tracer | None) -> None:
        """Create spans with ``tracer`` from now on (None: none); set once the server's tracer exists."""
        self._tracer = tracer

    def register(self, registry: CollectorRegistry, repository: ModelRepository) -> None:
        """Expose the metrics on ``registry`` (the server's own)."""
        registry.register(InferenceMetrics(repository))

    def batch_finished(self, record: BatchRecord) -> None:
        # Batch sizes are counted in VersionStats (see InferenceMetrics).
        if self._tracer is not None:
            self._spans(self._tracer, record)

    def request_rejected(self, model: str, version: str, error: DomainError, context: object) -> None:
        # Counted in VersionStats; the request's own server span records the error.
        return None

    @staticmethod
    def _spans(tracer: Tracer, record: BatchRecord) -> None:
        attributes: dict[str, AttributeValue] = {
            "inference.model": record.model,
            "inference.version": record.version,
            "inference.batch_size": record.batch_size,
        }
        for request in record.requests:
            context = request.context
            if not isinstance(context, SpanContext) or not context.trace_flags.sampled:
                continue
            parent = trace.set_span_in_context(NonRecordingSpan(context))
            steps: Iterable[tuple[str, int, int]] = (
                ("inference.queue", request.enqueued_ns, request.dequeued_ns or record.started_ns),
                ("inference.preprocess", record.started_ns, record.input_done_ns),
                ("inference.run", record.input_done_ns, record.infer_done_ns),
            )
            for name, start, end in steps:
                span = tracer.start_span(
                    name, context=parent, start_time=monotonic_to_epoch_ns(start), attributes=attributes
                )
                if record.error is not None and name == "inference.run":
                    span.set_status(Status(StatusCode.ERROR, str(record.error)))
                span.end(end_time=monotonic_to_epoch_ns(end))
