"""Dynamic batching: batches form under load, failures stay in their batch, load is shed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from services.inference.batcher import Batcher, QueueBudget
from services.inference.errors import (
    InvalidInput,
    ModelExecutionError,
    ModelRejectedInput,
    QueueFull,
    RequestExpired,
    VersionUnloaded,
)
from services.inference.execution import RUN_FAILED_MESSAGE, BatchingOptions
from services.inference.stats import (
    MAX_BATCH_SIZES_KEPT,
    BatchRecord,
    FailureReason,
    Recorder,
    VersionStats,
)
from services.inference.validation import InputTensor, PreparedRequest, RequestValidator
from services.inference.version import DECODE_IN_THREAD_ABOVE, LoadedVersion, VersionConfig
from services.runtime.errors import Code, DomainError

from .support import LOOKUP_TABLE, linear_model, lookup_model, open_session, raw_input


class Runner:
    """Doubles ``x``; records batch sizes; can be held at a gate or made to fail."""

    def __init__(self, fail_when: Callable[[np.ndarray], bool] | None = None) -> None:
        self.sizes: list[int] = []
        self.gate = threading.Event()
        self.gate.set()
        self._fail_when = fail_when

    def prepare(self, feeds: dict[str, np.ndarray]) -> dict[str, Any]:
        return feeds

    def infer(self, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        x = feeds["x"]
        self.sizes.append(len(x))
        assert self.gate.wait(5), "test gate never opened"
        if self._fail_when is not None and self._fail_when(x):
            raise RuntimeError("boom")
        return {"y": x * 2}


def request(value: float, rows: int = 1, width: int = 4) -> PreparedRequest:
    x = np.full((rows, width), value, np.float32)
    return PreparedRequest({"x": x}, rows, ((width,),), ("y",))


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.001)


async def started(batcher: Batcher) -> Batcher:
    batcher.start()
    return batcher


async def test_concurrent_requests_are_batched_and_match_onnx_runtime() -> None:
    sessions = [open_session(linear_model()) for _ in range(2)]
    config = VersionConfig(
        "linear",
        "1",
        "models/linear/versions/1",
        "file:///unused",
        "0" * 64,
        instances=2,
        batching=BatchingOptions(max_batch_size=16, max_queue_delay_us=2000),
    )
    version = LoadedVersion(config, sessions)
    version.start()
    direct = ort.InferenceSession(linear_model(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    inputs = [rng.standard_normal((1 + i % 3, 4)).astype(np.float32) for i in range(64)]
    bad = raw_input("x", np.zeros((1, 5), np.float32))

    async def submit(i: int) -> Any:
        if i == 20:
            return await version.infer([bad])
        return await version.infer([raw_input("x", inputs[i])], ["y"])

    results = await asyncio.gather(*(submit(i) for i in range(64)), return_exceptions=True)

    assert isinstance(results[20], InvalidInput)
    assert results[20].field == "x"
    for i, result in enumerate(results):
        if i == 20:
            continue
        assert not isinstance(result, BaseException), result
        (output,) = result.outputs
        assert (output.name, output.datatype) == ("y", "FP32")
        np.testing.assert_allclose(output.data, direct.run(["y"], {"x": inputs[i]})[0], rtol=1e-6)
    stats = version.stats
    assert max(stats.batches) > 1, "concurrent requests must share runs"
    assert stats.execution_count < 63
    rows = sum(len(inputs[i]) for i in range(64) if i != 20)
    assert (
        stats.inference_count
        == rows
        == sum(size * b.compute_infer.count for size, b in stats.batches.items())
    )
    assert (stats.inference.success.count, stats.inference.fail.count) == (63, 1)
    assert stats.inference.queue.ns > 0
    assert stats.inference.compute_infer.ns > 0
    version.retire()
    await asyncio.wait_for(version.closed.wait(), 2)


async def test_an_id_outside_the_models_table_fails_only_its_own_request() -> None:
    config = VersionConfig(
        "lookup",
        "1",
        "models/lookup/versions/1",
        "file:///unused",
        "0" * 64,
        batching=BatchingOptions(max_batch_size=16, max_queue_delay_us=20_000),
    )
    version = LoadedVersion(config, [open_session(lookup_model())])
    version.start()
    ids = [i % 10 for i in range(16)]
    ids[9] = 42

    async def lookup(i: int) -> Any:
        return await version.infer([raw_input("ids", np.array([ids[i]], np.int64), "INT64")])

    results = await asyncio.gather(*(lookup(i) for i in range(16)), return_exceptions=True)

    rejected = results[9]
    assert isinstance(rejected, ModelRejectedInput), rejected
    assert (rejected.code, rejected.reason) == (Code.INVALID_ARGUMENT, "INPUT_REJECTED_BY_MODEL")
    assert "idx=42" in rejected.message
    for i, result in enumerate(results):
        if i != 9:
            assert not isinstance(result, BaseException), (i, result)
            np.testing.assert_array_equal(result.outputs[0].data, LOOKUP_TABLE[[ids[i]]])
    assert max(version.stats.batches) > 1, "the requests were batched before the failure was isolated"
    assert (version.stats.inference.success.count, version.stats.inference.fail.count) == (15, 1)
    version.retire()
    await asyncio.wait_for(version.closed.wait(), 2)


async def test_full_queue_sheds_requests_at_once() -> None:
    runner = Runner()
    runner.gate.clear()
    observer = Observer()
    options = BatchingOptions(max_batch_size=4, max_queue_size=2)
    batcher = await started(Batcher([runner], options, recorder=Recorder(observer=observer)))
    running = batcher.submit(request(1))
    await until(lambda: runner.sizes == [1])
    queued = [batcher.submit(request(2)), batcher.submit(request(3))]
    with pytest.raises(QueueFull) as caught:
        batcher.submit(request(4), context="shed")
    assert caught.value.code == Code.RESOURCE_EXHAUSTED
    assert observer.rejected == [("", "", "QUEUE_FULL", "shed")]
    assert caught.value.reason == "QUEUE_FULL"
    assert batcher.stats.inference.fail.count == 1
    runner.gate.set()
    await asyncio.gather(running, *queued)
    assert runner.sizes == [1, 2]
    await batcher.close()


ROW = 16
"""Bytes of one row of :func:`request`'s input."""


