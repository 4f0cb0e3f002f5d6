"""One loaded model version: its sessions, preprocessing, batcher and in-flight count.

A version is built, warmed with one dummy run per instance and started
before any traffic reaches it.  After the repository routes traffic away, it
is *retired*: it keeps serving what it already accepted and closes itself
when the last of those requests has finished (drain), so a redeploy fails no
request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from services.inference.batcher import Batcher, QueueBudget
from services.inference.errors import OUT_OF_MEMORY, ArtifactError
from services.inference.execution import BatchingOptions
from services.inference.pipeline import Pipeline, build_preprocessors, dummy_feeds
from services.inference.preprocessing import PreprocessSpec
from services.inference.sessions import ExecutionOptions, ModelSession, out_of_memory
from services.inference.signature import Signature
from services.inference.stats import InferenceObserver, Recorder, VersionStats
from services.inference.validation import InputTensor, RequestValidator
from services.runtime.errors import DomainError, InvalidArgument

__all__ = [
    "InferenceResult",
    "LoadedVersion",
    "OutputTensor",
    "SessionFactory",
    "VersionConfig",
    "load_version",
]

_log = logging.getLogger(__name__)

DECODE_IN_THREAD_ABOVE = 64 * 1024
"""Typed elements or BYTES-tensor bytes above which a request is decoded in a thread: decoding them
is a Python loop, and on the event loop it would hold up every other call."""

SessionFactory = Callable[[Path, ExecutionOptions], ModelSession]
"""Opens one session of an artifact; :func:`.sessions.create_session` in production."""


@dataclass(frozen=True)
class VersionConfig:
    """Everything a loaded version is built from; equal configs can share one loaded version."""

    model: str
    """The ``model_name`` clients use: the deployment's name."""
    version: str
    """The ``model_version`` clients use: the last segment of ``resource``."""
    resource: str
    """``models/{model}/versions/{version}``."""
    artifact_uri: str
    sha256: str
    tenant: str = ""
    """Tenant of the deployment, for metrics and spans."""
    instances: int = 1
    batching: BatchingOptions = field(default_factory=BatchingOptions)
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)
    preprocessing: tuple[PreprocessSpec, ...] = ()


class OutputTensor(NamedTuple):
    """One output of a finished request; encode ``data`` with :func:`.tensors.encode_raw`."""

    name: str
    datatype: str
    data: np.ndarray


class InferenceResult(NamedTuple):
    model_name: str
    model_version: str
    outputs: list[OutputTensor]
    """In the order requested (graph order when none were named)."""


class LoadedVersion:
    """A version ready to serve; :meth:`infer` is the per-request entry point."""

    def __init__(
        self,
        config: VersionConfig,
        sessions: Sequence[ModelSession],
        *,
        observer: InferenceObserver | None = None,
        budget: QueueBudget | None = None,
    ) -> None:
        self.config = config
        self.model, self.version = config.model, config.version
        self.signature: Signature = sessions[0].signature
        """What the ONNX graph takes and returns."""
        self.device = sessions[0].device
        self.providers = sessions[0].providers
        preprocessors = build_preprocessors(self.signature, config.preprocessing)
        self.request_signature = self.signature.replace_inputs(p.client_spec for p in preprocessors.values())
        """What clients send (preprocessed inputs as images): the signature to publish."""
        self._validator = RequestValidator(
            self.request_signature, max_batch_size=config.batching.max_batch_size
        )
        self._output_types = {spec.name: spec.datatype for spec in self.signature.outputs}
        self._pipelines = [Pipeline(session, preprocessors) for session in sessions]
        self._recorder = Recorder(
            observer=observer, model=config.model, version=config.version, tenant=config.tenant
        )
        self.stats: VersionStats = self._recorder.stats
        self._batcher = Batcher(
            self._pipelines,
            config.batching,
            batched=self.request_signature.batched,
            recorder=self._recorder,
            name=f"{config.model}-{config.version}",
            inline_below_us=config.execution.inline_run_us,
            budget=budget,
        )
        self._in_flight = 0
        self._retired = False
        self._closing: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        """Set once the version has drained and released its sessions."""
        self.on_closed: Callable[[LoadedVersion], None] | None = None

    def __repr__(self) -> str:
        return f"LoadedVersion({self.config.resource!r}, device={self.device!r}, in_flight={self._in_flight})"

    @property
    def instances(self) -> int:
        return len(self._pipelines)

    @property
    def in_flight(self) -> int:
        """Requests accepted and not yet answered."""
        return self._in_flight

    @property
    def queued(self) -> int:
        """Requests waiting to be batched (for a pending-requests gauge)."""
        return self._batcher.queued

    async def warm_up(self) -> None:
        """Run every instance once on a dummy request, so the first real one is not slow."""
        feeds = dummy_feeds(self.request_signature)
        await asyncio.gather(*(asyncio.to_thread(p.run_once, feeds) for p in self._pipelines))

    def start(self) -> None:
        self._batcher.start()

    async def infer(
        self,
        inputs: Sequence[InputTensor],
        outputs: Sequence[str] = (),
        *,
        deadline: float | None = None,
        context: object = None,
        arrival_ns: int = 0,
    ) -> InferenceResult:
        """Validate, queue and await one request.

        ``deadline``: absolute ``time.monotonic()``, or None; ``context``: any
        object handed back to the observer (a span context); ``arrival_ns``:
        ``time.monotonic_ns()`` when the request arrived, 0 for now.
        """
        self._in_flight += 1
        try:
            arrival = arrival_ns or time.monotonic_ns()
            try:
                if _slow_to_decode(inputs):
                    prepared = await asyncio.to_thread(self._validator.validate, inputs, outputs)
                else:
                    prepared = self._validator.validate(inputs, outputs)
            except InvalidArgument as error:
                self._recorder.rejected(error, arrival, context)
                raise
            except asyncio.CancelledError:
                # Its caller left while its inputs were decoded in a thread: the batcher never saw it.
                self._recorder.canceled(arrival, context, deadline)
                raise
            arrays = await self._batcher.submit(
                prepared, deadline=deadline, context=context, arrival_ns=arrival
            )
            types = self._output_types
            return InferenceResult(
                self.model,
                self.version,
                [OutputTensor(name, types[name], arrays[name]) for name in prepared.outputs],
            )
        finally:
            self._in_flight -= 1
            if self._retired and not self._in_flight:
                self._close_soon()

    def reject(self, error: DomainError, arrival_ns: int, context: object = None) -> None:
        """Count a request routed here that failed before :meth:`infer` could take it (the servicer
        could not read its inputs), as :meth:`infer` counts one that fails validation."""
        self._recorder.rejected(error, arrival_ns, context)

    def retire(self) -> None:
        """Take no new work from routing; close once what is in flight has finished."""
        self._retired = True
        if not self._in_flight:
            self._close_soon()

    def _close_soon(self) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())

    async def _close(self) -> None:
        await self._batcher.close()
        self._pipelines.clear()  # drops the sessions and their memory
        _log.info("model version unloaded", extra={"model": self.model, "version": self.version})
        self.closed.set()
        if self.on_closed is not None:
            self.on_closed(self)


