"""A lone request of a cheap model runs on the event loop; anything else runs in a worker thread."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pytest

from services.inference.batcher import MAX_REMEMBERED_COSTS, Batcher
from services.inference.errors import ModelExecutionError
from services.inference.execution import BatchingOptions
from services.inference.validation import PreparedRequest


class Runner:
    """Adds one; remembers which thread ran each batch, and its size."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, int]] = []

    def prepare(self, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
        return feeds

    def infer(self, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        self.runs.append((threading.get_ident(), len(feeds["x"])))
        return {"y": feeds["x"] + 1}


def _request(value: float, width: int = 2) -> PreparedRequest:
    return PreparedRequest({"x": np.full((1, width), value, np.float32)}, 1, ((width,),), ("y",))


async def test_a_lone_request_of_a_cheap_model_runs_inside_submit_once_its_cost_is_known() -> None:
    runner = Runner()
    loop_thread = threading.get_ident()
    batcher = Batcher([runner], BatchingOptions(max_batch_size=8), inline_below_us=10_000)
    batcher.start()
    try:
        first = await batcher.submit(_request(1))  # unknown cost: measured in a thread first
        await asyncio.sleep(0)
        second = batcher.submit(_request(2))
        assert second.done(), "ran before submit returned"
    finally:
        await batcher.close()

    assert first["y"][0, 0] == 2
    assert second.result()["y"][0, 0] == 3
    assert [thread == loop_thread for thread, _ in runner.runs] == [False, True]


async def test_requests_arriving_in_one_pass_of_the_loop_are_batched_not_run_one_by_one() -> None:
    runner = Runner()
    loop_thread = threading.get_ident()
    batcher = Batcher([runner], BatchingOptions(max_batch_size=8), inline_below_us=10_000)
    batcher.start()
    try:
        await batcher.submit(_request(0))
        await asyncio.sleep(0)
        burst = [batcher.submit(_request(i)) for i in range(4)]
        assert burst[0].done()
        assert not any(f.done() for f in burst[1:])
        results = await asyncio.gather(*burst)
        await asyncio.sleep(0)
        again = await asyncio.gather(*(batcher.submit(_request(i)) for i in range(3)))
    finally:
        await batcher.close()

    assert [o["y"][0, 0] for o in results] == [1, 2, 3, 4]
    assert [o["y"][0, 0] for o in again] == [1, 2, 3]
    runs = [(thread == loop_thread, size) for thread, size in runner.runs]
    # The burst's first request ran inside submit; its company formed one batch, in a thread.
    assert runs[:3] == [(False, 1), (True, 1), (False, 3)]
    # The burst had company, so no request runs inside submit now; the next batch of
    # the same size class (2-3 elements) is known to be cheap and runs on the loop.
    assert runs[3:] == [(True, 3)]


async def test_run_times_are_learnt_per_input_shape() -> None:
    runner = Runner()
    loop_thread = threading.get_ident()
    batcher = Batcher([runner], BatchingOptions(max_batch_size=8), inline_below_us=10_000)
    batcher.start()
    try:
        for width in (2, 2, 500, 500):
            await batcher.submit(_request(1, width))
            await asyncio.sleep(0)
    finally:
        await batcher.close()
    # A wider input is a new shape: its first run is measured in a thread, however cheap narrow ones were.
    assert [thread == loop_thread for thread, _ in runner.runs] == [False, True, False, True]


async def test_without_a_threshold_every_run_is_in_a_thread() -> None:
    runner = Runner()
    batcher = Batcher([runner], BatchingOptions(max_batch_size=8))
    batcher.start()
    try:
        for i in range(3):
            await batcher.submit(_request(i))
    finally:
        await batcher.close()
    assert threading.get_ident() not in {thread for thread, _ in runner.runs}


async def test_run_times_are_kept_for_the_shapes_used_last_only() -> None:
    runner = Runner()
    loop_thread = threading.get_ident()
    batcher = Batcher([runner], BatchingOptions(max_batch_size=8), inline_below_us=10_000)
    batcher.start()
    try:
        for width in range(1, MAX_REMEMBERED_COSTS + 2):
            await batcher.submit(_request(1, width))
        await asyncio.sleep(0)
        await batcher.submit(_request(1, MAX_REMEMBERED_COSTS + 1))
        await asyncio.sleep(0)
        await batcher.submit(_request(1, 1))
    finally:
        await batcher.close()
    # Clients choose the shapes: the oldest one's cost was forgotten, so it is measured in a thread again.
    assert [thread == loop_thread for thread, _ in runner.runs[-2:]] == [True, False]


class FailsSlowly(Runner):
    """Adds one; once ``failing`` is set, each run fails after 80 ms."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False

    def infer(self, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        if not self.failing:
            return super().infer(feeds)
        self.runs.append((threading.get_ident(), len(feeds["x"])))
        time.sleep(0.08)
        raise RuntimeError("slow failure")


async def test_a_run_on_the_event_loop_that_fails_slowly_sends_its_size_to_a_thread() -> None:
    runner = FailsSlowly()
    loop_thread = threading.get_ident()
    batcher = Batcher([runner], BatchingOptions(max_batch_size=8), inline_below_us=10_000)
    batcher.start()
    try:
        await batcher.submit(_request(1))  # measured in a thread: cheap
        await asyncio.sleep(0)
        runner.failing = True
        for _ in range(2):
            with pytest.raises(ModelExecutionError):
                await batcher.submit(_request(2))
            await asyncio.sleep(0)
    finally:
        await batcher.close()
    # The failure held the event loop for 80 ms: the next run of that size is in a thread.
    assert [thread == loop_thread for thread, _ in runner.runs] == [False, True, False]
