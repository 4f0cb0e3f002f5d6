"""Following model management: the deployment watch, version lookups, and the service token.

:class:`DeploymentFollower` keeps one ``WatchDeployments(all_tenants=True)``
stream open and feeds what it says to the :class:`~.controller.DeploymentController`.
When the stream breaks or model management is unreachable it reconnects with
exponential backoff; meanwhile the repository keeps serving what it has.
Each session starts with a complete snapshot, so nothing missed while
disconnected stays missed.  Sessions are renewed every hour even when
healthy, since every outgoing call carries a deadline.

Every call carries the service token read from its file at that moment, so a
rotated token takes effect on the next call or reconnect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from aiplat.models.v1 import (
    deployment_service_pb2,
    deployment_service_pb2_grpc,
    registry_service_pb2,
    registry_service_pb2_grpc,
)
from services.inference.controller import DeploymentController
from services.inference.convert_deployments import create_time_of, wanted_in
from services.inference.errors import ArtifactError, ModelNotFound
from services.inference.wanted import Artifact, WantedDeployment
from services.runtime.errors import Unavailable
from services.runtime.transport.client import open_channel

if TYPE_CHECKING:
    from aiplat.models.v1.deployment_service_pb2_grpc import DeploymentServiceAsyncStub
    from aiplat.models.v1.registry_service_pb2_grpc import ModelRegistryServiceAsyncStub

__all__ = ["DeploymentFollower", "DeploymentReader", "ModelsClient", "RegistryResolver"]

_log = logging.getLogger(__name__)

WATCH_SESSION_SECONDS = 3600.0
"""Deadline of one watch session; the follower then simply watches again."""
_CALL_SECONDS = 10.0
_Event = deployment_service_pb2.WatchEventType
_PUT = frozenset(
    {_Event.WATCH_EVENT_TYPE_EXISTING, _Event.WATCH_EVENT_TYPE_CREATED, _Event.WATCH_EVENT_TYPE_UPDATED}
)
# The registry's answers that mean "this version cannot be had", as opposed to "not right now".
_PERMANENT = frozenset(
    {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.INVALID_ARGUMENT}
)


class ModelsClient:
    """The channel to model management and the service token; the channel opens on first use."""

    def __init__(self, address: str, token_file: Path) -> None:
        self.address = address
        self._token_file = token_file
        self._channel: grpc.aio.Channel | None = None

    def __repr__(self) -> str:
        return f"ModelsClient({self.address!r}, token_file={str(self._token_file)!r})"

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata with the service token as the file holds it now; Unavailable if unreadable."""
        try:
            token = self._token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise Unavailable(
                f"the service token file cannot be read: {error}", reason="SERVICE_TOKEN_UNREADABLE"
            ) from error
        if not token:
            raise Unavailable("the service token file is empty", reason="SERVICE_TOKEN_UNREADABLE")
        return (("authorization", f"Bearer {token}"),)

    @property
    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            self._channel = open_channel(self.address, default_timeout=_CALL_SECONDS)
        return self._channel

    def deployments(self) -> DeploymentServiceAsyncStub:
        return deployment_service_pb2_grpc.DeploymentServiceStub(self.channel)

    def registry(self) -> ModelRegistryServiceAsyncStub:
        return registry_service_pb2_grpc.ModelRegistryServiceStub(self.channel)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = None


