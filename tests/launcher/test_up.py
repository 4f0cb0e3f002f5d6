"""`aiplat up` as a user runs it: a real process tree with the real Envoy binary."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import pytest

from aiplat.models.v1 import model_pb2, registry_service_pb2, registry_service_pb2_grpc
from services.runtime.devkeys import ensure_dev_keys, mint_token

pytestmark = pytest.mark.envoy


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    pending = [pid]
    while pending:
        current = pending.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} not printed within {timeout}s; output:\n" + "\n".join(lines))


def _call_through_gateway(gateway: str, data_dir: Path) -> None:
    keys = ensure_dev_keys(data_dir / "keys")
    token = mint_token(keys, subject="alice", tenant="acme", roles=["editor"])
    with grpc.insecure_channel(gateway) as channel:
        stub = registry_service_pb2_grpc.ModelRegistryServiceStub(channel)
        created = stub.CreateModel(
            registry_service_pb2.CreateModelRequest(model=model_pb2.Model(), model_id="fraud"),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=10,
        )
    assert created.name == "models/fraud"


def test_up_serves_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli.main",
            "--data-dir",
            str(tmp_path),
            "up",
            "--ephemeral-ports",
            "--gateway-port",
            "0",
            "--admin-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = _read_until(process, "all services SERVING", timeout=60)
        admin_line = next(line for line in lines if "gateway admin:" in line)
        admin_url = admin_line.split()[-1]
        with urllib.request.urlopen(f"{admin_url}/ready", timeout=2) as response:
            assert response.read().decode().strip() == "LIVE"
        gateway = next(line for line in lines if "gateway (gRPC and REST):" in line).split()[-1]
        _call_through_gateway(gateway, tmp_path)
        children = _descendants(process.pid)
        assert children, "aiplat up started no process"

        process.send_signal(signal.SIGTERM)
        remaining, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, remaining
    assert "stopped" in remaining
    assert [pid for pid in children if _alive(pid)] == []
    assert (tmp_path / "keys" / "jwks.json").is_file()


def test_up_reports_a_failed_start_and_exits_non_zero(tmp_path: Path) -> None:
    # An admin port that is already taken makes Envoy fail at start; the launcher must say so.
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "services.cli.main",
                "--data-dir",
                str(tmp_path),
                "up",
                "--ephemeral-ports",
                "--gateway-port",
                "0",
                "--admin-port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert "envoy exited" in result.stdout
