"""Inference benchmark: `python -m benchmarks.inference` (or `make bench`).

Rows, measured in one run on this machine:
- ONNX Runtime called in-process (the limit);
- the inference service over gRPC, driven by h2load at concurrency 1 and 32.

Every h2load response is checked: the bytes received must equal the number of requests times
the size of a correct response, and a sampled response must equal ONNX Runtime's output.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import grpc
import numpy as np
import onnxruntime as ort

from aiplat.models.v1 import (
    deployment_pb2,
    deployment_service_pb2,
    deployment_service_pb2_grpc,
    model_pb2,
    registry_service_pb2,
    registry_service_pb2_grpc,
)
from benchmarks import h2load
from benchmarks.onnx_models import BenchModel, heavy_mlp, tiny_mlp
from benchmarks.platform_process import Platform
from benchmarks.plot import write_plot
from benchmarks.reference import measure_in_process
from benchmarks.stats import Row, table
from inference import grpc_service_pb2, grpc_service_pb2_grpc
from services.cli.models_commands import upload_requests

RESULTS = Path(__file__).resolve().parent / "results"
_INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"


def deploy(platform: Platform, model: BenchModel, token: str) -> str:
    """Register the model, deploy version 1 with batching, and wait until it is READY."""
    metadata = (("authorization", f"Bearer {token}"),)
    model_id = model.name.replace("_", "-")
    with grpc.insecure_channel(platform.addresses["models"]) as channel:
        registry = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        registry.CreateModel(
            registry_service_pb2.CreateModelRequest(model=model_pb2.Model(), model_id=model_id),
            metadata=metadata,
        )
        with tempfile.TemporaryDirectory() as scratch:
            artifact = Path(scratch) / f"{model.name}.onnx"
            artifact.write_bytes(model.onnx_bytes)
            version = registry.UploadModelVersion(
                upload_requests(artifact, f"models/{model_id}"), metadata=metadata
            )
        deployments = deployment_service_pb2_grpc.DeploymentServiceStub(channel)
        spec = deployment_pb2.Deployment(
            model=f"models/{model_id}",
            traffic=[deployment_pb2.TrafficTarget(version=version.name, percent=100)],
            instances_per_version=1,
            batching=deployment_pb2.BatchingConfig(
                max_batch_size=32, max_queue_delay_micros=2000, max_queue_size=4096
            ),
            execution=deployment_pb2.ExecutionConfig(device=deployment_pb2.EXECUTION_DEVICE_CPU),
        )
        deployments.CreateDeployment(
            deployment_service_pb2.CreateDeploymentRequest(deployment=spec, deployment_id=model_id),
            metadata=metadata,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            current = deployments.GetDeployment(
                deployment_service_pb2.GetDeploymentRequest(name=f"deployments/{model_id}"), metadata=metadata
            )
            if current.state == deployment_pb2.DEPLOYMENT_STATE_READY:
                return model_id
            time.sleep(0.2)
    raise RuntimeError(f"deployment {model_id} did not become READY")


def _request(model: BenchModel, deployment: str) -> grpc_service_pb2.ModelInferRequest:
    sample = model.sample(1)
    return grpc_service_pb2.ModelInferRequest(
        model_name=deployment,
        inputs=[
            grpc_service_pb2.ModelInferRequest.InferInputTensor(
                name=model.input_name, datatype="FP32", shape=list(sample.shape)
            )
        ],
        raw_input_contents=[sample.tobytes()],
    )


def check_response(platform: Platform, model: BenchModel, deployment: str, token: str) -> int:
    """Call once, compare with ONNX Runtime in-process; return the size of a correct response."""
    request = _request(model, deployment)
    with grpc.insecure_channel(platform.addresses["inference"]) as channel:
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        response = stub.ModelInfer(request, metadata=(("authorization", f"Bearer {token}"),), timeout=30)
    session = ort.InferenceSession(model.onnx_bytes, providers=["CPUExecutionProvider"])
    expected = session.run(None, {model.input_name: model.sample(1)})[0]
    (output,) = response.outputs
    actual = np.frombuffer(response.raw_output_contents[0], dtype=np.float32).reshape(tuple(output.shape))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)
    return len(response.SerializeToString())


def measure_service(
    platform: Platform, model: BenchModel, deployment: str, token: str, concurrency: int, seconds: float
) -> Row:
    response_size = check_response(platform, model, deployment, token)
    body = h2load.grpc_frame(_request(model, deployment).SerializeToString())
    # Enough connections that SO_REUSEPORT spreads them evenly over the worker processes.
    connections = 1 if concurrency == 1 else 8
    result = h2load.run(
        f"http://{platform.addresses['inference']}{_INFER_PATH}",
        body,
        seconds=seconds,
        connections=connections,
        streams_per_connection=concurrency // connections,
        headers={"authorization": f"Bearer {token}"},
    )
    expected_bytes = result.requests * h2load.framed_size(response_size)
    correct = result.succeeded == result.requests and result.data_bytes == expected_bytes
    return Row(
        model=model.name,
        target="inference service, gRPC",
        concurrency=concurrency,
        requests=result.requests,
        seconds=result.seconds,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        note="all responses correct" if correct else f"INCORRECT: {result.data_bytes}B vs {expected_bytes}B",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each measured row")
    parser.add_argument("--workers", type=int, default=2, help="inference worker processes")
    args = parser.parse_args()

    models = [tiny_mlp(), heavy_mlp()]
    rows: list[Row] = []
    for model in models:
        rows.append(measure_in_process(model, 1, args.seconds))
        rows.append(measure_in_process(model, 32, args.seconds))
    with (
        tempfile.TemporaryDirectory() as scratch,
        Platform(Path(scratch), env={"AIPLAT_INFERENCE_WORKERS": str(args.workers)}) as platform,
    ):
        token = platform.token()
        for model in models:
            deployment = deploy(platform, model, token)
            for concurrency in (1, 32):
                rows.append(measure_service(platform, model, deployment, token, concurrency, args.seconds))
    print(table(rows))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "inference.json").write_text(
        json.dumps([asdict(r) | {"requests_per_second": r.requests_per_second} for r in rows], indent=2)
    )
    print(f"plot: {write_plot(rows, RESULTS / 'inference.png')}")


if __name__ == "__main__":
    main()
