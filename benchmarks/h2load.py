"""Drive a gRPC unary method or a REST route with h2load, which runs outside the Python interpreter.

h2load sends the same request body over HTTP/2 again and again; it cannot read gRPC trailers, so
the caller checks correctness separately (the bytes received, and a sampled output).
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.stats import quantiles_ms

_DATA_BYTES = re.compile(r"^traffic:.*\((\d+)\) data$", re.MULTILINE)


@dataclass(frozen=True)
class LoadResult:
    """Counts and per-request latencies from one h2load run."""

    requests: int
    succeeded: int
    data_bytes: int
    seconds: float
    p50_ms: float
    p99_ms: float


GRPC_HEADERS = {"content-type": "application/grpc", "te": "trailers"}
"""What a gRPC client sends with every call."""


def grpc_frame(message: bytes) -> bytes:
    """The gRPC length-prefixed message framing (uncompressed)."""
    return struct.pack(">?I", False, len(message)) + message


def framed_size(message_size: int) -> int:
    return 5 + message_size


def h2load_binary() -> str:
    path = shutil.which("h2load")
    if path is None:
        raise RuntimeError("h2load is missing: install Debian's nghttp2-client (make bench does)")
    return path


def run(
    urls: Sequence[str],
    body: bytes,
    *,
    seconds: float,
    connections: int,
    streams_per_connection: int,
    headers: Mapping[str, str],
) -> LoadResult:
    """One h2load per URL, all at once (``connections`` each), merged into one result.

    Several URLs stand for the instances of one service, loaded as a client-side balancer would.
    """
    with tempfile.TemporaryDirectory() as scratch:
        body_path = Path(scratch) / "body.bin"
        body_path.write_bytes(body)
        processes = []
        for index, url in enumerate(urls):
            log_path = Path(scratch) / f"requests-{index}.tsv"
            argv = [
                h2load_binary(),
                "-D", f"{seconds:g}",
                "-c", str(connections),
                "-m", str(streams_per_connection),
                "-t", "1",
                "-d", str(body_path),
                "--log-file", str(log_path),
            ]  # fmt: skip
            for name, value in headers.items():
                argv += ["-H", f"{name}: {value}"]
            argv.append(url)
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            processes.append((process, log_path))
        rows: list[list[str]] = []
        data_bytes = 0
        for process, log_path in processes:
            output, _ = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"h2load failed with {process.returncode}:\n{output}")
            rows += [line.split("\t") for line in log_path.read_text().splitlines() if line]
            data = _DATA_BYTES.search(output)
            data_bytes += int(data.group(1)) if data else 0
    if not rows:
        raise RuntimeError("h2load completed no request")
    starts = [int(r[0]) for r in rows]
    ends = [int(r[0]) + int(r[2]) for r in rows]
    p50, p99 = quantiles_ms([int(r[2]) / 1e6 for r in rows])
    return LoadResult(
        requests=len(rows),
        succeeded=sum(1 for r in rows if r[1] == "200"),
        data_bytes=data_bytes,
        seconds=(max(ends) - min(starts)) / 1e6,
        p50_ms=p50,
        p99_ms=p99,
    )
