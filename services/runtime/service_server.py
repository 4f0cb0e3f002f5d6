"""A service's running gRPC server: health, metrics endpoint and tracer, started and stopped together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]  # stubs lack aio

from services.runtime.metrics import GrpcServerMetrics, MetricsHttpServer
from services.runtime.tracing import Tracing


class ServiceServer:
    """A service's gRPC server with its health, metrics endpoint and tracer.

    Health is NOT_SERVING until :meth:`set_serving` (the service calls it
    once its dependencies are ready) and again from :meth:`stop` on.
    """

    def __init__(
        self,
        *,
        name: str,
        server: grpc.aio.Server,
        port: int,
        services: Sequence[str],
        health: health_aio.HealthServicer,
        tracing: Tracing,
        owns_tracing: bool,
        metrics: GrpcServerMetrics | None,
        metrics_http: MetricsHttpServer | None,
    ) -> None:
        self.name = name
        self.server = server
        self.port = port
        self.services = tuple(services)
        self.health = health
        self.tracing = tracing
        self.metrics = metrics
        self._owns_tracing = owns_tracing
        self._metrics_http = metrics_http
        self._serving = False
        self._stopped = False

    def __repr__(self) -> str:
        return f"ServiceServer(name={self.name!r}, port={self.port}, metrics_port={self.metrics_port})"

    @property
    def metrics_port(self) -> int | None:
        """Port of ``/metrics``, or None when metrics are disabled."""
        return None if self._metrics_http is None else self._metrics_http.port

    async def start(self) -> None:
        """Start serving calls (and scrapes); health stays NOT_SERVING until :meth:`set_serving`."""
        # The reference servicer starts with "" SERVING; nothing is ready yet.
        await self._set_health(
            health_pb2.HealthCheckResponse.SERVING
            if self._serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self.server.start()
        if self._metrics_http is not None:
            self._metrics_http.start()

    async def set_serving(self) -> None:
        """Report SERVING for the server ("") and each of its services."""
        self._serving = True
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)

    async def set_not_serving(self) -> None:
        """Report NOT_SERVING, e.g. while a dependency is lost; calls are still accepted."""
        self._serving = False
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)

    async def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, stop accepting calls, and give in-flight ones ``grace`` seconds.

        Calls still running after the grace period are cancelled.  Safe to call twice.
        """
        if self._stopped:
            return
        self._stopped = True
        self._serving = False
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        if self._metrics_http is not None:
            await asyncio.to_thread(self._metrics_http.close)
        if self._owns_tracing:
            await asyncio.to_thread(self.tracing.shutdown)

    async def wait_for_termination(self) -> None:
        """Wait until the server has stopped."""
        await self.server.wait_for_termination()

    async def __aenter__(self) -> ServiceServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop(0)

    async def _set_health(self, status: health_pb2.HealthCheckResponse.ServingStatus) -> None:
        for service in ("", *self.services):
            await self.health.set(service, status)
