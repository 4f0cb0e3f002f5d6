"""`aiplat up` when something goes wrong: a service dies, a port is taken, the data directory is in use or
unusable, the user interrupts startup, Envoy is missing or refuses its configuration."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from services.launcher import supervisor
from services.launcher.catalog import SERVICES
from services.launcher.processes import Child, start_child, stop_children
from services.launcher.settings import LauncherSettings

from .support import AIPLAT, EPHEMERAL, alive, descendants, gone_within, read_until, start_up, stop

pytestmark = pytest.mark.envoy


def _run(
    data_dir: Path, *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AIPLAT, "--data-dir", str(data_dir), "up", *(options or EPHEMERAL)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def _service_pid(launcher: int, module: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in descendants(launcher):
            try:
                if module in Path(f"/proc/{pid}/cmdline").read_text():
                    return pid
            except FileNotFoundError:
                continue
        time.sleep(0.02)
    raise AssertionError(f"{module} never started")


def test_a_service_killed_while_running_stops_the_platform_and_says_which_and_how(tmp_path: Path) -> None:
    process = start_up(tmp_path)
    try:
        read_until(process, "all services SERVING", timeout=60)
        children = descendants(process.pid)
        os.kill(_service_pid(process.pid, "services.models", 1), signal.SIGKILL)
        remaining, _ = process.communicate(timeout=30)
    finally:
        stop(process)
    assert process.returncode == 1
    assert "models was killed by SIGKILL while the platform was running; stopping the platform" in remaining
    assert "stopped" in remaining
    assert gone_within(children, 0) == [], "the gateway or a service kept running after models died"


def test_a_service_that_dies_before_serving_is_reported_at_once(tmp_path: Path) -> None:
    # models reports its port, then fails to open its store: the launcher must not wait out the timeout.
    (tmp_path / "models.db").write_text("not a database at all, but long enough to be read as one\n")
    started = time.monotonic()
    result = _run(tmp_path, *EPHEMERAL, env={"AIPLAT_STARTUP_TIMEOUT_SECONDS": "45"})
    assert time.monotonic() - started < 20
    assert result.returncode == 1
    assert "aiplat up failed: models exited with code 1 while starting" in result.stdout


def test_a_taken_gateway_port_is_named_with_the_setting_to_change(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(tmp_path, "--ephemeral-ports", "--admin-port", "0", "--gateway-port", str(port))
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 (the gateway) is in use" in result.stdout
    assert "--gateway-port / AIPLAT_GATEWAY_PORT" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "models" not in result.stdout, "services were started before the taken port was noticed"


def test_a_second_up_on_the_same_data_dir_is_refused_and_the_first_keeps_running(tmp_path: Path) -> None:
    first = start_up(tmp_path)
    try:
        read_until(first, "all services SERVING", timeout=60)
        second = _run(tmp_path)
        assert first.poll() is None
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    finally:
        stop(first)
    assert second.returncode == 1
    assert f"another aiplat up (pid {first.pid}) is running with the data directory" in second.stdout
    assert "models" not in second.stdout, "the second platform started services on the first one's stores"
    assert first.returncode == 0


def test_a_data_dir_that_is_a_file_is_reported_without_a_traceback(tmp_path: Path) -> None:
    data_dir = tmp_path / "state"
    data_dir.write_text("")
    result = _run(data_dir)
    assert result.returncode == 1
    assert f"the data directory {data_dir} is not a directory" in result.stdout
    assert "AIPLAT_DATA_DIR" in result.stdout
    assert result.stderr == ""


def test_ctrl_c_during_startup_stops_every_child_at_once(tmp_path: Path) -> None:
    # The terminal sends SIGINT to the whole foreground process group, launcher and children alike.
    process = start_up(tmp_path, new_session=True)
    try:
        _service_pid(process.pid, "services.models", 30)
        children = descendants(process.pid)
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        stop(process)
    assert process.returncode == 128 + signal.SIGINT
    assert "interrupted while starting" in out
    assert "all services SERVING" not in out
    assert "Traceback" not in out + err, "a child died of the SIGINT mid-start instead of being stopped"
    assert gone_within(children | descendants(process.pid), 0) == []


def test_sigterm_during_startup_stops_it_rather_than_finish_starting(tmp_path: Path) -> None:
    process = start_up(tmp_path)
    try:
        _service_pid(process.pid, "services.models", 30)
        children = descendants(process.pid)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        stop(process)
    assert "all services SERVING" not in out
    assert process.returncode == 128 + signal.SIGTERM
    assert gone_within(children, 0) == []


def _run_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, envoy: Path) -> tuple[int, list[str]]:
    monkeypatch.setattr(supervisor, "envoy_binary", lambda: envoy)
    settings = LauncherSettings(
        data_dir=tmp_path / "data",
        ephemeral_ports=True,
        gateway_port=0,
        admin_port=0,
        shutdown_grace_seconds=5,
    )
    lines: list[str] = []
    status = asyncio.run(supervisor.run_platform(settings, SERVICES, lines.append))
    return status, lines


def test_a_missing_envoy_binary_is_reported_and_the_services_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, lines = _run_platform(tmp_path, monkeypatch, tmp_path / "no-envoy")
    assert status == 1
    assert any(line.startswith("aiplat up failed: cannot start gateway") for line in lines), lines
    assert lines[-1] == "stopped"


def test_envoy_refusing_its_configuration_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    envoy = tmp_path / "envoy"
    envoy.write_text("#!/bin/sh\necho 'error initializing configuration: invalid listener' >&2\nexit 1\n")
    envoy.chmod(0o755)
    status, lines = _run_platform(tmp_path, monkeypatch, envoy)
    assert status == 1
    assert any("invalid listener" in line for line in lines)
    assert "aiplat up failed: gateway exited with code 1 while starting" in lines


async def _child_ignoring_sigterm() -> Child:
    child = await start_child(
        "stubborn",
        ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"],
        env={},
        write=lambda line: None,
        name_width=8,
    )
    await asyncio.sleep(0.3)  # the trap is set
    return child


async def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period() -> None:
    child = await _child_ignoring_sigterm()
    started = time.monotonic()
    await stop_children([child], grace_seconds=0.5)
    assert child.process.returncode == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - started < 5
    assert not alive(child.pid)


async def test_a_second_stop_signal_cuts_the_grace_period_short() -> None:
    child = await _child_ignoring_sigterm()
    hurry = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, hurry.set)
    started = time.monotonic()
    await stop_children([child], grace_seconds=60, hurry=hurry)
    assert child.process.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 30, "killed when hurried, not after the 60 s grace"
    assert not alive(child.pid)
