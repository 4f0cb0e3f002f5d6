"""The inference service assembled: repository, deployment controller and follower, reporter, telemetry.

The server starts NOT_SERVING; the service becomes SERVING (and
``ServerReady`` true) once the first complete list of deployments from model
management has been applied, every version loaded or failed (a deployment
whose versions model management cannot resolve yet is retried in the
background, answering UNAVAILABLE ``MODEL_NOT_READY`` meanwhile).  From then on
it stays SERVING, also while model management is unreachable: what is
loaded keeps serving.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Callable

from services.inference.artifacts import ArtifactCache
from services.inference.batcher import QueueBudget
from services.inference.controller import DeploymentController
from services.inference.follower import DeploymentFollower, DeploymentReader, ModelsClient, RegistryResolver
from services.inference.reporter import StatusReporter
from services.inference.repository import ModelRepository
from services.inference.servicer import HOT_METHODS, METHOD_ROLES, PUBLIC_METHODS, InferenceServicer, register
from services.inference.sessions import create_session
from services.inference.settings import SERVICE_NAME, InferenceSettings
from services.inference.telemetry import InferenceTelemetry
from services.inference.version import SessionFactory
from services.runtime.server import Register, ServiceOptions, ServiceServer, run_service
from services.runtime.tasks import cancel_and_wait

__all__ = ["InferenceApp", "serve"]


class InferenceApp:
    """Everything one serving process runs besides its gRPC server."""

    def __init__(
        self,
        settings: InferenceSettings,
        *,
        session_factory: SessionFactory = create_session,
        worker: int | None = None,
    ) -> None:
        self.settings = settings
        self._worker = worker
        self.telemetry = InferenceTelemetry()
        self.client = ModelsClient(settings.models_address, settings.service_token_file)
        self.repository = ModelRepository(
            ArtifactCache(settings.resolved_cache_dir(), limit_bytes=settings.cache_limit_bytes()),
            session_factory=session_factory,
            observer=self.telemetry,
            on_status=lambda status: self.reporter.submit(status),
            # Each replica and worker starts a new split at its own point of the cycle.
            rng=random.Random(),
            queue_budget=QueueBudget(settings.max_queued_bytes()),
        )
        low, high = settings.reconnect_min_seconds, settings.reconnect_max_seconds
        self.controller = DeploymentController(
            self.repository,
            RegistryResolver(self.client),
            source=DeploymentReader(self.client, default_threads=settings.session_threads()),
            retry_min_seconds=low,
            retry_max_seconds=high,
        )
        self.reporter = StatusReporter(
            self.client,
            unloaded=self.controller.unloaded,
            min_delay=low,
            max_delay=high,
            refresh_seconds=settings.status_refresh_seconds,
        )
        self.follower = DeploymentFollower(
            self.client,
            self.controller,
            on_synced=self.reporter.resend_all,
            min_delay=low,
            max_delay=high,
            default_threads=settings.session_threads(),
        )
        self.servicer = InferenceServicer(
            self.repository, self.controller, self.telemetry, version=settings.service_version
        )
        self._tasks: list[asyncio.Task[None]] = []

    def __repr__(self) -> str:
        return f"InferenceApp(models={self.settings.models_address!r}, worker={self._worker})"

    def register(self) -> Register:
        """The ``register`` callback for ``create_server``."""
        return register(self.servicer)

    async def start(self, server: ServiceServer) -> None:
        """Expose metrics, start following model management, and turn SERVING once synced."""
        if server.metrics is not None:
            self.telemetry.register(server.metrics.registry, self.repository)
        if server.tracing.exporting:
            self.telemetry.use_tracer(server.tracing.provider.get_tracer("services.inference"))
        suffix = "" if self._worker is None else f"/worker-{self._worker}"
        self.reporter.name = f"{socket.gethostname()}:{server.port}{suffix}"
        self._tasks = [
            asyncio.create_task(self.reporter.run(), name="status-reporter"),
            asyncio.create_task(self.follower.run(), name="deployment-follower"),
            asyncio.create_task(self._serve_once_synced(server), name="await-first-sync"),
        ]

    async def _serve_once_synced(self, server: ServiceServer) -> None:
        await self.controller.synced.wait()
        await server.set_serving()

    async def stop_following(self) -> None:
        """Stop the watch, reports and reconciling (as the drain begins); serving goes on."""
        await cancel_and_wait(self._tasks)
        self._tasks = []
        await self.controller.close()
        await self.client.close()

    async def close(self) -> None:
        """Stop following, then drain and unload every version."""
        await self.stop_following()
        await self.repository.close()


def serve(
    settings: InferenceSettings,
    *,
    worker: int | None = None,
    on_started: Callable[[ServiceServer], None] | None = None,
) -> None:
    """The whole serving process, until SIGTERM: see ``run_service``.

    A ``worker`` (one of several processes on one port) binds with
    ``SO_REUSEPORT`` and announces its port as ``worker_serving``, leaving the
    one ``serving`` line to its parent.
    """
    app = InferenceApp(settings, worker=worker)

    async def started(server: ServiceServer) -> None:
        await app.start(server)
        if on_started is not None:
            on_started(server)

    run_service(
        SERVICE_NAME,
        settings,
        app.register(),
        ServiceOptions(
            method_roles=METHOD_ROLES,
            on_started=started,
            on_stopping=app.stop_following,
            hot_methods=HOT_METHODS,
            public_methods=PUBLIC_METHODS,
            reuse_port=worker is not None,
            serving_event="serving" if worker is None else "worker_serving",
        ),
    )
