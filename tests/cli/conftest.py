"""A real model management service process for the client commands to talk to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.runtime.devkeys import DevKeys, mint_token

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(process: subprocess.Popen[str], event: str) -> dict[str, object]:
    assert process.stdout is not None
    for line in process.stdout:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == event:
            return dict(record)
    raise AssertionError(f"the models service exited before {event!r}")


@pytest.fixture(scope="module")
def models_address(tmp_path_factory: pytest.TempPathFactory, dev_keys: DevKeys) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("models")
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith(("AIPLAT_", "OTEL_"))},
        "PYTHONPATH": str(ROOT),
        "AIPLAT_MODELS_PORT": "0",
        "AIPLAT_MODELS_METRICS_PORT": "-1",
        "AIPLAT_MODELS_DATA_DIR": str(data_dir),
        "AIPLAT_MODELS_JWKS_PATH": str(dev_keys.jwks_path),
        "AIPLAT_MODELS_SHUTDOWN_GRACE_SECONDS": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.models"], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        serving = _wait_for(process, "serving")
        _wait_for(process, "ready")
        # Keep reading its log so a full pipe never blocks the service.
        drain = threading.Thread(target=process.stdout.read if process.stdout else None, daemon=True)
        drain.start()
        yield f"127.0.0.1:{serving['port']}"
    finally:
        process.terminate()
        process.wait(timeout=15)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, models_address: str, dev_keys: DevKeys) -> str:
    """Point the commands at the service with an editor token for tenant `acme`; return the token."""
    token = mint_token(dev_keys, subject="alice", tenant="acme", roles=["editor"])
    monkeypatch.setenv("AIPLAT_ADDRESS", models_address)
    monkeypatch.setenv("AIPLAT_TOKEN", token)
    return token
