"""Every RPC of the inference protocol against a deployment served end to end, and its error statuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import numpy as np
import onnxruntime as ort
import pytest

from aiplat.models.v1 import deployment_pb2
from inference import grpc_service_pb2 as pb
from inference import model_config_pb2 as mc
from services.runtime.devkeys import DevKeys
from tests.grpc_helpers import Metadata, error_details

from .calls import Models, auth, infer_request, output
from .platform import InferenceService, ModelsService
from .support import AUTO_DEVICE, mlp_model

pytestmark = pytest.mark.usefixtures("scorer")

Input = pb.ModelInferRequest.InferInputTensor
X = np.arange(16, dtype=np.float32).reshape(2, 8) / 10


def _expected(data: bytes, x: np.ndarray) -> np.ndarray:
    result: np.ndarray = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    return result


async def _fails(
    inference: InferenceService, request: pb.ModelInferRequest, metadata: Metadata
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inference.stub.ModelInfer(request, metadata=metadata)
    return raised.value


def _raw(x: np.ndarray, **tensor: object) -> pb.ModelInferRequest:
    fields: dict[str, object] = {"name": "x", "datatype": "FP32", "shape": list(x.shape), **tensor}
    return pb.ModelInferRequest(
        model_name="scorer", inputs=[Input(**fields)], raw_input_contents=[x.tobytes()]
    )


@pytest.mark.parametrize(
    ("request_", "reason", "field"),
    [
        (_raw(X, datatype="FP64"), "DATATYPE_MISMATCH", "x"),
        (_raw(X, datatype="NOPE"), "DATATYPE_MISMATCH", "x"),
        (_raw(X.reshape(2, 2, 4)), "SHAPE_MISMATCH", "x"),
        (_raw(X, shape=[2, 7]), "SHAPE_MISMATCH", "x"),
        (_raw(X, shape=[1, 8]), "BYTE_SIZE_MISMATCH", "x"),
        (_raw(X, name="features"), "UNKNOWN_INPUT", "features"),
        (pb.ModelInferRequest(model_name="scorer"), "MISSING_INPUT", "x"),
        (
            pb.ModelInferRequest(
                model_name="scorer", inputs=[Input(name="x", datatype="FP32", shape=[2, 8])]
            ),
            "MISSING_DATA",
            "x",
        ),
        (
            pb.ModelInferRequest(
                model_name="scorer",
                inputs=[
                    Input(name="x", datatype="FP32", shape=[1, 8]),
                    Input(name="y", datatype="FP32", shape=[1]),
                ],
                raw_input_contents=[X[:1].tobytes()],
            ),
            "RAW_CONTENTS_MISMATCH",
            "raw_input_contents",
        ),
        (
            _raw(X, contents=pb.InferTensorContents(fp32_contents=X.ravel().tolist())),
            "CONFLICTING_DATA",
            "x",
        ),
        (
            pb.ModelInferRequest(
                model_name="scorer",
                inputs=[
                    Input(
                        name="x",
                        datatype="FP32",
                        shape=[2, 8],
                        contents=pb.InferTensorContents(fp32_contents=[1.0]),
                    )
                ],
            ),
            "ELEMENT_COUNT_MISMATCH",
            "x",
        ),
        (
            pb.ModelInferRequest(
                model_name="scorer",
                inputs=[Input(name="x", datatype="FP32", shape=[2, 8])],
                outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="z")],
                raw_input_contents=[X.tobytes()],
            ),
            "UNKNOWN_OUTPUT",
            "z",
        ),
    ],
)
async def test_each_bad_input_is_invalid_argument_naming_the_field(
    inference: InferenceService, viewer: Metadata, request_: pb.ModelInferRequest, reason: str, field: str
) -> None:
    error = await _fails(inference, request_, viewer)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(error) == (reason, [field])


async def test_unknown_and_other_tenants_deployments_are_not_found(
    inference: InferenceService, viewer: Metadata, dev_keys: DevKeys
) -> None:
    unknown = await _fails(inference, _raw(X).__class__(model_name="nope"), viewer)
    request = _raw(X)
    other_tenant = await _fails(inference, request, auth(dev_keys, "globex", "viewer"))
    unknown_version = await _fails(inference, infer_request("scorer", {"x": X}, version="9"), viewer)

    assert (unknown.code(), error_details(unknown)[0]) == (grpc.StatusCode.NOT_FOUND, "MODEL_NOT_FOUND")
    assert (other_tenant.code(), error_details(other_tenant)[0]) == (
        grpc.StatusCode.NOT_FOUND,
        "MODEL_NOT_FOUND",
    )
    assert (unknown_version.code(), error_details(unknown_version)[0]) == (
        grpc.StatusCode.NOT_FOUND,
        "VERSION_NOT_FOUND",
    )


async def test_calls_need_a_token_and_loading_needs_an_editor(
    inference: InferenceService, viewer: Metadata
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await inference.stub.ModelInfer(infer_request("scorer", {"x": X}))
    with pytest.raises(grpc.aio.AioRpcError) as viewer_load:
        await inference.stub.RepositoryModelLoad(
            pb.RepositoryModelLoadRequest(model_name="scorer"), metadata=viewer
        )

    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert viewer_load.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_typed_contents_and_requested_outputs(
    inference: InferenceService, viewer: Metadata, scorer: bytes
) -> None:
    request = pb.ModelInferRequest(
        model_name="scorer",
        model_version="1",
        inputs=[
            Input(
                name="x",
                datatype="FP32",
                shape=[2, 8],
                contents=pb.InferTensorContents(fp32_contents=X.ravel().tolist()),
            )
        ],
        outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(name="y")],
    )

    response = await inference.stub.ModelInfer(request, metadata=viewer)

    assert [t.name for t in response.outputs] == ["y"]
    assert list(response.outputs[0].shape) == [2, 3]
    np.testing.assert_allclose(output(response, "y"), _expected(scorer, X), rtol=1e-5, atol=1e-6)


async def test_a_request_past_its_deadline_is_deadline_exceeded_and_never_runs(
    inference: InferenceService, models: Models, viewer: Metadata
) -> None:
    # A deployment that holds a lone request for 50 ms: a 5 ms deadline passes while it waits.
    await models.create_model("patient")
    version = await models.upload("patient", mlp_model(seed=3))
    await models.deploy(
        "patient",
        "patient",
        [(version, 100)],
        batching=deployment_pb2.BatchingConfig(
            max_batch_size=64, max_queue_delay_micros=50_000, hold_lone_requests=True
        ),
    )
    await models.wait_state("patient", deployment_pb2.DEPLOYMENT_STATE_READY)

    async def executions() -> int:
        request = pb.ModelStatisticsRequest(name="patient")
        stats = await inference.stub.ModelStatistics(request, metadata=viewer)
        return sum(model.execution_count for model in stats.model_stats)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inference.stub.ModelInfer(infer_request("patient", {"x": X}), metadata=viewer, timeout=0.005)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await asyncio.sleep(0.1)  # past the 50 ms its batch would have waited
    assert await executions() == 0, "no model run for a request past its deadline"


async def test_stream_answers_in_order_and_a_bad_request_does_not_end_it(
    inference: InferenceService, viewer: Metadata, scorer: bytes
) -> None:
    expected = _expected(scorer, X)

    bad = _raw(X, shape=[3, 8])
    bad.id = "b"

    async def requests() -> AsyncIterator[pb.ModelInferRequest]:
        yield infer_request("scorer", {"x": X[:1]}, request_id="a")
        yield bad
        yield infer_request("nope", {"x": X[:1]}, request_id="c")
        yield infer_request("scorer", {"x": X[1:]}, request_id="d")

    answers = [answer async for answer in inference.stub.ModelStreamInfer(requests(), metadata=viewer)]

    assert [a.infer_response.id for a in answers] == ["a", "b", "c", "d"]
    assert [bool(a.error_message) for a in answers] == [False, True, True, False]
    assert "input 'x'" in answers[1].error_message
    assert "BYTE_SIZE_MISMATCH" in answers[1].error_message
    assert "MODEL_NOT_FOUND" in answers[2].error_message
    np.testing.assert_allclose(output(answers[0].infer_response, "y"), expected[:1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(output(answers[3].infer_response, "y"), expected[1:], rtol=1e-5, atol=1e-6)


async def test_server_and_model_metadata(
    inference: InferenceService, viewer: Metadata, dev_keys: DevKeys
) -> None:
    stub = inference.stub
    live = await stub.ServerLive(pb.ServerLiveRequest(), metadata=viewer)
    server = await stub.ServerMetadata(pb.ServerMetadataRequest(), metadata=viewer)
    metadata = await stub.ModelMetadata(pb.ModelMetadataRequest(name="scorer"), metadata=viewer)
    ready = await stub.ModelReady(pb.ModelReadyRequest(name="scorer", version="1"), metadata=viewer)
    not_ready = await stub.ModelReady(pb.ModelReadyRequest(name="scorer", version="2"), metadata=viewer)
    elsewhere = await stub.ModelReady(
        pb.ModelReadyRequest(name="scorer"), metadata=auth(dev_keys, "globex", "viewer")
    )

    assert live.live
    assert server.name == "aiplat-inference"
    assert set(server.extensions) == {"model_repository", "model_configuration", "statistics"}
    assert (metadata.name, list(metadata.versions), metadata.platform) == (
        "scorer",
        ["1"],
        "onnxruntime_onnx",
    )
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [("x", "FP32", [-1, 8])]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [("y", "FP32", [-1, 3])]
    assert (ready.ready, not_ready.ready, elsewhere.ready) == (True, False, False)


async def test_a_deployment_not_loaded_here_yet_is_unavailable_to_every_model_call(
    inference: InferenceService, viewer: Metadata, dev_keys: DevKeys, tenant: str
) -> None:
    # As while this server still loads a new deployment: wanted here, no version loaded. UNAVAILABLE is
    # what the gateway retries on another server; NOT_FOUND would tell the client it does not exist.
    await inference.app.repository.remove("scorer", tenant=tenant)
    stub = inference.stub
    calls = {
        "ModelInfer": stub.ModelInfer(infer_request("scorer", {"x": X}), metadata=viewer),
        "ModelMetadata": stub.ModelMetadata(pb.ModelMetadataRequest(name="scorer"), metadata=viewer),
        "pinned ModelMetadata": stub.ModelMetadata(
            pb.ModelMetadataRequest(name="scorer", version="1"), metadata=viewer
        ),
        "ModelConfig": stub.ModelConfig(pb.ModelConfigRequest(name="scorer"), metadata=viewer),
        "ModelStatistics": stub.ModelStatistics(pb.ModelStatisticsRequest(name="scorer"), metadata=viewer),
    }
    for call, answer in calls.items():
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await answer
        assert (call, raised.value.code(), error_details(raised.value)[0]) == (
            call,
            grpc.StatusCode.UNAVAILABLE,
            "MODEL_NOT_READY",
        )
    ready = await stub.ModelReady(pb.ModelReadyRequest(name="scorer"), metadata=viewer)
    assert not ready.ready
    elsewhere = auth(dev_keys, "globex", "viewer")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ModelMetadata(pb.ModelMetadataRequest(name="scorer"), metadata=elsewhere)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_model_config_reads_like_tritons(inference: InferenceService, viewer: Metadata) -> None:
    response = await inference.stub.ModelConfig(pb.ModelConfigRequest(name="scorer"), metadata=viewer)

    config = response.config
    assert (config.name, config.platform, config.max_batch_size) == ("scorer", "onnxruntime_onnx", 64)
    assert [(i.name, i.data_type, list(i.dims)) for i in config.input] == [("x", mc.TYPE_FP32, [8])]
    assert [(o.name, o.data_type, list(o.dims)) for o in config.output] == [("y", mc.TYPE_FP32, [3])]
    assert config.dynamic_batching.max_queue_delay_microseconds == 2000
    [group] = config.instance_group
    kind = mc.ModelInstanceGroup.KIND_CPU if AUTO_DEVICE == "cpu" else mc.ModelInstanceGroup.KIND_GPU
    assert (group.kind, group.count) == (kind, 1)


async def test_statistics_count_requests_and_batches(inference: InferenceService, viewer: Metadata) -> None:
    await asyncio.gather(
        *(inference.stub.ModelInfer(infer_request("scorer", {"x": X}), metadata=viewer) for _ in range(3))
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await inference.stub.ModelInfer(_raw(X, shape=[3, 8]), metadata=viewer)

    response = await inference.stub.ModelStatistics(pb.ModelStatisticsRequest(name="scorer"), metadata=viewer)
    everything = await inference.stub.ModelStatistics(pb.ModelStatisticsRequest(), metadata=viewer)

    [stats] = response.model_stats
    assert (stats.name, stats.version) == ("scorer", "1")
    assert stats.inference_count == 6
    assert stats.inference_stats.success.count == 3
    assert stats.inference_stats.fail.count == 1
    assert stats.inference_stats.queue.count == 3
    assert stats.inference_stats.compute_infer.ns > 0
    assert sum(b.batch_size * b.compute_infer.count for b in stats.batch_stats) == 6
    assert stats.execution_count == sum(b.compute_infer.count for b in stats.batch_stats)
    assert stats.last_inference > 0
    assert list(everything.model_stats) == [stats]


async def test_index_unload_and_load(inference: InferenceService, dev_keys: DevKeys, tenant: str) -> None:
    editor = auth(dev_keys, tenant, "editor")
    stub = inference.stub

    index = await stub.RepositoryIndex(pb.RepositoryIndexRequest(), metadata=editor)
    await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="scorer"), metadata=editor)
    unloaded = await stub.RepositoryIndex(pb.RepositoryIndexRequest(), metadata=editor)
    ready_only = await stub.RepositoryIndex(pb.RepositoryIndexRequest(ready=True), metadata=editor)
    gone = await _fails(inference, infer_request("scorer", {"x": X}), editor)
    await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="scorer"), metadata=editor)
    answer = await stub.ModelInfer(infer_request("scorer", {"x": X}), metadata=editor)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="nope"), metadata=editor)

    assert [(m.name, m.version, m.state) for m in index.models] == [("scorer", "1", "READY")]
    assert [(m.name, m.state) for m in unloaded.models] == [("scorer", "UNAVAILABLE")]
    assert list(ready_only.models) == []
    assert gone.code() == grpc.StatusCode.NOT_FOUND
    assert answer.model_version == "1"
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_two_tenants_on_one_server_see_only_their_own_deployments(
    inference: InferenceService,
    models_service: ModelsService,
    viewer: Metadata,
    dev_keys: DevKeys,
    tenant: str,
) -> None:
    # globex deploys a model under the same name, and one that only it has.
    theirs = mlp_model(seed=4, features=5)
    async with grpc.aio.insecure_channel(models_service.address) as channel:
        globex = Models(channel, auth(dev_keys, "globex", "editor"))
        await globex.create_model("scorer")
        version = await globex.upload("scorer", theirs)
        for name in ("scorer", "private"):
            await globex.deploy(name, "scorer", [(version, 100)])
            await globex.wait_state(name, deployment_pb2.DEPLOYMENT_STATE_READY)
    stub = inference.stub
    their_viewer = auth(dev_keys, "globex", "viewer")
    x5 = np.ones((1, 5), np.float32)
    answer = await stub.ModelInfer(infer_request("scorer", {"x": x5}), metadata=their_viewer)
    await stub.ModelInfer(infer_request("scorer", {"x": X}), metadata=viewer)

    np.testing.assert_allclose(output(answer, "y"), _expected(theirs, x5), rtol=1e-5)
    ours = await stub.ModelMetadata(pb.ModelMetadataRequest(name="scorer"), metadata=viewer)
    their_config = await stub.ModelConfig(pb.ModelConfigRequest(name="scorer"), metadata=their_viewer)
    assert [list(t.shape) for t in ours.inputs] == [[-1, 8]]
    assert [list(i.dims) for i in their_config.config.input] == [[5]]
    for tenant_metadata, expected_counts in (
        (viewer, {"scorer": 2}),
        (their_viewer, {"scorer": 1, "private": 0}),
    ):
        stats = await stub.ModelStatistics(pb.ModelStatisticsRequest(), metadata=tenant_metadata)
        assert {s.name: s.inference_count for s in stats.model_stats} == expected_counts
    our_index = await stub.RepositoryIndex(
        pb.RepositoryIndexRequest(), metadata=auth(dev_keys, tenant, "editor")
    )
    their_index = await stub.RepositoryIndex(pb.RepositoryIndexRequest(), metadata=their_viewer)
    assert sorted(m.name for m in our_index.models) == ["scorer"]
    assert sorted(m.name for m in their_index.models) == ["private", "scorer"]
    calls = {
        "ModelReady": lambda: stub.ModelReady(pb.ModelReadyRequest(name="private"), metadata=viewer),
        "ModelMetadata": lambda: stub.ModelMetadata(pb.ModelMetadataRequest(name="private"), metadata=viewer),
        "ModelConfig": lambda: stub.ModelConfig(pb.ModelConfigRequest(name="private"), metadata=viewer),
        "ModelStatistics": lambda: stub.ModelStatistics(
            pb.ModelStatisticsRequest(name="private"), metadata=viewer
        ),
        "RepositoryModelUnload": lambda: stub.RepositoryModelUnload(
            pb.RepositoryModelUnloadRequest(model_name="private"), metadata=auth(dev_keys, tenant, "editor")
        ),
    }
    for method, call in calls.items():
        if method == "ModelReady":
            assert not (await call()).ready
            continue
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call()
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND, method
    assert (await stub.ModelReady(pb.ModelReadyRequest(name="private"), metadata=their_viewer)).ready


async def test_a_call_without_a_model_name_is_invalid_naming_the_field(
    inference: InferenceService, viewer: Metadata, dev_keys: DevKeys, tenant: str
) -> None:
    stub = inference.stub
    calls = {
        "model_name": stub.ModelInfer(pb.ModelInferRequest(), metadata=viewer),
        "name": stub.ModelMetadata(pb.ModelMetadataRequest(), metadata=viewer),
    }
    for field, answer in calls.items():
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await answer
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_details(raised.value) == ("MODEL_NAME_REQUIRED", [field])
    editor = auth(dev_keys, tenant, "editor")
    for field, repository_call in {
        "load": stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(), metadata=editor),
        "unload": stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(), metadata=editor),
    }.items():
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await repository_call
        assert (field, raised.value.code()) == (field, grpc.StatusCode.INVALID_ARGUMENT)
        assert error_details(raised.value) == ("MODEL_NAME_REQUIRED", ["model_name"])
    for other in (
        stub.ModelReady(pb.ModelReadyRequest(), metadata=viewer),
        stub.ModelConfig(pb.ModelConfigRequest(), metadata=viewer),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await other
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
