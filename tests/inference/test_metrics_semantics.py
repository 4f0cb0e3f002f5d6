"""Triton's metric semantics on real traffic: what each request adds to each counter, and that the
``ModelStatistics`` RPC, the Prometheus series and the workers' merged endpoint tell the same story."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from aiplat.models.v1 import deployment_pb2
from inference import grpc_service_pb2 as pb
from services.inference.worker_metrics import WorkerMetrics
from services.runtime.devkeys import DevKeys
from tests.grpc_helpers import Metadata

from .calls import Models, auth, infer_request
from .platform import InferenceService, ModelsService
from .support import AUTO_DEVICE, AUTO_PROVIDERS, fragile_model, mlp_model

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

_COUNTERS = (
    "nv_inference_request_success",
    "nv_inference_request_failure",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_inference_request_duration_us",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_input_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us",
)


def _labels(tenant: str, version: str = "1", model: str = "scorer") -> tuple[tuple[str, str], ...]:
    return (("model", model), ("tenant", tenant), ("version", version))


def _series(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (sample, labels), value in samples.items() if sample == name}


_REASONS = ("REJECTED", "CANCELED", "BACKEND", "OTHER")
"""Triton's reasons of a failed request, each a series of ``nv_inference_request_failure``."""


def _failures(samples: Samples, tenant: str, version: str = "1", model: str = "scorer") -> dict[str, float]:
    """The version's ``nv_inference_request_failure`` series, by ``reason``."""
    wanted = dict(_labels(tenant, version, model))
    found: dict[str, float] = {}
    for labels, value in _series(samples, "nv_inference_request_failure").items():
        named = dict(labels)
        reason = named.pop("reason")
        if named == wanted:
            found[reason] = value
    return found


def _failed(**counts: float) -> dict[str, float]:
    """Every reason's series, 0 but for ``counts``."""
    return {reason: counts.get(reason, 0) for reason in _REASONS}


async def _statistics(
    inference: InferenceService, viewer: Metadata, version: str = "1"
) -> pb.ModelStatistics:
    reply = await inference.stub.ModelStatistics(
        pb.ModelStatisticsRequest(name="scorer", version=version), metadata=viewer
    )
    [stats] = reply.model_stats
    return stats


def _x(rows: int, columns: int = 8) -> dict[str, np.ndarray]:
    return {"x": np.ones((rows, columns), np.float32)}


@pytest.mark.usefixtures("scorer")
async def test_a_request_of_batch_four_is_one_request_four_inferences_and_one_execution(
    inference: InferenceService, viewer: Metadata, tenant: str
) -> None:
    await inference.stub.ModelInfer(infer_request("scorer", _x(4)), metadata=viewer)

    samples = await asyncio.to_thread(inference.scrape)
    stats = await _statistics(inference, viewer)

    labels = _labels(tenant)
    assert samples[("nv_inference_request_success", labels)] == 1
    assert _failures(samples, tenant) == _failed(), "every reason's series, at 0, as Triton exposes them"
    assert samples[("nv_inference_count", labels)] == 4
    assert samples[("nv_inference_exec_count", labels)] == 1
    assert samples[("aiplat_inference_batch_size_count", labels)] == 1
    assert samples[("aiplat_inference_batch_size_sum", labels)] == 4
    assert samples[("aiplat_inference_batch_size_bucket", (("le", "2.0"), *labels))] == 0
    assert samples[("aiplat_inference_batch_size_bucket", (("le", "4.0"), *labels))] == 1
    assert (stats.name, stats.version) == ("scorer", "1")
    assert (stats.inference_count, stats.execution_count) == (4, 1)
    assert stats.last_inference > 0
    infer = stats.inference_stats
    assert (infer.success.count, infer.fail.count, infer.queue.count) == (1, 0, 1)
    assert (infer.compute_input.count, infer.compute_infer.count, infer.compute_output.count) == (1, 1, 1)
    assert [(b.batch_size, b.compute_infer.count) for b in stats.batch_stats] == [(4, 1)]
    # The Prometheus times are the statistics' nanoseconds in whole microseconds.
    assert samples[("nv_inference_request_duration_us", labels)] == infer.success.ns // 1000
    assert samples[("nv_inference_queue_duration_us", labels)] == infer.queue.ns // 1000
    assert samples[("nv_inference_compute_input_duration_us", labels)] == infer.compute_input.ns // 1000
    assert samples[("nv_inference_compute_infer_duration_us", labels)] == infer.compute_infer.ns // 1000
    assert samples[("nv_inference_compute_output_duration_us", labels)] == infer.compute_output.ns // 1000


