"""Prometheus metrics: per-RPC counters and latency histograms, served over HTTP.

Metric names follow go-grpc-prometheus with the ``aiplat_`` prefix, so the
usual dashboards translate directly.  Each server gets its own
``CollectorRegistry``: several servers in one process (tests) do not clash,
and a service's ``/metrics`` shows only its own series.
"""

from __future__ import annotations

import asyncio
import socketserver
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import grpc
from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    make_wsgi_app,
)

from services.runtime.transport._handlers import WrappedHandlers
from services.runtime.transport._types import Context, Handler, ServerInterceptor
from services.runtime.transport.methods import split_method

# Prometheus' defaults stop at 10 s; uploads and training calls take longer.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class GrpcServerMetrics:
    """The RPC metrics of one server, in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process_metrics: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self.handled = Counter(
            "aiplat_grpc_server_handled_total",
            "RPCs completed on the server, by status code.",
            ["service", "method", "code"],
            registry=self.registry,
        )
        self.handling_seconds = Histogram(
            "aiplat_grpc_server_handling_seconds",
            "Time from receiving an RPC to sending its status, in seconds.",
            ["service", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def interceptor(self) -> ServerInterceptor:
        """A server interceptor recording every RPC into these metrics."""
        return _MetricsInterceptor(self)

    def observe(self, full_method: str, code: grpc.StatusCode, seconds: float) -> None:
        """Record one finished RPC."""
        service, method = split_method(full_method)
        self.handled.labels(service, method, code.name).inc()
        self.handling_seconds.labels(service, method).observe(seconds)

    def method(self, full_method: str) -> MethodMetrics:
        """The series of one method, resolved once (label lookups cost more than the update)."""
        return MethodMetrics(self, full_method)


class MethodMetrics:
    """The counters and histogram of one method, with each status code's child looked up once."""

    __slots__ = ("_handled", "_labels", "_latency", "_metrics")

    def __init__(self, metrics: GrpcServerMetrics, full_method: str) -> None:
        self._metrics = metrics
        self._labels = split_method(full_method)
        self._latency = metrics.handling_seconds.labels(*self._labels)
        self._handled: dict[grpc.StatusCode, Any] = {}

    def observe(self, code: grpc.StatusCode, seconds: float) -> None:
        """Record one finished call of the method."""
        counter = self._handled.get(code)
        if counter is None:
            counter = self._handled[code] = self._metrics.handled.labels(*self._labels, code.name)
        counter.inc()
        self._latency.observe(seconds)


class _ObserveCall:
    """Runs around one call: times it and counts its status code."""

    __slots__ = ("_context", "_method", "_started")

    def __init__(self, method: MethodMetrics, context: Context) -> None:
        self._method = method
        self._context = context
        self._started = 0.0

    async def __aenter__(self) -> None:
        self._started = time.perf_counter()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if error is None:
            code = self._context.code() or grpc.StatusCode.OK
        elif isinstance(error, grpc.aio.AbortError):
            code = self._context.code() or grpc.StatusCode.UNKNOWN
        elif isinstance(error, asyncio.CancelledError):
            code = grpc.StatusCode.CANCELLED
        else:
            code = grpc.StatusCode.UNKNOWN
        self._method.observe(code, time.perf_counter() - self._started)
        return False


class _MetricsInterceptor(ServerInterceptor):
    def __init__(self, metrics: GrpcServerMetrics) -> None:
        self._handlers = WrappedHandlers(lambda method: partial(_ObserveCall, metrics.method(method)))

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        return self._handlers.get(handler_call_details.method, await continuation(handler_call_details))


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    # A slow scraper must not block the next one, nor shutdown.
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        # wsgiref writes one plain-text line per scrape to stderr; the JSON logs stay clean without it.
        pass


class MetricsHttpServer:
    """``/metrics`` of one registry over HTTP, in a background thread.

    The socket is bound on construction, so ``port`` is known (and final)
    before the server starts; port 0 picks a free one.
    """

    def __init__(self, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = make_server(
            host,
            port,
            make_wsgi_app(registry),
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_port)

    def __repr__(self) -> str:
        return f"MetricsHttpServer(port={self.port})"

    def start(self) -> None:
        """Serve scrapes in a daemon thread."""
        if self._thread is None:
            # A short poll interval keeps close() (which waits for the loop to notice) quick.
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"metrics-http-{self.port}",
                daemon=True,
            )
            self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
