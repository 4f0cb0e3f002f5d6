"""A lone request of a cheap model runs on the event loop; anything else runs in a worker thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np

from services.inference.batcher import Batcher
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


def _request(value: float) -> PreparedRequest:
    return PreparedRequest({"x": np.full((1, 2), value, np.float32)}, 1, ((2,),), ("y",))


async def test_lone_requests_of_a_cheap_model_run_on_the_loop_and_batches_in_a_thread() -> None:
    runner = Runner()
    loop_thread = threading.get_ident()
    batcher = Batcher([runner], BatchingOptions(max_batch_size=8), inline_below_us=10_000)
    batcher.start()
    try:
        first = await batcher.submit(_request(1))  # unknown cost: measured in a thread first
        second = await batcher.submit(_request(2))
        together = await asyncio.gather(*(batcher.submit(_request(i)) for i in range(3)))
    finally:
        await batcher.close()

    assert first["y"][0, 0] == 2
    assert second["y"][0, 0] == 3
    assert [o["y"][0, 0] for o in together] == [1, 2, 3]
    threads = [thread for thread, _ in runner.runs]
    assert threads[0] != loop_thread
    assert threads[1] == loop_thread
    assert runner.runs[2][1] == 3, "the three waiting requests formed one batch"
    assert threads[2] != loop_thread


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
