"""Following model management: readiness after the first sync, serving on while it is away, reconnecting."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aiplat.models.v1 import deployment_pb2
from inference import grpc_service_pb2 as pb
from services.runtime.devkeys import DevKeys
from tests.grpc_helpers import Metadata

from .calls import Models, auth, eventually, infer_request
from .platform import InferenceService, ModelsService
from .support import mlp_model

X = np.ones((1, 8), np.float32)
READY = deployment_pb2.DEPLOYMENT_STATE_READY
SERVING = health_pb2.HealthCheckResponse.SERVING


async def _health(inference: InferenceService) -> int:
    response = await health_pb2_grpc.HealthStub(inference.channel).Check(health_pb2.HealthCheckRequest())
    return int(response.status)


async def _deploy(models: Models, name: str, seed: int = 1, *, wait: bool = True) -> None:
    await models.create_model(name)
    version = await models.upload(name, mlp_model(seed=seed))
    await models.deploy(name, name, [(version, 100)])
    if wait:
        await models.wait_state(name, READY)


async def test_inference_keeps_answering_while_model_management_is_away_and_catches_up_after(
    models: Models, models_service: ModelsService, inference: InferenceService, viewer: Metadata
) -> None:
    await _deploy(models, "scorer")

    await models_service.stop()
    answers = [
        await inference.stub.ModelInfer(infer_request("scorer", {"x": X}), metadata=viewer) for _ in range(20)
    ]
    await asyncio.sleep(0.5)  # several failed reconnection attempts
    still = await inference.stub.ModelInfer(infer_request("scorer", {"x": X}), metadata=viewer)
    ready = await inference.stub.ServerReady(pb.ServerReadyRequest(), metadata=viewer)

    assert {a.model_version for a in answers} == {"1"}
    assert still.model_version == "1"
    assert ready.ready
    assert await _health(inference) == SERVING

    sessions = inference.watch_sessions
    await models_service.start()  # same port and store
    await inference.reconnected(after=sessions)
    await _deploy(models, "second", seed=2)
    answer = await inference.stub.ModelInfer(infer_request("second", {"x": X}), metadata=viewer)
    assert answer.model_name == "second"


async def test_not_ready_until_the_first_sync_is_applied(
    tmp_path: Path,
    dev_keys: DevKeys,
    models_service: ModelsService,
    models: Models,
    tenant: str,
    viewer: Metadata,
) -> None:
    await _deploy(models, "scorer", wait=False)
    await models_service.stop()
    inference = await InferenceService.start(tmp_path, dev_keys, models_service, tenant)
    try:
        await asyncio.sleep(0.3)
        before = await inference.stub.ServerReady(pb.ServerReadyRequest(), metadata=viewer)
        health_before = await _health(inference)

        await models_service.start()
        await eventually(lambda: _ready(inference, viewer), what="ServerReady")

        assert not before.ready
        assert health_before != SERVING
        assert await _health(inference) == SERVING
        # Ready means the deployments listed at startup already serve.
        answer = await inference.stub.ModelInfer(infer_request("scorer", {"x": X}), metadata=viewer)
        assert answer.model_version == "1"
    finally:
        await inference.close()


async def _ready(inference: InferenceService, viewer: Metadata) -> bool:
    return (await inference.stub.ServerReady(pb.ServerReadyRequest(), metadata=viewer)).ready


async def test_a_deleted_deployment_is_drained_and_unloaded(
    models: Models, inference: InferenceService, viewer: Metadata
) -> None:
    await _deploy(models, "scorer")

    await models.delete("scorer")

    async def gone() -> bool:
        try:
            await inference.stub.ModelInfer(infer_request("scorer", {"x": X}), metadata=viewer)
        except grpc.aio.AioRpcError as error:
            return error.code() == grpc.StatusCode.NOT_FOUND
        return False

    await eventually(gone, what="the deployment to go")


async def test_deployments_of_any_tenant_are_resolved_with_the_service_token(
    models_service: ModelsService, inference: InferenceService, dev_keys: DevKeys
) -> None:
    # The service's admin token belongs to the platform tenant; it resolves versions of every tenant.
    async with grpc.aio.insecure_channel(models_service.address) as channel:
        globex = Models(channel, auth(dev_keys, "globex", "editor"))
        await globex.create_model("scorer")
        version = await globex.upload("scorer", mlp_model(seed=5))
        await globex.deploy("scorer", "scorer", [(version, 100)])
        ready = await globex.wait_state("scorer", deployment_pb2.DEPLOYMENT_STATE_READY)

    assert [v.version for v in ready.loaded_versions] == [version]
    reply = await inference.stub.ModelInfer(
        infer_request("scorer", {"x": X}), metadata=auth(dev_keys, "globex", "viewer")
    )
    assert reply.model_version == version.rsplit("/", 1)[-1]


async def test_the_service_token_file_is_read_again_on_reconnect(
    models: Models,
    models_service: ModelsService,
    inference: InferenceService,
    dev_keys: DevKeys,
    tenant: str,
) -> None:
    token_file = inference.settings.service_token_file
    token_file.write_text("not-a-token")
    await models_service.stop()
    await models_service.start()
    await asyncio.sleep(0.3)  # reconnections are refused with the bad token
    sessions = inference.watch_sessions

    token_file.write_text(
        auth(dev_keys, tenant, "admin", subject="service:inference")[0][1].removeprefix("Bearer ")
    )
    await inference.reconnected(after=sessions)
