"""Outgoing calls carry the caller's token, the trace context and a bounded deadline."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from aiplat.models.v1 import registry_service_pb2, registry_service_pb2_grpc
from services.runtime.auth import ANONYMOUS, Identity, Role, bind_identity
from services.runtime.server import create_server
from services.runtime.tracing import Tracing
from services.runtime.transport import _deadline
from services.runtime.transport.client import open_channel

from .conftest import SettingsFactory, TokenFactory
from .sample_service import METHOD_ROLES, SampleServicer, register_sample


def _recording_tracing() -> tuple[Tracing, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Tracing(provider), exporter


@pytest.fixture
async def downstream(make_settings: SettingsFactory) -> AsyncIterator[tuple[int, InMemorySpanExporter]]:
    """The sample service as the callee, recording its spans in memory."""
    tracing, exporter = _recording_tracing()
    handle, port = create_server(
        "sample",
        make_settings(),
        register_sample(SampleServicer(slow_seconds=2.0)),
        method_roles=METHOD_ROLES,
        tracing=tracing,
    )
    async with handle:
        yield port, exporter


def _caller(token: str) -> Identity:
    return Identity(subject="alice", tenant="acme", roles=frozenset({Role.VIEWER}), token=token)


async def test_the_callers_token_and_trace_reach_the_callee(
    downstream: tuple[int, InMemorySpanExporter], make_token: TokenFactory
) -> None:
    port, callee_spans = downstream
    tracing, caller_spans = _recording_tracing()
    async with open_channel(f"127.0.0.1:{port}", tracing=tracing) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        with bind_identity(_caller(make_token(subject="carol", tenant="initech"))):
            model = await stub.GetModel(registry_service_pb2.GetModelRequest(name="models/fraud"))

    assert model.display_name == "initech/carol"
    [client_span] = caller_spans.get_finished_spans()
    [server_span] = callee_spans.get_finished_spans()
    assert client_span.kind == SpanKind.CLIENT
    assert server_span.kind == SpanKind.SERVER
    assert server_span.parent is not None
    assert server_span.context is not None
    assert client_span.context is not None
    assert server_span.context.trace_id == client_span.context.trace_id
    assert server_span.parent.span_id == client_span.context.span_id


async def test_without_a_caller_nothing_is_forwarded(downstream: tuple[int, InMemorySpanExporter]) -> None:
    port, _ = downstream
    async with open_channel(f"127.0.0.1:{port}", tracing=_recording_tracing()[0]) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        # The anonymous identity has no token to forward.
        with bind_identity(ANONYMOUS), pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetModel(registry_service_pb2.GetModelRequest(name="models/fraud"))
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_outgoing_calls_end_with_the_incoming_deadline(
    downstream: tuple[int, InMemorySpanExporter], make_token: TokenFactory
) -> None:
    port, _ = downstream
    async with open_channel(
        f"127.0.0.1:{port}", tracing=_recording_tracing()[0], default_timeout=30
    ) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        # As if serving a call with 0.2 s left; the callee would take 2 s.
        deadline = _deadline.set_deadline(0.2)
        try:
            with bind_identity(_caller(make_token())), pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.GetModel(registry_service_pb2.GetModelRequest(name="models/slow"))
        finally:
            _deadline.reset_deadline(deadline)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_outgoing_calls_get_the_default_deadline(
    downstream: tuple[int, InMemorySpanExporter], make_token: TokenFactory
) -> None:
    port, _ = downstream
    async with open_channel(
        f"127.0.0.1:{port}", tracing=_recording_tracing()[0], default_timeout=0.2
    ) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        with bind_identity(_caller(make_token())), pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetModel(registry_service_pb2.GetModelRequest(name="models/slow"))
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
