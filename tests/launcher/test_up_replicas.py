"""`aiplat up --inference-replicas 2` as processes: Envoy balances over both, reflection through the
gateway describes every service, and one trace spans the gateway, inference and model management,
received by an OTLP collector this test runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import numpy as np
import onnxruntime as ort
import pytest

from aiplat.models.v1 import (
    deployment_pb2,
    deployment_service_pb2,
    deployment_service_pb2_grpc,
    model_pb2,
    registry_service_pb2,
    registry_service_pb2_grpc,
)
from inference import grpc_service_pb2 as pb
from inference import grpc_service_pb2_grpc as pb_grpc
from services.launcher.catalog import SERVICES
from services.runtime.devkeys import ensure_dev_keys, mint_token
from tests.grpc_helpers import reflect
from tests.inference.calls import infer_request, sha256
from tests.inference.support import mlp_model
from tests.otlp_collector import Collector, ReceivedSpan, running_collector

from .support import read_until

pytestmark = pytest.mark.envoy

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN_ID = "00f067aa0ba902b7"
MODEL = mlp_model(seed=21)
ROWS = np.random.default_rng(2).standard_normal((3, 8), dtype=np.float32)


@dataclass
class Running:
    gateway: str
    admin_url: str
    inference: list[str]
    """The replicas' own addresses, as the banner lists them."""
    collector: Collector
    metadata: tuple[tuple[str, str], ...]
    token: str
    deployed: bool = False


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data_dir = tmp_path_factory.mktemp("up-replicas")
    with running_collector() as collector:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
            # The services' span batches leave within 100 ms rather than 5 s.
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "AIPLAT_GATEWAY_WORKERS": "2",
        }
        argv = [sys.executable, "-m", "services.cli.main", "--data-dir", str(data_dir), "up"]
        argv += ["--ephemeral-ports", "--gateway-port", "0", "--admin-port", "0", "--inference-replicas", "2"]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        try:
            lines = read_until(process, "all services SERVING", timeout=90)
            (inference_line,) = [line for line in lines if line.startswith("  inference ")]
            token = mint_token(
                ensure_dev_keys(data_dir / "keys"), subject="ops", tenant="acme", roles=["editor"]
            )
            yield Running(
                gateway=next(line for line in lines if "gateway (gRPC and REST):" in line).split()[-1],
                admin_url=next(line for line in lines if "gateway admin:" in line).split()[-1],
                inference=inference_line.split(None, 1)[1].split(", "),
                collector=collector,
                metadata=(("authorization", f"Bearer {token}"),),
                token=token,
            )
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


def _deploy(running: Running) -> None:
    """Model and deployment ``scorer`` through the gateway, then wait until both replicas serve it."""
    with grpc.insecure_channel(running.gateway) as channel:
        registry = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        registry.CreateModel(
            registry_service_pb2.CreateModelRequest(model_id="scorer", model=model_pb2.Model()),
            metadata=running.metadata,
            timeout=10,
        )
        upload = registry_service_pb2.UploadModelVersionMetadata(
            parent="models/scorer", sha256=sha256(MODEL), size_bytes=len(MODEL)
        )
        version = registry.UploadModelVersion(
            iter(
                [
                    registry_service_pb2.UploadModelVersionRequest(metadata=upload),
                    registry_service_pb2.UploadModelVersionRequest(chunk=MODEL),
                ]
            ),
            metadata=running.metadata,
            timeout=10,
        )
        deployment = deployment_pb2.Deployment(
            model="models/scorer", traffic=[deployment_pb2.TrafficTarget(version=version.name, percent=100)]
        )
        deployment_service_pb2_grpc.DeploymentServiceStub(channel).CreateDeployment(
            deployment_service_pb2.CreateDeploymentRequest(deployment=deployment, deployment_id="scorer"),
            metadata=running.metadata,
            timeout=10,
        )
    for address in running.inference:
        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            deadline = time.monotonic() + 30
            while not stub.ModelReady(
                pb.ModelReadyRequest(name="scorer"), metadata=running.metadata, timeout=5
            ).ready:
                assert time.monotonic() < deadline, f"{address} never served the deployment"
                time.sleep(0.1)


