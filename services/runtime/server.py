"""Build, run and stop a service's gRPC server.

``create_server`` assembles what every service exposes: its own services
behind the interceptors (tracing outermost, then metrics, auth and error
mapping), ``grpc.health.v1`` and server reflection, and returns it as a
:class:`ServiceServer` (re-exported here).  ``run_service`` is the whole
process: JSON logs, a global tracer, signals, and a graceful drain; what
varies between services is one :class:`ServiceOptions`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]  # stubs lack aio

from services.runtime.auth import Role, verifier_from_settings
from services.runtime.logging import configure_logging
from services.runtime.metrics import GrpcServerMetrics, MetricsHttpServer
from services.runtime.reflection import enable_reflection
from services.runtime.service_server import ServiceServer
from services.runtime.settings import DEFAULT_MAX_MESSAGE_MIB, ServiceSettings
from services.runtime.tracing import Tracing, setup_tracing
from services.runtime.transport._registration import RegistrationRecorder, check_method_roles
from services.runtime.transport._types import ServerInterceptor
from services.runtime.transport.auth import AuthInterceptor
from services.runtime.transport.errors import ErrorMappingInterceptor

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "Register",
    "ServiceOptions",
    "ServiceServer",
    "create_server",
    "run_service",
    "serve",
]

_log = logging.getLogger(__name__)

Register = Callable[[grpc.aio.Server], None]
"""Adds the service's servicers, e.g. ``partial(add_ModelRegistryServiceServicer_to_server, servicer)``."""

DEFAULT_MAX_MESSAGE_BYTES = DEFAULT_MAX_MESSAGE_MIB * 1024**2
"""The services' default largest message (``ServiceSettings.max_message_mib``), in bytes."""


