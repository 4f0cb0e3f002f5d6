"""Per-version statistics in Triton's shape, and the observer hook for metrics and traces.

:class:`VersionStats` mirrors ``inference.ModelStatistics``: cumulative counts
and nanoseconds, which the servicer copies field by field.  It is only
touched from the event loop thread, so it needs no lock.  Every request
counts once, as a success or as a failure; failures also count by
:class:`FailureReason` (Triton's ``reason`` label), which
:func:`failure_reason` derives from the error the client gets, the one
place that maps errors to reasons.

The core imports neither Prometheus nor OpenTelemetry.  Counters and
cumulative times are best exported by a collector that reads
:class:`VersionStats` at scrape time (nothing per request); distributions and
spans come from an :class:`InferenceObserver`, called once per batch with
the timestamps of every step, so spans can be created after the fact with
explicit start and end times (``monotonic_to_epoch_ns`` converts them).
"""

from __future__ import annotations

import bisect
import copy
import enum
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from services.inference.errors import (
    DomainError,
    ModelExecutionError,
    QueueFull,
    RequestExpired,
    RunOutOfMemory,
    VersionUnloaded,
)

__all__ = [
    "BATCH_SIZE_BUCKETS",
    "MAX_BATCH_SIZES_KEPT",
    "BatchRecord",
    "BatchStats",
    "Duration",
    "FailureReason",
    "InferStats",
    "InferenceObserver",
    "Recorder",
    "RequestTiming",
    "TimedRequest",
    "VersionStats",
    "failure_reason",
    "monotonic_to_epoch_ns",
]

_log = logging.getLogger(__name__)

_EPOCH_OFFSET_NS = time.time_ns() - time.monotonic_ns()

MAX_BATCH_SIZES_KEPT = 1024
"""Distinct batch sizes whose executions a version reports apart (Triton's ``batch_stats``)."""

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
"""Upper bounds (inclusive) of the batch-size histogram's buckets; larger batches count above the last."""


def monotonic_to_epoch_ns(monotonic_ns: int) -> int:
    """A ``time.monotonic_ns()`` reading as nanoseconds since the Unix epoch (for span times)."""
    return monotonic_ns + _EPOCH_OFFSET_NS


class FailureReason(enum.IntEnum):
    """Why a request failed: the ``reason`` label of Triton's ``nv_inference_request_failure``.

    The values index :attr:`VersionStats.failures`.
    """

    REJECTED = 0
    """Refused by the scheduler: its queue full, the version unloading, its deadline passed before it ran."""
    CANCELED = 1
    """Its caller left (cancelled the call) before it ran."""
    BACKEND = 2
    """The model failed to run."""
    OTHER = 3
    """Anything else: invalid inputs, inputs the model rejected."""


def failure_reason(error: BaseException) -> FailureReason:
    """The reason a request failing with ``error`` counts under (as the client gets it; see
    :func:`.execution.batch_error` for a run's raw exception)."""
    if isinstance(error, (QueueFull, RequestExpired, VersionUnloaded)):
        return FailureReason.REJECTED
    if isinstance(error, (ModelExecutionError, RunOutOfMemory)) or not isinstance(error, DomainError):
        return FailureReason.BACKEND
    return FailureReason.OTHER


@dataclass(slots=True)
class Duration:
    """A count of events and their total duration (``inference.StatisticDuration``)."""

    count: int = 0
    ns: int = 0

    def add(self, ns: int) -> None:
        self.count += 1
        self.ns += ns


@dataclass(slots=True)
class InferStats:
    """Per-request statistics (``inference.InferStatistics``); compute times are the batch's."""

    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


@dataclass(slots=True)
class BatchStats:
    """Executions of one batch size (``inference.InferBatchStatistics``)."""

    batch_size: int
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


@dataclass(slots=True)
class VersionStats:
    """Cumulative statistics of one loaded version (``inference.ModelStatistics``)."""

    inference_count: int = 0
    """Inferences, counting each element of a batch."""
    execution_count: int = 0
    """Model runs; a batch is one."""
    last_inference_ms: int = 0
    """Milliseconds since the Unix epoch of the last run; 0 before the first."""
    inference: InferStats = field(default_factory=InferStats)
    batches: dict[int, BatchStats] = field(default_factory=dict)
    """By batch size (elements along the batch dimension), for the first :data:`MAX_BATCH_SIZES_KEPT`
    sizes run; runs of further sizes count in the totals only."""
    executions_by_size: list[int] = field(default_factory=lambda: [0] * (len(BATCH_SIZE_BUCKETS) + 1))
    """Executions per bucket of :data:`BATCH_SIZE_BUCKETS` (not cumulative): entry ``i`` counts batch
    sizes above bound ``i - 1`` up to bound ``i``; the last entry, sizes above every bound.  Kept with
    the counters so the histogram lives and dies with the version, as they do."""
    failures: list[int] = field(default_factory=lambda: [0] * len(FailureReason))
    """Failed requests by :class:`FailureReason` (the index); they sum to ``inference.fail.count``."""

    def record_execution(self, batch_size: int, input_ns: int, infer_ns: int, output_ns: int) -> None:
        self.execution_count += 1
        self.inference_count += batch_size
        self.last_inference_ms = time.time_ns() // 1_000_000
        self.executions_by_size[bisect.bisect_left(BATCH_SIZE_BUCKETS, batch_size)] += 1
        stats = self.batches.get(batch_size)
        if stats is None:
            # Without batching, clients choose the batch dimension: the sizes are theirs to multiply.
            if len(self.batches) >= MAX_BATCH_SIZES_KEPT:
                return
            stats = self.batches[batch_size] = BatchStats(batch_size)
        stats.compute_input.add(input_ns)
        stats.compute_infer.add(infer_ns)
        stats.compute_output.add(output_ns)

    def record_success(
        self, total_ns: int, queue_ns: int, input_ns: int, infer_ns: int, output_ns: int
    ) -> None:
        inference = self.inference
        inference.success.add(total_ns)
        inference.queue.add(queue_ns)
        inference.compute_input.add(input_ns)
        inference.compute_infer.add(infer_ns)
        inference.compute_output.add(output_ns)

    def record_failure(self, total_ns: int, reason: FailureReason) -> None:
        self.inference.fail.add(total_ns)
        self.failures[reason] += 1

    def snapshot(self) -> VersionStats:
        """A copy the caller may keep while serving goes on."""
        return copy.deepcopy(self)


