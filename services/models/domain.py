"""Domain types of the model management service.

Plain frozen dataclasses, independent of gRPC and of the generated messages;
their enumerations are in :mod:`services.models.enums`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from services.models.enums import (
    ArtifactFormat,
    AuditAction,
    DeploymentState,
    ExecutionDevice,
    ModelTask,
    PixelLayout,
    ResizeInterpolation,
    TensorType,
    VersionState,
    WatchEventType,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Model:
    """A model of one tenant; ``model_id`` is the last segment of ``models/{model}``."""

    model_id: str
    display_name: str = ""
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    task: ModelTask = ModelTask.UNSPECIFIED
    latest_version: int | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    etag: str = ""


@dataclass(frozen=True)
class TensorSignature:
    """One graph input or output; -1 in ``dims`` marks a dynamic dimension."""

    name: str
    data_type: TensorType
    dims: tuple[int, ...]


@dataclass(frozen=True)
class ModelVersion:
    """One version of a model; ``version`` counts 1, 2, ... per model and is never reused."""

    model_id: str
    version: int
    description: str = ""
    artifact_uri: str = ""
    sha256: str = ""
    size_bytes: int = 0
    format: ArtifactFormat = ArtifactFormat.ONNX
    onnx_opset: int = 0
    inputs: tuple[TensorSignature, ...] = ()
    outputs: tuple[TensorSignature, ...] = ()
    metrics: Mapping[str, float] = field(default_factory=dict)
    source_training_job: str = ""
    state: VersionState = VersionState.PENDING
    state_message: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    creator: str = ""
    create_time: datetime | None = None
    update_time: datetime | None = None


@dataclass(frozen=True)
class VersionFields:
    """What a client may set on a new version (upload or import)."""

    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    source_training_job: str = ""


@dataclass(frozen=True)
class ModelAlias:
    """A named pointer ``models/{model}/aliases/{alias}`` to one version."""

    model_id: str
    alias: str
    version: int
    update_time: datetime | None = None
    updater: str = ""


@dataclass(frozen=True)
class OperationError:
    """Why a long-running operation failed: a canonical code number, a reason and a message."""

    code: int
    reason: str
    message: str


@dataclass(frozen=True)
class ImportOperation:
    """The long-running import of one version, ``models/{model}/operations/{operation_id}``."""

    model_id: str
    operation_id: str
    version: int
    source_uri: str
    done: bool = False
    bytes_copied: int = 0
    start_time: datetime | None = None
    end_time: datetime | None = None
    error: OperationError | None = None
    result: ModelVersion | None = None


@dataclass(frozen=True)
class TrafficTarget:
    """Share of requests, in percent, that one version of the deployment's model receives."""

    version: int
    percent: int


@dataclass(frozen=True)
class Batching:
    """Dynamic batching; the defaults disable it (one request per run)."""

    max_batch_size: int = 1
    max_queue_delay_micros: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_size: int = 1024
    hold_lone_requests: bool = False


@dataclass(frozen=True)
class Execution:
    """Where and with how many threads the model runs."""

    device: ExecutionDevice = ExecutionDevice.UNSPECIFIED
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    gpu_memory_fraction: float = 0.0
    allow_spinning: bool = False
    allow_tf32: bool = False


@dataclass(frozen=True)
class Preprocessing:
    """Image-style steps applied to one model input."""

    input: str
    source_layout: PixelLayout = PixelLayout.UNSPECIFIED
    target_layout: PixelLayout = PixelLayout.UNSPECIFIED
    resize_height: int = 0
    resize_width: int = 0
    interpolation: ResizeInterpolation = ResizeInterpolation.UNSPECIFIED
    scale: float = 1.0
    means: tuple[float, ...] = ()
    stds: tuple[float, ...] = ()
    target_data_type: TensorType = TensorType.UNSPECIFIED


@dataclass(frozen=True)
class DeploymentSpec:
    """Everything a client sets on a deployment; a change of it bumps the generation."""

    model_id: str
    traffic: tuple[TrafficTarget, ...]
    display_name: str = ""
    instances_per_version: int = 1
    batching: Batching = field(default_factory=Batching)
    execution: Execution = field(default_factory=Execution)
    preprocessing: tuple[Preprocessing, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TrafficInput:
    """A traffic target as a client writes it: a version name and a share in percent."""

    version: str
    percent: int


@dataclass(frozen=True)
class DeploymentDraft:
    """A deployment as a client sends it, before names are parsed and defaults applied.

    Zero values mean "the default", as in the protobuf message.
    """

    model: str = ""
    traffic: tuple[TrafficInput, ...] = ()
    display_name: str = ""
    instances_per_version: int = 0
    batching: Batching = field(default_factory=lambda: Batching(max_batch_size=0, max_queue_size=0))
    execution: Execution = field(default_factory=Execution)
    preprocessing: tuple[Preprocessing, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    etag: str = ""


@dataclass(frozen=True)
class Condition:
    """A fact the inference service reported about a deployment or one of its versions."""

    type: str
    status: bool
    reason: str = ""
    message: str = ""
    version: str = ""
    """Name of the version the condition is about, as reported; empty for the whole deployment."""
    last_transition_time: datetime | None = None


@dataclass(frozen=True)
class LoadedVersion:
    """A version as the inference service has loaded it."""

    version: str
    """``models/{model}/versions/{version}``, as reported."""
    ready_instances: int = 0
    device: str = ""
    execution_providers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReplicaReport:
    """What one inference replica last reported about a deployment."""

    reporter: str
    generation: int
    conditions: tuple[Condition, ...] = ()
    loaded_versions: tuple[LoadedVersion, ...] = ()
    time: datetime | None = None
    """When model management received it; None for reports stored before that was kept."""


@dataclass(frozen=True)
class DeploymentStatus:
    """What the inference replicas reported, for the generation it describes: each replica's last report
    (``reports``) and their combination (the state, conditions and loaded versions shown)."""

    state: DeploymentState = DeploymentState.PENDING
    conditions: tuple[Condition, ...] = ()
    loaded_versions: tuple[LoadedVersion, ...] = ()
    generation: int = 0
    reporter: str = ""
    """The replica that reported last."""
    reports: tuple[ReplicaReport, ...] = ()


@dataclass(frozen=True)
class Deployment:
    """A deployment ``deployments/{deployment_id}`` of one tenant."""

    deployment_id: str
    spec: DeploymentSpec
    status: DeploymentStatus
    generation: int
    create_time: datetime
    update_time: datetime
    etag: str


@dataclass(frozen=True)
class StatusReport:
    """One report of the inference service (ReportDeploymentStatus)."""

    generation: int
    conditions: tuple[Condition, ...] = ()
    loaded_versions: tuple[LoadedVersion, ...] = ()
    reporter: str = ""
    deployment_create_time: datetime | None = None
    """When the deployment the report describes was created, if the reporter said."""


@dataclass(frozen=True)
class AuditEvent:
    """A recorded change to an alias or a deployment's traffic, ``auditEvents/{event_id}``."""

    event_id: int
    action: AuditAction
    resource: str
    actor: str
    time: datetime
    before_json: str
    after_json: str


@dataclass(frozen=True)
class WatchEvent:
    """One message of the deployment watch; ``deployment`` is None only for SYNCED."""

    type: WatchEventType
    tenant: str
    deployment_id: str = ""
    deployment: Deployment | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the token of the next one ('' on the last page)."""

    items: tuple[T, ...]
    next_page_token: str
    total_size: int | None = None
