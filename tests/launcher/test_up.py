"""`aiplat up` as a user runs it: a real process tree with the real Envoy binary."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest

from aiplat.models.v1 import model_pb2, registry_service_pb2, registry_service_pb2_grpc
from services.runtime.devkeys import ensure_dev_keys, mint_token

from .support import alive, descendants, read_until

pytestmark = pytest.mark.envoy


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
        lines = read_until(process, "all services SERVING", timeout=60)
        admin_line = next(line for line in lines if "gateway admin:" in line)
        admin_url = admin_line.split()[-1]
        with urllib.request.urlopen(f"{admin_url}/ready", timeout=2) as response:
            assert response.read().decode().strip() == "LIVE"
        gateway = next(line for line in lines if "gateway (gRPC and REST):" in line).split()[-1]
        _call_through_gateway(gateway, tmp_path)
        children = descendants(process.pid)
        assert children, "aiplat up started no process"

        process.send_signal(signal.SIGTERM)
        remaining, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, remaining
    assert "stopped" in remaining
    assert [pid for pid in children if alive(pid)] == []
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