async def test_the_queues_of_one_server_hold_no_more_input_bytes_than_their_budget() -> None:
    budget = QueueBudget(limit_bytes=5 * ROW)
    runners = [Runner(), Runner()]
    for runner in runners:
        runner.gate.clear()
    observer = Observer()
    batchers = [
        await started(
            Batcher(
                [r], BatchingOptions(max_batch_size=8), budget=budget, recorder=Recorder(observer=observer)
            )
        )
        for r in runners
    ]
    running = [b.submit(request(1)) for b in batchers]  # taken at once: they hold nothing
    await until(lambda: all(r.sizes == [1] for r in runners))
    queued = [batchers[0].submit(request(2, rows=3)), batchers[1].submit(request(3, rows=2))]
    assert budget.held == 5 * ROW
    with pytest.raises(QueueFull) as caught:
        batchers[1].submit(request(4), context="over")
    assert caught.value.code == Code.RESOURCE_EXHAUSTED
    assert caught.value.reason == "QUEUE_FULL"
    assert "80 bytes of inputs are already queued" in caught.value.message
    assert observer.rejected == [("", "", "QUEUE_FULL", "over")]

    queued[1].cancel()  # a caller that leaves gives its bytes back at once
    await asyncio.sleep(0)
    assert budget.held == 3 * ROW
    queued.append(batchers[1].submit(request(5, rows=2)))
    for runner in runners:
        runner.gate.set()
    results = await asyncio.gather(*running, queued[0], queued[2])
    assert [float(r["y"][0, 0]) for r in results] == [2.0, 2.0, 4.0, 10.0]
    assert budget.held == 0
    for batcher in batchers:
        await batcher.close()


async def test_a_request_larger_than_the_budget_runs_when_nothing_else_is_queued() -> None:
    budget = QueueBudget(limit_bytes=ROW)
    runner = Runner()
    runner.gate.clear()
    batcher = await started(Batcher([runner], BatchingOptions(max_batch_size=8), budget=budget))
    running = batcher.submit(request(1))
    await until(lambda: runner.sizes == [1])
    large = batcher.submit(request(2, rows=4))
    assert budget.held == 4 * ROW
    with pytest.raises(QueueFull):
        batcher.submit(request(3))
    runner.gate.set()
    assert float((await large)["y"][3, 0]) == 4.0
    await running
    assert budget.held == 0
    await batcher.close()


