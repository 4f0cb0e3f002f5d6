"""What the gateway tests drive: model services in a background event loop, Envoy, and clients.

The model services run in-process on an event loop of their own thread, so
the tests stay plain synchronous code with blocking gRPC and HTTP clients,
and a test can mark an instance NOT_SERVING.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jwt

from services.launcher import envoy_config
from services.launcher.catalog import ServiceSpec, service_by_name
from services.launcher.settings import LauncherSettings
from services.launcher.supervisor import envoy_binary
from services.models.artifacts import ArtifactStorage
from services.models.core import ModelsCore
from services.models.lifecycle import ModelsApp
from services.models.servicer import METHOD_ROLES, register
from services.models.settings import ModelsSettings
from services.models.store import open_store
from services.runtime.devkeys import DEFAULT_AUDIENCE, DEFAULT_ISSUER, DevKeys, mint_token
from services.runtime.server import ServiceServer, create_server
from services.runtime.store import Database
from services.runtime.tracing import Tracing

T = TypeVar("T")
MODELS: ServiceSpec = service_by_name("models")
INFERENCE: ServiceSpec = service_by_name("inference")
MAX_RESPONSE_BODY_BYTES = 6 * 1024
"""The response limit of ``inference_gateway``: a list of one model with a 4 KiB description fits, of two
does not."""


class BackgroundLoop:
    """An event loop running in a daemon thread; coroutines are submitted from the test's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="servers", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@dataclass
class ModelsInstance:
    """One model management server: its handle (health, metrics) and its core."""

    server: ServiceServer
    port: int
    core: ModelsCore
    artifact_dir: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def handled(self, method: str, code: str = "OK") -> float:
        """How many ``method`` calls of the registry service this instance answered with ``code``."""
        assert self.server.metrics is not None
        value = self.server.metrics.registry.get_sample_value(
            "aiplat_grpc_server_handled_total",
            {"service": "aiplat.models.v1.ModelRegistryService", "method": method, "code": code},
        )
        return value or 0.0


def models_settings(root: Path, keys: DevKeys) -> ModelsSettings:
    """Settings of a test server; every field a stray environment variable could change is explicit."""
    return ModelsSettings(
        host="127.0.0.1",
        port=0,
        metrics_port=0,
        data_dir=root / "data",
        database_url=None,
        jwks_path=keys.jwks_path,
        jwks_url=None,
        auth_required=True,
        shutdown_grace_seconds=0.5,
        otlp_endpoint=None,
        artifact_url=str(root / "artifacts"),
        staging_dir=root / "staging",
        max_upload_bytes=1024 * 1024,
    )


async def start_models(
    settings: ModelsSettings, db: Database, tracing: Tracing | None = None
) -> ModelsInstance:
    """A SERVING model management server over ``db``; ``tracing`` None: spans are not kept."""
    core = ModelsCore.build(
        db,
        ArtifactStorage(settings.resolved_artifact_url()),
        staging_dir=settings.resolved_staging_dir(),
        max_upload_bytes=settings.max_upload_bytes,
        watch_queue_size=64,
    )
    server, port = create_server(
        "models", settings, register(ModelsApp.ready(core)), method_roles=METHOD_ROLES, tracing=tracing
    )
    await server.start()
    await server.set_serving()
    return ModelsInstance(
        server=server, port=port, core=core, artifact_dir=Path(settings.resolved_artifact_url())
    )


async def stop_models(instance: ModelsInstance) -> None:
    await instance.core.close()
    await instance.server.stop(0)


@contextlib.contextmanager
def models_instances(
    loop: BackgroundLoop, root: Path, keys: DevKeys, count: int
) -> Iterator[list[ModelsInstance]]:
    """``count`` servers sharing one SQLite file, as several processes of the service would."""
    url = f"sqlite:///{root / 'models.db'}"
    databases = [open_store(url) for _ in range(count)]
    settings = models_settings(root, keys)
    instances = [loop.run(start_models(settings, db)) for db in databases]
    try:
        yield instances
    finally:
        for instance in instances:
            loop.run(stop_models(instance))
        for db in databases:
            db.dispose()


def gateway_settings(**overrides: Any) -> LauncherSettings:
    """Launcher settings from defaults only (no environment), with ports the OS picks."""
    values: dict[str, Any] = {"gateway_port": 0, "admin_port": 0, **overrides}
    return LauncherSettings.model_construct(**values)


def _http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


@dataclass
class Envoy:
    """A running Envoy with the rendered configuration; its stdout (the access log) goes to a file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    admin_port: int
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def access_log(self) -> list[dict[str, Any]]:
        """The JSON access log lines written so far (Envoy writes them out every 100 ms)."""
        lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def wait_for_log(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        """The first access log line ``predicate`` accepts, waiting for it up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self.access_log():
                if predicate(record):
                    return record
            time.sleep(0.05)
        raise AssertionError(f"no matching access log line within {timeout}s: {self.access_log()[-5:]}")

    def clusters(self) -> dict[str, Any]:
        status, body = _http_get(f"{self.admin_url}/clusters?format=json")
        assert status == 200, body
        found: dict[str, Any] = json.loads(body)
        return found

    def __enter__(self) -> Envoy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def prometheus(envoy: Envoy) -> dict[str, float]:
    """The admin's ``/stats/prometheus`` samples, by series (name and labels)."""
    status, body = _http_get(f"{envoy.admin_url}/stats/prometheus")
    assert status == 200, body
    samples = (line.rsplit(" ", 1) for line in body.splitlines() if line and not line.startswith("#"))
    return {series: float(value) for series, value in samples}