def _successes_per_host(admin_url: str, cluster: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{admin_url}/clusters?format=json", timeout=5) as reply:
        clusters = json.loads(reply.read())["cluster_statuses"]
    (found,) = [c for c in clusters if c["name"] == cluster]
    successes = {}
    for host in found["host_statuses"]:
        address = host["address"]["socket_address"]
        stats = {stat["name"]: int(stat.get("value", 0)) for stat in host["stats"]}
        successes[f"{address['address']}:{address['port_value']}"] = stats.get("rq_success", 0)
    return successes


def test_the_gateway_balances_inference_over_both_replicas(running: Running) -> None:
    assert len(set(running.inference)) == 2
    _ready(running)
    expected = ort.InferenceSession(MODEL, providers=["CPUExecutionProvider"]).run(None, {"x": ROWS})[0]

    with grpc.insecure_channel(running.gateway) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for _ in range(40):
            reply = stub.ModelInfer(
                infer_request("scorer", {"x": ROWS}), metadata=running.metadata, timeout=10
            )
            answer = np.frombuffer(reply.raw_output_contents[0], np.float32).reshape(expected.shape)
            np.testing.assert_allclose(answer, expected, rtol=1e-5, atol=1e-6)

    successes = _successes_per_host(running.admin_url, "inference")
    assert set(successes) == set(running.inference)
    assert all(count > 0 for count in successes.values()), f"a replica got no call: {successes}"


def test_the_gateway_runs_the_configured_number_of_workers(running: Running) -> None:
    with urllib.request.urlopen(f"{running.admin_url}/server_info", timeout=5) as reply:
        options = json.load(reply)["command_line_options"]
    assert options["concurrency"] == 2


def test_one_trace_shows_the_gateway_inference_and_model_management(running: Running) -> None:
    _ready(running)
    metadata = (*running.metadata, ("traceparent", f"00-{TRACE_ID}-{CLIENT_SPAN_ID}-01"))
    with grpc.insecure_channel(running.gateway) as channel:
        # An explicit load reads the deployment's current spec from model management as the caller.
        pb_grpc.GRPCInferenceServiceStub(channel).RepositoryModelLoad(
            pb.RepositoryModelLoadRequest(model_name="scorer"), metadata=metadata, timeout=20
        )

    def complete(spans: list[ReceivedSpan]) -> bool:
        """All three services took part, and every span's parent has arrived (exports race)."""
        trace = [s for s in spans if s.trace_id == TRACE_ID]
        ids = {s.span_id for s in trace} | {CLIENT_SPAN_ID}
        services = {s.service for s in trace}
        return {"gateway", "inference", "models"} <= services and all(s.parent_id in ids for s in trace)

    # Envoy sends its spans every 5 s.
    trace = [s for s in running.collector.wait(complete, timeout=30) if s.trace_id == TRACE_ID]
    by_id = {s.span_id: s for s in trace}
    (gateway,) = [s for s in trace if s.service == "gateway"]
    assert gateway.parent_id == CLIENT_SPAN_ID
    inference_server = [s for s in trace if s.service == "inference" and s.parent_id == gateway.span_id]
    assert inference_server, "the inference service's span is not a child of the gateway's"
    models = [s for s in trace if s.service == "models"]
    assert models
    for span in models:
        # Each model management span descends from inference's spans, which descend from the gateway's.
        chain = [span]
        while chain[-1].parent_id in by_id:
            chain.append(by_id[chain[-1].parent_id])
        assert chain[-1] is gateway, [(s.service, s.span.name) for s in chain]
        assert "inference" in {s.service for s in chain}


def _ready(running: Running) -> None:
    """The deployment exists and both replicas serve it (the tests of this module may run alone)."""
    if not running.deployed:
        _deploy(running)
        running.deployed = True


def test_reflection_through_the_gateway_describes_every_service(running: Running) -> None:
    # As grpcurl does with -H "authorization: Bearer ...": the token on every call of the stream.
    credentials = grpc.composite_channel_credentials(
        grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP),
        grpc.access_token_call_credentials(running.token),
    )
    with grpc.secure_channel(running.gateway, credentials) as channel:
        services, inference = reflect(channel, "inference.GRPCInferenceService")
    assert {name for spec in SERVICES for name in spec.grpc_services} <= set(services)
    assert inference.methods_by_name["ModelInfer"].output_type.full_name == "inference.ModelInferResponse"
