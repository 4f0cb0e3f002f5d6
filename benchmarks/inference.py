"""Inference benchmark: `python -m benchmarks.inference` (or `make bench`).

Rows, measured in one run on this machine:
- ONNX Runtime called in-process (the limit);
- the inference service over gRPC, driven by h2load at concurrency 1 and 32;
- the same through the Envoy gateway, over gRPC and as REST (JSON through the transcoder);
- the reference for the gateway: the same Envoy configuration with only the router filter, over gRPC.

Every h2load response is checked: the bytes received must equal the number of requests times
the size of a correct response, and a sampled response must equal ONNX Runtime's output.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import http.client
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
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
from benchmarks.bare_gateway import bare_gateway
from benchmarks.bare_grpc import bare_grpc
from benchmarks.onnx_models import BenchModel, heavy_mlp, tiny_mlp
from benchmarks.platform_process import Platform
from benchmarks.plot import write_plot
from benchmarks.process_cpu import CpuSnapshot
from benchmarks.reference import measure_in_process
from benchmarks.stats import Row, by_key, cpu_beyond, table
from benchmarks.targets import check_targets, targets_table
from inference import grpc_service_pb2, grpc_service_pb2_grpc
from services.cli.models_commands import upload_requests

RESULTS = Path(__file__).resolve().parent / "results"
_INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"
BENCH_TENANT = "bench"
_UNLIMITED = {"inference_requests_per_second": 1e9, "inference_burst": 1_000_000_000}
DIRECT_GRPC = "inference service, gRPC"
GATEWAY_GRPC = "gateway, gRPC"
GATEWAY_REST = "gateway, REST (JSON)"
BARE_GATEWAY_GRPC = "bare Envoy (router only), gRPC"
BARE_GRPC = "bare gRPC server (fixed reply)"
CORRECT = "all responses correct"
_STREAMS_PER_CONNECTION = 4


_DEVICES = {"cpu": deployment_pb2.EXECUTION_DEVICE_CPU, "gpu": deployment_pb2.EXECUTION_DEVICE_GPU}


def deploy(platform: Platform, model: BenchModel, token: str, device: str = "cpu") -> str:
    """Register the model, deploy version 1 with batching on ``device``, and wait until it is READY
    there (a GPU deployment that fell back to the CPU is an error, not a row)."""
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
            execution=deployment_pb2.ExecutionConfig(device=_DEVICES[device]),
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
            if current.state == deployment_pb2.DEPLOYMENT_STATE_READY and _ready_everywhere(
                platform.instances["inference"], model_id, metadata
            ):
                _check_device(current, device)
                return model_id
            time.sleep(0.2)
    raise RuntimeError(f"deployment {model_id} did not become READY on every inference instance")


def _check_device(deployment: deployment_pb2.Deployment, device: str) -> None:
    loaded = sorted({version.device for version in deployment.loaded_versions})
    print(f"{deployment.name}: loaded on {', '.join(loaded)}", flush=True)
    if device == "gpu" and not all(name.startswith("cuda") for name in loaded):
        raise RuntimeError(f"{deployment.name} was asked for the GPU but loaded on {loaded}")


def _ready_everywhere(
    addresses: Sequence[str], deployment: str, metadata: tuple[tuple[str, str], ...]
) -> bool:
    """Whether every inference instance serves ``deployment`` (the state says so once one does)."""
    for address in addresses:
        with grpc.insecure_channel(address) as channel:
            stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
            request = grpc_service_pb2.ModelReadyRequest(name=deployment)
            try:
                if not stub.ModelReady(request, metadata=metadata, timeout=10).ready:
                    return False
            except grpc.RpcError:
                return False  # not known there yet
    return True


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


def _rest_body(model: BenchModel) -> bytes:
    """The JSON a REST client sends: the tensor as typed contents, field names as the contract has them."""
    sample = model.sample(1)
    tensor = {
        "name": model.input_name,
        "datatype": "FP32",
        "shape": list(sample.shape),
        "contents": {"fp32Contents": sample.ravel().tolist()},
    }
    return json.dumps({"inputs": [tensor]}).encode()


def _expected(model: BenchModel) -> np.ndarray:
    session = ort.InferenceSession(model.onnx_bytes, providers=["CPUExecutionProvider"])
    result: np.ndarray = session.run(None, {model.input_name: model.sample(1)})[0]
    return result


def _reply(address: str, model: BenchModel, deployment: str, token: str) -> bytes:
    """The service's serialized answer to the benchmark's request, for the bare gRPC servers to repeat."""
    with grpc.insecure_channel(address) as channel:
        stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
        metadata = (("authorization", f"Bearer {token}"),)
        response = stub.ModelInfer(_request(model, deployment), metadata=metadata, timeout=30)
    return response.SerializeToString()


@dataclass(frozen=True)
class Target:
    """One way to reach a deployment, with the request h2load repeats and the size of a correct answer."""

    name: str
    urls: tuple[str, ...]
    """One per instance; the load is split evenly over them, as a client-side balancer would."""
    body: bytes
    headers: dict[str, str]
    answer_bytes: int
    """Bytes of one correct response body on the wire (gRPC: with its frame header)."""


def grpc_target(
    name: str, addresses: Sequence[str], model: BenchModel, deployment: str, token: str
) -> Target:
    """ModelInfer over gRPC at ``addresses``; one call to each is checked against ONNX Runtime first."""
    request = _request(model, deployment)
    for address in addresses:
        with grpc.insecure_channel(address) as channel:
            stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
            response = stub.ModelInfer(request, metadata=(("authorization", f"Bearer {token}"),), timeout=30)
        (output,) = response.outputs
        actual = np.frombuffer(response.raw_output_contents[0], dtype=np.float32).reshape(tuple(output.shape))
        np.testing.assert_allclose(actual, _expected(model), rtol=1e-5, atol=1e-5)
    return Target(
        name=name,
        urls=tuple(f"http://{address}{_INFER_PATH}" for address in addresses),
        body=h2load.grpc_frame(request.SerializeToString()),
        headers={**h2load.GRPC_HEADERS, "authorization": f"Bearer {token}"},
        answer_bytes=h2load.framed_size(len(response.SerializeToString())),
    )


def rest_target(name: str, address: str, model: BenchModel, deployment: str, token: str) -> Target:
    """``POST /v2/models/{name}/infer`` through the gateway; one call is checked against ONNX Runtime."""
    body = _rest_body(model)
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    path = f"/v2/models/{deployment}/infer"
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("POST", path, body=body, headers=headers)
        reply = connection.getresponse()
        answer = reply.read()
    finally:
        connection.close()
    if reply.status != 200:
        raise RuntimeError(f"REST inference failed: {reply.status} {answer[:500]!r}")
    decoded = json.loads(answer)
    (output,) = decoded["outputs"]
    actual = np.frombuffer(base64.b64decode(decoded["rawOutputContents"][0]), dtype=np.float32)
    np.testing.assert_allclose(
        actual.reshape([int(d) for d in output["shape"]]), _expected(model), rtol=1e-5, atol=1e-5
    )
    return Target(name, (f"http://{address}{path}",), body, headers, len(answer))


def measure(
    target: Target, model: BenchModel, concurrency: int, seconds: float, roots: Sequence[int] = ()
) -> Row:
    """One h2load run; with ``roots``, also the CPU per request of the processes at and below them
    (the platform, the bare gateway) and of h2load."""
    urls = target.urls[:concurrency]
    per_url = concurrency // len(urls)
    # Several connections per instance, as clients open them (and as SO_REUSEPORT workers need).
    connections = max(1, per_url // _STREAMS_PER_CONNECTION)
    before = CpuSnapshot.take(*roots) if roots else None
    result = h2load.run(
        urls,
        target.body,
        seconds=seconds,
        connections=connections,
        streams_per_connection=per_url // connections,
        headers=target.headers,
    )
    cpu_us = {} if before is None else before.per_request_us(CpuSnapshot.take(*roots), result.requests)
    expected_bytes = result.requests * target.answer_bytes
    correct = result.succeeded == result.requests and result.data_bytes == expected_bytes
    return Row(
        model=model.name,
        target=target.name,
        concurrency=concurrency,
        requests=result.requests,
        seconds=result.seconds,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        note=CORRECT if correct else f"INCORRECT: {result.data_bytes}B vs {expected_bytes}B",
        cpu_us=cpu_us,
    )


def measure_interleaved(
    targets: Sequence[Target],
    model: BenchModel,
    concurrency: int,
    seconds: float,
    rounds: int,
    roots: Sequence[int] = (),
) -> list[Row]:
    """Each target ``rounds`` times, taking turns, so a slow spell of the machine hits every target alike;
    per target the round with the median throughput is kept."""
    measured: dict[str, list[Row]] = {target.name: [] for target in targets}
    for _ in range(rounds):
        for target in targets:
            measured[target.name].append(measure(target, model, concurrency, seconds, roots))
    kept = []
    for runs in measured.values():
        ordered = sorted(runs, key=lambda row: row.requests_per_second)
        median = ordered[len(ordered) // 2]
        spread = f"{ordered[0].requests_per_second:.0f}-{ordered[-1].requests_per_second:.0f} req/s"
        wrong = [row.note for row in runs if row.note != CORRECT]
        note = wrong[0] if wrong else f"{CORRECT}; median of {len(runs)} ({spread})"
        kept.append(dataclasses.replace(median, note=note))
    return kept


def gateway_share(rows: Sequence[Row]) -> list[str]:
    """Per model and concurrency: gRPC through the gateway, and through the bare Envoy, as a share of
    direct gRPC, and the gateway CPU per request that the filter chain adds to the bare Envoy's."""
    keyed = by_key(rows)
    lines = []
    for (model, target, concurrency), direct in keyed.items():
        if target != DIRECT_GRPC or not direct.requests_per_second:
            continue
        through = keyed.get((model, GATEWAY_GRPC, concurrency))
        bare = keyed.get((model, BARE_GATEWAY_GRPC, concurrency))
        line = f"{model} c{concurrency}: gRPC through the gateway = {_share(through, direct)} of direct gRPC"
        if bare is not None:
            line += f", through the bare Envoy = {_share(bare, direct)}"
            if through is not None and (split := cpu_beyond(through, bare, "gateway")) is not None:
                line += f"; Envoy CPU/request: {split[0]:.0f} us proxying + {split[1]:.0f} us filters"
        lines.append(line)
    return lines


