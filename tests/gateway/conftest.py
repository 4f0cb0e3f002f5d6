"""Fixtures of the gateway tests: a model management server, an inference server, and the real Envoy.

They are started once per session: Envoy's token buckets are per tenant and
every test uses tenants of its own, so the tests do not disturb each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import grpc
import pytest

from services.launcher.supervisor import PLATFORM_TENANT
from services.runtime.devkeys import DevKeys
from tests.inference.calls import eventually
from tests.inference.platform import InferenceService

from .support import (
    MAX_RESPONSE_BODY_BYTES,
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
    with start_envoy(local_gateway(settings, dev_keys, [models]), tmp_path_factory.mktemp("envoy")) as envoy:
        yield envoy


@pytest.fixture(scope="session")
def inference(
    loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory, dev_keys: DevKeys
) -> Iterator[InferenceService]:
    """An inference server, ready once yielded, that follows a model management of its own: following
    ``models`` it would load and report on the deployments other tests make there."""
    root = tmp_path_factory.mktemp("inference")
    with models_instances(loop, root, dev_keys, 1) as (registry,):
        server = loop.run(InferenceService.start(root, dev_keys, registry, PLATFORM_TENANT))

        async def ready() -> bool:  # what ServerReady answers
            return server.app.controller.synced.is_set()

        try:
            loop.run(eventually(ready, 15, "the inference server caught up with model management"))
            yield server
        finally:
            loop.run(server.close())


@pytest.fixture(scope="session")
def inference_gateway(
    models: ModelsInstance,
    inference: InferenceService,
    tmp_path_factory: pytest.TempPathFactory,
    dev_keys: DevKeys,
) -> Iterator[Envoy]:
    """The gateway in front of model management and inference, with a small response limit."""
    settings = gateway_settings(max_response_body_bytes=MAX_RESPONSE_BODY_BYTES)
    config = local_gateway(settings, dev_keys, [models], inference_ports=[inference.handle.port])
    with start_envoy(config, tmp_path_factory.mktemp("inference-envoy")) as envoy:
        yield envoy


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
