"""Several worker processes on one port: ONNX Runtime and the event loop of one process use a core or two;
workers use them all.

The parent binds the port first (with ``SO_REUSEPORT``, so port 0 picks one
for all), then starts ``workers`` processes that each bind it too and serve
with their own models, batchers and deployment watch; the kernel spreads
incoming connections over them.  The parent itself serves no calls: it holds
the port, serves the merged metrics of its workers (:mod:`.worker_metrics`)
on the metrics port, logs the one ``{"event": "serving", "port": N}`` line
once every worker accepts calls, and on SIGTERM (or SIGINT) passes SIGTERM on
and exits 0 once every worker has drained and exited 0.

A worker that exits on its own stops the others and the parent exits 1:
nothing is restarted behind the supervisor's back.  Workers run in their own
process group, so a terminal's Ctrl-C reaches only the parent (which passes
it on once), and they stop by themselves if the parent dies.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType

from prometheus_client import CollectorRegistry

from services.inference.app import serve
from services.inference.settings import SERVICE_NAME, InferenceSettings
from services.inference.worker_metrics import WorkerMetrics
from services.runtime.logging import configure_logging
from services.runtime.metrics import MetricsHttpServer
from services.runtime.server import ServiceServer

__all__ = ["run_workers"]

_log = logging.getLogger(__name__)

_START_SECONDS = 120.0
_KILL_AFTER_SECONDS = 10.0


def run_workers(settings: InferenceSettings) -> int:
    """Run ``settings.workers`` workers until SIGTERM; returns the exit status."""
    configure_logging(SERVICE_NAME, settings.log_level)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, request_stop)
    try:
        reservation = _reserve(settings.host, settings.port)
    except OSError:
        _log.exception("cannot bind the gRPC port", extra={"event": "failed"})
        return 1
    port = int(reservation.getsockname()[1])
    context = multiprocessing.get_context("spawn")
    child_settings = settings.model_copy(
        update={"port": port, "metrics_port": 0 if settings.metrics_enabled else -1}
    )
    workers: list[tuple[BaseProcess, Connection]] = []
    metrics: MetricsHttpServer | None = None
    try:
        for index in range(settings.workers):
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=_worker, args=(child_settings, index, child_end), name=f"inference-worker-{index}"
            )
            process.start()
            child_end.close()
            workers.append((process, parent_end))
        endpoints = _await_started(workers, settings.host, stop)
        if endpoints is None:
            status = _stop(workers, settings)
            return status if stop.is_set() else 1
        if settings.metrics_enabled:
            registry = CollectorRegistry()
            registry.register(WorkerMetrics(lambda: endpoints))
            metrics = MetricsHttpServer(registry, settings.host, settings.metrics_port)
            metrics.start()
        _log.info(
            "serving",
            extra={
                "event": "serving",
                "port": port,
                "metrics_port": None if metrics is None else metrics.port,
                "workers": [process.pid for process, _ in workers],
            },
        )
        while not stop.is_set():
            exited = wait([process.sentinel for process, _ in workers], timeout=0.5)
            if exited:
                lost = [p for p, _ in workers if p.sentinel in exited]
                _log.error(
                    "a worker exited unexpectedly; stopping",
                    extra={"event": "failed", "exit_codes": [p.exitcode for p in lost]},
                )
                _stop(workers, settings)
                return 1
        _log.info("stopping", extra={"event": "stopping", "grace_seconds": settings.shutdown_grace_seconds})
        return _stop(workers, settings)
    finally:
        for leftover, _ in workers:
            if leftover.is_alive():
                leftover.kill()
        if metrics is not None:
            metrics.close()
        reservation.close()


def _reserve(host: str, port: int) -> socket.socket:
    """A socket bound to the port (not listening, so it takes no connections) that the workers share.

    The port is first bound without ``SO_REUSEPORT``: that fails when anything already uses it,
    where a shared bind would silently split the calls with another server.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    address = host.strip("[]")
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((address, port))
        port = probe.getsockname()[1]
    reservation = socket.socket(family, socket.SOCK_STREAM)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reservation.bind((address, port))
    return reservation


def _await_started(
    workers: list[tuple[BaseProcess, Connection]], host: str, stop: threading.Event
) -> list[str] | None:
    """Each worker's metrics URL once all accept calls; None when one failed or a stop came first."""
    metrics_ports: dict[int, int | None] = {}
    waiting = {conn: index for index, (_, conn) in enumerate(workers)}
    sentinels = {process.sentinel for process, _ in workers}
    deadline = time.monotonic() + _START_SECONDS
    while waiting:
        if stop.is_set() or time.monotonic() > deadline:
            return None
        for ready in wait([*waiting, *sentinels], timeout=0.5):
            if ready in sentinels:
                _log.error("a worker exited while starting", extra={"event": "failed"})
                return None
            assert isinstance(ready, Connection)
            try:
                metrics_ports[waiting.pop(ready)] = ready.recv()
            except EOFError:
                return None
    loopback = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}.get(host, host).strip("[]")
    authority = f"[{loopback}]" if ":" in loopback else loopback
    return [f"http://{authority}:{metrics_ports[index]}/metrics" for index in range(len(workers))]


def _stop(workers: list[tuple[BaseProcess, Connection]], settings: InferenceSettings) -> int:
    """SIGTERM every worker and wait for them to drain; 0 when all exited cleanly."""
    for process, _ in workers:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    for process, _ in workers:
        process.join(settings.shutdown_grace_seconds + _KILL_AFTER_SECONDS)
        if process.is_alive():
            _log.error("worker %s did not stop in time; killing it", process.name)
            process.kill()
            process.join()
    codes = [process.exitcode for process, _ in workers]
    _log.info("stopped", extra={"event": "stopped", "exit_codes": codes})
    return 0 if all(code == 0 for code in codes) else 1


def _worker(settings: InferenceSettings, index: int, conn: Connection) -> None:
    # A terminal's Ctrl-C goes to the foreground process group; the parent passes it on once.
    os.setpgrp()

    def started(server: ServiceServer) -> None:
        conn.send(server.metrics_port)
        threading.Thread(target=_lifeline, args=(conn,), name="parent-lifeline", daemon=True).start()

    serve(settings, worker=index, on_started=started)


def _lifeline(conn: Connection) -> None:
    # The parent never writes: EOF means it is gone, and an orphaned worker must not keep the port.
    with contextlib.suppress(EOFError, OSError):
        conn.recv()
    os.kill(os.getpid(), signal.SIGTERM)
