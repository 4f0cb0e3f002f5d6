"""The reference for the gateway rows: the platform's own Envoy with its HTTP filters cut to the router.

It runs beside the platform's gateway with the same listener, routes and clusters, but without
authentication, rate limiting, transcoding, gRPC statistics or the access log.  Its CPU per request
is what proxying a call through Envoy costs on this machine; what the gateway spends beyond it is
its filter chain's.  The services still verify every call's token, which passes through untouched.
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.launcher.settings import LauncherSettings
from services.launcher.supervisor import envoy_binary

ROUTER = "envoy.filters.http.router"
_START_SECONDS = 30


@dataclass(frozen=True)
class BareGateway:
    address: str
    pid: int


def bare_config(gateway_config: dict[str, Any]) -> dict[str, Any]:
    """``gateway_config`` with only the router left in each HTTP connection manager, and no access log;
    the listener and the admin take ports the system picks."""
    config = copy.deepcopy(gateway_config)
    config["admin"]["address"]["socket_address"]["port_value"] = 0
    for listener in config["static_resources"]["listeners"]:
        listener["address"]["socket_address"]["port_value"] = 0
        for chain in listener["filter_chains"]:
            for network_filter in chain["filters"]:
                manager = network_filter["typed_config"]
                manager["http_filters"] = [f for f in manager["http_filters"] if f["name"] == ROUTER]
                manager.pop("access_log", None)
    return config


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as reply:
        text: str = reply.read().decode()
        return text


def _listening_address(admin_address_path: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the bare Envoy exited with code {process.returncode}")
        if admin_address_path.exists() and (admin := admin_address_path.read_text().strip()):
            try:
                if _get(f"http://{admin}/ready").strip() == "LIVE":
                    statuses = json.loads(_get(f"http://{admin}/listeners?format=json"))["listener_statuses"]
                    socket_address = statuses[0]["local_address"]["socket_address"]
                    return f"{socket_address['address']}:{socket_address['port_value']}"
            except OSError:
                pass  # the admin is still starting
        time.sleep(0.1)
    raise RuntimeError(f"the bare Envoy did not become ready within {_START_SECONDS}s")


@contextmanager
def bare_gateway(gateway_config_path: Path, scratch: Path) -> Iterator[BareGateway]:
    """Run the bare copy of the gateway whose configuration is at ``gateway_config_path``."""
    config_path = scratch / "bare-envoy.json"
    config_path.write_text(json.dumps(bare_config(json.loads(gateway_config_path.read_text()))))
    admin_address_path = scratch / "bare-envoy-admin-address"
    threads = LauncherSettings().gateway_worker_threads()  # as many as the platform's gateway has
    argv = [str(envoy_binary()), "--config-path", str(config_path), "--use-dynamic-base-id",
            "--admin-address-path", str(admin_address_path),
            "--concurrency", str(threads), "--log-level", "error"]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield BareGateway(_listening_address(admin_address_path, process), process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