@dataclass(frozen=True, kw_only=True)
class ServiceOptions:
    """How :func:`serve` and :func:`run_service` run one service; only ``method_roles`` is required."""

    method_roles: Mapping[str, Role]
    """Full method names (``/aiplat.models.v1.ModelRegistryService/GetModel``) and the role each needs;
    undeclared methods need ADMIN (see :func:`create_server`)."""

    on_started: Callable[[ServiceServer], Awaitable[None]] | None = None
    """Runs once the port accepts calls and decides when to call ``set_serving()``; without it the
    service is SERVING at once."""

    on_stopping: Callable[[], Awaitable[None]] | None = None
    """Runs as the drain begins, so a service can end its long-lived streams instead of letting them
    hold the grace period."""

    hot_methods: Collection[str] = ()
    """Methods called at high rates, traced only while spans are exported (see :func:`create_server`)."""

    public_methods: Collection[str] = ()
    """Methods callable without a token, like health (see :func:`create_server`)."""

    reuse_port: bool = False
    """Let several processes serve one port (``SO_REUSEPORT``; see :func:`create_server`)."""

    serving_event: str = "serving"
    """The event of the log line announcing the port: a worker process among several on one port
    logs another, so that launchers see one ``serving`` line (its parent's)."""


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def create_server(
    service_name: str,
    settings: ServiceSettings,
    register: Register,
    *,
    method_roles: Mapping[str, Role],
    tracing: Tracing | None = None,
    hot_methods: Collection[str] = (),
    public_methods: Collection[str] = (),
    reuse_port: bool = False,
) -> tuple[ServiceServer, int]:
    """Build (but do not start) a service's server; returns it and its bound gRPC port.

    Call from within the event loop that will run the server.  ``method_roles``
    maps full method names (``/aiplat.models.v1.ModelRegistryService/GetModel``)
    to the role they need; undeclared methods need ADMIN.  ``tracing`` None
    builds a tracer provider from ``settings`` that the server owns and shuts
    down on stop.  ``hot_methods`` are called at high rates (inference): they
    get a server span only while spans are exported (see
    :meth:`Tracing.server_interceptor`); auth, metrics and error mapping apply
    as to any method.  ``public_methods`` are callable without a token, like
    health (liveness and server metadata that clients ask before they have
    one); they get no identity.  ``reuse_port`` lets several processes serve
    one port (``SO_REUSEPORT``; the kernel spreads connections over them).
    """
    owns_tracing = tracing is None
    tracing = tracing if tracing is not None else setup_tracing(service_name, settings)
    metrics = GrpcServerMetrics() if settings.metrics_enabled else None
    verifier = verifier_from_settings(settings)
    interceptors: list[ServerInterceptor] = [tracing.server_interceptor(hot_methods)]
    if metrics is not None:
        interceptors.append(metrics.interceptor())
    interceptors += [
        AuthInterceptor(
            verifier, method_roles, required=settings.auth_required, public_methods=public_methods
        ),
        ErrorMappingInterceptor(),
    ]
    max_message_bytes = settings.max_message_bytes()
    server = grpc.aio.server(
        interceptors=interceptors,
        options=[
            # Off unless asked: a second process could otherwise bind the port and silently take
            # half the calls.
            ("grpc.so_reuseport", 1 if reuse_port else 0),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.keepalive_timeout_ms", round(settings.peer_ping_timeout_seconds * 1000)),
        ],
    )
    recorder = RegistrationRecorder(server)
    register(recorder)
    if not recorder.methods:
        raise ValueError("register() added no services")
    check_method_roles(recorder.methods, method_roles, public_methods)

    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    services = sorted(recorder.methods)
    enable_reflection(server, services, settings.reflect_services)

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
    service_name: str, settings: ServiceSettings, register: Register, options: ServiceOptions
) -> None:
    """Run a service until SIGTERM or SIGINT, then drain and return.

    Logs ``{"event": "serving", "port": N, ...}`` (``options.serving_event``)
    once the port accepts calls; launchers read the port from it.
    ``options.on_started`` runs next and decides when to call
    ``set_serving()``; without it the service is SERVING at once.  On a
    signal: health NOT_SERVING, ``options.on_stopping``, no new calls,
    in-flight calls get ``shutdown_grace_seconds`` to finish, then spans are
    flushed.  The handlers are removed once the drain starts, so a second
    signal ends the process at once.  The server is built by
    :func:`create_server` with the options' roles, hot and public methods
    and ``reuse_port``.
    """
    configure_logging(service_name, settings.log_level)
    tracing = setup_tracing(service_name, settings, set_global=True)
    handle, port = create_server(
        service_name,
        settings,
        register,
        method_roles=options.method_roles,
        tracing=tracing,
        hot_methods=options.hot_methods,
        public_methods=options.public_methods,
        reuse_port=options.reuse_port,
    )
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stopping.set)
    try:
        await handle.start()
        _log.info(
            options.serving_event,
            extra={
                "event": options.serving_event,
                "port": port,
                "metrics_port": handle.metrics_port,
                "services": list(handle.services),
            },
        )
        if options.on_started is not None:
            await options.on_started(handle)
        else:
            await handle.set_serving()
        await stopping.wait()
        _log.info("stopping", extra={"event": "stopping", "grace_seconds": settings.shutdown_grace_seconds})
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await handle.set_not_serving()
        if options.on_stopping is not None:
            await options.on_stopping()
        await handle.stop(settings.shutdown_grace_seconds)
        await asyncio.to_thread(tracing.shutdown)
    _log.info("stopped", extra={"event": "stopped"})


def run_service(
    service_name: str, settings: ServiceSettings, register: Register, options: ServiceOptions
) -> None:
    """The body of a service's ``__main__``: :func:`serve` in a fresh event loop.

    Returns after a clean stop (exit status 0).  A failure to start or serve
    is logged as ``{"event": "failed", ...}`` with its traceback and exits
    with status 1, so launchers see a JSON line rather than a bare traceback.
    """
    configure_logging(service_name, settings.log_level)
    try:
        asyncio.run(serve(service_name, settings, register, options))
    except Exception:
        _log.exception("service failed", extra={"event": "failed"})
        raise SystemExit(1) from None
