"""``python -m services.models`` as a real process: migrates, becomes SERVING, serves, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aiplat.models.v1 import model_pb2, registry_service_pb2, registry_service_pb2_grpc
from services.runtime.devkeys import DevKeys, mint_token

ROOT = Path(__file__).resolve().parents[2]


async def _next_event(stream: asyncio.StreamReader, event: str) -> dict[str, Any]:
    while True:
        line = await asyncio.wait_for(stream.readline(), 15)
        assert line, f"the service exited before logging {event!r}"
        entry: dict[str, Any] = json.loads(line)
        if entry.get("event") == event:
            return entry


async def _start(tmp_path: Path, dev_keys: DevKeys, *, grace_seconds: str) -> asyncio.subprocess.Process:
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("AIPLAT_", "OTEL_"))},
        "PYTHONPATH": str(ROOT),
        "AIPLAT_MODELS_PORT": "0",
        "AIPLAT_MODELS_METRICS_PORT": "-1",
        "AIPLAT_MODELS_DATA_DIR": str(tmp_path),
        "AIPLAT_MODELS_JWKS_PATH": str(dev_keys.jwks_path),
        "AIPLAT_MODELS_SHUTDOWN_GRACE_SECONDS": grace_seconds,
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.models", env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )


async def test_the_process_serves_and_stops_cleanly(tmp_path: Path, dev_keys: DevKeys) -> None:
    process = await _start(tmp_path, dev_keys, grace_seconds="1")
    try:
        assert process.stdout is not None
        serving = await _next_event(process.stdout, "serving")
        await _next_event(process.stdout, "ready")
        token = mint_token(dev_keys, subject="alice", tenant="acme", roles=["editor"])
        async with grpc.aio.insecure_channel(f"127.0.0.1:{serving['port']}") as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.SERVING
            created = await registry_service_pb2_grpc.ModelRegistryServiceStub(channel).CreateModel(
                registry_service_pb2.CreateModelRequest(model=model_pb2.Model(), model_id="fraud"),
                metadata=(("authorization", f"Bearer {token}"),),
            )
        assert created.name == "models/fraud"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
        assert (tmp_path / "models.db").exists()
        assert (tmp_path / "artifacts").is_dir()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_an_open_watch_does_not_hold_shutdown_for_the_grace_period(
    tmp_path: Path, dev_keys: DevKeys
) -> None:
    from aiplat.models.v1 import deployment_service_pb2, deployment_service_pb2_grpc

    process = await _start(tmp_path, dev_keys, grace_seconds="60")
    try:
        assert process.stdout is not None
        serving = await _next_event(process.stdout, "serving")
        await _next_event(process.stdout, "ready")
        token = mint_token(dev_keys, subject="alice", tenant="acme", roles=["viewer"])
        async with grpc.aio.insecure_channel(f"127.0.0.1:{serving['port']}") as channel:
            watch = deployment_service_pb2_grpc.DeploymentServiceStub(channel).WatchDeployments(
                deployment_service_pb2.WatchDeploymentsRequest(),
                metadata=(("authorization", f"Bearer {token}"),),
            )
            first = await watch.read()
            assert first.type == deployment_service_pb2.WATCH_EVENT_TYPE_SYNCED
            process.send_signal(signal.SIGTERM)
            # The watch ends as the drain begins, so the process exits long before the 60 s grace period.
            assert await asyncio.wait_for(process.wait(), 15) == 0
            watch.cancel()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
