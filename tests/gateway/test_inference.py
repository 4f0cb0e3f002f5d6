"""Inference through the gateway: every Open Inference Protocol RPC over gRPC and over REST with the same
results, and two instances of which one stops serving without a client noticing.

Model management and the inference instances run in this process (so a test can
mark an instance NOT_SERVING); the inference instances follow model management's
deployment watch as in production, and Envoy is the real binary.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto

from aiplat.models.v1 import deployment_pb2
from inference import grpc_service_pb2 as pb
from services.launcher import envoy_config
from services.launcher.catalog import service_by_name
from services.launcher.gateway_rpcs import service_rpcs
from services.launcher.supervisor import PLATFORM_TENANT
from services.runtime.devkeys import DevKeys
from tests.inference.calls import Models, auth, infer_request
from tests.inference.platform import InferenceService
from tests.inference.support import identity_model, mlp_model

from .apis import Api, GrpcApi, RestApi
from .support import (
    MODELS,
    BackgroundLoop,
    Envoy,
    ModelsInstance,
    bearer,
    gateway_settings,
    models_instances,
    start_envoy,
    wait_for_health,
)

pytestmark = pytest.mark.envoy

INFERENCE = service_by_name("inference")
RPCS = {rpc.method: rpc for rpc in service_rpcs(INFERENCE)}
DEPLOYMENT = "scorer"
MODEL = mlp_model(seed=11)  # x: [B, 8] -> y: [B, 3]
ROWS = np.random.default_rng(5).standard_normal((2, 8), dtype=np.float32)
EXPECTED = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"]).run(None, {"x": ROWS})[0]
BATCHING = deployment_pb2.BatchingConfig(max_batch_size=8, max_queue_delay_micros=500)
# Times, and how many runs the batcher made of concurrent requests, differ between any two runs.
_VOLATILE = {"ns", "lastInference", "executionCount"}


@dataclass
class Platform:
    gateway: Envoy
    instances: list[InferenceService]
    loop: BackgroundLoop
    keys: DevKeys

    def deploy(self, tenant: str) -> None:
        """Model ``scorer`` uploaded and deployed in ``tenant`` via the gateway, served by every instance."""

        async def deploy() -> None:
            async with grpc.aio.insecure_channel(self.gateway.address) as channel:
                models = Models(channel, auth(self.keys, tenant, "editor"))
                await models.create_model(DEPLOYMENT)
                version = await models.upload(DEPLOYMENT, MODEL)
                await models.deploy(DEPLOYMENT, DEPLOYMENT, [(version, 100)], batching=BATCHING)
            for instance in self.instances:
                await instance.serving(tenant, DEPLOYMENT, generation=1)

        self.loop.run(deploy())

    def served(self, instance: InferenceService, tenant: str) -> int:
        """Successful inference requests of the tenant's deployment that ``instance`` answered."""
        request = pb.ModelStatisticsRequest(name=DEPLOYMENT)

        async def statistics() -> pb.ModelStatisticsResponse:
            return await instance.stub.ModelStatistics(request, metadata=auth(self.keys, tenant, "viewer"))

        reply = self.loop.run(statistics())
        return sum(stats.inference_stats.success.count for stats in reply.model_stats)


@contextlib.contextmanager
def platform(
    loop: BackgroundLoop, root: Path, keys: DevKeys, models: ModelsInstance, instances: int
) -> Iterator[Platform]:
    started: list[InferenceService] = []
    envoy: Envoy | None = None
    try:
        for index in range(instances):
            directory = root / f"inference-{index}"
            directory.mkdir()
            started.append(loop.run(InferenceService.start(directory, keys, models, PLATFORM_TENANT)))
        upstreams = [
            envoy_config.Upstream.local(MODELS, "127.0.0.1", models.port),
            envoy_config.Upstream.local(INFERENCE, "127.0.0.1", *(i.handle.port for i in started)),
        ]
        config = envoy_config.local_config(gateway_settings(), upstreams, jwks_path=keys.jwks_path)
        envoy = start_envoy(config, root / "envoy")
        yield Platform(envoy, started, loop, keys)
    finally:
        if envoy is not None:
            envoy.stop()
        for instance in started:
            loop.run(instance.close())


@pytest.fixture(scope="module")
def models_server(
    loop: BackgroundLoop, tmp_path_factory: pytest.TempPathFactory, dev_keys: DevKeys
) -> Iterator[ModelsInstance]:
    with models_instances(loop, tmp_path_factory.mktemp("inference-models"), dev_keys, 1) as (instance,):
        yield instance