async def test_closing_a_batcher_gives_back_what_its_queue_held() -> None:
    budget = QueueBudget(limit_bytes=100 * ROW)
    runner = Runner()
    runner.gate.clear()
    batcher = await started(Batcher([runner], BatchingOptions(max_batch_size=1), budget=budget))
    running = batcher.submit(request(1))
    await until(lambda: runner.sizes == [1])
    waiting = [batcher.submit(request(2, rows=1)), batcher.submit(request(3, rows=1))]
    assert budget.held == 2 * ROW
    runner.gate.set()
    await batcher.close()
    await running
    for unloaded in waiting:
        with pytest.raises(VersionUnloaded):
            await unloaded
    assert budget.held == 0


async def test_expired_requests_are_dropped_unrun() -> None:
    runner = Runner()
    runner.gate.clear()
    batcher = await started(Batcher([runner], BatchingOptions(max_batch_size=4)))
    running = batcher.submit(request(1))
    await until(lambda: runner.sizes == [1])
    expiring = batcher.submit(request(2), deadline=time.monotonic() + 0.02)
    patient = batcher.submit(request(3), deadline=time.monotonic() + 60)
    await asyncio.sleep(0.05)
    runner.gate.set()
    with pytest.raises(RequestExpired) as caught:
        await expiring
    assert caught.value.code == Code.DEADLINE_EXCEEDED
    np.testing.assert_array_equal((await patient)["y"], np.full((1, 4), 6.0))
    await running
    assert runner.sizes == [1, 1], "the expired request must never reach the model"
    with pytest.raises(RequestExpired):
        batcher.submit(request(4), deadline=time.monotonic() - 1)
    assert batcher.stats.inference.fail.count == 2
    await batcher.close()


async def test_preferred_batch_size_runs_before_the_delay() -> None:
    runner = Runner()
    options = BatchingOptions(max_batch_size=8, max_queue_delay_us=10_000_000, preferred_batch_sizes=(4,))
    batcher = await started(Batcher([runner], options))
    first = [batcher.submit(request(i)) for i in range(3)]
    await asyncio.sleep(0.05)
    assert runner.sizes == [], "below every preferred size the batch waits for the delay"
    first.append(batcher.submit(request(3)))
    await asyncio.wait_for(asyncio.gather(*first), 2)
    assert runner.sizes == [4]
    await batcher.close()


async def test_a_free_instance_takes_the_largest_preferred_size_that_fits() -> None:
    runner = Runner()
    runner.gate.clear()
    options = BatchingOptions(max_batch_size=8, max_queue_delay_us=10_000_000, preferred_batch_sizes=(2, 4))
    batcher = await started(Batcher([runner], options))
    futures = [batcher.submit(request(i)) for i in range(2)]
    await until(lambda: runner.sizes == [2])
    futures += [batcher.submit(request(i)) for i in range(2, 8)]
    runner.gate.set()
    await asyncio.wait_for(asyncio.gather(*futures), 2)
    assert runner.sizes == [2, 4, 2]
    await batcher.close()


async def test_the_delay_runs_whatever_has_gathered() -> None:
    runner = Runner()
    batcher = await started(Batcher([runner], BatchingOptions(max_batch_size=8, max_queue_delay_us=20_000)))
    began = time.monotonic()
    await asyncio.gather(*(batcher.submit(request(i)) for i in range(3)))
    assert time.monotonic() - began >= 0.015
    assert runner.sizes == [3]
    await batcher.close()


async def idle(batcher: Batcher, instances: int = 1) -> Batcher:
    """``batcher`` started, with its ``instances`` waiting for work."""
    batcher.start()
    await until(lambda: batcher.idle_instances == instances)
    return batcher


async def test_a_lone_request_meeting_an_idle_instance_does_not_wait_for_the_delay() -> None:
    runner = Runner()
    batcher = await idle(Batcher([runner], BatchingOptions(max_batch_size=8, max_queue_delay_us=10_000_000)))
    result = await asyncio.wait_for(batcher.submit(request(1.0)), 2)
    np.testing.assert_array_equal(result["y"], np.full((1, 4), 2.0, np.float32))
    assert runner.sizes == [1]
    await batcher.close()


async def test_requests_arriving_together_still_share_the_batch_of_an_idle_instance() -> None:
    runner = Runner()
    batcher = await idle(Batcher([runner], BatchingOptions(max_batch_size=8, max_queue_delay_us=10_000_000)))
    # Queued before the instance wakes: the batch forms when it takes the group, not when it is woken.
    await asyncio.wait_for(asyncio.gather(*(batcher.submit(request(i)) for i in range(3))), 2)
    assert runner.sizes == [3]
    await batcher.close()


