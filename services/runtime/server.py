"""Build, run and stop a service's gRPC server.

``create_server`` assembles what every service exposes: its own services
behind the interceptors (tracing outermost, then metrics, auth and error
mapping), ``grpc.health.v1`` and server reflection.  ``run_service`` is the
whole process: JSON logs, a global tracer, signals, and a graceful drain.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]  # stubs lack aio
from grpc_reflection.v1alpha import reflection

from services.runtime.auth import Role, verifier_from_settings
from services.runtime.logging import configure_logging
from services.runtime.metrics import GrpcServerMetrics, MetricsHttpServer
from services.runtime.settings import ServiceSettings
from services.runtime.tracing import Tracing, setup_tracing
from services.runtime.transport._registration import RegistrationRecorder
from services.runtime.transport._types import ServerInterceptor
from services.runtime.transport.auth import AuthInterceptor
from services.runtime.transport.errors import ErrorMappingInterceptor
from services.runtime.transport.methods import full_method, split_method

_log = logging.getLogger(__name__)

Register = Callable[[grpc.aio.Server], None]
"""Adds the service's servicers, e.g. ``partial(add_ModelRegistryServiceServicer_to_server, servicer)``."""

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""gRPC's 4 MiB default is too tight for 4 MiB upload chunks plus their envelope."""

_HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name


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


def _check_method_roles(recorded: Mapping[str, set[str]], method_roles: Mapping[str, Role]) -> None:
    known = {full_method(service, method) for service, methods in recorded.items() for method in methods}
    # Services added through a bare generic handler do not list their methods; accept any of theirs.
    opaque = {service for service, methods in recorded.items() if not methods}
    unknown = sorted(
        name for name in method_roles if name not in known and split_method(name)[0] not in opaque
    )
    if unknown:
        # A typo or a stale entry would otherwise silently leave a method at the default.
        raise ValueError(f"method_roles names methods the server does not have: {unknown}")
    undeclared = sorted(known - set(method_roles))
    if undeclared:
        _log.warning(
            "%d methods declare no role and need admin", len(undeclared), extra={"methods": undeclared}
        )


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def create_server(
    service_name: str,
    settings: ServiceSettings,
    register: Register,
    *,
    method_roles: Mapping[str, Role],
    tracing: Tracing | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> tuple[ServiceServer, int]:
    """Build (but do not start) a service's server; returns it and its bound gRPC port.

    Call from within the event loop that will run the server.  ``method_roles``
    maps full method names (``/aiplat.models.v1.ModelRegistryService/GetModel``)
    to the role they need; undeclared methods need ADMIN.  ``tracing`` None
    builds a tracer provider from ``settings`` that the server owns and shuts
    down on stop.
    """
    owns_tracing = tracing is None
    tracing = tracing if tracing is not None else setup_tracing(service_name, settings)
    metrics = GrpcServerMetrics() if settings.metrics_enabled else None
    verifier = verifier_from_settings(settings)
    interceptors: list[ServerInterceptor] = [tracing.server_interceptor()]
    if metrics is not None:
        interceptors.append(metrics.interceptor())
    interceptors += [
        AuthInterceptor(verifier, method_roles, required=settings.auth_required),
        ErrorMappingInterceptor(),
    ]
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            # Without this a second process could bind the same port and silently take half the calls.
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
    )
    recorder = RegistrationRecorder(server)
    register(recorder)
    if not recorder.methods:
        raise ValueError("register() added no services")
    _check_method_roles(recorder.methods, method_roles)

    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    services = sorted(recorder.methods)
    reflection.enable_server_reflection([*services, _HEALTH_SERVICE, reflection.SERVICE_NAME], server)

    port = server.add_insecure_port(_address(settings.host, settings.port))
    metrics_http = (
        MetricsHttpServer(metrics.registry, settings.host, settings.metrics_port)
        if metrics is not None
        else None
    )
    handle = ServiceServer(
        name=service_name,
        server=server,
        port=port,
        services=services,
        health=health,
        tracing=tracing,
        owns_tracing=owns_tracing,
        metrics=metrics,
        metrics_http=metrics_http,
    )
    return handle, port


async def serve(
    service_name: str,
    settings: ServiceSettings,
    register: Register,
    *,
    method_roles: Mapping[str, Role],
    on_started: Callable[[ServiceServer], Awaitable[None]] | None = None,
    on_stopping: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run a service until SIGTERM or SIGINT, then drain and return.

    Logs ``{"event": "serving", "port": N, ...}`` once the port accepts calls;
    launchers read the port from it.  ``on_started`` runs next and decides
    when to call ``set_serving()``; without it the service is SERVING at once.
    On a signal: health NOT_SERVING, no new calls, in-flight calls get
    ``shutdown_grace_seconds`` to finish, then spans are flushed.
    ``on_stopping`` runs as the drain begins, so a service can end its
    long-lived streams instead of letting them hold the grace period.  The
    handlers are removed once the drain starts, so a second signal ends the
    process at once.
    """
    configure_logging(service_name, settings.log_level)
    tracing = setup_tracing(service_name, settings, set_global=True)
    handle, port = create_server(service_name, settings, register, method_roles=method_roles, tracing=tracing)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stopping.set)
    try:
        await handle.start()
        _log.info(
            "serving",
            extra={
                "event": "serving",
                "port": port,
                "metrics_port": handle.metrics_port,
                "services": list(handle.services),
            },
        )
        if on_started is not None:
            await on_started(handle)
        else:
            await handle.set_serving()
        await stopping.wait()
        _log.info("stopping", extra={"event": "stopping", "grace_seconds": settings.shutdown_grace_seconds})
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await handle.set_not_serving()
        if on_stopping is not None:
            await on_stopping()
        await handle.stop(settings.shutdown_grace_seconds)
        await asyncio.to_thread(tracing.shutdown)
    _log.info("stopped", extra={"event": "stopped"})


def run_service(
    service_name: str,
    settings: ServiceSettings,
    register: Register,
    *,
    method_roles: Mapping[str, Role],
    on_started: Callable[[ServiceServer], Awaitable[None]] | None = None,
    on_stopping: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """The body of a service's ``__main__``: :func:`serve` in a fresh event loop.

    Returns after a clean stop (exit status 0).  A failure to start or serve
    is logged as ``{"event": "failed", ...}`` with its traceback and exits
    with status 1, so launchers see a JSON line rather than a bare traceback.
    """
    configure_logging(service_name, settings.log_level)
    try:
        asyncio.run(
            serve(
                service_name,
                settings,
                register,
                method_roles=method_roles,
                on_started=on_started,
                on_stopping=on_stopping,
            )
        )
    except Exception:
        _log.exception("service failed", extra={"event": "failed"})
        raise SystemExit(1) from None
