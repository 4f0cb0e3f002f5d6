"""A model management service and an inference service in the test process (clients are in :mod:`.calls`).

Both are real gRPC servers on loopback ports with real tokens; the inference
service follows the model service's deployment watch as it does in production.
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import grpc
from prometheus_client.parser import text_string_to_metric_families

from inference import grpc_service_pb2_grpc as pb_grpc
from services.inference.app import InferenceApp
from services.inference.deployment import DeploymentState
from services.inference.errors import ModelNotFound
from services.inference.servicer import HOT_METHODS, PUBLIC_METHODS
from services.inference.servicer import METHOD_ROLES as INFERENCE_ROLES
from services.inference.settings import InferenceSettings
from services.models.artifacts import ArtifactStorage
from services.models.core import ModelsCore
from services.models.lifecycle import ModelsApp
from services.models.servicer import METHOD_ROLES as MODELS_ROLES
from services.models.servicer import register as register_models
from services.models.settings import ModelsSettings
from services.models.status import REPORT_LIFETIME
from services.models.store import open_store
from services.runtime.devkeys import DevKeys, mint_token
from services.runtime.server import ServiceServer, create_server
from services.runtime.store import Database
from services.runtime.tracing import Tracing

from .calls import eventually


@dataclass
class ModelsService:
    """Model management on a loopback port; :meth:`stop` and :meth:`start` again keep the port and store."""

    directory: Path
    keys: DevKeys
    port: int = 0
    database: Database | None = None
    handle: ServiceServer | None = None
    core: ModelsCore | None = None
    report_lifetime: timedelta = REPORT_LIFETIME

    async def start(self) -> None:
        if self.database is None:
            self.database = open_store(f"sqlite:///{self.directory / 'models.db'}")
        settings = ModelsSettings(
            host="127.0.0.1",
            port=self.port,
            metrics_port=-1,
            data_dir=self.directory,
            jwks_path=self.keys.jwks_path,
            auth_required=True,
            shutdown_grace_seconds=0.2,
            otlp_endpoint=None,
            artifact_url=str(self.directory / "artifacts"),
            staging_dir=self.directory / "staging",
            max_upload_bytes=64 * 1024 * 1024,
        )
        self.core = ModelsCore.build(
            self.database,
            ArtifactStorage(settings.resolved_artifact_url()),
            staging_dir=settings.resolved_staging_dir(),
            max_upload_bytes=settings.max_upload_bytes,
            report_lifetime=self.report_lifetime,
        )
        self.handle, self.port = create_server(
            "models", settings, register_models(ModelsApp.ready(self.core)), method_roles=MODELS_ROLES
        )
        await self.handle.start()
        await self.handle.set_serving()

    async def stop(self) -> None:
        if self.core is not None:
            await self.core.close()  # ends watch streams, as the real process does on SIGTERM
            self.core = None
        if self.handle is not None:
            await self.handle.stop(0)
            self.handle = None

    async def close(self) -> None:
        await self.stop()
        if self.database is not None:
            self.database.dispose()
            self.database = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


class Reachable(Protocol):
    @property
    def address(self) -> str: ...


@dataclass
class InferenceService:
    """The inference service in this process, following ``models``."""

    settings: InferenceSettings
    app: InferenceApp
    handle: ServiceServer
    channel: grpc.aio.Channel
    address: str
    stub: pb_grpc.GRPCInferenceServiceStub = field(init=False)

    def __post_init__(self) -> None:
        self.stub = pb_grpc.GRPCInferenceServiceStub(self.channel)

    @classmethod
    async def start(
        cls,
        directory: Path,
        keys: DevKeys,
        models: Reachable,
        tenant: str,
        tracing: Tracing | None = None,
        **settings_overrides: Any,
    ) -> InferenceService:
        token_file = directory / "service.token"
        # The service's admin token is of the tenant whose versions it resolves (see RegistryResolver).
        token_file.write_text(mint_token(keys, subject="service:inference", tenant=tenant, roles=["admin"]))
        settings = InferenceSettings(
            host="127.0.0.1",
            port=0,
            metrics_port=0,
            data_dir=directory / "inference",
            jwks_path=keys.jwks_path,
            auth_required=True,
            shutdown_grace_seconds=0.2,
            otlp_endpoint=None,
            models_address=models.address,
            service_token_file=token_file,
            reconnect_min_seconds=0.05,
            reconnect_max_seconds=0.2,
            **settings_overrides,
        )
        app = InferenceApp(settings)
        handle, port = create_server(
            "inference",
            settings,
            app.register(),
            method_roles=INFERENCE_ROLES,
            hot_methods=HOT_METHODS,
            public_methods=PUBLIC_METHODS,
            tracing=tracing,
        )
        await handle.start()
        await app.start(handle)
        address = f"127.0.0.1:{port}"
        return cls(settings, app, handle, grpc.aio.insecure_channel(address), address)

    async def close(self) -> None:
        await self.channel.close()
        await self.app.close()
        await self.handle.stop(0)

    @property
    def watch_sessions(self) -> int:
        """Deployment watch sessions this server has synced so far."""
        return self.app.follower.sessions

    async def reconnected(self, after: int) -> None:
        """Wait until the watch has synced a session beyond the first ``after`` (a reconnect)."""

        async def synced_again() -> bool:
            return self.watch_sessions > after

        await eventually(synced_again, what="the deployment watch to reconnect")

    async def serving(self, tenant: str, deployment_id: str, generation: int, timeout: float = 15.0) -> None:
        """Wait until this server serves ``generation`` of the deployment, every version loaded.

        Model management's ``state`` speaks for every inference server at once;
        this asks the one server the test drives.
        """
        repository = self.app.repository

        async def applied() -> bool:
            try:
                status = repository.status(deployment_id, tenant=tenant)
            except ModelNotFound:
                return False
            return status.generation >= generation and status.state == DeploymentState.READY

        await eventually(applied, timeout, f"generation {generation} of {deployment_id} served")

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """``/metrics`` as ``{(sample name, sorted labels): value}`` (blocking: call in a thread)."""
        assert self.handle.metrics_port is not None
        url = f"http://127.0.0.1:{self.handle.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            text = reply.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