async def test_while_the_instance_is_busy_requests_wait_for_company() -> None:
    runner = Runner()
    runner.gate.clear()
    options = BatchingOptions(max_batch_size=8, max_queue_delay_us=10_000_000, preferred_batch_sizes=(3,))
    batcher = await idle(Batcher([runner], options))
    busy = batcher.submit(request(0.0))
    await until(lambda: runner.sizes == [1])
    waiting = [batcher.submit(request(i)) for i in range(1, 3)]
    runner.gate.set()
    await asyncio.wait_for(busy, 2)
    await asyncio.sleep(0.05)
    assert runner.sizes == [1], "below the preferred size, queued requests wait for the delay"
    waiting.append(batcher.submit(request(3.0)))
    await asyncio.wait_for(asyncio.gather(*waiting), 2)
    assert runner.sizes == [1, 3]
    await batcher.close()


async def test_once_a_batch_had_company_a_lone_request_waits_for_the_delay_again() -> None:
    runner = Runner()
    options = BatchingOptions(max_batch_size=8, max_queue_delay_us=10_000_000, preferred_batch_sizes=(2,))
    batcher = await idle(Batcher([runner], options))
    await asyncio.wait_for(asyncio.gather(*(batcher.submit(request(i)) for i in range(2))), 2)
    await until(lambda: batcher.idle_instances == 1)
    lone = batcher.submit(request(5.0))
    await asyncio.sleep(0.05)
    assert runner.sizes == [2], "after a batch with company, a lone request waits for more"
    await asyncio.wait_for(asyncio.gather(lone, batcher.submit(request(6.0))), 2)
    assert runner.sizes == [2, 2]
    await batcher.close()


async def test_held_lone_requests_wait_for_the_delay_as_in_triton() -> None:
    runner = Runner()
    options = BatchingOptions(max_batch_size=8, max_queue_delay_us=10_000_000, hold_lone_requests=True)
    batcher = await idle(Batcher([runner], options))
    lone = batcher.submit(request(1.0))
    await asyncio.sleep(0.05)
    assert runner.sizes == [], "a held request waits for company"
    more = [batcher.submit(request(i)) for i in range(7)]
    await asyncio.wait_for(asyncio.gather(lone, *more), 2)
    assert runner.sizes == [8]
    await batcher.close()


class Observer:
    def __init__(self) -> None:
        self.batches: list[BatchRecord] = []
        self.rejected: list[tuple[str, str, str, object]] = []

    def batch_finished(self, record: BatchRecord) -> None:
        self.batches.append(record)

    def request_rejected(self, model: str, version: str, error: DomainError, context: object) -> None:
        self.rejected.append((model, version, error.reason, context))


async def test_a_request_whose_values_fail_the_run_fails_alone(caplog: pytest.LogCaptureFixture) -> None:
    runner = Runner(fail_when=lambda x: bool(np.isnan(x).any()))
    observer = Observer()
    batcher = Batcher(
        [runner],
        BatchingOptions(max_batch_size=4, max_queue_delay_us=5000),
        recorder=Recorder(observer=observer, model="m", version="1"),
    )
    batcher.start()
    values = [0, 1, 2, 3, 4, float("nan"), 6, 7, 8, 9, 10, 11]
    results = await asyncio.gather(
        *(batcher.submit(request(v), context=i) for i, v in enumerate(values)), return_exceptions=True
    )
    # The failed batch of 4 splits in halves; the failed half in single requests.
    assert runner.sizes == [4, 4, 2, 1, 1, 2, 4]
    for i, result in enumerate(results):
        if i == 5:
            assert isinstance(result, ModelExecutionError), result
            assert result.reason == "MODEL_EXECUTION_FAILED"
            assert result.message == RUN_FAILED_MESSAGE, "the runtime's own text stays in the log"
        else:
            assert isinstance(result, dict), result
            np.testing.assert_array_equal(result["y"], np.full((1, 4), 2.0 * values[i]))
    assert batcher.stats.inference.fail.count == 1
    assert batcher.stats.inference.success.count == 11
    logged = [r for r in caplog.records if getattr(r, "event", "") == "model_run_failed"]
    assert len(logged) == 1
    assert "boom" in logged[0].error
    records = observer.batches
    assert [(r.batch_size, r.error is not None) for r in records] == [
        (4, False),
        (1, False),
        (1, True),
        (2, False),
        (4, False),
    ], "each request is recorded once, by the run that settled it"
    assert [t.context for t in records[2].requests] == [5]
    assert (records[2].model, records[2].version) == ("m", "1")
    assert (
        records[0].started_ns
        <= records[0].input_done_ns
        <= records[0].infer_done_ns
        <= records[0].finished_ns
    )
    assert observer.rejected == [], "a failed run is a batch failure, not a rejection"
    await batcher.close()


