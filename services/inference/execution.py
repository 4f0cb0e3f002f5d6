"""Batching options, and running one formed batch: concatenate, prepare, run, split.

The functions run in a batcher's worker thread, except :func:`batch_error`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from services.inference.errors import DomainError, ModelExecutionError, ModelRejectedInput, RunOutOfMemory
from services.inference.sessions import RejectedInputError, out_of_memory
from services.inference.validation import PreparedRequest

__all__ = [
    "RUN_FAILED_MESSAGE",
    "BatchRunner",
    "BatchingOptions",
    "Outputs",
    "QueuedRequest",
    "batch_error",
    "execute_batch",
    "is_run_failure",
    "split_outputs",
]

Outputs = dict[str, np.ndarray]
"""Output arrays by name."""


@dataclass(frozen=True)
class BatchingOptions:
    """A version's batching (``BatchingConfig`` in the registry)."""

    max_batch_size: int = 1
    """Largest batch, in elements along the batch dimension; 1 disables batching."""
    max_queue_delay_us: int = 0
    """Longest the oldest request of a group waits for others, in microseconds."""
    preferred_batch_sizes: tuple[int, ...] = ()
    """Sizes run as soon as they are reached, without waiting for the delay."""
    max_queue_size: int = 1024
    """Requests allowed to wait; past it requests fail with RESOURCE_EXHAUSTED (QUEUE_FULL)."""
    hold_lone_requests: bool = False
    """Whether a request finding the queue empty and an instance idle waits for the delay too."""

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.max_queue_delay_us < 0 or self.max_queue_size < 1:
            raise ValueError(f"invalid batching options {self!r}")
        if any(not 1 <= size <= self.max_batch_size for size in self.preferred_batch_sizes):
            raise ValueError(f"preferred batch sizes must lie in 1..{self.max_batch_size}")


class BatchRunner(Protocol):
    """One model instance; both methods run in a worker thread, one batch at a time."""

    def prepare(self, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
        """Turn concatenated request inputs into model feeds (preprocessing, device upload)."""
        ...

    def infer(self, feeds: dict[str, Any]) -> Outputs:
        """Run the model; outputs are host arrays with the batch as first dimension."""
        ...


class QueuedRequest:
    """A validated request waiting in, or taken from, a batcher's queue."""

    __slots__ = (
        "arrival_ns",
        "context",
        "deadline",
        "dequeued_ns",
        "enqueued_ns",
        "feeds",
        "future",
        "key",
        "nbytes",
        "outputs",
        "size",
    )

    def __init__(
        self,
        prepared: PreparedRequest,
        future: asyncio.Future[Outputs],
        deadline: float | None,
        enqueued_ns: int,
        context: object,
        arrival_ns: int,
    ) -> None:
        self.feeds = prepared.feeds
        self.key = prepared.key
        self.size = prepared.batch_size
        self.outputs = prepared.outputs
        self.future = future
        self.deadline = deadline
        self.enqueued_ns = enqueued_ns
        self.arrival_ns = arrival_ns
        """When the request arrived, before it was decoded and validated: its total time runs from here,
        its queue time from ``enqueued_ns``."""
        self.dequeued_ns = 0
        self.context = context
        self.nbytes = 0
        """Bytes of its inputs that a :class:`~.batcher.QueueBudget` counts while it is queued."""


RUN_FAILED_MESSAGE = "the model failed to run; the inference service's log has the cause"
RUN_OUT_OF_MEMORY_MESSAGE = (
    "the model ran out of memory running this request on its own; try again later, or send fewer or "
    "smaller inputs per request"
)


def batch_error(exc: Exception) -> DomainError:
    """The error a waiter of a failed batch gets."""
    # A fresh exception per waiter: one instance raised in many tasks would
    # collect all their tracebacks.
    if isinstance(exc, DomainError) and not isinstance(exc, ModelExecutionError):
        return exc
    if isinstance(exc, RejectedInputError):
        return ModelRejectedInput(f"the model rejected the input: {exc}")
    if out_of_memory(exc):
        return RunOutOfMemory(RUN_OUT_OF_MEMORY_MESSAGE, retry_after_seconds=1.0)
    # ONNX Runtime's own text names its source files and internals: it goes to the log, not the client.
    return ModelExecutionError(exc.message if isinstance(exc, ModelExecutionError) else RUN_FAILED_MESSAGE)


def is_run_failure(exc: Exception) -> bool:
    """Whether ``exc`` is the model failing to run (logged, with the cause the client does not see)."""
    return isinstance(exc, ModelExecutionError) or not isinstance(exc, (DomainError, RejectedInputError))


def execute_batch(
    runner: BatchRunner, batch: list[QueuedRequest]
) -> tuple[list[Outputs], tuple[int, int, int, int]]:
    """Concatenate, prepare, run and split one batch; runs in a worker thread.

    Returns each request's outputs and the ``time.monotonic_ns()`` readings
    when the batch started and when preparation, the run and the split finished.
    """
    started = time.monotonic_ns()
    if len(batch) == 1:
        feeds = batch[0].feeds
    else:
        feeds = {name: np.concatenate([r.feeds[name] for r in batch]) for name in batch[0].feeds}
    prepared = runner.prepare(feeds)
    input_done = time.monotonic_ns()
    outputs = runner.infer(prepared)
    infer_done = time.monotonic_ns()
    if len(batch) == 1:
        results = [{name: outputs[name] for name in batch[0].outputs}]
    else:
        results = split_outputs(outputs, batch)
    return results, (started, input_done, infer_done, time.monotonic_ns())


def split_outputs(outputs: Outputs, batch: list[QueuedRequest]) -> list[Outputs]:
    """Each request's rows of the batch outputs (views, no copies), only the outputs it asked for."""
    total = sum(r.size for r in batch)
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != total:
            raise ModelExecutionError(f"output {name!r} has shape {list(array.shape)} for a batch of {total}")
    results: list[Outputs] = []
    start = 0
    for request in batch:
        stop = start + request.size
        results.append({name: outputs[name][start:stop] for name in request.outputs})
        start = stop
    return results