class RequestTiming(NamedTuple):
    """When one request of a batch was queued and taken off the queue (monotonic ns)."""

    context: object
    """What the servicer attached to the request (for example its span context)."""
    enqueued_ns: int
    dequeued_ns: int
    batch_size: int


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """One model run and the requests it served; times are ``time.monotonic_ns()`` readings."""

    model: str
    version: str
    batch_size: int
    """Elements along the batch dimension."""
    requests: tuple[RequestTiming, ...]
    started_ns: int
    input_done_ns: int
    """Concatenation and preprocessing finished."""
    infer_done_ns: int
    """The ONNX Runtime run finished."""
    finished_ns: int
    """Outputs were split per request."""
    error: BaseException | None
    """Why the batch failed, None when it succeeded."""
    tenant: str = ""
    """Tenant of the deployment (names are unique only within a tenant)."""


class InferenceObserver(Protocol):
    """Receives what the servicer turns into metrics and spans; called on the event loop."""

    def batch_finished(self, record: BatchRecord) -> None:
        """A batch ran (or failed); its requests' results are already delivered."""
        ...

    def request_rejected(self, model: str, version: str, error: DomainError, context: object) -> None:
        """A request failed before it ran: invalid, shed from a full queue, or expired."""
        ...


class TimedRequest(Protocol):
    """What the recorder reads of a request that went through the queue.

    ``arrival_ns`` is when the request arrived, ``enqueued_ns`` when it entered the queue, after
    decoding and validation: its total time runs from the first, its queue time (as Triton's, from
    entering the scheduler) from the second.
    """

    @property
    def arrival_ns(self) -> int: ...
    @property
    def enqueued_ns(self) -> int: ...
    @property
    def dequeued_ns(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def context(self) -> object: ...


class Recorder:
    """Records one version's outcomes in its :class:`VersionStats` and tells the observer.

    An observer that raises is logged and otherwise ignored: metrics must
    never change what a client gets or stop a worker.
    """

    def __init__(
        self,
        stats: VersionStats | None = None,
        observer: InferenceObserver | None = None,
        *,
        model: str = "",
        version: str = "",
        tenant: str = "",
    ) -> None:
        self.stats = stats if stats is not None else VersionStats()
        self._observer = observer
        self._model, self._version, self._tenant = model, version, tenant

    def rejected(self, error: DomainError, arrival_ns: int, context: object) -> None:
        """A request failed before it ran (invalid, shed, expired or unloaded)."""
        self.stats.record_failure(time.monotonic_ns() - arrival_ns, failure_reason(error))
        if self._observer is None:
            return
        try:
            self._observer.request_rejected(self._model, self._version, error, context)
        except Exception:
            _log.exception("inference observer failed")

    def canceled(self, arrival_ns: int, context: object, deadline: float | None = None) -> None:
        """A request whose caller left (cancelled the call) before it ran: a failure, ``CANCELED``.

        Unless its ``deadline`` (absolute ``time.monotonic()``) has passed: the caller's gRPC deadline
        ends the call then, and the request counts as expired (``REJECTED``), as when the batcher is
        first to find it past its deadline.  The observer is not told: nothing failed that a span of
        the request could show (the call's own span records the cancellation).
        """
        now = time.monotonic_ns()
        if deadline is not None and deadline * 1e9 <= now:
            self.rejected(RequestExpired("the request's deadline passed before it ran"), arrival_ns, context)
            return
        self.stats.record_failure(now - arrival_ns, FailureReason.CANCELED)

    def batch(
        self,
        requests: Sequence[TimedRequest],
        marks: tuple[int, int, int, int],
        error: BaseException | None,
        reason: FailureReason | None = None,
    ) -> None:
        """A batch ran (``error`` None) or failed; ``marks`` as in :class:`BatchRecord`.

        A failed batch's requests count under ``reason``, by default :func:`failure_reason` of ``error``.
        """
        now = time.monotonic_ns()
        stats = self.stats
        size = sum(r.size for r in requests)
        if error is None:
            started, input_done, infer_done, finished = marks
            input_ns, infer_ns, output_ns = (
                input_done - started,
                infer_done - input_done,
                finished - infer_done,
            )
            stats.record_execution(size, input_ns, infer_ns, output_ns)
            for r in requests:
                stats.record_success(
                    now - r.arrival_ns, r.dequeued_ns - r.enqueued_ns, input_ns, infer_ns, output_ns
                )
        else:
            why = failure_reason(error) if reason is None else reason
            for r in requests:
                stats.record_failure(now - r.arrival_ns, why)
        if self._observer is None:
            return
        timings = tuple(RequestTiming(r.context, r.enqueued_ns, r.dequeued_ns, r.size) for r in requests)
        try:
            self._observer.batch_finished(
                BatchRecord(self._model, self._version, size, timings, *marks, error, self._tenant)
            )
        except Exception:
            _log.exception("inference observer failed")