@pytest.mark.usefixtures("scorer")
async def test_concurrent_requests_batched_together_count_fewer_executions_than_requests(
    inference: InferenceService, viewer: Metadata, tenant: str
) -> None:
    sizes = [1, 2, 3] * 8
    await asyncio.gather(
        *(inference.stub.ModelInfer(infer_request("scorer", _x(n)), metadata=viewer) for n in sizes)
    )

    samples = await asyncio.to_thread(inference.scrape)
    stats = await _statistics(inference, viewer)

    labels = _labels(tenant)
    executions = samples[("nv_inference_exec_count", labels)]
    assert samples[("nv_inference_request_success", labels)] == len(sizes)
    assert samples[("nv_inference_count", labels)] == sum(sizes)
    assert 0 < executions < len(sizes)
    assert samples[("aiplat_inference_batch_size_count", labels)] == executions
    assert samples[("aiplat_inference_batch_size_sum", labels)] == sum(sizes)
    assert stats.execution_count == executions
    assert stats.inference_count == sum(sizes)
    assert sum(b.compute_infer.count for b in stats.batch_stats) == executions
    assert sum(b.batch_size * b.compute_infer.count for b in stats.batch_stats) == sum(sizes)
    # Per-request statistics count every request, each with its batch's compute time.
    assert stats.inference_stats.success.count == len(sizes)
    assert stats.inference_stats.compute_infer.count == len(sizes)
    assert stats.inference_stats.queue.count == len(sizes)


@pytest.mark.usefixtures("scorer")
async def test_a_bad_request_counts_as_a_failure_of_its_version_and_nothing_else(
    inference: InferenceService, viewer: Metadata, tenant: str
) -> None:
    await inference.stub.ModelInfer(infer_request("scorer", _x(1)), metadata=viewer)
    for bad in (_x(2, columns=5), {"nope": np.ones((1, 8), np.float32)}):
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await inference.stub.ModelInfer(infer_request("scorer", bad), metadata=viewer)
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # Pinned to the version: the same version's series.
    with pytest.raises(grpc.aio.AioRpcError):
        await inference.stub.ModelInfer(infer_request("scorer", _x(2, 5), version="1"), metadata=viewer)
    # A version that does not exist fails before any version: no series of its own.
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await inference.stub.ModelInfer(infer_request("scorer", _x(1), version="9"), metadata=viewer)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND

    samples = await asyncio.to_thread(inference.scrape)
    stats = await _statistics(inference, viewer)

    assert _failures(samples, tenant) == _failed(OTHER=3)
    assert {dict(labels)["version"] for labels in _series(samples, "nv_inference_request_failure")} == {"1"}
    assert _series(samples, "nv_inference_request_success") == {_labels(tenant): 1}
    assert samples[("nv_inference_count", _labels(tenant))] == 1
    assert samples[("nv_inference_exec_count", _labels(tenant))] == 1
    assert stats.inference_stats.fail.count == 3
    assert stats.inference_stats.fail.ns > 0
    assert stats.inference_stats.success.count == 1
    # Triton's queue and compute statistics are those of successful requests only.
    assert stats.inference_stats.queue.count == 1
    method = (("method", "ModelInfer"), ("service", "inference.GRPCInferenceService"))
    assert samples[("aiplat_grpc_server_handled_total", (("code", "INVALID_ARGUMENT"), *method))] == 3
    assert samples[("aiplat_grpc_server_handled_total", (("code", "NOT_FOUND"), *method))] == 1