def transport_share(rows: Sequence[Row]) -> list[str]:
    """Per model and concurrency: direct gRPC as a share of the bare gRPC server's throughput, and the
    CPU per request the service spends beyond the transport's."""
    keyed = by_key(rows)
    lines = []
    for (model, target, concurrency), floor in keyed.items():
        direct = keyed.get((model, DIRECT_GRPC, concurrency))
        if target != BARE_GRPC or direct is None or not floor.requests_per_second:
            continue
        line = f"{model} c{concurrency}: direct gRPC = {_share(direct, floor)} of the bare gRPC server"
        if (split := cpu_beyond(direct, floor, "inference")) is not None:
            line += f"; inference CPU/request: {split[0]:.0f} us transport + {split[1]:.0f} us service"
        lines.append(line)
    return lines


def _share(row: Row | None, direct: Row) -> str:
    return "-" if row is None else f"{row.requests_per_second / direct.requests_per_second:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each measured row")
    parser.add_argument(
        "--replicas",
        type=int,
        default=2,
        help="inference processes, each on its own port (the gateway balances)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes per inference replica")
    parser.add_argument(
        "--device",
        choices=sorted(_DEVICES),
        default="cpu",
        help="where the in-process reference and the deployments run (gpu: CUDA, onnxruntime-gpu)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of each service row, interleaved; the median is kept"
    )
    args = parser.parse_args()

    models = [tiny_mlp(), heavy_mlp()]
    rows: list[Row] = []
    for model in models:
        rows.append(measure_in_process(model, 1, args.seconds, args.device))
        rows.append(measure_in_process(model, 32, args.seconds, args.device))
    env = {
        "AIPLAT_INFERENCE_WORKERS": str(args.workers),
        # The benchmark's tenant is a premium tenant: its bucket must not be what is measured.
        "AIPLAT_TENANT_RATE_LIMITS": json.dumps({BENCH_TENANT: _UNLIMITED}),
    }
    up_args = ("--inference-replicas", str(args.replicas))
    with (
        tempfile.TemporaryDirectory() as scratch,
        Platform(Path(scratch), env=env, up_args=up_args) as platform,
        bare_gateway(Path(scratch) / "envoy" / "envoy.json", Path(scratch)) as bare,
    ):
        token = platform.token(BENCH_TENANT)
        inference, gateway = platform.instances["inference"], platform.addresses["gateway"]
        for model in models:
            deployment = deploy(platform, model, token, args.device)
            reply = _reply(inference[0], model, deployment, token)
            with bare_grpc(reply, len(inference), Path(scratch)) as floor:
                targets = [
                    grpc_target(DIRECT_GRPC, inference, model, deployment, token),
                    grpc_target(GATEWAY_GRPC, [gateway], model, deployment, token),
                    rest_target(GATEWAY_REST, gateway, model, deployment, token),
                    grpc_target(BARE_GATEWAY_GRPC, [bare.address], model, deployment, token),
                    grpc_target(BARE_GRPC, floor.addresses, model, deployment, token),
                ]
                roots = (platform.pid, bare.pid, *floor.pids)
                for concurrency in (1, 32):
                    rows += measure_interleaved(targets, model, concurrency, args.seconds, args.rounds, roots)
    print(table(rows))
    print("\n".join(gateway_share(rows)))
    print("\n".join(transport_share(rows)))
    print()
    print(targets_table(check_targets(rows, DIRECT_GRPC, GATEWAY_GRPC)))
    RESULTS.mkdir(exist_ok=True)
    stem = "inference" if args.device == "cpu" else f"inference-{args.device}"
    (RESULTS / f"{stem}.json").write_text(
        json.dumps([asdict(r) | {"requests_per_second": r.requests_per_second} for r in rows], indent=2)
    )
    print(f"plot: {write_plot(rows, RESULTS / f'{stem}.png')}")


if __name__ == "__main__":
    main()
