"""Background tasks of a service: stopping them, and opening things in worker threads."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel every task (None stands for one never started), then wait until each has ended."""
    started = [task for task in tasks if task is not None]
    for task in started:
        task.cancel()
    for task in started:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Whether ``event`` is set within ``seconds``; a cancellation always goes through.

    ``asyncio.wait_for`` (Python 3.11) returns the result instead of raising when the event is set in
    the same turn of the loop as the cancellation, and a background loop built on it then keeps
    running while whoever cancelled it waits for it to end.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, seconds)):
            await event.wait()
        return True
    return False


async def opened_in_thread(open_: Callable[[], T], close: Callable[[T], object]) -> T:
    """``open_()`` run in a worker thread.

    A caller cancelled while the thread runs would leave what it opens to nobody
    (a file never closed, a temporary file never removed): it is waited for and
    handed to ``close`` before the cancellation goes on.
    """
    opening = asyncio.ensure_future(asyncio.to_thread(open_))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            close(await opening)
        raise