async def test_requests_shed_from_a_full_queue_count_as_failures(
    models: Models, inference: InferenceService, viewer: Metadata, tenant: str
) -> None:
    await models.create_model("scorer")
    version = await models.upload("scorer", mlp_model(seed=3))
    # One queued request fills the queue; it waits out the delay, so the next arrive to a full queue.
    batching = deployment_pb2.BatchingConfig(
        max_batch_size=8, max_queue_delay_micros=300_000, max_queue_size=1, hold_lone_requests=True
    )
    await models.deploy("scorer", "scorer", [(version, 100)], batching=batching)
    await models.wait_state("scorer", deployment_pb2.DEPLOYMENT_STATE_READY)

    first = asyncio.ensure_future(inference.stub.ModelInfer(infer_request("scorer", _x(1)), metadata=viewer))

    async def queued() -> bool:
        return inference.app.repository.route("scorer", "1", tenant=tenant).queued == 1

    deadline = asyncio.get_running_loop().time() + 5
    while not await queued():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.001)
    shed = await asyncio.gather(
        *(inference.stub.ModelInfer(infer_request("scorer", _x(1)), metadata=viewer) for _ in range(3)),
        return_exceptions=True,
    )
    await first

    assert all(
        isinstance(o, grpc.aio.AioRpcError) and o.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for o in shed
    )
    samples = await asyncio.to_thread(inference.scrape)
    stats = await _statistics(inference, viewer)
    assert _failures(samples, tenant) == _failed(REJECTED=3)
    assert samples[("nv_inference_request_success", _labels(tenant))] == 1
    assert samples[("nv_inference_exec_count", _labels(tenant))] == 1
    assert stats.inference_stats.fail.count == 3


async def _deploy_holding(models: Models, name: str = "scorer", *, delay_us: int = 300_000) -> None:
    """A deployment of ``mlp_model(3)`` that holds a lone request in its queue for ``delay_us``."""
    await models.create_model(name)
    version = await models.upload(name, mlp_model(seed=3))
    batching = deployment_pb2.BatchingConfig(
        max_batch_size=8, max_queue_delay_micros=delay_us, hold_lone_requests=True
    )
    await models.deploy(name, name, [(version, 100)], batching=batching)
    await models.wait_state(name, deployment_pb2.DEPLOYMENT_STATE_READY)


async def _until(check: Callable[[], bool], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + 5
    while not check():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.001)


async def test_a_request_cancelled_while_queued_counts_once_as_a_canceled_failure(
    models: Models, inference: InferenceService, viewer: Metadata, tenant: str
) -> None:
    await _deploy_holding(models)
    version = inference.app.repository.route("scorer", "1", tenant=tenant)
    call = inference.stub.ModelInfer(infer_request("scorer", _x(1)), metadata=viewer)
    await _until(lambda: version.queued == 1, "the request to queue")

    call.cancel()
    await _until(lambda: version.queued == 0 and version.in_flight == 0, "the request to leave the queue")
    await asyncio.sleep(0.35)  # past the delay its batch would have waited

    samples = await asyncio.to_thread(inference.scrape)
    stats = await _statistics(inference, viewer)
    assert _failures(samples, tenant) == _failed(CANCELED=1)
    assert samples[("nv_inference_request_success", _labels(tenant))] == 0
    assert samples[("nv_inference_exec_count", _labels(tenant))] == 0
    assert (stats.inference_stats.fail.count, stats.inference_stats.success.count) == (1, 0)
    assert stats.inference_stats.fail.ns > 0


async def test_a_request_whose_deadline_passes_in_the_queue_counts_once_as_rejected(
    models: Models, inference: InferenceService, viewer: Metadata, tenant: str
) -> None:
    # The call's deadline ends it while the request waits: the server sees the call cancelled, and the
    # request counts as expired (REJECTED), as when the batcher is first to find its deadline passed.
    await _deploy_holding(models, delay_us=100_000)
    version = inference.app.repository.route("scorer", "1", tenant=tenant)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inference.stub.ModelInfer(infer_request("scorer", _x(1)), metadata=viewer, timeout=0.02)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await _until(lambda: version.queued == 0 and version.in_flight == 0, "the request to leave the queue")
    await asyncio.sleep(0.15)  # past the delay its batch would have waited

    samples = await asyncio.to_thread(inference.scrape)
    stats = await _statistics(inference, viewer)
    assert _failures(samples, tenant) == _failed(REJECTED=1)
    assert samples[("nv_inference_exec_count", _labels(tenant))] == 0
    assert (stats.inference_stats.fail.count, stats.inference_stats.success.count) == (1, 0)


