"""Startup: NOT_SERVING (and UNAVAILABLE calls) until the store is migrated and the storage reachable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aiplat.models.v1 import registry_service_pb2, registry_service_pb2_grpc
from services.models.lifecycle import ModelsApp
from services.models.servicer import METHOD_ROLES, register
from services.models.settings import ModelsSettings
from services.runtime.server import create_server
from tests.grpc_helpers import Metadata

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _health(channel: grpc.aio.Channel) -> int:
    response = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="aiplat.models.v1.ModelRegistryService")
    )
    return int(response.status)


def _block(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("a file where the artifact directory should be")


def _unblock(path: Path) -> None:
    path.unlink()


async def test_serving_only_once_store_and_storage_are_ready(
    models_settings: ModelsSettings, token: Callable[..., Metadata], tmp_path: Path
) -> None:
    blocked = tmp_path / "blocked"
    settings = models_settings.model_copy(
        update={"artifact_url": str(blocked), "storage_retry_seconds": 0.02}
    )
    _block(blocked)
    app = ModelsApp(settings)
    handle, port = create_server("models", settings, register(app), method_roles=METHOD_ROLES)
    await handle.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    starting = asyncio.create_task(app.start(handle))
    try:
        await asyncio.sleep(0.1)
        assert not starting.done()
        assert await _health(channel) == NOT_SERVING
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.ListModels(registry_service_pb2.ListModelsRequest(), metadata=token("viewer"))
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE

        _unblock(blocked)
        await asyncio.wait_for(starting, timeout=5)
        assert await _health(channel) == SERVING
        listed = await stub.ListModels(registry_service_pb2.ListModelsRequest(), metadata=token("viewer"))
        assert list(listed.models) == []
        assert (settings.data_dir / "models.db").exists()
    finally:
        starting.cancel()
        await channel.close()
        await handle.stop(0)
        await app.close()


async def test_an_unreachable_store_keeps_the_service_not_serving(models_settings: ModelsSettings) -> None:
    # Nothing listens on port 1: every attempt is refused at once and retried.
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/models?connect_timeout=1"
    settings = models_settings.model_copy(update={"database_url": unreachable, "storage_retry_seconds": 0.02})
    app = ModelsApp(settings)
    handle, port = create_server("models", settings, register(app), method_roles=METHOD_ROLES)
    await handle.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    starting = asyncio.create_task(app.start(handle))
    try:
        await asyncio.sleep(0.2)
        assert not starting.done()
        assert await _health(channel) == NOT_SERVING
    finally:
        starting.cancel()
        await channel.close()
        await handle.stop(0)
        await app.close()


async def test_the_started_app_polls_for_other_processes_changes_until_closed(
    models_settings: ModelsSettings,
) -> None:
    settings = models_settings.model_copy(update={"watch_poll_seconds": 0.02})
    app = ModelsApp(settings)
    handle, _ = create_server("models", settings, register(app), method_roles=METHOD_ROLES)
    await handle.start()
    try:
        await asyncio.wait_for(app.start(handle), timeout=5)
        poller = app.core.poller
        assert poller.running
        deadline = time.monotonic() + 5
        while poller.polls < 2:
            assert time.monotonic() < deadline, "the poller did not poll"
            await asyncio.sleep(0.01)
    finally:
        await handle.stop(0)
        await app.close()
    assert not poller.running
