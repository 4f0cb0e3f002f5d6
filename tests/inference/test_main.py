"""``python -m services.inference`` as a real process: one serving line, SIGTERM drains and exits 0,
and with ``workers=2`` two processes serve one port behind one metrics endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from aiplat.models.v1 import deployment_pb2
from inference import grpc_service_pb2_grpc as pb_grpc
from services.runtime.devkeys import DevKeys, mint_token
from tests.grpc_helpers import Metadata

from .calls import Models, eventually, infer_request
from .platform import ModelsService
from .support import AUTO_DEVICE, mlp_model

ROOT = Path(__file__).resolve().parents[2]


class Process:
    """The service as a child process, its JSON log lines collected as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        assert process.stdout is not None
        self._reader = asyncio.create_task(self._read(process.stdout))

    async def _read(self, stdout: asyncio.StreamReader) -> None:
        async for line in stdout:
            self.events.append(json.loads(line))

    def named(self, event: str) -> list[dict[str, Any]]:
        return [entry for entry in self.events if entry.get("event") == event]

    async def event(self, event: str) -> dict[str, Any]:
        await eventually(lambda: _truthy(self.named(event) or self.process.returncode is not None), 30, event)
        assert self.named(event), f"the service exited before logging {event!r}: {self.events}"
        return self.named(event)[0]

    async def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return await self.exited()

    async def exited(self) -> int:
        """The exit status, once every line the process wrote has been read."""
        code = await asyncio.wait_for(self.process.wait(), 30)
        await self._reader
        return code


async def _truthy(value: object) -> bool:
    return bool(value)


@pytest.fixture
async def start(
    tmp_path: Path, dev_keys: DevKeys, models_service: ModelsService, tenant: str
) -> AsyncIterator[Any]:
    started: list[Process] = []

    async def run(**settings: str) -> Process:
        token_file = tmp_path / "service.token"
        token_file.write_text(
            mint_token(dev_keys, subject="service:inference", tenant=tenant, roles=["admin"])
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AIPLAT_", "OTEL_"))},
            "PYTHONPATH": str(ROOT),
            "AIPLAT_INFERENCE_PORT": "0",
            "AIPLAT_INFERENCE_METRICS_PORT": "0",
            "AIPLAT_INFERENCE_DATA_DIR": str(tmp_path / "inference"),
            "AIPLAT_INFERENCE_JWKS_PATH": str(dev_keys.jwks_path),
            "AIPLAT_INFERENCE_MODELS_ADDRESS": models_service.address,
            "AIPLAT_INFERENCE_SERVICE_TOKEN_FILE": str(token_file),
            "AIPLAT_INFERENCE_SHUTDOWN_GRACE_SECONDS": "2",
            **{f"AIPLAT_INFERENCE_{key.upper()}": value for key, value in settings.items()},
        }
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.inference", env=env, stdout=asyncio.subprocess.PIPE, cwd=ROOT
        )
        started.append(Process(child))
        return started[-1]

    yield run
    for child in started:
        if child.process.returncode is None:
            child.process.kill()
            await child.process.wait()


async def _deploy(models: Models) -> None:
    await models.create_model("scorer")
    version = await models.upload("scorer", mlp_model(seed=4))
    batching = deployment_pb2.BatchingConfig(max_batch_size=8, max_queue_delay_micros=1000)
    await models.deploy("scorer", "scorer", [(version, 100)], batching=batching)


async def _serving_on_fresh_connections(port: int, count: int) -> bool:
    # Each new connection lands on one worker or the other.
    for _ in range(count):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            if reply.status != health_pb2.HealthCheckResponse.SERVING:
                return False
    return True


def _listening_pids(port: int) -> set[int]:
    """Processes with a listening TCP socket on ``port`` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                    inodes.add(fields[9])
    owners = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if any(link.startswith("socket:[") and link[8:-1] in inodes for link in links):
            owners.add(int(pid))
    return owners


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_one_process_serves_then_drains_on_sigterm(
    start: Any, models: Models, viewer: Metadata
) -> None:
    await _deploy(models)
    service = await start()

    serving = await service.event("serving")
    await models.wait_state("scorer", deployment_pb2.DEPLOYMENT_STATE_READY)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{serving['port']}") as channel:
        answer = await pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
            infer_request("scorer", {"x": np.ones((1, 8), np.float32)}), metadata=viewer
        )

    assert answer.model_version == "1"
    assert await service.stop() == 0
    assert len(service.named("serving")) == 1
    assert service.named("stopped")
    [loaded] = [e for e in service.events if e.get("message", "").startswith("model version loaded")]
    assert loaded["device"] == AUTO_DEVICE


async def test_two_workers_share_one_port_and_metrics_endpoint_and_stop_cleanly(
    start: Any, models: Models, viewer: Metadata
) -> None:
    await _deploy(models)
    service = await start(workers="2")

    serving = await service.event("serving")
    port, workers = serving["port"], serving["workers"]
    # Each worker logs its first sync (its deployments loaded) before it turns SERVING; fresh
    # connections alone could all land on one worker while the other still loads.
    await eventually(lambda: _truthy(len(service.named("synced")) == 2), 30, "both workers synced")
    await eventually(lambda: _serving_on_fresh_connections(port, 6), 30, "both workers SERVING")
    for _ in range(8):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = await pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
                infer_request("scorer", {"x": np.ones((1, 8), np.float32)}), metadata=viewer
            )
            assert answer.model_version == "1"
    samples = await asyncio.to_thread(_scrape, serving["metrics_port"])

    assert len(set(workers)) == 2
    assert service.process.pid not in workers
    assert _listening_pids(port) == set(workers)
    assert len(service.named("serving")) == 1
    assert len(service.named("worker_serving")) == 2
    assert {dict(labels)["worker"] for name, labels in samples if name == "process_start_time_seconds"} == {
        "0",
        "1",
    }
    successes = [v for (name, _), v in samples.items() if name == "nv_inference_request_success"]
    assert sum(successes) == 8
    assert await service.stop() == 0
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_workers_refuse_a_port_another_server_holds(start: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        service = await start(workers="2", port=str(taken.getsockname()[1]))
        code = await service.exited()

    assert code == 1
    assert service.named("failed")
    assert not service.named("serving")
