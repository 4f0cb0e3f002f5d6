"""Upload, alias, deploy, infer: model management and inference as a user drives them, over gRPC."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto

from aiplat.models.v1 import deployment_pb2, model_pb2
from inference import grpc_service_pb2 as pb
from inference import model_config_pb2 as mc
from services.inference.sessions import cuda_device_count
from tests.grpc_helpers import Metadata

from .calls import Models, eventually, infer_request, output
from .platform import InferenceService
from .support import AUTO_DEVICE, AUTO_PROVIDERS, identity_model, mlp_model

READY = deployment_pb2.DEPLOYMENT_STATE_READY
BATCHING = deployment_pb2.BatchingConfig(max_batch_size=16, max_queue_delay_micros=2000)
ONE_THREAD = deployment_pb2.ExecutionConfig(intra_op_threads=1, inter_op_threads=1)


async def test_a_deployed_version_answers_like_onnx_runtime_in_process(
    models: Models, inference: InferenceService, viewer: Metadata
) -> None:
    data = mlp_model(seed=7)
    await models.create_model("scorer")
    version = await models.upload("scorer", data)
    await models.set_alias("scorer", "production", version)
    production = await models.alias("scorer", "production")
    await models.deploy("scorer-live", "scorer", [(production, 100)], batching=BATCHING, execution=ONE_THREAD)

    deployment = await models.wait_state("scorer-live", READY)

    [loaded] = deployment.loaded_versions
    assert loaded.version == version
    assert loaded.device == AUTO_DEVICE
    assert tuple(loaded.execution_providers) == AUTO_PROVIDERS
    ready = await inference.stub.ServerReady(pb.ServerReadyRequest(), metadata=viewer)
    assert ready.ready
    x = np.random.default_rng(1).standard_normal((5, 8), dtype=np.float32)
    expected = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]

    response = await inference.stub.ModelInfer(
        infer_request("scorer-live", {"x": x}, request_id="r1"), metadata=viewer
    )

    assert response.model_name == "scorer-live"
    assert response.model_version == "1"
    assert response.id == "r1"
    np.testing.assert_allclose(output(response, "y"), expected, rtol=1e-5, atol=1e-6)
    concurrent = await asyncio.gather(
        *(
            inference.stub.ModelInfer(infer_request("scorer-live", {"x": x[i : i + 1]}), metadata=viewer)
            for i in range(5)
        )
    )
    for i, answer in enumerate(concurrent):
        np.testing.assert_allclose(output(answer, "y"), expected[i : i + 1], rtol=1e-5, atol=1e-6)


async def test_a_deployments_preprocessing_turns_client_images_into_the_models_input(
    models: Models, inference: InferenceService, viewer: Metadata
) -> None:
    await models.create_model("vision")
    # The model returns what preprocessing handed it: x [B,3,4,6] FP32, channels first.
    version = await models.upload("vision", identity_model(TensorProto.FLOAT, ["batch", 3, 4, 6]))
    means, stds = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    step = deployment_pb2.PreprocessingConfig(
        input="x",
        source_layout=deployment_pb2.PIXEL_LAYOUT_HWC,
        target_layout=deployment_pb2.PIXEL_LAYOUT_CHW,
        resize_height=4,
        resize_width=6,
        interpolation=deployment_pb2.RESIZE_INTERPOLATION_NEAREST,
        scale=1 / 255,
        means=means,
        stds=stds,
        target_data_type=model_pb2.TENSOR_DATA_TYPE_FP32,
    )
    await models.deploy("vision", "vision", [(version, 100)], preprocessing=[step], execution=ONE_THREAD)
    deployment = await models.wait_state("vision", READY)
    assert list(deployment.preprocessing) == [step], "the steps survive the store and come back as sent"
    images = np.random.default_rng(3).integers(0, 256, (2, 8, 12, 3), dtype=np.uint8)  # HWC, twice the size
    request = pb.ModelInferRequest(
        model_name="vision",
        inputs=[pb.ModelInferRequest.InferInputTensor(name="x", datatype="UINT8", shape=images.shape)],
        raw_input_contents=[images.tobytes()],
    )

    response = await inference.stub.ModelInfer(request, metadata=viewer)

    # Nearest neighbour halving keeps pixel (2i+1, 2j+1); then scale, mean and std per channel.
    kept = images[:, 1::2, 1::2, :].astype(np.float64)
    expected = ((kept / 255 - np.array(means)) / np.array(stds)).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(output(response, "y"), expected, atol=1e-5)
    metadata = await inference.stub.ModelMetadata(pb.ModelMetadataRequest(name="vision"), metadata=viewer)
    [advertised] = metadata.inputs
    assert (advertised.name, advertised.datatype, list(advertised.shape)) == ("x", "UINT8", [-1, -1, -1, 3])


class Load:
    """Callers sending requests back to back, recording which version answered and every failure."""

    def __init__(self, inference: InferenceService, metadata: Metadata, model: str, callers: int) -> None:
        self._inference = inference
        self._metadata = metadata
        self._model = model
        # (order in which the request was sent, version that answered it)
        self.answers: list[tuple[int, str]] = []
        self.failures: list[BaseException] = []
        self._sent = 0
        self._running = True
        self._tasks = [asyncio.create_task(self._call()) for _ in range(callers)]

    async def _call(self) -> None:
        x = np.ones((1, 8), np.float32)
        while self._running:
            ticket = self._sent
            self._sent += 1
            try:
                response = await self._inference.stub.ModelInfer(
                    infer_request(self._model, {"x": x}), metadata=self._metadata
                )
            except grpc.aio.AioRpcError as error:
                self.failures.append(error)
            else:
                self.answers.append((ticket, response.model_version))

    async def observe(self, count: int) -> Counter[str]:
        """The versions that answered ``count`` requests sent from now on."""
        # Answers do not come back in the order requests were sent (a request
        # queued on a retiring version may finish after later ones), so only
        # requests sent after this point count.
        first = self._sent

        async def enough() -> bool:
            return sum(1 for ticket, _ in self.answers if ticket >= first) >= count

        await eventually(enough, 20, f"{count} answers")
        later = sorted(answer for answer in self.answers if answer[0] >= first)
        return Counter(version for _, version in later[:count])

    async def stop(self) -> None:
        self._running = False
        await asyncio.gather(*self._tasks)


async def test_traffic_changes_and_redeploys_under_load_fail_no_request(
    models: Models, inference: InferenceService, viewer: Metadata, tenant: str
) -> None:
    await models.create_model("scorer")
    v1 = await models.upload("scorer", mlp_model(seed=1))
    v2 = await models.upload("scorer", mlp_model(seed=2))
    await models.deploy("live", "scorer", [(v1, 100)], batching=BATCHING, execution=ONE_THREAD)
    await models.wait_state("live", READY)
    load = Load(inference, viewer, "live", callers=12)
    try:
        assert set(await load.observe(100)) == {"1"}

        canary = await models.set_traffic("live", [(v1, 90), (v2, 10)])
        await inference.serving(tenant, "live", canary.generation)
        split = await load.observe(1000)
        assert 80 <= split["2"] <= 120, split
        pinned = await inference.stub.ModelInfer(
            infer_request("live", {"x": np.ones((1, 8), np.float32)}, version="2"), metadata=viewer
        )
        assert pinned.model_version == "2"

        promoted = await models.set_traffic("live", [(v2, 100)])
        await inference.serving(tenant, "live", promoted.generation)
        assert set(await load.observe(200)) == {"2"}

        rolled_back = await models.rollback("live")
        await inference.serving(tenant, "live", rolled_back.generation)
        split = await load.observe(1000)
        assert 80 <= split["2"] <= 120, split

        # A new batching config loads fresh instances of both versions and swaps them in.
        redeployed = await models.update("live", batching=deployment_pb2.BatchingConfig(max_batch_size=4))
        await inference.serving(tenant, "live", redeployed.generation)
        assert set(await load.observe(200)) == {"1", "2"}
    finally:
        await load.stop()
    assert load.failures == []
    assert len(load.answers) > 2500


def _cuda_missing() -> str:
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return "this ONNX Runtime build has no CUDA execution provider (onnxruntime-gpu not installed)"
    if cuda_device_count() == 0:
        return "no CUDA device is visible"
    return ""


@pytest.mark.gpu
@pytest.mark.skipif(bool(_cuda_missing()), reason=_cuda_missing() or "CUDA is available")
async def test_a_gpu_deployment_runs_on_the_device_and_says_so(
    models: Models, inference: InferenceService, viewer: Metadata, tenant: str
) -> None:
    data = mlp_model(seed=9)
    await models.create_model("scorer")
    version = await models.upload("scorer", data)
    gpu = deployment_pb2.ExecutionConfig(device=deployment_pb2.EXECUTION_DEVICE_GPU)
    await models.deploy("scorer", "scorer", [(version, 100)], batching=BATCHING, execution=gpu)

    deployment = await models.wait_state("scorer", READY)
    x = np.random.default_rng(2).standard_normal((4, 8), dtype=np.float32)
    response = await inference.stub.ModelInfer(infer_request("scorer", {"x": x}), metadata=viewer)
    config = await inference.stub.ModelConfig(pb.ModelConfigRequest(name="scorer"), metadata=viewer)
    samples = await asyncio.to_thread(inference.scrape)

    assert deployment.loaded_versions[0].device == "cuda:0"
    assert deployment.loaded_versions[0].execution_providers[0] == "CUDAExecutionProvider"
    expected = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(output(response, "y"), expected, rtol=1e-3, atol=1e-4)
    assert config.config.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
    assert list(config.config.instance_group[0].gpus) == [0]
    info = [labels for name, labels in samples if name == "aiplat_inference_version_info"]
    assert ("device", "cuda:0") in info[0]
