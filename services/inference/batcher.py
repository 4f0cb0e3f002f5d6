"""Dynamic batching of one loaded version, in the shape of MLServer's adaptive batcher.

Requests wait in a bounded queue (a full queue sheds the request at once),
grouped by the non-batch dimensions of their inputs, since only those can be
concatenated.  A group is *ready* when it reaches the maximum batch size or
the smallest preferred size, or when its oldest request has waited the
maximum queue delay, or at once when a request finds the queue empty, an
instance idle and the last batch without company (a lone caller does not wait
for company that is not coming; ``hold_lone_requests`` makes it wait as
Triton does).
Batches are formed lazily, when one of the N workers (one per model
instance) is free: under load a group keeps growing while
every instance is busy, so batches get larger exactly when that pays.  A
worker takes the whole group up to the maximum size if its delay is over,
else the largest preferred size that fits.

A request whose caller cancels leaves the queue at once, freeing its place;
one whose deadline passed is dropped when its batch is formed, never run.
Each request counts once in the version's statistics: by the run that
settles it (a success even when its caller left during that run), else as a
failure where it is dropped (see :class:`~.stats.FailureReason`): a caller
that left before a run settled its request makes it ``CANCELED``
(``REJECTED`` when its deadline had passed: the gRPC deadline ends the call).
Ready groups take turns, so one shape that keeps coming cannot starve
another.  The model run happens in a worker thread (ONNX Runtime releases
the GIL), so the event loop keeps accepting requests.  When a run fails, the
halves of its batch run apart, down to single requests, so that one
request's bad values never fail its neighbours.  A batch whose size has been
seen to run in at most ``inline_below_us`` runs on the event loop itself
instead: handing it to a thread and back would cost more than the run (a run
there that fails slowly counts as slow too).  A lone request of such a
model, finding an instance idle, runs before ``submit`` returns, without a
trip through the queue.

All bookkeeping happens on the event loop thread: no locks.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor

from services.inference.errors import DomainError, QueueFull, RequestExpired, VersionUnloaded
from services.inference.execution import (
    BatchingOptions,
    BatchRunner,
    Outputs,
    QueuedRequest,
    batch_error,
    execute_batch,
    is_run_failure,
)
from services.inference.stats import Recorder, VersionStats, failure_reason
from services.inference.validation import PreparedRequest

__all__ = ["Batcher", "BatchingOptions", "QueueBudget"]

_log = logging.getLogger(__name__)

MAX_REMEMBERED_COSTS = 1024
"""Shapes and size classes whose run times a batcher keeps: clients choose the shapes, so the count
must be bounded."""


class QueueBudget:
    """The bytes of request inputs that the batching queues of one process may hold together.

    The queues are bounded in requests too, per version; this bound holds across versions and
    sizes, so a flood of large tensors is shed before it exhausts memory.  A request finding every
    queue empty is always admitted, however large: alone, it can only be run.  Shared by the batchers
    of one event loop, so it needs no lock.
    """

    def __init__(self, limit_bytes: int) -> None:
        if limit_bytes < 1:
            raise ValueError(f"a queue budget must be at least one byte, not {limit_bytes}")
        self.limit_bytes = limit_bytes
        self.held = 0
        """Bytes of the inputs queued now."""

    def __repr__(self) -> str:
        return f"QueueBudget(limit_bytes={self.limit_bytes}, held={self.held})"

    def admits(self, nbytes: int) -> bool:
        return self.held == 0 or self.held + nbytes <= self.limit_bytes


class _Group:
    __slots__ = ("expired", "key", "requests", "size", "timer")

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.requests: collections.deque[QueuedRequest] = collections.deque()
        self.size = 0
        self.expired = False
        self.timer: asyncio.TimerHandle | None = None


class Batcher:
    """Queues validated requests of one version and runs them in batches on its instances."""

    def __init__(
        self,
        runners: Sequence[BatchRunner],
        options: BatchingOptions,
        *,
        batched: bool = True,
        recorder: Recorder | None = None,
        name: str = "",
        inline_below_us: int = 0,
        budget: QueueBudget | None = None,
    ) -> None:
        if not runners:
            raise ValueError("a batcher needs at least one runner")
        self._runners = tuple(runners)
        self._options = options
        # Unbatched models take one request per run, right away.
        self._max = options.max_batch_size if batched else 1
        self._delay_s = options.max_queue_delay_us / 1e6 if self._max > 1 else 0.0
        self._preferred = sorted({p for p in options.preferred_batch_sizes if p <= self._max}, reverse=True)
        self._threshold = min([self._max, *self._preferred])
        self._recorder = recorder if recorder is not None else Recorder()
        self._inline_ns = inline_below_us * 1000
        self._costs: dict[tuple[Hashable, int], int] = {}
        """Recent run times (ns), smoothed, by the inputs' non-batch dimensions and the batch's size class
        (``size.bit_length()``); the :data:`MAX_REMEMBERED_COSTS` used last."""
        self._ran_here_this_turn = False
        """Whether a request ran inside ``submit`` during this pass of the event loop."""
        self._groups: dict[Hashable, _Group] = {}
        self._ready: dict[Hashable, _Group] = {}
        self._idle: collections.deque[tuple[asyncio.Future[None], BatchRunner]] = collections.deque()
        self._queued = 0
        self._budget = budget
        self._waiting: dict[asyncio.Future[Outputs], QueuedRequest] = {}
        """The queued requests, by their future."""
        self._leave_hook = self._leave
        """Done-callback of a queued request's future, bound once (removed by identity when it is taken)."""
        self._last_batch_requests = 1
        """Requests of the batch formed last: more than one means callers come in company."""
        self._name = name
        self._closed = False
        self._workers: list[asyncio.Task[None]] = []
        self._pool = ThreadPoolExecutor(len(self._runners), thread_name_prefix=f"infer-{name}")

    @property
    def stats(self) -> VersionStats:
        return self._recorder.stats

    @property
    def queued(self) -> int:
        """Requests waiting to be batched."""
        return self._queued

    @property
    def idle_instances(self) -> int:
        """Instances waiting for work."""
        return sum(1 for waiter, _ in self._idle if not waiter.done())

    def start(self) -> None:
        """Start one worker per runner; call from the event loop."""
        self._workers = [
            asyncio.create_task(self._work(r), name=f"batcher-{i}") for i, r in enumerate(self._runners)
        ]

    async def close(self) -> None:
        """Fail what still waits, let running batches finish, stop the workers."""
        self._closed = True
        for group in self._groups.values():
            if group.timer is not None:
                group.timer.cancel()
            for request in group.requests:
                if request.future.done():  # its caller left in this pass of the loop
                    self._left(request)
                else:
                    self._fail(request, VersionUnloaded("the model version was unloaded"))
        for request in self._waiting.values():
            self._release(request)
        self._groups.clear()
        self._ready.clear()
        self._waiting.clear()
        self._queued = 0
        while self._idle:
            waiter, _ = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
        # A worker cancelled earlier (its loop shutting down) has nothing left to report.
        for outcome in await asyncio.gather(*self._workers, return_exceptions=True):
            if isinstance(outcome, Exception):
                _log.error("a batcher worker failed", exc_info=outcome, extra={"event": "batcher_failed"})
        self._pool.shutdown(wait=False)
        self._runners = ()  # lets the sessions go even while something still holds the batcher

    def submit(
        self,
        request: PreparedRequest,
        *,
        deadline: float | None = None,
        context: object = None,
        arrival_ns: int = 0,
    ) -> asyncio.Future[Outputs]:
        """Queue ``request``; the future resolves to its requested outputs.

        ``deadline`` is an absolute ``time.monotonic()`` reading (None: none);
        ``arrival_ns`` a ``time.monotonic_ns()`` reading of when the request
        arrived (0: now), from which its total time is measured; its queue
        time starts now.  Raises :class:`QueueFull`, :class:`RequestExpired`
        or :class:`VersionUnloaded` synchronously, each counted as a failure.
        """
        now = time.monotonic_ns()
        arrival = arrival_ns or now
        if self._closed:
            unloaded = VersionUnloaded("the model version is being unloaded")
            self._recorder.rejected(unloaded, arrival, context)
            raise unloaded
        if deadline is not None and deadline * 1e9 <= now:
            expired = RequestExpired("the request's deadline passed before it was queued")
            self._recorder.rejected(expired, arrival, context)
            raise expired
        if self._queued >= self._options.max_queue_size:
            full = QueueFull(f"{self._queued} requests are already queued", retry_after_seconds=0.1)
            self._recorder.rejected(full, arrival, context)
            raise full
        future: asyncio.Future[Outputs] = asyncio.get_running_loop().create_future()
        if (
            self._queued == 0
            and not self._ran_here_this_turn
            and self._lone_dispatch_allowed()
            and self._cheap(request.key, request.batch_size)
            and (runner := self._idle_runner()) is not None
        ):
            self._run_here(runner, QueuedRequest(request, future, deadline, now, context, arrival))
            return future
        # Only what is queued counts against the budget: a request run at once holds no place.
        nbytes = 0
        if self._budget is not None:
            nbytes = sum(feed.nbytes for feed in request.feeds.values())
            if not self._budget.admits(nbytes):
                full = QueueFull(
                    f"{self._budget.held} bytes of inputs are already queued on this server, its limit is "
                    f"{self._budget.limit_bytes}; this request adds {nbytes}",
                    retry_after_seconds=0.1,
                )
                self._recorder.rejected(full, arrival, context)
                raise full
        key = request.key if self._max > 1 else None
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(key)
        queued = QueuedRequest(request, future, deadline, now, context, arrival)
        group.requests.append(queued)
        group.size += request.batch_size
        self._queued += 1
        if self._budget is not None:
            queued.nbytes = nbytes
            self._budget.held += nbytes
        self._waiting[future] = queued
        future.add_done_callback(self._leave_hook)
        if key not in self._ready:
            if self._delay_s == 0 or group.size >= self._threshold or self._alone_with_an_idle_instance():
                self._mark_ready(group)
            elif group.timer is None:
                group.timer = asyncio.get_running_loop().call_later(self._delay_s, self._expire, group)
        return future

    def _release(self, request: QueuedRequest) -> None:
        """Give back to the budget what ``request`` held while queued (it leaves the queue)."""
        if self._budget is not None:
            self._budget.held -= request.nbytes
            request.nbytes = 0

    def _alone_with_an_idle_instance(self) -> bool:
        """Whether the request just queued is the only one, an instance waits for work, and the last
        batch had no company either.

        Then waiting for the delay would only add latency (a caller alone, as
        at low load, waits for company that is not coming).  Once a batch had
        company, requests wait again: under load they arrive close together,
        and running the first alone would split the batch they would form.
        """
        return self._queued == 1 and self._lone_dispatch_allowed() and self._idle_runner() is not None

    def _lone_dispatch_allowed(self) -> bool:
        return not self._options.hold_lone_requests and self._last_batch_requests <= 1

    def _cheap(self, key: Hashable, size: int) -> bool:
        """Whether batches of ``size`` elements of this shape have been seen to run within the inline
        threshold."""
        if self._inline_ns <= 0:
            return False
        return 0 <= self._costs.get((key, size.bit_length()), -1) <= self._inline_ns

    def _idle_runner(self) -> BatchRunner | None:
        for waiter, runner in self._idle:
            if not waiter.done():
                return runner
        return None

    def _run_here(self, runner: BatchRunner, request: QueuedRequest) -> None:
        """Run a lone request of a cheap model on an idle instance, on the event loop, before returning.

        Its worker stays parked: nothing else runs on the loop meanwhile, so the
        instance cannot be handed other work, and queueing the request for the
        worker to pick up would cost two more trips through the loop than the run.
        Only the first request of a pass through the loop runs so: a second one
        arriving in the same pass means callers come in company, and it queues
        so that the batcher sees them together.
        """
        request.dequeued_ns = time.monotonic_ns()
        batch = [request]
        self._last_batch_requests = 1
        self._ran_here_this_turn = True
        asyncio.get_running_loop().call_soon(self._next_turn)
        try:
            results, marks = execute_batch(runner, batch)
        except Exception as exc:
            self._learn_failed(batch, request.dequeued_ns)
            self._finish_failed(batch, exc)
        else:
            self._finish(batch, results, marks)

    def _next_turn(self) -> None:
        self._ran_here_this_turn = False

    def _leave(self, future: asyncio.Future[Outputs]) -> None:
        """Take a queued request whose caller cancelled out of the queue, so that it holds no place there
        (nor its inputs' memory) while every instance is busy."""
        request = self._waiting.pop(future, None)
        if request is None:  # taken off the queue before this callback ran, or the batcher closed
            return
        key = request.key if self._max > 1 else None
        group = self._groups[key]
        group.requests.remove(request)
        group.size -= request.size
        self._queued -= 1
        self._release(request)
        if not group.requests:
            del self._groups[key]
            self._ready.pop(key, None)
            if group.timer is not None:
                group.timer.cancel()
        self._left(request)

    def _left(self, request: QueuedRequest) -> None:
        """Count a request whose caller left before it ran (found where it is dropped, once)."""
        self._recorder.canceled(request.arrival_ns, request.context, request.deadline)

    def _expire(self, group: _Group) -> None:
        group.timer = None
        if self._groups.get(group.key) is group and group.requests:
            group.expired = True
            self._mark_ready(group)

    def _mark_ready(self, group: _Group) -> None:
        self._ready[group.key] = group
        self._wake()

    def _wake(self) -> None:
        while self._idle:
            waiter, _ = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _work(self, runner: BatchRunner) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = self._take()
            if batch:
                await self._run(runner, batch)
            elif self._closed:
                return
            else:
                waiter: asyncio.Future[None] = loop.create_future()
                self._idle.append((waiter, runner))
                await waiter

    def _take(self) -> list[QueuedRequest]:
        while self._ready:
            group = next(iter(self._ready.values()))
            batch = self._form(group)
            del self._ready[group.key]
            if not group.requests:
                del self._groups[group.key]
                if group.timer is not None:
                    group.timer.cancel()
            else:
                if self._delay_s:
                    self._rearm(group)
                if not self._delay_s or group.size >= self._threshold:
                    # Back in line behind the other ready groups: a shape that keeps coming
                    # must not starve the others.
                    self._ready[group.key] = group
            if batch:
                self._last_batch_requests = len(batch)
                if self._ready:
                    self._wake()
                return batch
        return []

    def _form(self, group: _Group) -> list[QueuedRequest]:
        if group.size >= self._max:
            target = self._max
        elif group.expired or self._delay_s == 0:
            target = group.size
        else:
            target = next((p for p in self._preferred if p <= group.size), group.size)
        now_ns = time.monotonic_ns()
        now_s = now_ns / 1e9
        batch: list[QueuedRequest] = []
        total = 0
        requests = group.requests
        waiting = self._waiting
        while requests and total < target:
            request = requests[0]
            future = request.future
            expired = request.deadline is not None and request.deadline <= now_s
            if batch and not expired and not future.done() and total + request.size > target:
                break
            requests.popleft()
            group.size -= request.size
            self._queued -= 1
            self._release(request)
            del waiting[future]
            if not future.done():  # else cancelled: its callback, already scheduled, finds it gone
                future.remove_done_callback(self._leave_hook)
            if not self._still_awaited(request, now_s, "while it was queued"):
                continue
            request.dequeued_ns = now_ns
            batch.append(request)
            total += request.size
        return batch

    def _still_awaited(self, request: QueuedRequest, now_s: float, when: str) -> bool:
        """Whether ``request`` should still run: its caller has not cancelled (then it counts as
        having left), and its deadline has not passed (then it fails as expired)."""
        if request.future.done():
            self._left(request)
            return False
        if request.deadline is not None and request.deadline <= now_s:
            self._fail(request, RequestExpired(f"the request's deadline passed {when}"))
            return False
        return True

    def _rearm(self, group: _Group) -> None:
        # What is left waits for its own oldest request's delay, not for the
        # delay of the requests that just left.
        group.expired = False
        if group.timer is not None:
            group.timer.cancel()
        waited = (time.monotonic_ns() - group.requests[0].enqueued_ns) / 1e9
        group.timer = asyncio.get_running_loop().call_later(
            max(self._delay_s - waited, 0.0), self._expire, group
        )

    def _fail(self, request: QueuedRequest, error: DomainError) -> None:
        _settle(request.future, error)
        self._recorder.rejected(error, request.arrival_ns, request.context)

    async def _run(self, runner: BatchRunner, batch: list[QueuedRequest]) -> None:
        try:
            results, marks = await self._execute(runner, batch)
        except asyncio.CancelledError:
            self._abandon(batch)
            raise
        except Exception as exc:
            if len(batch) == 1:
                self._finish_failed(batch, exc)
            else:
                await self._isolate(runner, batch, exc)
        else:
            self._finish(batch, results, marks)

    async def _execute(
        self, runner: BatchRunner, batch: list[QueuedRequest]
    ) -> tuple[list[Outputs], tuple[int, int, int, int]]:
        if self._cheap(batch[0].key, _elements(batch)):
            started = time.monotonic_ns()
            try:
                return execute_batch(runner, batch)
            except Exception:
                self._learn_failed(batch, started)
                raise
        return await asyncio.get_running_loop().run_in_executor(self._pool, execute_batch, runner, batch)

    async def _isolate(self, runner: BatchRunner, batch: list[QueuedRequest], exc: Exception) -> None:
        """Run the two halves of a failed batch apart, until only requests that fail on their own fail.

        A value in one request (an index out of a table's range, say) fails the
        run of its whole batch, and its neighbours must not pay for it.  Halving
        finds k such requests among n in about 2k·log2(n) runs, and also gets
        through a batch that failed only for its size (memory).  Requests whose
        callers left meanwhile do not run again (they count as having left).  The
        failed run itself is not recorded: each request is counted once, by the
        run that settles it.
        """
        _log.warning(
            "a batch failed; running its halves apart",
            extra={"event": "batch_failed", "batcher": self._name, "requests": len(batch), "error": str(exc)},
        )
        now = time.monotonic()
        waiting = [r for r in batch if self._still_awaited(r, now, "while its batch ran")]
        middle = len(waiting) // 2
        first, second = waiting[:middle], waiting[middle:]
        # A cancelled _run has settled and counted its own requests; what is left is the half not run.
        if first:
            try:
                await self._run(runner, first)
            except asyncio.CancelledError:
                self._abandon(second)
                raise
        if second:
            await self._run(runner, second)

    def _abandon(self, batch: list[QueuedRequest]) -> None:
        """Fail what is still unsettled of a batch (not counted yet) whose worker is being cancelled;
        a request whose caller left meanwhile counts as having left."""
        unsettled: list[QueuedRequest] = []
        for request in batch:
            if request.future.done():
                self._left(request)
            else:
                unsettled.append(request)
        if not unsettled:
            return
        unloaded = VersionUnloaded("the model version was unloaded")
        for request in unsettled:
            _settle(request.future, unloaded)
        now = time.monotonic_ns()
        self._recorder.batch(unsettled, (now, now, now, now), unloaded)

    def _finish(
        self, batch: list[QueuedRequest], results: list[Outputs], marks: tuple[int, int, int, int]
    ) -> None:
        for request, outputs in zip(batch, results, strict=True):
            if not request.future.done():
                request.future.set_result(outputs)
        self._recorder.batch(batch, marks, None)
        self._learn((batch[0].key, _elements(batch).bit_length()), marks[3] - marks[0])

    def _learn(self, size_class: tuple[Hashable, int], cost: int) -> None:
        costs = self._costs
        previous = costs.pop(size_class, None)
        # Re-inserted last, so that the entry dropped when full is the one used longest ago.
        costs[size_class] = cost if previous is None else (3 * previous + cost) // 4
        if len(costs) > MAX_REMEMBERED_COSTS:
            del costs[next(iter(costs))]

    def _learn_failed(self, batch: list[QueuedRequest], started_ns: int) -> None:
        """Learn the time of a run on the event loop that failed, when it took longer than runs there may.

        Otherwise a model whose runs fail slowly would keep holding up the
        loop; a quick failure teaches nothing, lest it make a slow model look cheap.
        """
        cost = time.monotonic_ns() - started_ns
        if cost > self._inline_ns:
            self._learn((batch[0].key, _elements(batch).bit_length()), cost)

    def _finish_failed(self, batch: list[QueuedRequest], exc: Exception) -> None:
        if is_run_failure(exc):
            _log.warning(
                "a model run failed",
                extra={
                    "event": "model_run_failed",
                    "batcher": self._name,
                    "requests": len(batch),
                    "error": str(exc),
                },
            )
        for request in batch:
            _settle(request.future, batch_error(exc))
        now = time.monotonic_ns()
        self._recorder.batch(batch, (now, now, now, now), exc, failure_reason(batch_error(exc)))


def _elements(batch: list[QueuedRequest]) -> int:
    return sum(request.size for request in batch)


def _settle(future: asyncio.Future[Outputs], error: DomainError) -> None:
    if not future.done():
        future.set_exception(error)
