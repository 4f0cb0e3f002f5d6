"""How large a call the inference service takes, and how much its batching queues may hold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from onnx import TensorProto

from aiplat.models.v1 import deployment_pb2
from inference import grpc_service_pb2_grpc as pb_grpc
from services.runtime.devkeys import DevKeys
from services.runtime.server import DEFAULT_MAX_MESSAGE_BYTES
from services.runtime.settings import ServiceSettings
from tests.grpc_helpers import Metadata

from .calls import Models, infer_request, output
from .platform import InferenceService, ModelsService
from .support import identity_model

MIB = 1024**2


async def _large_call(service: InferenceService, models: Models, viewer: Metadata, mib: int) -> np.ndarray:
    """Send ``mib`` MiB through an identity model and return what came back."""
    await models.create_model("echo")
    version = await models.upload("echo", identity_model(TensorProto.FLOAT, ["N", 1024]))
    await models.deploy(
        "echo", "echo", [(version, 100)], execution=deployment_pb2.ExecutionConfig(intra_op_threads=1)
    )
    await models.wait_state("echo", deployment_pb2.DEPLOYMENT_STATE_READY)
    rows = np.arange(mib * MIB // 4, dtype=np.float32).reshape(-1, 1024)
    unlimited = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    async with grpc.aio.insecure_channel(service.address, options=unlimited) as channel:
        reply = await pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
            infer_request("echo", {"x": rows}), metadata=viewer, timeout=60
        )
    np.testing.assert_array_equal(output(reply, "y"), rows)
    return rows


async def test_a_call_four_times_the_other_services_limit_fits(
    inference: InferenceService, models: Models, viewer: Metadata
) -> None:
    # A batch of images, or a REST body within the gateway's limit once decoded (FP64 contents).
    assert inference.settings.max_message_bytes() == 4 * DEFAULT_MAX_MESSAGE_BYTES
    assert ServiceSettings.model_fields["max_message_mib"].default * MIB == DEFAULT_MAX_MESSAGE_BYTES
    await _large_call(inference, models, viewer, mib=20)


@pytest.fixture
async def small_inference(
    tmp_path: Path, dev_keys: DevKeys, models_service: ModelsService, tenant: str
) -> AsyncIterator[InferenceService]:
    service = await InferenceService.start(
        tmp_path, dev_keys, models_service, tenant, max_message_mib=8, max_queued_mib=3
    )
    try:
        yield service
    finally:
        await service.close()


async def test_the_limits_are_settings(
    small_inference: InferenceService, models: Models, viewer: Metadata
) -> None:
    assert small_inference.app.repository.queue_budget.limit_bytes == 3 * MIB
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _large_call(small_inference, models, viewer, mib=9)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