class RegistryResolver:
    """Resolves versions with ``GetModelVersion`` in the deployment's tenant, as the platform's admin."""

    def __init__(self, client: ModelsClient) -> None:
        self._client = client

    async def resolve(self, tenant: str, version: str) -> Artifact:
        request = registry_service_pb2.GetModelVersionRequest(name=version, tenant=tenant)
        try:
            found = await self._client.registry().GetModelVersion(
                request, metadata=self._client.metadata(), timeout=_CALL_SECONDS
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in _PERMANENT:
                raise ArtifactError(
                    f"model management cannot resolve {version} of tenant {tenant!r}: {error.details()}",
                    reason="VERSION_UNRESOLVED",
                    metadata={"version": version, "tenant": tenant},
                ) from None
            raise Unavailable(
                f"model management did not resolve {version}: {error.code().name}",
                reason="REGISTRY_UNAVAILABLE",
            ) from None
        return Artifact(found.artifact_uri, found.sha256)


class DeploymentReader:
    """Reads one deployment's current spec with ``GetDeployment``, as the user being served.

    The call carries the caller's own token (the channel forwards it), so
    model management decides what the caller may see, and the call joins the
    caller's trace.
    """

    def __init__(self, client: ModelsClient, *, default_threads: int = 0) -> None:
        self._client = client
        self._default_threads = default_threads

    def __repr__(self) -> str:
        return f"DeploymentReader({self._client!r})"

    async def current(self, tenant: str, model_name: str) -> WantedDeployment | None:
        request = deployment_service_pb2.GetDeploymentRequest(name=f"deployments/{model_name}")
        try:
            deployment = await self._client.deployments().GetDeployment(request, timeout=_CALL_SECONDS)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise ModelNotFound(model_name) from None
            _log.warning(
                "cannot read deployment %s from model management (%s); loading the watched spec",
                model_name,
                error.code().name,
                extra={"event": "deployment_read_failed", "tenant": tenant, "deployment": model_name},
            )
            return None
        message = deployment_service_pb2.WatchDeploymentsResponse(tenant=tenant, deployment=deployment)
        try:
            return wanted_in(message, default_threads=self._default_threads)
        except ValueError as error:
            _log.error("cannot serve deployment %s: %s", deployment.name, error, extra={"tenant": tenant})
            return None


class DeploymentFollower:
    """Watches every tenant's deployments and hands them to the controller; see the module docstring."""

    def __init__(
        self,
        client: ModelsClient,
        controller: DeploymentController,
        *,
        min_delay: float = 0.5,
        max_delay: float = 30.0,
        on_synced: Callable[[], None] | None = None,
        default_threads: int = 0,
    ) -> None:
        self._client = client
        self._controller = controller
        self._default_threads = default_threads
        self._delays = (min_delay, max_delay)
        self._on_synced = on_synced
        self.sessions = 0
        """Watch sessions that reached SYNCED."""

    def __repr__(self) -> str:
        return f"DeploymentFollower({self._client!r}, sessions={self.sessions})"

    async def run(self) -> None:
        """Watch until cancelled, reconnecting with exponential backoff."""
        delay = self._delays[0]
        while True:
            try:
                synced = await self._watch()
            except grpc.aio.AioRpcError as error:
                synced = False
                _log.warning(
                    "the deployment watch failed: %s %s",
                    error.code().name,
                    error.details(),
                    extra={
                        "event": "watch_failed",
                        "models_address": self._client.address,
                        "retry_in": delay,
                    },
                )
            except Unavailable as error:
                synced = False
                _log.warning(
                    "cannot watch deployments: %s", error, extra={"event": "watch_failed", "retry_in": delay}
                )
            except Exception:
                # Whatever went wrong with one message, ending this task would stop following for good;
                # the next session's snapshot applies what this one could not.
                synced = False
                _log.exception(
                    "following deployments failed", extra={"event": "watch_failed", "retry_in": delay}
                )
            delay = self._delays[0] if synced else min(delay * 2, self._delays[1])
            await asyncio.sleep(delay)

    async def _watch(self) -> bool:
        """One watch session; True when it got as far as SYNCED."""
        request = deployment_service_pb2.WatchDeploymentsRequest(all_tenants=True)
        call = self._client.deployments().WatchDeployments(
            request, metadata=self._client.metadata(), timeout=WATCH_SESSION_SECONDS
        )
        synced = False
        self._controller.begin_snapshot()
        try:
            async for message in call:
                if message.type in _PUT:
                    self._put(message)
                elif message.type == _Event.WATCH_EVENT_TYPE_DELETED:
                    self._controller.delete(
                        message.tenant,
                        message.deployment.name.rsplit("/", 1)[-1],
                        create_time=create_time_of(message.deployment),
                    )
                elif message.type == _Event.WATCH_EVENT_TYPE_SYNCED:
                    synced = True
                    self.sessions += 1
                    self._controller.end_snapshot()
                    _log.info(
                        "deployment watch synced", extra={"event": "watch_synced", "session": self.sessions}
                    )
                    if self._on_synced is not None:
                        self._on_synced()
        except grpc.aio.AioRpcError as error:
            if not (synced and error.code() == grpc.StatusCode.DEADLINE_EXCEEDED):
                raise  # a session that simply reached its deadline is renewed quietly
        return synced

    def _put(self, message: deployment_service_pb2.WatchDeploymentsResponse) -> None:
        try:
            wanted = wanted_in(message, default_threads=self._default_threads)
        except ValueError as error:
            # Model management validates specs; one it let through that cannot be served is logged, not fatal.
            _log.error(
                "cannot serve deployment %s: %s",
                message.deployment.name,
                error,
                extra={"tenant": message.tenant, "deployment": message.deployment.name},
            )
            return
        self._controller.put(wanted)