@pytest.fixture(scope="module")
def platforms(
    loop: BackgroundLoop,
    tmp_path_factory: pytest.TempPathFactory,
    dev_keys: DevKeys,
    models_server: ModelsInstance,
) -> Iterator[Callable[[int], Platform]]:
    """Starts a gateway in front of that many inference instances; all stop with the module."""
    with contextlib.ExitStack() as stack:

        def start(instances: int) -> Platform:
            root = tmp_path_factory.mktemp(f"instances-{instances}")
            return stack.enter_context(platform(loop, root, dev_keys, models_server, instances))

        yield start


def _typed_request(version: str = "") -> pb.ModelInferRequest:
    """Inputs as typed contents, the form REST clients write by hand."""
    tensor = pb.ModelInferRequest.InferInputTensor(
        name="x",
        datatype="FP32",
        shape=list(ROWS.shape),
        contents=pb.InferTensorContents(fp32_contents=ROWS.ravel().tolist()),
    )
    return pb.ModelInferRequest(model_name=DEPLOYMENT, model_version=version, id="req-1", inputs=[tensor])


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<volatile>" if k in _VOLATILE else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def scenario(api: Api) -> Iterator[tuple[str, Any]]:
    """Every RPC once, in an order that makes each meaningful; yields (step, result)."""
    yield "live", api.call("ServerLive", pb.ServerLiveRequest())
    yield "ready", api.call("ServerReady", pb.ServerReadyRequest())
    yield "server metadata", api.call("ServerMetadata", pb.ServerMetadataRequest())
    yield "model ready", api.call("ModelReady", pb.ModelReadyRequest(name=DEPLOYMENT))
    yield "model metadata", api.call("ModelMetadata", pb.ModelMetadataRequest(name=DEPLOYMENT))
    yield "model config", api.call("ModelConfig", pb.ModelConfigRequest(name=DEPLOYMENT))
    yield "infer", api.call("ModelInfer", _typed_request())
    raw = infer_request(DEPLOYMENT, {"x": ROWS}, version="1", request_id="req-raw")
    yield "infer raw, pinned", api.call("ModelInfer", raw)
    yield "stream infer", api.bidi_stream("ModelStreamInfer", [_typed_request(), raw])
    yield "statistics", api.call("ModelStatistics", pb.ModelStatisticsRequest(name=DEPLOYMENT))
    yield "index", api.call("RepositoryIndex", pb.RepositoryIndexRequest())
    unload = pb.RepositoryModelUnloadRequest(model_name=DEPLOYMENT)
    yield "unload", api.call("RepositoryModelUnload", unload)
    yield "index unloaded", api.call("RepositoryIndex", pb.RepositoryIndexRequest())
    yield "load", api.call("RepositoryModelLoad", pb.RepositoryModelLoadRequest(model_name=DEPLOYMENT))
    yield "ready again", api.call("ModelReady", pb.ModelReadyRequest(name=DEPLOYMENT))


def _outputs(reply: Any) -> np.ndarray:
    (raw,) = reply["rawOutputContents"]
    (tensor,) = reply["outputs"]
    shape = tuple(int(d) for d in tensor["shape"])
    return np.frombuffer(base64.b64decode(raw), dtype=np.float32).reshape(shape)


def test_every_rpc_gives_the_same_result_over_grpc_and_rest(
    platforms: Callable[[int], Platform], dev_keys: DevKeys, new_tenant: Callable[[], str]
) -> None:
    single = platforms(1)
    results = {}
    apis: list[Api] = []
    with grpc.insecure_channel(single.gateway.address) as channel:
        for protocol in ("grpc", "rest"):
            tenant = new_tenant()
            single.deploy(tenant)
            token = bearer(dev_keys, tenant, "editor")
            api: Api = (
                GrpcApi(channel, token, RPCS) if protocol == "grpc" else RestApi(single.gateway, token, RPCS)
            )
            apis.append(api)
            results[protocol] = dict(scenario(api))

    over_grpc, over_rest = results["grpc"], results["rest"]
    assert apis[0].called == apis[1].called == set(RPCS), "every RPC is called both ways"
    assert over_grpc["ready"] == {"ready": True}
    assert over_grpc["model ready"] == over_grpc["ready again"] == {"ready": True}
    assert over_grpc["infer"]["id"] == "req-1"
    np.testing.assert_allclose(_outputs(over_grpc["infer"]), EXPECTED, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_outputs(over_grpc["infer raw, pinned"]), EXPECTED, rtol=1e-5, atol=1e-6)
    assert [_outputs(r["inferResponse"]).shape for r in over_grpc["stream infer"]] == [(2, 3), (2, 3)]
    (stats,) = over_grpc["statistics"]["modelStats"]
    assert stats["inferenceCount"] == "8"  # int64 as a string: 4 requests of 2 rows
    assert [e.get("state") for e in over_grpc["index unloaded"]["models"]] == ["UNAVAILABLE"]
    for step, result in over_grpc.items():
        assert _masked(over_rest[step]) == _masked(result), step


