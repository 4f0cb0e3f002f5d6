"""Fixtures shared by the inference tests: sessions, and real model management and inference servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from aiplat.models.v1 import deployment_pb2
from services.inference.sessions import OrtSession
from services.models.status import REPORT_LIFETIME
from services.runtime.devkeys import DevKeys, ensure_dev_keys
from tests.grpc_helpers import Metadata

from .calls import Models, auth
from .platform import InferenceService, ModelsService
from .support import linear_model, mlp_model, open_session


@pytest.fixture(scope="session")
def linear_session() -> OrtSession:
    return open_session(linear_model())


@pytest.fixture(scope="session")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeys:
    """The signing key pair the test servers trust (RSA generation is slow: once per session)."""
    return ensure_dev_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def tenant() -> str:
    return f"acme-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def report_lifetime() -> timedelta:
    """How long model management counts an inference replica's report; a module may shorten it."""
    return REPORT_LIFETIME


@pytest.fixture
async def models_service(
    tmp_path: Path, dev_keys: DevKeys, report_lifetime: timedelta
) -> AsyncIterator[ModelsService]:
    service = ModelsService(tmp_path / "models", dev_keys, report_lifetime=report_lifetime)
    service.directory.mkdir()
    await service.start()
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
async def models(models_service: ModelsService, dev_keys: DevKeys, tenant: str) -> AsyncIterator[Models]:
    """Model management as alice, an editor of the test's tenant."""
    async with grpc.aio.insecure_channel(models_service.address) as channel:
        yield Models(channel, auth(dev_keys, tenant, "editor"))


@pytest.fixture
async def inference(
    tmp_path: Path, dev_keys: DevKeys, models_service: ModelsService, tenant: str
) -> AsyncIterator[InferenceService]:
    service = await InferenceService.start(tmp_path, dev_keys, models_service, tenant)
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
def viewer(dev_keys: DevKeys, tenant: str) -> Metadata:
    """A viewer of the test's tenant: may infer."""
    return auth(dev_keys, tenant, "viewer", subject="app")


@pytest.fixture
async def scorer(models: Models, inference: InferenceService) -> bytes:
    """Deployment ``scorer`` of model ``scorer`` (``mlp_model(3)``), batching 64 within 2 ms, READY."""
    data = mlp_model(seed=3)
    await models.create_model("scorer")
    version = await models.upload("scorer", data)
    await models.deploy(
        "scorer",
        "scorer",
        [(version, 100)],
        # Held within the window: a request that finds the instance idle would otherwise run alone,
        # and on a slow machine every one of a burst can.
        batching=deployment_pb2.BatchingConfig(
            max_batch_size=64, max_queue_delay_micros=2000, hold_lone_requests=True
        ),
        execution=deployment_pb2.ExecutionConfig(intra_op_threads=1, inter_op_threads=1),
    )
    await models.wait_state("scorer", deployment_pb2.DEPLOYMENT_STATE_READY)
    return data
