"""Settings of the inference service (environment prefix ``AIPLAT_INFERENCE_``).

The shared fields (host, port, metrics port, data directory, keys, ...) come
from :class:`services.runtime.settings.ServiceSettings`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.runtime.machine import usable_cores
from services.runtime.settings import DEFAULT_MAX_MESSAGE_MIB, ServiceSettings

SERVICE_NAME = "inference"


class InferenceSettings(ServiceSettings):
    """How the inference service is configured."""

    model_config = SettingsConfigDict(env_prefix="AIPLAT_INFERENCE_")

    models_address: str
    """``host:port`` of the model management service, whose deployment watch says what to serve."""

    service_token_file: Path
    """File holding the bearer token the service calls model management with: an admin token, as
    watching every tenant's deployments needs one. Re-read on every reconnect, so it can rotate."""

    cache_dir: Path | None = None
    """Local cache of verified model artifacts; unset means ``<data_dir>/inference-cache``."""

    cache_limit_gib: float = Field(default=20.0, ge=0)
    """Most the cached artifacts (their ``.onnx`` files) may take, in GiB; 0: unbounded. Before a
    download the least recently used artifacts are removed until the incoming one fits, never one that a
    version loaded or loading in a worker process sharing the cache needs; an artifact that cannot fit
    even then fails its load with reason ``CACHE_FULL``, retried until a version unloads. Downloads in
    progress (their ``.part`` files) come on top: leave room for them below the size of the disk or
    volume."""

    max_message_mib: int = Field(default=4 * DEFAULT_MAX_MESSAGE_MIB, ge=1, le=2047)
    """Largest gRPC message the inference service takes or sends, in MiB: four times the other
    services', as a REST body within the gateway's limit decodes to at most four times its size (FP64
    contents), and batches of images are large (Triton takes up to 2 GiB). What waits in the batching
    queues meanwhile is bounded by ``max_queued_mib``."""

    max_queued_mib: int = Field(default=1024, ge=1)
    """Most the requests waiting in this process's batching queues may hold together, in MiB of input
    tensors; past it a request gets ``RESOURCE_EXHAUSTED`` (``QUEUE_FULL``) at once, unless every queue
    is empty. Each version's queue is also bounded in requests (its deployment's ``max_queue_size``)."""

    workers: int = Field(default=1, ge=1, le=64)
    """Worker processes sharing the gRPC port (``SO_REUSEPORT``), each with its own models, batchers and
    deployment watch; 1 serves from this process. The parent serves the one metrics port and merges the
    workers' metrics, labelled ``worker``.  The kernel spreads *connections* over the workers, so
    workers suit clients that open many connections; behind the gateway, which multiplexes calls over
    a few connections, run several replicas instead (``aiplat up --inference-replicas``): the gateway
    balances each call."""

    reconnect_min_seconds: float = Field(default=0.5, gt=0)
    """First delay before reconnecting to model management after the watch broke, in seconds."""

    reconnect_max_seconds: float = Field(default=30.0, gt=0)
    """Longest delay between reconnection attempts (the delay doubles up to it), in seconds."""

    status_refresh_seconds: float = Field(default=60.0, gt=0)
    """How often each deployment's status is reported again though unchanged, in seconds: model
    management stops counting a replica's report three minutes (its default report lifetime) after the
    last one, so keep this well below that."""

    cores: int = Field(default=0, ge=0, le=4096)
    """Cores this replica's model sessions share; 0: every core the process may use (its CPU affinity,
    within its CPU quota). ``aiplat up --inference-replicas N`` gives each replica 1/N of the machine."""

    def session_threads(self) -> int:
        """Intra-op threads of a session whose deployment leaves them to the service: the replica's cores
        shared among its workers. ONNX Runtime's own default (every core, per session) has several
        processes' thread pools fight over the same cores."""
        return max(1, (self.cores or usable_cores()) // self.workers)

    def max_queued_bytes(self) -> int:
        """``max_queued_mib`` in bytes."""
        return self.max_queued_mib * 1024**2

    def cache_limit_bytes(self) -> int:
        """``cache_limit_gib`` in bytes; 0: unbounded."""
        return int(self.cache_limit_gib * 1024**3)

    def resolved_cache_dir(self) -> Path:
        """``cache_dir``, or ``inference-cache`` in the data directory."""
        return self.cache_dir or self.data_dir / "inference-cache"
