"""The commands never wait for ever, stop cleanly on Ctrl-C and explain bad settings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.onnx_models import tiny_mlp
from services.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
_AIPLAT = (sys.executable, "-m", "services.cli.main")


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """A listening socket that takes connections and never says a word, as a hung server does."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(30)
        yield listener


def _aiplat(listener: socket.socket, *argv: str, **env: str) -> subprocess.Popen[str]:
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith("AIPLAT_")},
        "PYTHONPATH": str(ROOT),
        "AIPLAT_ADDRESS": f"127.0.0.1:{listener.getsockname()[1]}",
        "AIPLAT_TOKEN": "token",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", *argv],
        env=environment,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "scorer.onnx"
    path.write_bytes(tiny_mlp().onnx_bytes)
    return path


@pytest.mark.parametrize(
    ("argv", "setting"),
    [
        (["models", "list"], "AIPLAT_TIMEOUT_SECONDS"),
        (["deploy", "get", "scorer"], "AIPLAT_TIMEOUT_SECONDS"),
        (["models", "upload", "scorer", "{model_file}"], "AIPLAT_UPLOAD_TIMEOUT_SECONDS"),
    ],
)
def test_a_server_that_never_answers_ends_in_deadline_exceeded(
    silent_server: socket.socket, model_file: Path, argv: list[str], setting: str
) -> None:
    command = _aiplat(silent_server, *(arg.format(model_file=model_file) for arg in argv), **{setting: "0.5"})
    try:
        _, err = command.communicate(timeout=15)
    finally:
        command.kill()
        command.wait()

    assert command.returncode == 1
    assert err.startswith("DEADLINE_EXCEEDED")


def test_ctrl_c_during_an_upload_stops_without_a_traceback(
    silent_server: socket.socket, model_file: Path
) -> None:
    command = _aiplat(silent_server, "models", "upload", "scorer", str(model_file))
    try:
        # The connection comes once the upload call has started.
        connection, _ = silent_server.accept()
        command.send_signal(signal.SIGINT)
        out, err = command.communicate(timeout=15)
        connection.close()
    finally:
        command.kill()
        command.wait()

    assert command.returncode == 130
    assert (out, err) == ("", "interrupted\n")


def test_a_bad_setting_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AIPLAT_TOKEN", "token")
    monkeypatch.setenv("AIPLAT_TIMEOUT_SECONDS", "soon")

    assert main(["models", "list"]) == 1

    assert capsys.readouterr().err == (
        "AIPLAT_TIMEOUT_SECONDS: Input should be a valid number, unable to parse string as a number\n"
    )


def test_an_empty_address_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As `export AIPLAT_ADDRESS=$GATEWAY` with the variable unset.
    monkeypatch.setenv("AIPLAT_TOKEN", "token")
    monkeypatch.setenv("AIPLAT_ADDRESS", " ")

    assert main(["models", "list"]) == 1

    assert capsys.readouterr().err == "AIPLAT_ADDRESS: String should have at least 1 character\n"


def test_a_token_cannot_be_minted_already_expired(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--data-dir", str(tmp_path), "token", "--tenant", "acme", "--roles", "viewer", "--ttl", "-5"])

    assert exit_info.value.code == 2
    assert "argument --ttl: must be at least 1" in capsys.readouterr().err


def test_output_whose_reader_has_gone_ends_quietly(tmp_path: Path) -> None:
    # As `aiplat token | head -c 0`: the reader exits before the command writes.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [*_AIPLAT, "--data-dir", str(tmp_path), "token", "--tenant", "acme", "--roles", "viewer"],
            cwd=ROOT,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)

    assert result.returncode == 128 + signal.SIGPIPE
    assert "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr
