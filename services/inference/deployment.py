"""A deployment as the inference service runs it, and the state it reports back.

These mirror ``aiplat.models.v1.Deployment`` without depending on generated
code: the servicer converts the watch stream's messages (plus each version's
artifact URI and checksum from the registry) into :class:`DeploymentSpec`,
and :class:`DeploymentStatus` back into the message's output-only fields.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from services.inference.errors import ArtifactError
from services.inference.execution import BatchingOptions
from services.inference.preprocessing import PreprocessSpec
from services.inference.sessions import ExecutionOptions
from services.inference.version import VersionConfig

__all__ = [
    "Condition",
    "DeploymentSpec",
    "DeploymentState",
    "DeploymentStatus",
    "TrafficTarget",
    "VersionStatus",
]


def _last_segment(resource: str) -> str:
    return resource.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class TrafficTarget:
    """One version of the split, with what is needed to fetch it."""

    version: str
    """``models/{model}/versions/{version}``."""
    artifact_uri: str
    """fsspec URL of the ONNX file."""
    sha256: str
    """Lower-case hex SHA-256 the registry recorded for the artifact."""
    percent: int
    """Share of unpinned requests; 0 loads the version for pinned requests only."""
    unavailable: ArtifactError | None = None
    """Why the registry could not say where the artifact is (``artifact_uri`` and ``sha256`` are then
    empty): the target is never loaded and is reported ``LoadFailed`` with this error's reason."""

    @property
    def version_id(self) -> str:
        """The ``model_version`` clients pin it with."""
        return _last_segment(self.version)


@dataclass(frozen=True)
class DeploymentSpec:
    """What to serve under one ``model_name``."""

    name: str
    """``deployments/{deployment}``; the last segment is the ``model_name``."""
    targets: tuple[TrafficTarget, ...]
    tenant: str = ""
    """Tenant owning the deployment; names are unique only within a tenant."""
    generation: int = 0
    """Spec generation; an older generation than the one applied is ignored."""
    instances: int = 1
    """Concurrent model instances (sessions) per version."""
    batching: BatchingOptions = field(default_factory=BatchingOptions)
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)
    preprocessing: tuple[PreprocessSpec, ...] = ()
    create_time: datetime | None = None
    """When model management created the deployment, if known; reports carry it, so that one about a
    deployment deleted since is not taken for one about its namesake created after."""

    def __post_init__(self) -> None:
        ids = [target.version_id for target in self.targets]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.name}: a version appears twice in the traffic split")
        if not 1 <= self.instances <= 64:
            raise ValueError(f"{self.name}: instances must lie in 1..64, got {self.instances}")

    @property
    def model_name(self) -> str:
        return _last_segment(self.name)

    def version_config(self, target: TrafficTarget) -> VersionConfig:
        """The loaded version ``target`` needs; an equal config already loaded is reused."""
        return VersionConfig(
            model=self.model_name,
            version=target.version_id,
            resource=target.version,
            artifact_uri=target.artifact_uri,
            sha256=target.sha256.lower(),
            tenant=self.tenant,
            instances=self.instances,
            batching=self.batching,
            execution=self.execution,
            preprocessing=self.preprocessing,
        )


class DeploymentState(enum.StrEnum):
    """``aiplat.models.v1.DeploymentState`` without its prefix."""

    PENDING = "PENDING"
    READY = "READY"
    DEGRADED = "DEGRADED"
    FAILED = "FAILED"
    DELETING = "DELETING"


@dataclass(frozen=True)
class VersionStatus:
    """A loaded version (``LoadedVersionStatus``)."""

    version: str
    ready_instances: int
    device: str
    """``cpu`` or ``cuda:<n>``."""
    execution_providers: tuple[str, ...]
    draining: bool = False
    """No longer routed; unloads when its last request finishes."""


@dataclass(frozen=True)
class Condition:
    """A fact about a deployment (``DeploymentCondition``)."""

    type: str
    """``Ready``, ``Loaded`` or ``LoadFailed``."""
    status: bool
    reason: str
    message: str
    version: str = ""
    last_transition_time: datetime | None = None


@dataclass(frozen=True)
class DeploymentStatus:
    """What the inference service reports for one deployment."""

    name: str
    tenant: str
    generation: int
    state: DeploymentState
    loaded_versions: tuple[VersionStatus, ...]
    conditions: tuple[Condition, ...]
    create_time: datetime | None = None
    """The deployment's, when known (see ``DeploymentSpec.create_time``)."""
