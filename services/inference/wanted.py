"""A deployment as the watch announces it, and how its versions are resolved to artifacts.

The watch names versions (``models/{m}/versions/{v}``); the repository needs
each one's artifact URI and checksum, which a :class:`VersionResolver` (the
model registry) provides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from services.inference.deployment import DeploymentSpec, TrafficTarget
from services.inference.errors import ArtifactError
from services.inference.execution import BatchingOptions
from services.inference.preprocessing import PreprocessSpec
from services.inference.sessions import ExecutionOptions

__all__ = ["Artifact", "Key", "SpecSource", "VersionResolver", "WantedDeployment"]

Key = tuple[str, str]
"""``(tenant, model_name)``: what identifies a deployment across tenants."""


class Artifact(NamedTuple):
    """Where a version's ONNX file is, and its checksum."""

    uri: str
    sha256: str


class VersionResolver(Protocol):
    async def resolve(self, tenant: str, version: str) -> Artifact:
        """The artifact of ``models/{m}/versions/{v}`` in ``tenant``.

        Raises :class:`ArtifactError` when it cannot be resolved at all and
        :class:`Unavailable` when it cannot be resolved right now.
        """
        ...


class SpecSource(Protocol):
    async def current(self, tenant: str, model_name: str) -> WantedDeployment | None:
        """The deployment as model management holds it at this moment, asked as the calling user.

        Raises :class:`~.errors.ModelNotFound` when it does not exist for the
        caller; None when model management cannot be asked right now.
        """
        ...


@dataclass(frozen=True)
class WantedDeployment:
    """A deployment as the watch announces it: versions by name, not yet by artifact."""

    name: str
    """``deployments/{deployment}``."""
    tenant: str
    generation: int
    targets: tuple[tuple[str, int], ...]
    """``(models/{m}/versions/{v}, percent)`` per version of the split."""
    instances: int = 1
    batching: BatchingOptions = field(default_factory=BatchingOptions)
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)
    preprocessing: tuple[PreprocessSpec, ...] = ()
    create_time: datetime | None = None
    """When model management created the deployment: a deployment deleted and created again under
    the same name has a later one, and its generations start over.  None when unknown."""

    @property
    def key(self) -> Key:
        return self.tenant, self.name.rsplit("/", 1)[-1]

    def created_after(self, create_time: datetime | None) -> bool:
        """Whether this incarnation was created after one created at ``create_time`` (False if unknown)."""
        return self.create_time is not None and create_time is not None and self.create_time > create_time

    def recreates(self, other: WantedDeployment) -> bool:
        """Whether this is a later incarnation than ``other``: deleted and created again since."""
        return self.created_after(other.create_time)

    def older_than(self, other: WantedDeployment) -> bool:
        """Whether this is an earlier state than ``other``: an earlier incarnation or an earlier spec."""
        if other.recreates(self):
            return True
        return not self.recreates(other) and self.generation < other.generation

    def spec(self, artifacts: Mapping[str, Artifact | ArtifactError]) -> DeploymentSpec:
        """The spec to apply, given what each version resolved to."""
        targets = []
        for version, percent in self.targets:
            resolved = artifacts[version]
            if isinstance(resolved, ArtifactError):
                targets.append(TrafficTarget(version, "", "", percent, unavailable=resolved))
            else:
                targets.append(TrafficTarget(version, resolved.uri, resolved.sha256, percent))
        return DeploymentSpec(
            self.name,
            tuple(targets),
            tenant=self.tenant,
            generation=self.generation,
            instances=self.instances,
            batching=self.batching,
            execution=self.execution,
            preprocessing=self.preprocessing,
            create_time=self.create_time,
        )
