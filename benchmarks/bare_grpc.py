"""The floor under the direct gRPC rows: Python's asyncio gRPC server answering ``ModelInfer`` with
a reply fixed in advance.

Each server runs in its own process, started with the services' gRPC core options, as many as the
platform has inference replicas.  It parses nothing, runs nothing and checks nothing: its CPU per
request is what the transport costs the inference service on this machine, and its throughput is
the most any Python gRPC service could answer here.  The reply is the service's own answer to the
benchmark's request, so its rows are checked like the others.

Run as a module, it is one such server: ``python -m benchmarks.bare_grpc REPLY_FILE PORT_FILE``.
"""

from __future__ import annotations

# Before grpc is imported: the options the inference service starts gRPC's core with.
import services.runtime.grpc_core  # noqa: F401  (isort: skip)

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

_SERVICE = "inference.GRPCInferenceService"
_START_SECONDS = 30


@dataclass(frozen=True)
class BareGrpc:
    addresses: tuple[str, ...]
    pids: tuple[int, ...]


async def _serve(reply: bytes, port_file: Path) -> None:
    async def model_infer(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return reply

    handler = grpc.method_handlers_generic_handler(
        _SERVICE, {"ModelInfer": grpc.unary_unary_rpc_method_handler(model_infer)}
    )
    server = grpc.aio.server(handlers=(handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    written = port_file.with_suffix(".tmp")
    written.write_text(str(port))
    written.replace(port_file)  # the parent never reads a half-written port
    await server.wait_for_termination()


@contextmanager
def _one(reply_file: Path, port_file: Path) -> Iterator[tuple[str, int]]:
    port_file.unlink(missing_ok=True)  # an earlier server's, in the same scratch folder
    argv = [sys.executable, "-m", "benchmarks.bare_grpc", str(reply_file), str(port_file)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + _START_SECONDS
        while not (port_file.exists() and port_file.read_text()):
            if process.poll() is not None:
                raise RuntimeError(f"the bare gRPC server exited with code {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bare gRPC server did not start within {_START_SECONDS}s")
            time.sleep(0.05)
        yield f"127.0.0.1:{port_file.read_text()}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def bare_grpc(reply: bytes, count: int, scratch: Path) -> Iterator[BareGrpc]:
    """``count`` bare servers answering every ``ModelInfer`` with the serialized ``reply``."""
    reply_file = scratch / "bare-grpc-reply.bin"
    reply_file.write_bytes(reply)
    with ExitStack() as servers:
        started = [
            servers.enter_context(_one(reply_file, scratch / f"bare-grpc-{index}.port"))
            for index in range(count)
        ]
        yield BareGrpc(tuple(a for a, _ in started), tuple(p for _, p in started))


def main() -> None:
    reply_file, port_file = (Path(argument) for argument in sys.argv[1:3])
    asyncio.run(_serve(reply_file.read_bytes(), port_file))


if __name__ == "__main__":
    main()
