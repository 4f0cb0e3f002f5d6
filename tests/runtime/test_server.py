"""create_server: health, reflection, metrics, roles validation and port binding."""

from __future__ import annotations

import asyncio
import urllib.request

import grpc
import pytest
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from aiplat.models.v1 import registry_service_pb2
from services.runtime.auth import Role
from services.runtime.server import create_server
from tests.grpc_helpers import reflect

from .conftest import SettingsFactory, TokenFactory
from .sample_service import METHOD_ROLES, SERVICE, SampleServicer, register_sample
from .support import RunningServer, bearer

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _health(server: RunningServer, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(server.channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
    return int(response.status)


async def test_health_is_not_serving_until_the_service_says_so(server: RunningServer) -> None:
    assert await _health(server, "") == NOT_SERVING
    assert await _health(server, SERVICE) == NOT_SERVING

    await server.handle.set_serving()

    assert await _health(server, "") == SERVING
    assert await _health(server, SERVICE) == SERVING


async def test_health_watch_reports_not_serving_on_shutdown(server: RunningServer) -> None:
    await server.handle.set_serving()
    stub = health_pb2_grpc.HealthStub(server.channel)
    watch = stub.Watch(health_pb2.HealthCheckRequest(service=SERVICE))
    assert (await watch.read()).status == SERVING

    stopping = asyncio.create_task(server.handle.stop(0.2))
    assert (await asyncio.wait_for(watch.read(), 2)).status == NOT_SERVING
    await stopping


async def test_unknown_health_service_is_not_found(server: RunningServer) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _health(server, "aiplat.nope.v1.NopeService")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def _reflect(target: str, service: str, method_name: str) -> tuple[list[str], type, type]:
    # The reflection client is synchronous; it runs in a thread next to the server's loop.
    with grpc.insecure_channel(target) as channel:
        services, found = reflect(channel, service)
        method = found.methods_by_name[method_name]
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
    return services, request_class, response_class


async def test_reflection_finds_and_calls_a_method_by_name(
    server: RunningServer, make_token: TokenFactory
) -> None:
    services, request_class, response_class = await asyncio.to_thread(
        _reflect, server.target, SERVICE, "GetModel"
    )
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services

    call = server.channel.unary_unary(
        f"/{SERVICE}/GetModel",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=response_class.FromString,
    )
    response = await call(request_class(name="models/fraud"), metadata=bearer(make_token()))

    assert response.name == "models/fraud"
    assert response.display_name == "acme/alice"


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def test_metrics_count_and_time_each_rpc(server: RunningServer, make_token: TokenFactory) -> None:
    metadata = bearer(make_token())
    await server.stub.GetModel(registry_service_pb2.GetModelRequest(name="models/a"), metadata=metadata)
    await server.stub.GetModel(registry_service_pb2.GetModelRequest(name="models/b"), metadata=metadata)
    with pytest.raises(grpc.aio.AioRpcError):
        await server.stub.GetModel(
            registry_service_pb2.GetModelRequest(name="models/missing"), metadata=metadata
        )
    with pytest.raises(grpc.aio.AioRpcError):
        await server.stub.GetModel(registry_service_pb2.GetModelRequest(name="models/a"))
    assert server.handle.metrics_port is not None

    samples = await asyncio.to_thread(_scrape, server.handle.metrics_port)

    def handled(code: str) -> float:
        labels = (("code", code), ("method", "GetModel"), ("service", SERVICE))
        return samples.get(("aiplat_grpc_server_handled_total", labels), 0.0)

    assert handled("OK") == 2
    assert handled("NOT_FOUND") == 1
    assert handled("UNAUTHENTICATED") == 1
    histogram_labels = (("method", "GetModel"), ("service", SERVICE))
    assert samples[("aiplat_grpc_server_handling_seconds_count", histogram_labels)] == 4
    assert samples[("aiplat_grpc_server_handling_seconds_sum", histogram_labels)] > 0


async def test_two_servers_in_one_process_keep_their_own_metrics(
    make_settings: SettingsFactory, make_token: TokenFactory
) -> None:
    first, first_port = create_server(
        "sample", make_settings(), register_sample(SampleServicer()), method_roles=METHOD_ROLES
    )
    second, _ = create_server(
        "sample", make_settings(), register_sample(SampleServicer()), method_roles=METHOD_ROLES
    )
    async with first, second:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{first_port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            await stub.Check(health_pb2.HealthCheckRequest())
        assert first.metrics_port is not None
        assert second.metrics_port is not None
        assert first.metrics_port != second.metrics_port
        first_samples = await asyncio.to_thread(_scrape, first.metrics_port)
        second_samples = await asyncio.to_thread(_scrape, second.metrics_port)
    key = (
        "aiplat_grpc_server_handled_total",
        (("code", "OK"), ("method", "Check"), ("service", "grpc.health.v1.Health")),
    )
    assert first_samples[key] == 1
    assert key not in second_samples


async def test_metrics_can_be_disabled(make_settings: SettingsFactory) -> None:
    handle, _ = create_server(
        "sample", make_settings(metrics_port=-1), register_sample(SampleServicer()), method_roles=METHOD_ROLES
    )
    async with handle:
        assert handle.metrics_port is None


async def test_method_roles_naming_unknown_methods_are_refused(make_settings: SettingsFactory) -> None:
    roles = {**METHOD_ROLES, f"/{SERVICE}/GetModle": Role.VIEWER}
    with pytest.raises(ValueError, match="GetModle"):
        create_server("sample", make_settings(), register_sample(SampleServicer()), method_roles=roles)


async def test_a_port_in_use_is_an_error_not_a_shared_port(
    server: RunningServer, make_settings: SettingsFactory
) -> None:
    with pytest.raises(RuntimeError):
        create_server(
            "sample",
            make_settings(port=server.port),
            register_sample(SampleServicer()),
            method_roles=METHOD_ROLES,
        )


async def test_reflection_describes_the_services_of_other_processes_it_is_told_of(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(reflect_services=("inference.GRPCInferenceService",))
    handle, port = create_server(
        "sample", settings, register_sample(SampleServicer()), method_roles=METHOD_ROLES
    )
    await handle.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            services, inference = await asyncio.to_thread(reflect, channel, "inference.GRPCInferenceService")
            _, own = await asyncio.to_thread(reflect, channel, SERVICE)
    finally:
        await handle.stop(0)
    assert {SERVICE, "inference.GRPCInferenceService", "grpc.health.v1.Health"} <= set(services)
    assert inference.methods_by_name["ModelInfer"].input_type.full_name == "inference.ModelInferRequest"
    assert "GetModel" in own.methods_by_name


async def test_reflecting_a_service_no_contract_defines_is_refused(make_settings: SettingsFactory) -> None:
    settings = make_settings(reflect_services=("aiplat.nope.v1.NopeService",))
    with pytest.raises(ValueError, match=r"aiplat\.nope\.v1\.NopeService"):
        create_server("sample", settings, register_sample(SampleServicer()), method_roles=METHOD_ROLES)
