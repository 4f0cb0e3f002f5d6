"""Child processes of the launcher: started with prefixed log streaming, stopped cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from services.runtime.tasks import cancel_and_wait

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
"""Loaded before any fork: the child may only call what is already loaded."""

_CHUNK_BYTES = 64 * 1024
_LONGEST_LINE_BYTES = 1024 * 1024
"""A line longer than this is passed on in pieces rather than held without bound."""


def _format_line(raw: str) -> str:
    """Turn a JSON log line into a short human line; pass anything else through."""
    # The gateway's access log lines have no message: they pass through unparsed.
    if '"message"' not in raw:
        return raw
    try:
        record = json.loads(raw)
    except ValueError:
        return raw
    if not isinstance(record, dict) or "message" not in record:
        return raw
    extras = {
        k: v
        for k, v in record.items()
        if k not in {"time", "level", "logger", "message", "service", "span_id"} and v not in (None, "")
    }
    suffix = " " + json.dumps(extras, separators=(",", ":")) if extras else ""
    return f"{record.get('level', 'INFO'):<7} {record['message']}{suffix}"


@dataclass
class Child:
    """One supervised process and what the launcher has learned from its output."""

    name: str
    process: asyncio.subprocess.Process
    serving_port: asyncio.Future[int] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    pump_tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid


async def _pump(child: Child, stream: asyncio.StreamReader, write: Callable[[str], None], width: int) -> None:
    # Whatever arrived at once is passed on in one write: a busy gateway logs a line per call.
    pending = b""
    while chunk := await stream.read(_CHUNK_BYTES):
        *lines, pending = (pending + chunk).split(b"\n")
        if len(pending) > _LONGEST_LINE_BYTES:
            lines.append(pending)
            pending = b""
        if lines:
            write("\n".join(_relayed(child, line, width) for line in lines))
    if pending:
        write(_relayed(child, pending, width))


def _relayed(child: Child, line: bytes, width: int) -> str:
    text = line.decode("utf-8", errors="replace")
    _note_serving_port(child, text)
    return f"{child.name:<{width}} | {_format_line(text)}"


def _note_serving_port(child: Child, text: str) -> None:
    if child.serving_port.done() or '"serving"' not in text:
        return
    with contextlib.suppress(ValueError, TypeError, KeyError):
        record = json.loads(text)
        if record.get("event") == "serving":
            child.serving_port.set_result(int(record["port"]))


async def start_child(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    write: Callable[[str], None],
    name_width: int,
) -> Child:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_terminate_with_parent(os.getpid()) if _LIBC is not None else None,
        # A process group of its own: Ctrl-C in the terminal reaches the launcher alone, which stops the
        # children in order (SIGTERM, grace, SIGKILL) rather than have each die mid-start on SIGINT.
        process_group=0,
    )
    child = Child(name=name, process=process)
    assert process.stdout is not None
    assert process.stderr is not None
    child.pump_tasks = [
        asyncio.create_task(_pump(child, process.stdout, write, name_width)),
        asyncio.create_task(_pump(child, process.stderr, write, name_width)),
    ]
    return child


def _terminate_with_parent(parent: int) -> Callable[[], None]:
    """What a child runs between fork and exec so that the kernel sends it SIGTERM when the launcher dies
    (killed outright, it cannot stop its children itself)."""

    def arrange() -> None:
        assert _LIBC is not None
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the launcher died before the request took effect
            os._exit(1)

    return arrange


async def stop_children(
    children: Sequence[Child], grace_seconds: float, hurry: asyncio.Event | None = None
) -> None:
    """SIGTERM every running child, wait for the grace period (or until ``hurry`` is set: a second
    Ctrl-C), then SIGKILL what is left."""
    running = [c for c in children if c.process.returncode is None]
    for child in running:
        with contextlib.suppress(ProcessLookupError):
            child.process.send_signal(signal.SIGTERM)
    waits = [asyncio.create_task(c.process.wait()) for c in running]
    if waits:
        every_exit = asyncio.create_task(asyncio.wait(waits))
        hurried = asyncio.create_task((hurry or asyncio.Event()).wait())
        await asyncio.wait({every_exit, hurried}, timeout=grace_seconds, return_when="FIRST_COMPLETED")
        await cancel_and_wait([hurried, every_exit])
        pending = [wait for wait in waits if not wait.done()]
        for child in running:
            if child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
        if pending:
            await asyncio.wait(pending)
    for child in children:
        if child.pump_tasks:
            await asyncio.gather(*child.pump_tasks, return_exceptions=True)


def python_module_argv(module: str) -> list[str]:
    return [sys.executable, "-m", module]
