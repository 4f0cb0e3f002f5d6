"""In-process fan-out of deployment changes to watchers.

Writers publish after their transaction commits and never wait: each
subscriber has a bounded queue, and a subscriber whose queue is full is cut
off (its next read raises RESOURCE_EXHAUSTED) instead of slowing the writer
down or silently missing a change.  A watcher that is cut off reconnects and
gets a fresh snapshot, which is always correct.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from services.models.domain import Deployment, WatchEvent
from services.models.enums import WatchEventType
from services.runtime.errors import ResourceExhausted

WATCHER_TOO_SLOW = "WATCHER_TOO_SLOW"


class Subscription:
    """One watcher's queue of events; iterate it, and close it when done."""

    def __init__(self, hub: WatchHub, tenant: str | None, queue_size: int) -> None:
        self.tenant = tenant
        """The tenant watched, or None for every tenant."""
        self._hub = hub
        self._queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue(maxsize=queue_size)
        self._overflowed = False
        self._closed = False

    def __repr__(self) -> str:
        queued = self._queue.qsize()
        return f"Subscription(tenant={self.tenant!r}, queued={queued}, overflowed={self._overflowed})"

    def offer(self, event: WatchEvent) -> None:
        """Queue ``event`` without waiting; a full queue cuts the subscriber off."""
        if self._closed or self._overflowed:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._overflowed = True
            self._hub.discard(self)

    def close(self) -> None:
        """Stop receiving; a pending read returns the end of the stream."""
        if self._closed:
            return
        self._closed = True
        self._hub.discard(self)
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[WatchEvent]:
        return self

    async def __anext__(self) -> WatchEvent:
        if self._overflowed:
            raise ResourceExhausted(
                "the watcher fell too far behind the changes and was disconnected; watch again",
                reason=WATCHER_TOO_SLOW,
            )
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event


class WatchHub:
    """Delivers every published change to the subscribers of its tenant and to all-tenant ones."""

    def __init__(self, queue_size: int) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()

    def __repr__(self) -> str:
        return f"WatchHub(subscribers={len(self._subscribers)}, queue_size={self._queue_size})"

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def subscribe(self, tenant: str | None) -> Subscription:
        """A new subscription to ``tenant``'s changes, or to every tenant's when None."""
        subscription = Subscription(self, tenant, self._queue_size)
        self._subscribers.add(subscription)
        return subscription

    def discard(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def publish(self, tenant: str, event_type: WatchEventType, deployment: Deployment) -> None:
        """Announce a committed change; DELETED carries the deployment as it was."""
        event = WatchEvent(event_type, tenant, deployment.deployment_id, deployment)
        for subscription in list(self._subscribers):
            if subscription.tenant is None or subscription.tenant == tenant:
                subscription.offer(event)

    def close(self) -> None:
        """End every subscription (on shutdown), so that watch streams finish instead of hanging."""
        for subscription in list(self._subscribers):
            subscription.close()
