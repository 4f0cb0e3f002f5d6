"""Spans: one per RPC, continuing the caller's trace, exported over OTLP when configured."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2

from aiplat.models.v1 import registry_service_pb2, registry_service_pb2_grpc
from services.runtime.server import create_server

from .conftest import SettingsFactory, TokenFactory
from .sample_service import METHOD_ROLES, SERVICE, SampleServicer, register_sample
from .support import bearer

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_SPAN_ID = "b7ad6b7169203331"


class _Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """A minimal OTLP collector that keeps what it receives."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    async def Export(  # noqa: N802 - gRPC method name
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[tuple[dict[str, str], trace_pb2.Span]]:
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found += [(resource, span) for span in scope_spans.spans]
        return found


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[_Receiver, int]]:
    collector = _Receiver()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield collector, port
    finally:
        await server.stop(0)


async def test_each_rpc_is_one_span_continuing_the_incoming_trace(
    receiver: tuple[_Receiver, int], make_settings: SettingsFactory, make_token: TokenFactory
) -> None:
    collector, collector_port = receiver
    settings = make_settings(otlp_endpoint=f"http://127.0.0.1:{collector_port}", service_version="1.2.3")
    handle, port = create_server(
        "sample", settings, register_sample(SampleServicer()), method_roles=METHOD_ROLES
    )
    async with handle, grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        metadata = (*bearer(make_token()), ("traceparent", f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"))
        await stub.GetModel(registry_service_pb2.GetModelRequest(name="models/fraud"), metadata=metadata)
        # Health probes are not traced: they would bury the real calls.
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        # The exporter blocks on its own gRPC call, which this event loop must keep answering.
        assert await asyncio.to_thread(handle.tracing.force_flush)

    [(resource, span)] = collector.spans()
    assert span.name == f"/{SERVICE}/GetModel"
    assert span.kind == trace_pb2.Span.SPAN_KIND_SERVER
    assert span.trace_id.hex() == TRACE_ID
    assert span.parent_span_id.hex() == PARENT_SPAN_ID
    assert resource["service.name"] == "sample"
    assert resource["service.version"] == "1.2.3"
