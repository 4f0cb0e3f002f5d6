"""Fixtures of the gateway tests: a model management server and the real Envoy in front of it.

Both are started once per session: Envoy's token buckets are per tenant and
every test uses tenants of its own, so the tests do not disturb each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import grpc
import pytest

from services.runtime.devkeys import DevKeys

from .support import (
    BackgroundLoop,
    Envoy,
    ModelsInstance,
    gateway_settings,
    local_gateway,
    models_instances,
    start_envoy,
)


@pytest.fixture(scope="session")
def loop() -> Iterator[BackgroundLoop]:
    background = BackgroundLoop()
    try:
        yield background
    finally:
        background.close()


@pytest.fixture(scope="session")
def models(
    loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory, dev_keys: DevKeys
) -> Iterator[ModelsInstance]:
    with models_instances(loop, tmp_path_factory.mktemp("models"), dev_keys, 1) as (instance,):
        yield instance


@pytest.fixture(scope="session")
def gateway(
    models: ModelsInstance, tmp_path_factory: pytest.TempPathFactory, dev_keys: DevKeys
) -> Iterator[Envoy]:
    """The gateway in front of the model server, with a small body limit to test 413 cheaply."""
    settings = gateway_settings(max_request_body_bytes=64 * 1024)
    envoy = start_envoy(local_gateway(settings, dev_keys, [models]), tmp_path_factory.mktemp("envoy"))
    try:
        yield envoy
    finally:
        envoy.stop()


@pytest.fixture
def channel(gateway: Envoy) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(gateway.address) as opened:
        yield opened


@pytest.fixture
def new_tenant() -> Callable[[], str]:
    """Tenant names no other test uses."""
    return lambda: f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def tenant(new_tenant: Callable[[], str]) -> str:
    return new_tenant()