def start_envoy(
    config: envoy_config.GatewayConfig,
    workdir: Path,
    *,
    runtime: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
) -> Envoy:
    """Render ``config``, run Envoy with it, and wait until its listener is up.

    ``runtime`` sets Envoy runtime values, e.g. to flush spans sooner than in production.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    rendered = envoy_config.render(config)
    if runtime:
        rendered["layered_runtime"] = {"layers": [{"name": "tests", "static_layer": dict(runtime)}]}
    path = envoy_config.write(rendered, workdir / "envoy.json")
    admin_address = workdir / "admin-address"
    log_path = workdir / "envoy.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(envoy_binary()),
                "--config-path",
                str(path),
                "--admin-address-path",
                str(admin_address),
                "--use-dynamic-base-id",
                "--log-level",
                "warn",
                "--file-flush-interval-msec",
                "100",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    try:
        while True:
            if process.poll() is not None:
                raise AssertionError(f"envoy exited with {process.returncode}:\n{log_path.read_text()}")
            if admin_address.exists() and (text := admin_address.read_text().strip()):
                admin_port = int(text.rsplit(":", 1)[1])
                status, body = _http_get(f"http://127.0.0.1:{admin_port}/ready")
                if status == 200 and body.strip() == "LIVE":
                    _, listeners = _http_get(f"http://127.0.0.1:{admin_port}/listeners?format=json")
                    listener = json.loads(listeners)["listener_statuses"][0]
                    port = int(listener["local_address"]["socket_address"]["port_value"])
                    return Envoy(process, log_path, admin_port, port)
            if time.monotonic() > deadline:
                raise AssertionError(f"envoy not ready within {timeout}s:\n{log_path.read_text()}")
            time.sleep(0.05)
    except BaseException:
        process.kill()
        process.wait()
        raise


def local_gateway(
    settings: LauncherSettings,
    keys: DevKeys,
    instances: Sequence[ModelsInstance],
    inference_ports: Sequence[int] = (),
) -> envoy_config.GatewayConfig:
    """Model management on ``instances``, and inference on ``inference_ports`` when there are any."""
    upstreams = [envoy_config.Upstream.local(MODELS, "127.0.0.1", *(i.port for i in instances))]
    if inference_ports:
        upstreams.append(envoy_config.Upstream.local(INFERENCE, "127.0.0.1", *inference_ports))
    return envoy_config.local_config(settings, upstreams, jwks_path=keys.jwks_path)


def bearer(keys: DevKeys, tenant: str, *roles: str, subject: str = "alice", **claims: Any) -> str:
    return "Bearer " + mint_token(keys, subject=subject, tenant=tenant, roles=roles or ("editor",), **claims)


def tampered(token: str) -> str:
    """``token`` with one character of its signature changed: well formed, but its signature fails."""
    header, payload, signature = token.split(".")
    flipped = ("B" if signature[10] == "A" else "A").join((signature[:10], signature[11:]))
    return f"{header}.{payload}.{flipped}"


def tenantless_bearer(keys: DevKeys) -> str:
    """A valid token without a ``tenant`` claim, which mint_token cannot make."""
    now = int(time.time())
    claims = {
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "sub": "nobody",
        "roles": ["viewer"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    signed = jwt.encode(
        claims, keys.private_key_path.read_bytes(), algorithm="RS256", headers={"kid": keys.key_id}
    )
    return f"Bearer {signed}"


@dataclass(frozen=True)
class Reply:
    """An HTTP response, read whole."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def rest(
    address: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    authorization: str | None = None,
    headers: Mapping[str, str] | None = None,
    raw_body: bytes | None = None,
    timeout: float = 10.0,
) -> Reply:
    """One HTTP/1.1 request to the gateway."""
    host, port = address.rsplit(":", 1)
    sent = dict(headers or {})
    if authorization is not None:
        sent["authorization"] = authorization
    data = raw_body if raw_body is not None else None if body is None else json.dumps(body).encode()
    if data is not None:
        sent.setdefault("content-type", "application/json")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def failing_health_checks(envoy: Envoy, cluster: str) -> dict[int, bool]:
    """Per instance port of ``cluster``: whether Envoy's health checks currently fail."""
    (found,) = [c for c in envoy.clusters()["cluster_statuses"] if c["name"] == cluster]
    return {
        host["address"]["socket_address"]["port_value"]: bool(
            host["health_status"].get("failed_active_health_check")
        )
        for host in found["host_statuses"]
    }


def wait_for_health(
    envoy: Envoy, cluster: str, wanted: dict[int, bool], outcomes: list[str], call: Callable[[], str]
) -> None:
    """Call (each outcome goes to ``outcomes``) until Envoy sees ``cluster``'s health as ``wanted``."""
    deadline = time.monotonic() + 10
    while (seen := failing_health_checks(envoy, cluster)) != wanted:
        assert time.monotonic() < deadline, f"health checks never reached {wanted}: {seen}"
        outcomes.append(call())
        time.sleep(0.05)
    # The admin shows the main thread's view; the workers that route get it a moment later.
    time.sleep(0.1)