def test_an_instance_that_is_not_serving_gets_no_inference_calls(
    platforms: Callable[[int], Platform], dev_keys: DevKeys, tenant: str
) -> None:
    pair = platforms(2)
    pair.deploy(tenant)
    first, second = pair.instances
    metadata = (("authorization", bearer(dev_keys, tenant, "viewer")),)
    outcomes: list[str] = []
    with grpc.insecure_channel(pair.gateway.address) as channel:
        infer = channel.unary_unary(
            f"/{INFERENCE.grpc_services[0]}/ModelInfer",
            request_serializer=pb.ModelInferRequest.SerializeToString,
            response_deserializer=pb.ModelInferResponse.FromString,
        )

        def call() -> str:
            try:
                reply = infer(infer_request(DEPLOYMENT, {"x": ROWS}), metadata=metadata, timeout=10)
            except grpc.RpcError as error:
                return str(error.code())
            answer = np.frombuffer(reply.raw_output_contents[0], np.float32).reshape(EXPECTED.shape)
            return "OK" if np.allclose(answer, EXPECTED, rtol=1e-5, atol=1e-6) else "WRONG"

        wait_for_health(
            pair.gateway,
            INFERENCE.name,
            {first.handle.port: False, second.handle.port: False},
            outcomes,
            call,
        )
        outcomes += [call() for _ in range(20)]
        assert pair.served(first, tenant) > 0
        assert pair.served(second, tenant) > 0, "both instances share the calls while both serve"

        pair.loop.run(second.handle.set_not_serving())
        wait_for_health(
            pair.gateway, INFERENCE.name, {first.handle.port: False, second.handle.port: True}, outcomes, call
        )
        before_first, before_second = pair.served(first, tenant), pair.served(second, tenant)
        outcomes += [call() for _ in range(30)]
        assert pair.served(second, tenant) == before_second, "a NOT_SERVING instance got a call"
        assert pair.served(first, tenant) == before_first + 30

        pair.loop.run(second.handle.set_serving())
        wait_for_health(
            pair.gateway,
            INFERENCE.name,
            {first.handle.port: False, second.handle.port: False},
            outcomes,
            call,
        )
        outcomes += [call() for _ in range(20)]
        assert pair.served(second, tenant) > before_second, "a recovered instance gets calls again"
    assert set(outcomes) == {"OK"}, "no call failed while an instance left and came back"


def test_a_call_over_the_other_services_message_limit_passes_the_gateway(
    platforms: Callable[[int], Platform], dev_keys: DevKeys, tenant: str
) -> None:
    single = platforms(1)
    width = 5 * 1024 * 1024  # 20 MiB of FP32 each way: over 16 MiB, within the inference service's 64
    metadata = auth(dev_keys, tenant, "editor")

    async def deploy_echo() -> None:
        async with grpc.aio.insecure_channel(single.gateway.address) as channel:
            models = Models(channel, metadata)
            await models.create_model("echo")
            version = await models.upload("echo", identity_model(TensorProto.FLOAT, [1, width]))
            await models.deploy("echo", "echo", [(version, 100)])
        await single.instances[0].serving(tenant, "echo", generation=1)

    single.loop.run(deploy_echo())
    row = np.arange(width, dtype=np.float32).reshape(1, width)
    unlimited = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(single.gateway.address, options=unlimited) as channel:
        infer = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=pb.ModelInferRequest.SerializeToString,
            response_deserializer=pb.ModelInferResponse.FromString,
        )
        reply = infer(infer_request("echo", {"x": row}), metadata=metadata, timeout=60)
    np.testing.assert_array_equal(np.frombuffer(reply.raw_output_contents[0], np.float32), row.ravel())
