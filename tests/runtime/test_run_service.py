"""run_service as a real process: it announces its port, and SIGTERM drains in-flight calls."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import grpc

from aiplat.models.v1 import registry_service_pb2, registry_service_pb2_grpc
from services.runtime.devkeys import DevKeys

from .conftest import TokenFactory
from .support import bearer

SAMPLE_SERVICE = Path(__file__).with_name("sample_service.py")
ROOT = Path(__file__).resolve().parents[2]


async def _next_event(stream: asyncio.StreamReader, event: str) -> dict[str, Any]:
    """The next JSON log line with ``event``; other lines are skipped."""
    while True:
        line = await asyncio.wait_for(stream.readline(), 15)
        assert line, f"the service exited before logging {event!r}"
        entry: dict[str, Any] = json.loads(line)
        if entry.get("event") == event:
            return entry


async def _start(tmp_path: Path, dev_keys: DevKeys, **settings: str) -> asyncio.subprocess.Process:
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("AIPLAT_", "OTEL_"))},
        "PYTHONPATH": str(ROOT),
        "AIPLAT_SAMPLE_DATA_DIR": str(tmp_path),
        "AIPLAT_SAMPLE_JWKS_PATH": str(dev_keys.jwks_path),
        **{f"AIPLAT_SAMPLE_{key.upper()}": value for key, value in settings.items()},
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(SAMPLE_SERVICE),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_sigterm_lets_the_call_in_flight_finish_then_exits_0(
    tmp_path: Path, dev_keys: DevKeys, make_token: TokenFactory
) -> None:
    process = await _start(tmp_path, dev_keys, slow_seconds="0.6", shutdown_grace_seconds="5")
    try:
        assert process.stdout is not None
        serving = await _next_event(process.stdout, "serving")
        assert serving["service"] == "sample"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{serving['port']}") as channel:
            stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
            slow = asyncio.ensure_future(
                stub.GetModel(
                    registry_service_pb2.GetModelRequest(name="models/slow"), metadata=bearer(make_token())
                )
            )
            await _next_event(process.stdout, "slow_call_started")

            process.send_signal(signal.SIGTERM)

            model = await asyncio.wait_for(slow, 10)
        assert model.name == "models/slow"
        assert await asyncio.wait_for(process.wait(), 10) == 0
        await _next_event(process.stdout, "stopped")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        assert process.stderr is not None
        errors = (await process.stderr.read()).decode()
    assert "Traceback" not in errors, errors


async def test_a_service_that_cannot_start_says_so_and_exits_1(tmp_path: Path, dev_keys: DevKeys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        process = await _start(tmp_path, dev_keys, port=str(taken.getsockname()[1]))
        stdout, _ = await asyncio.wait_for(process.communicate(), 15)

    assert process.returncode == 1
    events = [json.loads(line) for line in stdout.splitlines()]
    [failed] = [entry for entry in events if entry.get("event") == "failed"]
    assert "Traceback" in failed["exception"]
    assert not any(entry.get("event") == "serving" for entry in events)
