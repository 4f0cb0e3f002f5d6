"""Errors the inference core raises, built on the shared domain errors.

Each subclass fixes a gRPC code through its base class from
:mod:`services.runtime.errors`, so the shared interceptor maps them to
``google.rpc.Status`` without this package knowing about gRPC.  Reasons are
part of the public contract: clients switch on them, so they never change.
"""

from __future__ import annotations

from typing import ClassVar

from services.runtime.errors import (
    Code,
    DeadlineExceeded,
    DomainError,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)

__all__ = [
    "ArtifactError",
    "DeadlineExceeded",
    "DomainError",
    "InvalidInput",
    "InvalidOutput",
    "ModelExecutionError",
    "ModelNotFound",
    "ModelNotReady",
    "ModelRejectedInput",
    "NotFound",
    "QueueFull",
    "RequestExpired",
    "ResourceExhausted",
    "Unavailable",
    "VersionNotFound",
    "VersionUnloaded",
]


class InvalidInput(InvalidArgument):
    """One request input does not match the model's signature.

    ``field`` is the input tensor's name: it is the violation's field and the
    ``input`` metadata entry, so a client can point at the offending tensor.
    """

    def __init__(self, field: str, message: str, *, reason: str = "INVALID_INPUT") -> None:
        super().__init__(
            f"input {field!r}: {message}",
            violations=[FieldViolation(field, message, reason)],
            reason=reason,
            metadata={"input": field},
        )
        self.field = field


class InvalidOutput(InvalidArgument):
    """A requested output is unknown to the model or requested twice."""

    def __init__(self, field: str, message: str, *, reason: str = "INVALID_OUTPUT") -> None:
        super().__init__(
            f"output {field!r}: {message}",
            violations=[FieldViolation(field, message, reason)],
            reason=reason,
            metadata={"output": field},
        )
        self.field = field


class ModelNotFound(NotFound):
    """No deployment of that name is loaded for the caller's tenant."""

    default_reason = "MODEL_NOT_FOUND"

    def __init__(self, model: str) -> None:
        super().__init__(f"model {model!r} is not loaded", metadata={"model": model})


class ModelNotReady(Unavailable):
    """The deployment exists and this server should serve it, but no version of it is loaded here (yet).

    UNAVAILABLE rather than NOT_FOUND: another server may serve it already, and the gateway retries
    UNAVAILABLE on another one, as a client should after a moment.
    """

    default_reason = "MODEL_NOT_READY"

    def __init__(self, model: str, *, retry_after_seconds: float = 1.0) -> None:
        super().__init__(
            f"model {model!r} is not ready on this server: none of its versions is loaded here "
            "(still loading, or failed to load: the deployment's conditions say which)",
            metadata={"model": model},
            retry_after_seconds=retry_after_seconds,
        )


class VersionNotFound(NotFound):
    """The pinned ``model_version`` is not among the deployment's loaded versions."""

    default_reason = "VERSION_NOT_FOUND"

    def __init__(self, model: str, version: str) -> None:
        super().__init__(
            f"version {version!r} of model {model!r} is not loaded",
            metadata={"model": model, "version": version},
        )


class QueueFull(ResourceExhausted):
    """The version's batching queue is full: the request is shed at once.

    Waiting would only add latency to every queued request, so the caller is
    told to back off instead.
    """

    default_reason = "QUEUE_FULL"


class RequestExpired(DeadlineExceeded):
    """The request's deadline passed while it waited; it was never run."""

    default_reason = "QUEUE_DEADLINE_EXCEEDED"


class VersionUnloaded(Unavailable):
    """The version was unloaded while the request waited (only at shutdown)."""

    default_reason = "VERSION_UNLOADED"


class ModelRejectedInput(InvalidArgument):
    """ONNX Runtime refused a request's values, run on their own (an index outside a table, say).

    The values passed the signature's checks, so only the run can tell; the
    batcher runs a failed batch's requests apart first, so this names the
    request at fault, never a neighbour.
    """

    default_reason: ClassVar[str] = "INPUT_REJECTED_BY_MODEL"


class RunOutOfMemory(ResourceExhausted):
    """The model ran out of memory running a request, even alone (a batch that ran out of memory was
    split first): memory may free as other runs end, so the caller may try again later."""

    default_reason: ClassVar[str] = "OUT_OF_MEMORY"


class ModelExecutionError(DomainError):
    """ONNX Runtime failed to run a request for a reason other than its values."""

    code: ClassVar[Code] = Code.INTERNAL
    default_reason: ClassVar[str] = "MODEL_EXECUTION_FAILED"


ARTIFACT_UNAVAILABLE = "ARTIFACT_UNAVAILABLE"
"""The artifact store could not be read."""
CACHE_UNAVAILABLE = "CACHE_UNAVAILABLE"
"""The local artifact cache could not be used (its disk full, read-only, not permitted)."""
CACHE_FULL = "CACHE_FULL"
"""The artifact does not fit in the local artifact cache's size limit, even with every artifact no
loaded version needs removed."""
OUT_OF_MEMORY = "OUT_OF_MEMORY"
"""The device (or the host) had no memory left to open the version's sessions or run its warm-up."""
WAITING_FOR_ROOM = frozenset({CACHE_FULL, OUT_OF_MEMORY})
"""Load failures that versions unloading elsewhere may cure at once."""
RETRIED_LOAD_FAILURES = frozenset({ARTIFACT_UNAVAILABLE, CACHE_UNAVAILABLE}) | WAITING_FOR_ROOM
"""Load failures that retrying may cure, once the store or the cache's disk is back, or once versions
unload and leave room in the cache or in memory."""


class ArtifactError(FailedPrecondition):
    """A version cannot be loaded; its reason becomes the ``LoadFailed`` condition's reason.

    Reasons: ``CHECKSUM_MISMATCH``, ``ARTIFACT_UNAVAILABLE``, ``CACHE_UNAVAILABLE``, ``CACHE_FULL``,
    ``OUT_OF_MEMORY``, ``MODEL_INVALID``, ``PREPROCESSING_INVALID``, ``WARMUP_FAILED``.
    """

    default_reason = "LOAD_FAILED"
