"""A watcher that stops reading without disconnecting: cut off once it leaves a ping unanswered."""

from __future__ import annotations

import asyncio
import dataclasses
import struct
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import h2.config
import h2.connection
import h2.settings
import pytest

from aiplat.models.v1 import deployment_service_pb2
from services.models.artifacts import ArtifactStorage
from services.models.core import ModelsCore
from services.models.domain import Deployment, DeploymentSpec, DeploymentStatus
from services.models.enums import WatchEventType
from services.models.lifecycle import ModelsApp
from services.models.servicer import METHOD_ROLES, register
from services.models.settings import ModelsSettings
from services.runtime.devkeys import DevKeys, mint_token
from services.runtime.server import ServiceServer, create_server
from services.runtime.store import Database

WATCH = "/aiplat.models.v1.DeploymentService/WatchDeployments"
_LARGEST_WINDOW = 2**31 - 1


@dataclasses.dataclass
class Server:
    core: ModelsCore
    handle: ServiceServer
    port: int
    settings: ModelsSettings


@pytest.fixture
async def server(sqlite_database: Database, models_settings: ModelsSettings) -> AsyncIterator[Server]:
    settings = models_settings.model_copy(update={"peer_ping_timeout_seconds": 1.0})
    core = ModelsCore.build(
        sqlite_database,
        ArtifactStorage(settings.resolved_artifact_url()),
        staging_dir=settings.resolved_staging_dir(),
        max_upload_bytes=settings.max_upload_bytes,
        # Large enough that the watcher is not dropped for falling behind: what is tested is the stall.
        watch_queue_size=100_000,
    )
    handle, port = create_server(
        "models", settings, register(ModelsApp.ready(core)), method_roles=METHOD_ROLES
    )
    await handle.start()
    await handle.set_serving()
    try:
        yield Server(core, handle, port, settings)
    finally:
        await core.close()
        await handle.stop(0)


async def _watch_then_stop_reading(port: int, token: str) -> asyncio.StreamWriter:
    """Open a watch with every flow-control window wide open, then never read the socket again."""
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    connection.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _LARGEST_WINDOW})
    connection.increment_flow_control_window(_LARGEST_WINDOW - 65_535)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(connection.data_to_send())
    # The server's preface, acknowledged, so that the connection is a well-behaved one up to here.
    connection.receive_data(await reader.read(65_535))
    stream = connection.get_next_available_stream_id()
    headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", WATCH),
        (":authority", f"127.0.0.1:{port}"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("authorization", f"Bearer {token}"),
    ]
    connection.send_headers(stream, headers)
    body = deployment_service_pb2.WatchDeploymentsRequest().SerializeToString()
    connection.send_data(stream, struct.pack(">?I", False, len(body)) + body, end_stream=True)
    writer.write(connection.data_to_send())
    await writer.drain()
    return writer


async def _until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def _bulky(index: int) -> Deployment:
    now = datetime.now(UTC)
    labels = {f"key{i}": "v" * 60 for i in range(60)}  # about 4 KB a message
    return Deployment(
        f"d{index}", DeploymentSpec("m", (), labels=labels), DeploymentStatus(), 1, now, now, "e"
    )


async def test_a_watcher_that_stopped_reading_is_cut_off_and_does_not_hold_shutdown(
    server: Server, dev_keys: DevKeys
) -> None:
    token = mint_token(dev_keys, subject="alice", tenant="acme", roles=["viewer"])
    writer = await _watch_then_stop_reading(server.port, token)
    try:
        await _until(lambda: server.core.hub.subscriber_count == 1, "the watch to subscribe")
        # Enough changes to fill the socket buffers both ways: the server's writes then block.
        for index in range(1500):
            server.core.hub.publish("acme", WatchEventType.CREATED, _bulky(index))
            if index % 50 == 0:
                await asyncio.sleep(0)

        # gRPC's ping goes unanswered: the connection is closed, the stream and its queue freed.
        await _until(lambda: server.core.hub.subscriber_count == 0, "the stalled watcher to go", timeout=15)
        await asyncio.wait_for(server.handle.stop(server.settings.shutdown_grace_seconds), timeout=10)
    finally:
        writer.close()
