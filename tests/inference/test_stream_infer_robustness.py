"""ModelStreamInfer under stress: bad requests mid-stream, many in flight, half-close, cancel, deadline,
unload, a full queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc
import numpy as np
import onnxruntime as ort
import pytest

from aiplat.models.v1 import deployment_pb2
from inference import grpc_service_pb2 as pb
from services.inference.version import LoadedVersion
from services.runtime.devkeys import DevKeys
from tests.grpc_helpers import Metadata

from .calls import Models, auth, eventually, infer_request, output
from .platform import InferenceService, ModelsService
from .support import mlp_model

Input = pb.ModelInferRequest.InferInputTensor
X = np.arange(16, dtype=np.float32).reshape(2, 8) / 10


def _expected(data: bytes, x: np.ndarray) -> np.ndarray:
    result: np.ndarray = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    return result


def _row(i: int) -> np.ndarray:
    return np.full((1, 8), i / 100, dtype=np.float32)


async def _deploy_slow(models: Models, name: str, *, max_queue_size: int = 0) -> bytes:
    """A deployment that holds every request in its queue for 1 s unless 64 arrive together."""
    data = mlp_model(seed=3)
    await models.create_model(name)
    version = await models.upload(name, data)
    await models.deploy(
        name,
        name,
        [(version, 100)],
        batching=deployment_pb2.BatchingConfig(
            max_batch_size=64,
            max_queue_delay_micros=1_000_000,
            hold_lone_requests=True,
            max_queue_size=max_queue_size,
        ),
        execution=deployment_pb2.ExecutionConfig(intra_op_threads=1, inter_op_threads=1),
    )
    await models.wait_state(name, deployment_pb2.DEPLOYMENT_STATE_READY)
    return data


async def _until_queued(version: LoadedVersion, count: int) -> None:
    async def queued() -> bool:
        return version.queued == count

    await eventually(queued, what=f"{count} requests queued")


def _version(inference: InferenceService, name: str, tenant: str) -> LoadedVersion:
    return inference.app.repository.route(name, tenant=tenant)


@pytest.mark.usefixtures("scorer")
async def test_every_kind_of_bad_request_mid_stream_is_answered_and_the_stream_goes_on(
    inference: InferenceService,
    models_service: ModelsService,
    viewer: Metadata,
    dev_keys: DevKeys,
    scorer: bytes,
) -> None:
    # globex has a deployment of its own: on our stream it does not exist.
    async with grpc.aio.insecure_channel(models_service.address) as channel:
        globex = Models(channel, auth(dev_keys, "globex", "editor"))
        await globex.create_model("theirs")
        version = await globex.upload("theirs", mlp_model(seed=4))
        await globex.deploy("theirs", "theirs", [(version, 100)])
        await globex.wait_state("theirs", deployment_pb2.DEPLOYMENT_STATE_READY)

    def bad(request_id: str, **tensor: object) -> pb.ModelInferRequest:
        fields: dict[str, object] = {"name": "x", "datatype": "FP32", "shape": [1, 8], **tensor}
        return pb.ModelInferRequest(
            model_name="scorer", id=request_id, inputs=[Input(**fields)], raw_input_contents=[X[:1].tobytes()]
        )

    requests = [
        infer_request("scorer", {"x": _row(0)}, request_id="good-0"),
        bad("shape", shape=[1, 7]),
        infer_request("scorer", {"x": _row(1)}, request_id="good-1"),
        bad("datatype", datatype="INT32"),
        pb.ModelInferRequest(model_name="scorer", id="missing"),
        infer_request("nope", {"x": _row(2)}, request_id="unknown"),
        infer_request("theirs", {"x": _row(2)}, request_id="other-tenant"),
        infer_request("scorer", {"x": _row(2)}, version="7", request_id="version"),
        pb.ModelInferRequest(id="no-name"),
        infer_request("scorer", {"x": _row(3)}, request_id="good-3"),
    ]

    async def stream() -> AsyncIterator[pb.ModelInferRequest]:
        for request in requests:
            yield request

    answers = [a async for a in inference.stub.ModelStreamInfer(stream(), metadata=viewer)]

    assert [a.infer_response.id for a in answers] == [r.id for r in requests]
    reasons = {a.infer_response.id: a.error_message.rsplit("[", 1)[-1].rstrip("]") for a in answers}
    assert reasons == {
        "good-0": "",
        "shape": "SHAPE_MISMATCH",
        "good-1": "",
        "datatype": "DATATYPE_MISMATCH",
        "missing": "MISSING_INPUT",
        "unknown": "MODEL_NOT_FOUND",
        "other-tenant": "MODEL_NOT_FOUND",
        "version": "VERSION_NOT_FOUND",
        "no-name": "MODEL_NAME_REQUIRED",
        "good-3": "",
    }
    for answer, i in ((answers[0], 0), (answers[2], 1), (answers[9], 3)):
        np.testing.assert_allclose(
            output(answer.infer_response, "y"), _expected(scorer, _row(i)), rtol=1e-5, atol=1e-6
        )


@pytest.mark.usefixtures("scorer")
async def test_many_requests_in_flight_are_all_answered_in_order(
    inference: InferenceService, viewer: Metadata, scorer: bytes
) -> None:
    count = 500
    rows = np.random.default_rng(0).random((count, 8), dtype=np.float32)

    async def stream() -> AsyncIterator[pb.ModelInferRequest]:
        for i in range(count):
            yield infer_request("scorer", {"x": rows[i : i + 1]}, request_id=str(i))

    answers = [a async for a in inference.stub.ModelStreamInfer(stream(), metadata=viewer)]

    assert [a.infer_response.id for a in answers] == [str(i) for i in range(count)]
    assert not [a.error_message for a in answers if a.error_message]
    got = np.concatenate([output(a.infer_response, "y") for a in answers])
    np.testing.assert_allclose(got, _expected(scorer, rows), rtol=1e-5, atol=1e-6)


async def test_half_close_answers_what_is_still_queued(
    inference: InferenceService, models: Models, viewer: Metadata, tenant: str
) -> None:
    data = await _deploy_slow(models, "slow")
    version = _version(inference, "slow", tenant)
    sent = asyncio.Event()

    async def stream() -> AsyncIterator[pb.ModelInferRequest]:
        for i in range(10):
            yield infer_request("slow", {"x": _row(i)}, request_id=str(i))
        sent.set()

    call = inference.stub.ModelStreamInfer(stream(), metadata=viewer)
    collected = asyncio.ensure_future(_collect(call))
    await sent.wait()

    await _until_queued(version, 10)
    assert not collected.done()
    answers = await asyncio.wait_for(collected, 10)  # once their 1 s delay is over

    assert [a.infer_response.id for a in answers] == [str(i) for i in range(10)]
    got = np.concatenate([output(a.infer_response, "y") for a in answers])
    np.testing.assert_allclose(got, _expected(data, np.concatenate([_row(i) for i in range(10)])), rtol=1e-5)


async def _collect(call: AsyncIterator[pb.ModelStreamInferResponse]) -> list[pb.ModelStreamInferResponse]:
    return [a async for a in call]


async def test_cancelling_the_stream_leaves_nothing_queued_or_running(
    inference: InferenceService,
    models: Models,
    viewer: Metadata,
    tenant: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _deploy_slow(models, "slow")
    version = _version(inference, "slow", tenant)

    async def stream() -> AsyncIterator[pb.ModelInferRequest]:
        for i in range(10):
            yield infer_request("slow", {"x": _row(i)}, request_id=str(i))
        await asyncio.Event().wait()  # the client keeps its side open

    call = inference.stub.ModelStreamInfer(stream(), metadata=viewer)

    async def drained() -> bool:
        return version.queued == 0 and version.in_flight == 0 and not _stream_tasks()

    with caplog.at_level(logging.WARNING):
        await _until_queued(version, 10)
        call.cancel()
        # Well within the 1 s the batcher would hold them: they leave because their caller did.
        await eventually(drained, 0.5, "the queue, in-flight count and stream tasks to drop to 0")
    assert version.stats.execution_count == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def _stream_tasks() -> list[asyncio.Task[object]]:
    return [
        task
        for task in asyncio.all_tasks()
        if "InferenceServicer" in getattr(task.get_coro(), "__qualname__", "")
    ]


async def test_a_stream_deadline_ends_it_with_deadline_exceeded(
    inference: InferenceService, models: Models, viewer: Metadata, tenant: str
) -> None:
    await _deploy_slow(models, "slow")
    version = _version(inference, "slow", tenant)

    async def stream() -> AsyncIterator[pb.ModelInferRequest]:
        for i in range(3):
            yield infer_request("slow", {"x": _row(i)}, request_id=str(i))
        await asyncio.Event().wait()

    call = inference.stub.ModelStreamInfer(stream(), metadata=viewer, timeout=0.5)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _collect(call)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    async def drained() -> bool:
        return version.queued == 0 and version.in_flight == 0

    await eventually(drained, what="the queue to drain")


async def test_a_full_queue_fails_each_request_with_resource_exhausted_and_the_stream_goes_on(
    inference: InferenceService, models: Models, viewer: Metadata, tenant: str
) -> None:
    await _deploy_slow(models, "small", max_queue_size=4)
    version = _version(inference, "small", tenant)
    count = 20

    async def stream() -> AsyncIterator[pb.ModelInferRequest]:
        for i in range(count):
            yield infer_request("small", {"x": _row(i)}, request_id=str(i))

        async def enough() -> bool:
            return version.queued == 4 and version.stats.inference.fail.count == count - 4

        await eventually(enough, what="4 queued, the rest shed")

    answers = await asyncio.wait_for(_collect(inference.stub.ModelStreamInfer(stream(), metadata=viewer)), 10)

    assert [a.infer_response.id for a in answers] == [str(i) for i in range(count)]
    assert [a.error_message.endswith("[QUEUE_FULL]") for a in answers] == [False] * 4 + [True] * 16


async def test_unloading_mid_stream_answers_what_was_accepted_and_later_requests_are_errors(
    inference: InferenceService, models: Models, viewer: Metadata, tenant: str
) -> None:
    data = await _deploy_slow(models, "slow")
    version = _version(inference, "slow", tenant)
    unloaded = asyncio.Event()

    async def stream() -> AsyncIterator[pb.ModelInferRequest]:
        for i in range(3):
            yield infer_request("slow", {"x": _row(i)}, request_id=str(i))
        await unloaded.wait()
        yield infer_request("slow", {"x": _row(3)}, request_id="after")

    call = inference.stub.ModelStreamInfer(stream(), metadata=viewer)
    collected = asyncio.ensure_future(_collect(call))

    await _until_queued(version, 3)
    await inference.app.repository.remove("slow", tenant=tenant)  # drains the 3, after their 1 s delay
    unloaded.set()
    answers = await asyncio.wait_for(collected, 10)

    assert [a.infer_response.id for a in answers] == ["0", "1", "2", "after"]
    assert [bool(a.error_message) for a in answers] == [False, False, False, True]
    got = np.concatenate([output(a.infer_response, "y") for a in answers[:3]])
    np.testing.assert_allclose(got, _expected(data, np.concatenate([_row(i) for i in range(3)])), rtol=1e-5)


@pytest.mark.usefixtures("scorer")
async def test_an_error_echoing_a_huge_name_is_clipped_and_does_not_end_the_stream(
    inference: InferenceService, viewer: Metadata, scorer: bytes
) -> None:
    # Unclipped, the answer (message and echoed name, 5 MB) exceeds what the client accepts (4 MiB),
    # and the client's side of the whole stream ends with RESOURCE_EXHAUSTED.
    name = "n" * 2_500_000

    async def stream() -> AsyncIterator[pb.ModelInferRequest]:
        yield infer_request(name, {"x": _row(0)}, request_id="huge")
        yield infer_request("scorer", {"x": _row(1)}, request_id="after")

    answers = [a async for a in inference.stub.ModelStreamInfer(stream(), metadata=viewer)]

    assert [a.infer_response.id for a in answers] == ["huge", "after"]
    assert answers[0].error_message.startswith("model 'nnn")
    assert answers[0].error_message.endswith("\u2026 [MODEL_NOT_FOUND]")
    assert len(answers[0].error_message) <= 2048
    assert len(answers[0].infer_response.model_name) <= 256
    assert not answers[1].error_message
    np.testing.assert_allclose(
        output(answers[1].infer_response, "y"), _expected(scorer, _row(1)), rtol=1e-5, atol=1e-6
    )


@pytest.mark.usefixtures("scorer")
async def test_a_message_that_does_not_parse_is_answered_in_order_and_the_stream_goes_on(
    inference: InferenceService, viewer: Metadata, scorer: bytes
) -> None:
    # Sent as bytes, so that the client can send what no stub would: the server does the parsing.
    call = inference.channel.stream_stream(
        "/inference.GRPCInferenceService/ModelStreamInfer",
        request_serializer=None,
        response_deserializer=pb.ModelStreamInferResponse.FromString,
    )
    messages = [
        infer_request("scorer", {"x": _row(0)}, request_id="before").SerializeToString(),
        b"\xff\xff\xff\xff",  # a field number of 0 with an invalid wire type: not a message
        b"\x0a\x02\xc3\x28",  # model_name holding invalid UTF-8
        infer_request("scorer", {"x": _row(1)}, request_id="after").SerializeToString(),
    ]

    async def stream() -> AsyncIterator[bytes]:
        for message in messages:
            yield message

    answers = [a async for a in call(stream(), metadata=viewer)]

    assert [a.infer_response.id for a in answers] == ["before", "", "", "after"]
    assert [a.error_message.rsplit("[", 1)[-1] for a in answers] == [
        "",
        "MALFORMED_REQUEST]",
        "MALFORMED_REQUEST]",
        "",
    ]
    assert all(a.error_message.startswith("the request message does not parse") for a in answers[1:3])
    for answer, i in ((answers[0], 0), (answers[3], 1)):
        np.testing.assert_allclose(
            output(answer.infer_response, "y"), _expected(scorer, _row(i)), rtol=1e-5, atol=1e-6
        )