async def test_several_bad_requests_in_one_batch_each_fail_and_their_neighbours_succeed() -> None:
    runner = Runner(fail_when=lambda x: bool((x < 0).any()))
    batcher = await started(Batcher([runner], BatchingOptions(max_batch_size=8, max_queue_delay_us=5000)))
    values = [0, -1, 2, 3, 4, 5, -6, 7]
    results = await asyncio.gather(*(batcher.submit(request(v)) for v in values), return_exceptions=True)
    failed = [i for i, result in enumerate(results) if isinstance(result, ModelExecutionError)]
    assert failed == [1, 6]
    for i, result in enumerate(results):
        if i not in failed:
            assert isinstance(result, dict), result
            np.testing.assert_array_equal(result["y"], np.full((1, 4), 2.0 * values[i]))
    assert len({id(results[i]) for i in failed}) == 2, "each waiter gets its own exception"
    assert len(runner.sizes) <= 1 + 2 * 2 * 3, "halving, not one run per request and pair"
    await batcher.close()


async def test_a_run_that_always_fails_fails_every_request_after_a_bounded_number_of_runs() -> None:
    runner = Runner(fail_when=lambda x: True)
    batcher = await started(Batcher([runner], BatchingOptions(max_batch_size=8, max_queue_delay_us=5000)))
    results = await asyncio.gather(*(batcher.submit(request(v)) for v in range(8)), return_exceptions=True)
    assert all(isinstance(result, ModelExecutionError) for result in results), results
    assert len(runner.sizes) == 2 * 8 - 1, "every half down to single requests, once"
    assert batcher.stats.inference.fail.count == 8
    await batcher.close()


async def test_a_request_that_expired_while_its_batch_failed_is_not_run_again() -> None:
    runner = Runner(fail_when=lambda x: bool(np.isnan(x).any()))
    runner.gate.clear()
    batcher = await started(Batcher([runner], BatchingOptions(max_batch_size=2, max_queue_delay_us=5000)))
    bad = batcher.submit(request(float("nan")))
    hurried = batcher.submit(request(1), deadline=time.monotonic() + 0.05)
    await until(lambda: runner.sizes == [2])
    await asyncio.sleep(0.06)
    runner.gate.set()
    results = await asyncio.gather(bad, hurried, return_exceptions=True)
    assert isinstance(results[0], ModelExecutionError), results
    assert isinstance(results[1], RequestExpired), results
    assert runner.sizes == [2, 1], "only the request still awaited runs again"
    await batcher.close()


