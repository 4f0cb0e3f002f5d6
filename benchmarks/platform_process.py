"""The platform under test: `aiplat up` as a user runs it, in a scratch data directory."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from services.runtime.devkeys import ensure_dev_keys, mint_token

_LOG_LINES = 200
_ENDPOINTS = re.compile(r"^\s+(\S+)\s+(\d+\.\d+\.\d+\.\d+:\d+(?:, \d+\.\d+\.\d+\.\d+:\d+)*)$")


@dataclass
class Platform:
    """A running `aiplat up` and the addresses it printed."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    up_args: tuple[str, ...] = ()
    """Extra `aiplat up` arguments, e.g. ``("--inference-replicas", "2")``."""
    addresses: dict[str, str] = field(default_factory=dict)
    """Per service, its first instance's address; ``gateway`` too."""
    instances: dict[str, list[str]] = field(default_factory=dict)
    """Per service, the address of each of its instances."""
    log: deque[str] = field(default_factory=lambda: deque(maxlen=_LOG_LINES))
    """The last lines `aiplat up` printed (the gateway's access log among them)."""
    _process: subprocess.Popen[str] | None = None
    _reader: threading.Thread | None = None

    def __enter__(self) -> Platform:
        argv = [sys.executable, "-m", "services.cli.main", "--data-dir", str(self.data_dir), "up",
                "--ephemeral-ports", "--gateway-port", "0", "--admin-port", "0", *self.up_args]  # fmt: skip
        self._process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **self.env, "PYTHONUNBUFFERED": "1"},
        )
        assert self._process.stdout is not None
        deadline = time.monotonic() + 120
        for line in self._process.stdout:
            self.log.append(line.rstrip("\n"))
            if (match := _ENDPOINTS.match(line.rstrip("\n"))) is not None:
                self.instances[match.group(1)] = match.group(2).split(", ")
                self.addresses[match.group(1)] = self.instances[match.group(1)][0]
            if "gateway (gRPC and REST):" in line:
                self.addresses["gateway"] = line.split()[-1]
            if "all services SERVING" in line:
                # Keep reading: a full pipe would stop `aiplat up` at its next line of output.
                self._reader = threading.Thread(target=self._drain, daemon=True, name="aiplat-up-output")
                self._reader.start()
                return self
            if time.monotonic() > deadline:
                break
        self.__exit__(None, None, None)
        raise RuntimeError("aiplat up did not start:\n" + "\n".join(list(self.log)[-40:]))

    def _drain(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.log.append(line.rstrip("\n"))

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._finish(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._finish(timeout=None)

    def _finish(self, timeout: float | None) -> None:
        assert self._process is not None
        if self._reader is None:
            self._process.communicate(timeout=timeout)
        else:  # the reader owns the output
            self._process.wait(timeout=timeout)
            self._reader.join(timeout=5)

    @property
    def pid(self) -> int:
        """The `aiplat up` process; every platform process runs below it."""
        assert self._process is not None
        return self._process.pid

    def token(self, tenant: str = "bench", roles: tuple[str, ...] = ("editor",)) -> str:
        keys = ensure_dev_keys(self.data_dir / "keys")
        return mint_token(keys, subject="bench", tenant=tenant, roles=list(roles), ttl_seconds=6 * 3600)
