"""OpenTelemetry tracing through the maintained gRPC instrumentation.

Every server span continues the W3C trace context of the incoming call
(``traceparent``), and outgoing calls carry the current one.  Spans are
exported by OTLP/gRPC only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set; without
it spans still exist, so trace ids reach the logs and other services.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from services.runtime.settings import ServiceSettings
from services.runtime.transport._types import ServerInterceptor
from services.runtime.transport.methods import is_public

_log = logging.getLogger(__name__)

_global_installed = False


def _method_name(handler_call_details: Any) -> str:
    method = getattr(handler_call_details, "method", "") or ""
    return method.decode() if isinstance(method, bytes) else str(method)


def _traced(handler_call_details: Any) -> bool:
    # Health probes every few seconds would drown the real traces; reflection is tooling.
    return not is_public(_method_name(handler_call_details))


class Tracing:
    """A tracer provider and the interceptors that use it."""

    def __init__(self, provider: TracerProvider, *, exporting: bool = False) -> None:
        self.provider = provider
        self.exporting = exporting
        """Whether finished spans leave the process (an OTLP endpoint is configured)."""

    def __repr__(self) -> str:
        return f"Tracing(resource={dict(self.provider.resource.attributes)!r}, exporting={self.exporting})"

    def server_interceptor(self, hot_methods: Collection[str] = ()) -> ServerInterceptor:
        """Starts a server span per call, as a child of the incoming ``traceparent``.

        ``hot_methods`` (full names) get a span only while spans are exported:
        for a call of a few hundred microseconds, a span nobody will read
        costs about as much as the call itself.
        """
        skipped = frozenset() if self.exporting else frozenset(hot_methods)

        def traced(handler_call_details: Any) -> bool:
            method = _method_name(handler_call_details)
            return not is_public(method) and method not in skipped

        interceptor: ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
            tracer_provider=self.provider, filter_=traced
        )
        return interceptor

    def client_interceptors(self) -> list[grpc.aio.ClientInterceptor]:
        """Start a client span per outgoing call and send its context as ``traceparent``."""
        interceptors: list[grpc.aio.ClientInterceptor] = aio_client_interceptors(  # type: ignore[no-untyped-call]
            tracer_provider=self.provider, filter_=_traced
        )
        return interceptors

    def force_flush(self, timeout_millis: int = 5000) -> bool:
        """Export every finished span now; True when all were exported in time."""
        return bool(self.provider.force_flush(timeout_millis))

    def shutdown(self) -> None:
        """Flush and stop exporting; the provider creates no more recording spans afterwards."""
        self.provider.shutdown()


def global_client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """Client interceptors using the process-wide tracer provider."""
    interceptors: list[grpc.aio.ClientInterceptor] = aio_client_interceptors(filter_=_traced)  # type: ignore[no-untyped-call]
    return interceptors


def setup_tracing(service_name: str, settings: ServiceSettings, *, set_global: bool = False) -> Tracing:
    """Build the tracer provider of a service from its settings.

    ``set_global`` also makes it the process-wide provider, so spans that core
    code starts with ``trace.get_tracer(__name__)`` join the call's trace; a
    process does that once (``run_service`` does), tests keep providers local.
    """
    global _global_installed
    resource = Resource.create({SERVICE_NAME: service_name, SERVICE_VERSION: settings.service_version})
    provider = TracerProvider(resource=resource)
    if settings.otlp_endpoint:
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
    if set_global:
        # OpenTelemetry refuses (with a warning) to replace the global provider; say so once, clearly.
        if _global_installed:
            _log.warning("a global tracer provider is already installed; keeping it")
        else:
            trace.set_tracer_provider(provider)
            _global_installed = True
    return Tracing(provider, exporting=bool(settings.otlp_endpoint))