async def test_a_model_that_fails_to_run_counts_a_backend_failure(
    models: Models, inference: InferenceService, viewer: Metadata, tenant: str
) -> None:
    await models.create_model("fragile")
    version = await models.upload("fragile", fragile_model())
    await models.deploy("fragile", "fragile", [(version, 100)])
    await models.wait_state("fragile", deployment_pb2.DEPLOYMENT_STATE_READY)

    await inference.stub.ModelInfer(infer_request("fragile", {"x": np.zeros((1, 2))}), metadata=viewer)
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await inference.stub.ModelInfer(infer_request("fragile", {"x": np.ones((1, 2))}), metadata=viewer)
    assert failed.value.code() == grpc.StatusCode.INTERNAL

    samples = await asyncio.to_thread(inference.scrape)
    reply = await inference.stub.ModelStatistics(pb.ModelStatisticsRequest(name="fragile"), metadata=viewer)
    [stats] = reply.model_stats
    assert _failures(samples, tenant, model="fragile") == _failed(BACKEND=1)
    assert (stats.inference_stats.fail.count, stats.inference_stats.success.count) == (1, 1)


@pytest.mark.usefixtures("scorer")
async def test_an_unloaded_version_leaves_no_series_and_starts_from_zero_when_loaded_again(
    inference: InferenceService, viewer: Metadata, tenant: str, dev_keys: DevKeys
) -> None:
    editor = auth(dev_keys, tenant, "editor")
    for _ in range(2):
        await inference.stub.ModelInfer(infer_request("scorer", _x(3)), metadata=viewer)

    await inference.stub.RepositoryModelUnload(
        pb.RepositoryModelUnloadRequest(model_name="scorer"), metadata=editor
    )
    unloaded = await asyncio.to_thread(inference.scrape)

    def about_scorer(samples: Samples) -> set[str]:
        return {name for name, labels in samples if ("model", "scorer") in labels}

    assert about_scorer(unloaded) == set(), "an unloaded version's series are gone, as in Triton"

    await inference.stub.RepositoryModelLoad(
        pb.RepositoryModelLoadRequest(model_name="scorer"), metadata=editor
    )
    await inference.stub.ModelInfer(infer_request("scorer", _x(2)), metadata=viewer)
    samples = await asyncio.to_thread(inference.scrape)
    stats = await _statistics(inference, viewer)

    labels = _labels(tenant)
    assert samples[("nv_inference_request_success", labels)] == 1
    assert samples[("nv_inference_count", labels)] == 2
    assert samples[("nv_inference_exec_count", labels)] == 1
    # The histogram restarts with the counters: it counts the same executions.
    assert samples[("aiplat_inference_batch_size_count", labels)] == 1
    assert samples[("aiplat_inference_batch_size_sum", labels)] == 2
    assert (stats.inference_count, stats.execution_count) == (2, 1)


@pytest.fixture
async def second_inference(
    tmp_path: Path, dev_keys: DevKeys, models_service: ModelsService, tenant: str
) -> AsyncIterator[InferenceService]:
    """A second inference server following the same model management (as a second worker does)."""
    directory = tmp_path / "second"
    directory.mkdir()
    service = await InferenceService.start(directory, dev_keys, models_service, tenant)
    try:
        yield service
    finally:
        await service.close()


def _merged(*services: InferenceService) -> Samples:
    registry = CollectorRegistry()
    registry.register(
        WorkerMetrics(lambda: [f"http://127.0.0.1:{s.handle.metrics_port}/metrics" for s in services])
    )
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.usefixtures("scorer")
async def test_merged_worker_metrics_sum_to_the_traffic_each_worker_served(
    models: Models,
    inference: InferenceService,
    second_inference: InferenceService,
    viewer: Metadata,
    tenant: str,
) -> None:
    await second_inference.serving(tenant, "scorer", 1)
    for _ in range(2):
        await inference.stub.ModelInfer(infer_request("scorer", _x(4)), metadata=viewer)
    for n in (1, 2, 3):
        await second_inference.stub.ModelInfer(infer_request("scorer", _x(n)), metadata=viewer)
    with pytest.raises(grpc.aio.AioRpcError):
        await second_inference.stub.ModelInfer(infer_request("scorer", _x(1, 5)), metadata=viewer)

    merged = await asyncio.to_thread(_merged, inference, second_inference)
    own = [await asyncio.to_thread(s.scrape) for s in (inference, second_inference)]

    labels = _labels(tenant)

    def total(name: str, samples: Samples = merged) -> float:
        """The version's samples of ``name``, summed over every other label (worker, reason)."""
        return sum(v for (n, found), v in samples.items() if n == name and set(labels) <= set(found))

    for name in _COUNTERS:
        assert total(name) == total(name, own[0]) + total(name, own[1]), name
    assert total("nv_inference_request_success") == 5
    failed = [
        merged[("nv_inference_request_failure", tuple(sorted((*labels, ("reason", r), ("worker", "1")))))]
        for r in _REASONS
    ]
    assert failed == [0, 0, 0, 1], "the bad request is OTHER, on the second worker"
    assert sum(_failures(own[0], tenant).values()) == 0
    assert total("nv_inference_count") == 14
    assert total("nv_inference_exec_count") == 5
    assert total("aiplat_inference_batch_size_count") == 5
    assert total("aiplat_inference_batch_size_sum") == 14
    bucket = tuple(sorted((*labels, ("le", "2.0"), ("worker", "1"))))
    assert merged[("aiplat_inference_batch_size_bucket", bucket)] == 2
    method = (("code", "OK"), ("method", "ModelInfer"), ("service", "inference.GRPCInferenceService"))
    handled = [merged[("aiplat_grpc_server_handled_total", (*method, ("worker", str(i))))] for i in range(2)]
    assert sum(handled) == 5
    providers = ",".join(AUTO_PROVIDERS)
    info = tuple(sorted((*labels, ("device", AUTO_DEVICE), ("providers", providers), ("worker", "0"))))
    assert merged[("aiplat_inference_version_info", info)] == 1


