"""`aiplat up` as a user runs it: a real process tree with the real Envoy binary."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest

from aiplat.models.v1 import model_pb2, registry_service_pb2, registry_service_pb2_grpc
from services.runtime.devkeys import ensure_dev_keys, mint_token

from .support import alive, descendants, gone_within, read_until, start_up, stop

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
    process = start_up(tmp_path)
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
        stop(process)
    assert process.returncode == 0, remaining
    assert "stopped" in remaining
    assert [pid for pid in children if alive(pid)] == []
    assert (tmp_path / "keys" / "jwks.json").is_file()


def test_up_reports_a_taken_admin_port_and_exits_non_zero(tmp_path: Path) -> None:
    # An admin port that is already taken would make Envoy fail at start; the launcher says so first.
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
    assert f"port {port} on 127.0.0.1 (the gateway admin) is in use" in result.stdout
    assert "--admin-port / AIPLAT_ADMIN_PORT" in result.stdout


def test_up_stops_cleanly_when_its_terminal_hangs_up(tmp_path: Path) -> None:
    process = start_up(tmp_path)
    try:
        read_until(process, "all services SERVING", timeout=60)
        children = descendants(process.pid)
        process.send_signal(signal.SIGHUP)
        remaining, _ = process.communicate(timeout=30)
    finally:
        stop(process)
    assert process.returncode == 0
    assert "stopped" in remaining
    assert gone_within(children, 0) == []


def test_up_stops_its_services_when_its_output_has_no_reader_left(tmp_path: Path) -> None:
    # As `aiplat up | head` once head has exited: the next line (here the gateway's access log
    # line of a call) finds no reader, and the platform stops instead of running on unwatched.
    process = start_up(tmp_path)
    try:
        lines = read_until(process, "all services SERVING", timeout=60)
        children = descendants(process.pid)
        assert process.stdout is not None
        process.stdout.close()
        gateway = next(line for line in lines if "gateway (gRPC and REST):" in line).split()[-1]
        _call_through_gateway(gateway, tmp_path)
        process.wait(timeout=30)
        assert process.stderr is not None
        errors = process.stderr.read()
    finally:
        stop(process)
    assert process.returncode == 128 + signal.SIGPIPE
    assert errors == ""  # no traceback, no failed flush at exit
    assert gone_within(children, 0) == []


def test_services_stop_when_up_is_killed_outright(tmp_path: Path) -> None:
    process = start_up(tmp_path)
    try:
        read_until(process, "all services SERVING", timeout=60)
        children = descendants(process.pid)
        assert children
        process.kill()
        process.wait(timeout=10)
    finally:
        stop(process)
    assert gone_within(children, 30) == [], "services left running without their launcher"