async def load_version(
    config: VersionConfig,
    artifact: Path,
    *,
    session_factory: SessionFactory,
    observer: InferenceObserver | None = None,
    budget: QueueBudget | None = None,
) -> LoadedVersion:
    """Open ``config.instances`` sessions of ``artifact``, warm them and start serving.

    Raises :class:`ArtifactError` (``MODEL_INVALID``, ``PREPROCESSING_INVALID``,
    ``WARMUP_FAILED``, or ``OUT_OF_MEMORY`` when opening or warming up ran out of memory); nothing is
    left running when it does.
    """
    try:
        sessions = await asyncio.gather(
            *(asyncio.to_thread(session_factory, artifact, config.execution) for _ in range(config.instances))
        )
    except Exception as error:
        raise _load_failure(config, "cannot be opened", error, reason="MODEL_INVALID") from error
    try:
        version = LoadedVersion(config, sessions, observer=observer, budget=budget)
    except ValueError as error:
        raise ArtifactError(f"{config.resource}: {error}", reason="PREPROCESSING_INVALID") from error
    try:
        await version.warm_up()
    except Exception as error:
        raise _load_failure(config, "failed its warm-up run", error, reason="WARMUP_FAILED") from error
    version.start()
    _log.info(
        "model version loaded on %s",
        version.device,
        extra={
            "model": config.model,
            "version": config.version,
            "instances": config.instances,
            "device": version.device,
            "providers": list(version.providers),
        },
    )
    return version


def _load_failure(config: VersionConfig, what: str, error: Exception, *, reason: str) -> ArtifactError:
    """``reason``, unless ``error`` is a want of memory: that is ``OUT_OF_MEMORY``, retried, as
    versions unloading elsewhere (a traffic shift's previous version, another deployment) free it."""
    if not out_of_memory(error):
        return ArtifactError(f"{config.resource} {what}: {error}", reason=reason)
    return ArtifactError(
        f"{config.resource} {what}: out of memory with {config.instances} instance(s); it is retried "
        "as memory frees, or deploy it with fewer instances, a smaller max batch size or, on a GPU, "
        f"a larger execution.gpu_memory_fraction: {error}",
        reason=OUT_OF_MEMORY,
    )


def _slow_to_decode(inputs: Sequence[InputTensor]) -> bool:
    """Whether decoding ``inputs`` loops over many values (raw numeric tensors are mere views)."""
    work = 0
    for tensor in inputs:
        if tensor.contents is not None:
            work += len(tensor.contents)
        elif tensor.raw is not None and tensor.datatype == "BYTES":
            work += len(tensor.raw)
    return work > DECODE_IN_THREAD_ABOVE