class HoldSecondRun(Runner):
    """Fails on NaN; its second run waits for ``release``."""

    def __init__(self) -> None:
        super().__init__(fail_when=lambda x: bool(np.isnan(x).any()))
        self.release = threading.Event()

    def infer(self, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        if len(self.sizes) == 1:
            assert self.release.wait(5), "test never released the run"
        return super().infer(feeds)


async def test_a_worker_cancelled_while_halving_a_failed_batch_fails_what_is_unsettled() -> None:
    runner = HoldSecondRun()
    batcher = await started(Batcher([runner], BatchingOptions(max_batch_size=4, max_queue_delay_us=5000)))
    futures = [batcher.submit(request(v)) for v in (float("nan"), 1, 2, 3)]
    await until(lambda: runner.sizes == [4])
    await asyncio.sleep(0.01)  # the first half is now waiting in its run
    for worker in batcher._workers:
        worker.cancel()
    runner.release.set()
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert all(isinstance(result, VersionUnloaded) for result in results), results
    assert batcher.stats.inference.fail.count == 4, "each unsettled request is recorded once"
    await batcher.close()


def _by_reason(stats: VersionStats) -> dict[str, int]:
    return {reason.name: stats.failures[reason] for reason in FailureReason if stats.failures[reason]}


async def test_a_request_whose_caller_left_while_its_failed_batch_ran_counts_once_as_canceled() -> None:
    runner = Runner(fail_when=lambda x: bool(np.isnan(x).any()))
    runner.gate.clear()
    batcher = await started(Batcher([runner], BatchingOptions(max_batch_size=4, max_queue_delay_us=5000)))
    futures = [batcher.submit(request(v)) for v in (float("nan"), 1, 2, 3)]
    await until(lambda: runner.sizes == [4])
    futures[2].cancel()
    runner.gate.set()
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert isinstance(results[0], ModelExecutionError), results
    assert isinstance(results[2], asyncio.CancelledError), results
    stats = batcher.stats
    assert (stats.inference.success.count, stats.inference.fail.count) == (2, 2)
    assert _by_reason(stats) == {"CANCELED": 1, "BACKEND": 1}, "the failed batch itself counts nothing"
    await batcher.close()


async def test_a_worker_cancelled_while_halving_counts_a_request_whose_caller_left_as_canceled() -> None:
    runner = HoldSecondRun()
    batcher = await started(Batcher([runner], BatchingOptions(max_batch_size=4, max_queue_delay_us=5000)))
    futures = [batcher.submit(request(v)) for v in (float("nan"), 1, 2, 3)]
    await until(lambda: runner.sizes == [4])
    await asyncio.sleep(0.01)  # the first half is now waiting in its run
    futures[3].cancel()  # of the half not run yet
    for worker in batcher._workers:
        worker.cancel()
    runner.release.set()
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert all(isinstance(result, VersionUnloaded) for result in results[:3]), results
    assert batcher.stats.inference.fail.count == 4, "each request is recorded once"
    assert _by_reason(batcher.stats) == {"REJECTED": 3, "CANCELED": 1}
    await batcher.close()


async def test_only_requests_of_equal_shape_share_a_batch() -> None:
    runner = Runner()
    batcher = await started(Batcher([runner], BatchingOptions(max_batch_size=8, max_queue_delay_us=5000)))
    futures = [batcher.submit(request(i, width=4 if i % 2 else 6)) for i in range(6)]
    results = await asyncio.gather(*futures)
    assert sorted(runner.sizes) == [3, 3]
    for i, result in enumerate(results):
        assert result["y"].shape == (1, 4 if i % 2 else 6)
        assert (result["y"] == 2 * i).all()
    await batcher.close()


async def test_unbatched_models_run_one_request_at_a_time() -> None:
    runner = Runner()
    options = BatchingOptions(max_batch_size=8, max_queue_delay_us=5000)
    batcher = await started(Batcher([runner], options, batched=False))
    await asyncio.gather(*(batcher.submit(request(i)) for i in range(3)))
    assert runner.sizes == [1, 1, 1]
    await batcher.close()


async def test_several_instances_run_concurrently() -> None:
    runners = [Runner(), Runner()]
    for runner in runners:
        runner.gate.clear()
    batcher = await started(Batcher(runners, BatchingOptions(max_batch_size=1)))
    futures = [batcher.submit(request(i)) for i in range(2)]
    await until(lambda: runners[0].sizes == [1] and runners[1].sizes == [1])
    for runner in runners:
        runner.gate.set()
    await asyncio.gather(*futures)
    await batcher.close()


async def test_cancelled_requests_are_skipped_and_close_fails_what_waits() -> None:
    runner = Runner()
    runner.gate.clear()
    batcher = await started(Batcher([runner], BatchingOptions(max_batch_size=1)))
    running = batcher.submit(request(1))
    await until(lambda: runner.sizes == [1])
    cancelled = batcher.submit(request(2))
    cancelled.cancel()
    waiting = batcher.submit(request(3))
    closing = asyncio.ensure_future(batcher.close())
    await asyncio.sleep(0.01)
    runner.gate.set()
    await closing
    assert (await running)["y"].shape == (1, 4), "a running batch finishes on close"
    with pytest.raises(VersionUnloaded):
        await waiting
    assert runner.sizes == [1]
    with pytest.raises(VersionUnloaded):
        batcher.submit(request(4))


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="preferred"):
        BatchingOptions(max_batch_size=4, preferred_batch_sizes=(8,))
    with pytest.raises(ValueError, match="invalid"):
        BatchingOptions(max_queue_size=0)
    assert VersionStats().snapshot() == VersionStats()


