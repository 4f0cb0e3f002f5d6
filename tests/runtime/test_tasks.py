"""Stopping background tasks, and opening things in worker threads."""

from __future__ import annotations

import asyncio
import threading

import pytest

from services.runtime.tasks import cancel_and_wait, opened_in_thread, wait_set


async def test_every_task_is_cancelled_and_has_ended_when_it_returns() -> None:
    cleaned: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits
            cleaned.append(name)

    tasks = [asyncio.create_task(forever(name)) for name in ("a", "b")]
    await asyncio.sleep(0)
    await cancel_and_wait([*tasks, None])
    assert all(task.done() for task in tasks)
    assert sorted(cleaned) == ["a", "b"]


async def test_a_task_that_already_ended_is_fine() -> None:
    async def quick() -> int:
        return 1

    task = asyncio.create_task(quick())
    await task
    await cancel_and_wait([task])
    assert task.result() == 1


async def test_what_a_thread_opens_for_a_cancelled_caller_is_closed() -> None:
    started, go_on = threading.Event(), threading.Event()
    closed: list[str] = []

    def slow_open() -> str:
        started.set()
        assert go_on.wait(10)
        return "handle"

    opening = asyncio.create_task(opened_in_thread(slow_open, closed.append))
    assert await asyncio.to_thread(started.wait, 10)
    opening.cancel()
    await asyncio.sleep(0.05)
    assert not opening.done(), "the cancellation waits for the thread"
    go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await opening
    assert closed == ["handle"]


async def test_what_a_thread_opens_is_returned_when_nobody_cancels() -> None:
    closed: list[str] = []
    assert await opened_in_thread(lambda: "handle", closed.append) == "handle"
    assert closed == []


async def test_wait_set_tells_whether_the_event_was_set_in_time() -> None:
    event = asyncio.Event()
    assert not await wait_set(event, 0.01)
    assert not await wait_set(event, -1.0), "a time already past waits for nothing"
    event.set()
    assert await wait_set(event, 60)


async def test_a_cancellation_arriving_in_the_turn_the_event_is_set_still_cancels() -> None:
    # A background loop waiting so must end when cancelled, or whoever cancels it waits for ever.
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_set(event, 60))
    await asyncio.sleep(0)
    event.set()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
