"""Metrics named like Triton's, the batch-size histogram, the device metric, and spans of batched runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from aiplat.models.v1 import deployment_pb2
from inference import grpc_service_pb2 as pb
from services.runtime.devkeys import DevKeys
from services.runtime.tracing import Tracing
from tests.grpc_helpers import Metadata, error_details

from .calls import Models, infer_request
from .platform import InferenceService, ModelsService
from .support import AUTO_DEVICE, AUTO_PROVIDERS, mlp_model

X = np.ones((1, 8), np.float32)
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


@pytest.mark.usefixtures("scorer")
async def test_concurrent_callers_share_batches_and_a_bad_one_fails_alone(
    inference: InferenceService, viewer: Metadata, tenant: str
) -> None:
    bad = infer_request("scorer", {"x": np.ones((1, 5), np.float32)})
    calls = [
        inference.stub.ModelInfer(infer_request("scorer", {"x": X * i}), metadata=viewer) for i in range(64)
    ]
    calls.insert(31, inference.stub.ModelInfer(bad, metadata=viewer))

    outcomes = await asyncio.gather(*calls, return_exceptions=True)

    failures = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(failures) == 1
    assert outcomes[31] is failures[0]
    assert isinstance(failures[0], grpc.aio.AioRpcError)
    assert failures[0].code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_details(failures[0]) == ("SHAPE_MISMATCH", ["x"])
    samples = await asyncio.to_thread(inference.scrape)
    labels = (("model", "scorer"), ("tenant", tenant), ("version", "1"))
    batches = samples[("aiplat_inference_batch_size_count", labels)]
    singles = samples[("aiplat_inference_batch_size_bucket", (("le", "1.0"), *labels))]
    assert samples[("aiplat_inference_batch_size_sum", labels)] == 64
    assert batches < 64
    assert singles < batches, "some batch held more than one request"


@pytest.mark.usefixtures("scorer")
async def test_triton_metrics_and_the_device_of_each_version(
    inference: InferenceService, viewer: Metadata, tenant: str
) -> None:
    for _ in range(3):
        await inference.stub.ModelInfer(
            infer_request("scorer", {"x": np.ones((2, 8), np.float32)}), metadata=viewer
        )
    with pytest.raises(grpc.aio.AioRpcError):
        await inference.stub.ModelInfer(
            infer_request("scorer", {"x": np.ones((2, 5), np.float32)}), metadata=viewer
        )

    samples = await asyncio.to_thread(inference.scrape)

    labels = (("model", "scorer"), ("tenant", tenant), ("version", "1"))
    assert samples[("nv_inference_request_success", labels)] == 3
    failures = {
        reason: samples[("nv_inference_request_failure", tuple(sorted((*labels, ("reason", reason)))))]
        for reason in ("REJECTED", "CANCELED", "BACKEND", "OTHER")
    }
    assert failures == {"REJECTED": 0, "CANCELED": 0, "BACKEND": 0, "OTHER": 1}
    assert samples[("nv_inference_count", labels)] == 6
    assert samples[("nv_inference_exec_count", labels)] == 3
    for name in ("request", "queue", "compute_input", "compute_infer", "compute_output"):
        assert (f"nv_inference_{name}_duration_us", labels) in samples
    assert samples[("nv_inference_request_duration_us", labels)] > 0
    assert samples[("nv_inference_pending_request_count", labels)] == 0
    info = (*labels[:2], ("device", AUTO_DEVICE), ("providers", ",".join(AUTO_PROVIDERS)), labels[2])
    assert samples[("aiplat_inference_version_info", tuple(sorted(info)))] == 1
    method = (("code", "OK"), ("method", "ModelInfer"), ("service", "inference.GRPCInferenceService"))
    assert samples[("aiplat_grpc_server_handled_total", method)] == 3


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced_inference(
    tmp_path: Path, dev_keys: DevKeys, models_service: ModelsService, tenant: str, spans: InMemorySpanExporter
) -> AsyncIterator[InferenceService]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    service = await InferenceService.start(
        tmp_path, dev_keys, models_service, tenant, tracing=Tracing(provider, exporting=True)
    )
    try:
        yield service
    finally:
        await service.close()


async def test_queueing_preprocessing_and_the_batched_run_join_each_requests_trace(
    models: Models, traced_inference: InferenceService, viewer: Metadata, spans: InMemorySpanExporter
) -> None:
    await models.create_model("scorer")
    version = await models.upload("scorer", mlp_model(seed=3))
    # Both requests wait the delay, even the first one on an idle instance, so they share one run.
    batching = deployment_pb2.BatchingConfig(
        max_batch_size=8, max_queue_delay_micros=20_000, hold_lone_requests=True
    )
    await models.deploy("scorer", "scorer", [(version, 100)], batching=batching)
    await models.wait_state("scorer", deployment_pb2.DEPLOYMENT_STATE_READY)
    parents = [f"00-{TRACE_ID[:-1]}{i}-b7ad6b716920333{i}-01" for i in range(2)]

    await asyncio.gather(
        *(
            traced_inference.stub.ModelInfer(
                infer_request("scorer", {"x": X}), metadata=(*viewer, ("traceparent", parent))
            )
            for parent in parents
        )
    )

    finished = spans.get_finished_spans()
    for i in range(2):
        trace_id = int(f"{TRACE_ID[:-1]}{i}", 16)
        [server] = [s for s in finished if s.name.endswith("/ModelInfer") and s.context.trace_id == trace_id]
        steps = {
            s.name: s for s in finished if s.parent is not None and s.parent.span_id == server.context.span_id
        }
        assert set(steps) == {"inference.queue", "inference.preprocess", "inference.run"}
        run = steps["inference.run"]
        assert run.attributes is not None
        assert run.attributes["inference.batch_size"] == 2
        assert run.attributes["inference.model"] == "scorer"
        assert steps["inference.queue"].end_time <= run.start_time <= run.end_time <= server.end_time


async def test_no_span_is_made_for_inference_calls_while_nothing_exports(
    inference: InferenceService, viewer: Metadata
) -> None:
    # The fixture's tracer exports nothing: the hot path skips span creation altogether.
    assert not inference.handle.tracing.exporting
    assert not inference.app.telemetry.tracing
    with pytest.raises(grpc.aio.AioRpcError):
        await inference.stub.ModelInfer(pb.ModelInferRequest(model_name="nope"), metadata=viewer)