async def test_a_failing_observer_never_fails_requests(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def batch_finished(self, record: BatchRecord) -> None:
            raise RuntimeError("metrics backend down")

        def request_rejected(self, model: str, version: str, error: DomainError, context: object) -> None:
            raise RuntimeError("metrics backend down")

    batcher = await started(Batcher([Runner()], BatchingOptions(), recorder=Recorder(observer=Broken())))
    results = await asyncio.gather(*(batcher.submit(request(i)) for i in range(3)))
    assert [float(r["y"][0, 0]) for r in results] == [0.0, 2.0, 4.0]
    assert "inference observer failed" in caplog.text
    await batcher.close()


def test_batch_statistics_keep_a_bounded_number_of_sizes() -> None:
    stats = VersionStats()
    for size in range(1, MAX_BATCH_SIZES_KEPT + 11):
        stats.record_execution(size, 1, 2, 3)
    assert len(stats.batches) == MAX_BATCH_SIZES_KEPT
    assert max(stats.batches) == MAX_BATCH_SIZES_KEPT
    assert stats.execution_count == MAX_BATCH_SIZES_KEPT + 10
    assert stats.inference_count == sum(range(1, MAX_BATCH_SIZES_KEPT + 11))


async def test_a_request_slow_to_decode_is_decoded_off_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = VersionConfig("linear", "1", "models/linear/versions/1", "file:///unused", "0" * 64)
    version = LoadedVersion(config, [open_session(linear_model())])
    version.start()
    threads: list[bool] = []
    validate = RequestValidator.validate

    def recording(self: RequestValidator, *args: Any) -> Any:
        threads.append(threading.get_ident() == loop_thread)
        return validate(self, *args)

    monkeypatch.setattr(RequestValidator, "validate", recording)
    loop_thread = threading.get_ident()
    rows = DECODE_IN_THREAD_ABOVE // 4 + 1
    typed = InputTensor("x", "FP32", [rows, 4], contents=[1.0] * (rows * 4))
    large = await version.infer([typed])
    small = await version.infer([raw_input("x", np.ones((rows, 4), np.float32))])
    assert threads == [False, True], "typed values are decoded in a thread; a raw tensor is a view"
    np.testing.assert_array_equal(large.outputs[0].data, small.outputs[0].data)
    version.retire()
    await asyncio.wait_for(version.closed.wait(), 2)


async def test_a_request_whose_caller_left_while_it_was_decoded_counts_once_as_canceled() -> None:
    config = VersionConfig("linear", "1", "models/linear/versions/1", "file:///unused", "0" * 64)
    version = LoadedVersion(config, [open_session(linear_model())])
    version.start()
    rows = DECODE_IN_THREAD_ABOVE // 4 + 1
    typed = InputTensor("x", "FP32", [rows, 4], contents=[1.0] * (rows * 4))
    call = asyncio.ensure_future(version.infer([typed]))
    await asyncio.sleep(0)  # decoding in its thread
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert (version.stats.inference.fail.count, version.stats.inference.success.count) == (1, 0)
    assert _by_reason(version.stats) == {"CANCELED": 1}
    assert version.stats.execution_count == 0
    version.retire()
    await asyncio.wait_for(version.closed.wait(), 2)


async def test_a_request_whose_caller_left_frees_its_place_in_the_queue_at_once() -> None:
    runner = Runner()
    runner.gate.clear()
    batcher = await started(Batcher([runner], BatchingOptions(max_batch_size=4, max_queue_size=2)))
    running = batcher.submit(request(1))
    await until(lambda: runner.sizes == [1])
    for left in (batcher.submit(request(2)), batcher.submit(request(3))):
        left.cancel()
    await asyncio.sleep(0)
    assert batcher.queued == 0, "nobody waits for the cancelled requests"
    waiting = [batcher.submit(request(4)), batcher.submit(request(5))]
    runner.gate.set()
    results = await asyncio.gather(running, *waiting)
    assert [float(r["y"][0, 0]) for r in results] == [2.0, 8.0, 10.0]
    assert runner.sizes == [1, 2]
    assert batcher.stats.inference.fail.count == 2, "the callers that left count, once each"
    assert _by_reason(batcher.stats) == {"CANCELED": 2}
    await batcher.close()


async def test_close_does_not_fail_a_request_whose_caller_left_and_counts_it_once_as_canceled() -> None:
    runner = Runner()
    runner.gate.clear()
    observer = Observer()
    batcher = await started(
        Batcher([runner], BatchingOptions(max_batch_size=1), recorder=Recorder(observer=observer))
    )
    running = batcher.submit(request(1))
    await until(lambda: runner.sizes == [1])
    left = batcher.submit(request(2), context="left")
    waiting = batcher.submit(request(3), context="waiting")
    left.cancel()
    runner.gate.set()
    await batcher.close()  # in the same pass of the loop as the cancellation
    await running
    with pytest.raises(VersionUnloaded):
        await waiting
    assert observer.rejected == [("", "", "VERSION_UNLOADED", "waiting")]
    assert batcher.stats.inference.fail.count == 2
    assert _by_reason(batcher.stats) == {"REJECTED": 1, "CANCELED": 1}


class Stepper(Runner):
    """Each run waits for a permit; records the width of each batch."""

    def __init__(self) -> None:
        super().__init__()
        self.permits = threading.Semaphore(0)
        self.widths: list[int] = []

    def infer(self, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        self.widths.append(feeds["x"].shape[1])
        assert self.permits.acquire(timeout=5), "test never permitted the run"
        return super().infer(feeds)


async def test_a_shape_that_keeps_coming_does_not_starve_another() -> None:
    runner = Stepper()
    batcher = await idle(Batcher([runner], BatchingOptions(max_batch_size=2)))
    futures = [batcher.submit(request(0))]
    await until(lambda: len(runner.widths) == 1)  # the instance is busy
    futures += [batcher.submit(request(v)) for v in (1, 2, 3)]
    other = batcher.submit(request(9, width=6))
    for step in range(1, 5):
        # More of the first shape keeps arriving, faster than one instance runs it.
        futures += [batcher.submit(request(10 * step + v)) for v in (0, 1)]
        runner.permits.release()
        await until(lambda runs=step + 1: len(runner.widths) == runs)
    runner.permits.release(100)
    await asyncio.wait_for(asyncio.gather(other, *futures), 2)
    assert runner.widths.index(6) == 2, "the other shape runs once the first shape's group had its turn"
    await batcher.close()


async def test_queue_time_starts_when_the_request_is_queued_and_total_time_at_its_arrival() -> None:
    observer = Observer()
    batcher = await started(Batcher([Runner()], BatchingOptions(), recorder=Recorder(observer=observer)))
    before = time.monotonic_ns()
    # As if decoding and validating the request had taken 5 s since it arrived.
    arrival = before - 5_000_000_000
    await batcher.submit(request(1), arrival_ns=arrival)
    after = time.monotonic_ns()

    [record] = observer.batches
    [timing] = record.requests
    inference = batcher.stats.inference
    assert before <= timing.enqueued_ns <= timing.dequeued_ns <= after
    assert (inference.queue.count, inference.queue.ns) == (1, timing.dequeued_ns - timing.enqueued_ns)
    assert inference.success.count == 1
    assert timing.dequeued_ns - arrival <= inference.success.ns <= after - arrival
    await batcher.close()


async def test_a_request_expiring_in_the_queue_fails_after_its_time_since_arrival() -> None:
    runner = Runner()
    runner.gate.clear()
    batcher = await started(Batcher([runner], BatchingOptions(max_batch_size=1)))
    running = batcher.submit(request(1))
    await until(lambda: runner.sizes == [1])
    arrival = time.monotonic_ns() - 5_000_000_000
    expiring = batcher.submit(request(2), deadline=time.monotonic() + 0.01, arrival_ns=arrival)
    await asyncio.sleep(0.02)
    runner.gate.set()
    await running
    with pytest.raises(RequestExpired):
        await expiring
    assert batcher.stats.inference.fail.count == 1
    assert batcher.stats.inference.fail.ns >= 5_000_000_000
    await batcher.close()


async def test_a_request_submitted_after_close_counts_as_a_failure() -> None:
    observer = Observer()
    batcher = await started(Batcher([Runner()], BatchingOptions(), recorder=Recorder(observer=observer)))
    await batcher.close()
    with pytest.raises(VersionUnloaded):
        batcher.submit(request(1), context="late")
    assert batcher.stats.inference.fail.count == 1
    assert observer.rejected == [("", "", "VERSION_UNLOADED", "late")]


async def test_a_versions_queue_time_starts_after_its_request_is_validated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    observer = Observer()
    config = VersionConfig("linear", "1", "models/linear/versions/1", "file:///unused", "0" * 64)
    version = LoadedVersion(config, [open_session(linear_model())], observer=observer)
    version.start()
    validated: list[int] = []
    validate = RequestValidator.validate

    def marking(self: RequestValidator, *args: Any) -> Any:
        prepared = validate(self, *args)
        validated.append(time.monotonic_ns())
        return prepared

    monkeypatch.setattr(RequestValidator, "validate", marking)
    arrival = time.monotonic_ns()
    await version.infer([raw_input("x", np.ones((1, 4), np.float32))], arrival_ns=arrival)

    [record] = observer.batches
    [timing] = record.requests
    inference = version.stats.inference
    assert arrival < validated[0] <= timing.enqueued_ns
    assert inference.queue.ns == timing.dequeued_ns - timing.enqueued_ns
    assert inference.success.ns >= record.finished_ns - arrival
    version.retire()
    await asyncio.wait_for(version.closed.wait(), 2)
