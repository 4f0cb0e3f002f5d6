"""Fixtures: development keys, token minting, settings, and a running sample server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest

from aiplat.models.v1 import registry_service_pb2_grpc
from services.runtime.devkeys import DevKeys, ensure_dev_keys, mint_token
from services.runtime.server import create_server
from services.runtime.settings import ServiceSettings

from .sample_service import METHOD_ROLES, SampleServicer, register_sample
from .support import RunningServer

SettingsFactory = Callable[..., ServiceSettings]
TokenFactory = Callable[..., str]


@pytest.fixture(scope="session")
def other_keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeys:
    """A second key pair that the servers do not trust."""
    return ensure_dev_keys(tmp_path_factory.mktemp("other-keys"))


@pytest.fixture
def make_token(dev_keys: DevKeys) -> TokenFactory:
    """Mint a token signed by the trusted key; keyword arguments override the claims."""

    def make(roles: Sequence[str] = ("viewer",), **overrides: Any) -> str:
        claims: dict[str, Any] = {"subject": "alice", "tenant": "acme", "roles": roles, **overrides}
        keys = claims.pop("keys", dev_keys)
        return mint_token(keys, **claims)

    return make


@pytest.fixture
def make_settings(tmp_path: Path, dev_keys: DevKeys) -> SettingsFactory:
    """Settings for a test server: loopback, ports picked by the OS, trusted dev keys, no export.

    Every field a stray environment variable could change is set explicitly.
    """

    def make(**overrides: Any) -> ServiceSettings:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "metrics_port": 0,
            "data_dir": tmp_path / "data",
            "database_url": None,
            "jwks_path": dev_keys.jwks_path,
            "jwks_url": None,
            "auth_required": True,
            "shutdown_grace_seconds": 1.0,
            "otlp_endpoint": None,
            **overrides,
        }
        return ServiceSettings(**values)

    return make


@pytest.fixture
def server_settings(make_settings: SettingsFactory) -> ServiceSettings:
    """Settings of the ``server`` fixture; override the fixture to change them."""
    return make_settings()


@pytest.fixture
async def server(server_settings: ServiceSettings) -> AsyncIterator[RunningServer]:
    """The sample service on a free port, started but not yet SERVING."""
    handle, port = create_server(
        "sample",
        server_settings,
        register_sample(SampleServicer(slow_seconds=0.3)),
        method_roles=METHOD_ROLES,
    )
    await handle.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield RunningServer(
            handle, port, channel, registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        )
    finally:
        await channel.close()
        await handle.stop(0)
