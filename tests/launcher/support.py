"""Watching `aiplat up` from the outside: its output and its process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    pending = [pid]
    while pending:
        current = pending.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} not printed within {timeout}s; output:\n" + "\n".join(lines))


AIPLAT = (sys.executable, "-m", "services.cli.main")
EPHEMERAL = ("--ephemeral-ports", "--gateway-port", "0", "--admin-port", "0")


def start_up(
    data_dir: Path, *options: str, env: Mapping[str, str] | None = None, new_session: bool = False
) -> subprocess.Popen[str]:
    """`aiplat up` on ``data_dir`` (ports the OS picks unless ``options`` say otherwise), output piped.
    ``new_session``: in a process group of its own, as a terminal's foreground job, for Ctrl-C."""
    return subprocess.Popen(
        [*AIPLAT, "--data-dir", str(data_dir), "up", *(options or EPHEMERAL)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        start_new_session=new_session,
    )


def gone_within(pids: set[int], seconds: float) -> list[int]:
    """Those of ``pids`` still running after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while (running := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return running


def stop(process: subprocess.Popen[str]) -> None:
    """Kill what is left of ``process`` and close its pipes."""
    if process.poll() is None:
        process.kill()
        process.wait()
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