@pytest.mark.usefixtures("scorer")
async def test_streamed_requests_count_as_requests_each(
    inference: InferenceService, viewer: Metadata, tenant: str
) -> None:
    requests = [infer_request("scorer", _x(n)) for n in (1, 2, 3)]
    requests.insert(1, infer_request("scorer", _x(1, 5)))

    async def send() -> AsyncIterator[pb.ModelInferRequest]:
        for request in requests:
            yield request

    answers = [a async for a in inference.stub.ModelStreamInfer(send(), metadata=viewer)]

    assert [bool(a.error_message) for a in answers] == [False, True, False, False]
    samples = await asyncio.to_thread(inference.scrape)
    stats = await _statistics(inference, viewer)
    labels = _labels(tenant)
    assert samples[("nv_inference_request_success", labels)] == 3
    assert _failures(samples, tenant) == _failed(OTHER=1)
    assert samples[("nv_inference_count", labels)] == 6
    assert samples[("nv_inference_exec_count", labels)] == stats.execution_count
    assert (stats.inference_stats.success.count, stats.inference_stats.fail.count) == (3, 1)


@pytest.mark.usefixtures("scorer")
async def test_a_request_failing_before_validation_counts_against_the_version_it_would_have_run_on(
    inference: InferenceService, viewer: Metadata, tenant: str
) -> None:
    one = pb.ModelInferRequest.InferInputTensor(name="x", datatype="FP32", shape=[1, 8])
    row = np.ones((1, 8), np.float32).tobytes()
    # Rejected while the servicer reads the message, before a version's validator sees it.
    raw_count = pb.ModelInferRequest(model_name="scorer", inputs=[one, one], raw_input_contents=[row])
    conflicting = pb.ModelInferRequest(
        model_name="scorer",
        inputs=[
            pb.ModelInferRequest.InferInputTensor(
                name="x",
                datatype="FP32",
                shape=[1, 8],
                contents=pb.InferTensorContents(fp32_contents=[1.0] * 8),
            )
        ],
        raw_input_contents=[row],
    )
    pinned = pb.ModelInferRequest()
    pinned.CopyFrom(raw_count)
    pinned.model_version = "1"
    # No version to count these in: an unknown version, an unknown model.
    unknown_version = pb.ModelInferRequest()
    unknown_version.CopyFrom(raw_count)
    unknown_version.model_version = "9"
    unknown_model = pb.ModelInferRequest()
    unknown_model.CopyFrom(raw_count)
    unknown_model.model_name = "nope"
    for request in (raw_count, conflicting, pinned, unknown_version, unknown_model):
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await inference.stub.ModelInfer(request, metadata=viewer)
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    samples = await asyncio.to_thread(inference.scrape)
    stats = await _statistics(inference, viewer)

    assert _failures(samples, tenant) == _failed(OTHER=3)
    assert len(_series(samples, "nv_inference_request_failure")) == len(_REASONS), "one version's"
    assert _series(samples, "nv_inference_request_success") == {_labels(tenant): 0}
    assert (stats.inference_stats.fail.count, stats.inference_stats.success.count) == (3, 0)
    assert stats.inference_stats.fail.ns > 0
    assert stats.execution_count == 0
