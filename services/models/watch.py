"""In-process fan-out of deployment changes to watchers, each change delivered once.

Writers publish after their transaction commits and never wait: each
subscriber has a bounded queue, and a subscriber whose queue is full is cut
off (its next read raises RESOURCE_EXHAUSTED) instead of slowing the writer
down or silently missing a change.  A watcher that is cut off reconnects and
gets a fresh snapshot, which is always correct.

A change reaches the hub twice in a process that runs a
:class:`~services.models.change_poller.ChangePoller`: at once from the
writer, when it was written here, and again when the poller finds it in the
store (the only way to hear of a change written by another process).  The
hub remembers the deployment it last delivered for each key and drops what
is not newer, so each change is delivered once, whichever comes first.

What the hub remembers is what its watchers have been told exists: the
poller compares the store with it (:meth:`WatchHub.known`), so that a
deployment a watcher heard of is deleted for it even when the poller never
saw it, and a watch's snapshot keeps only what the hub knows
(:meth:`WatchHub.knows`), so that it holds nothing whose deletion the hub
could miss.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime

from services.models.domain import Deployment, WatchEvent
from services.models.enums import WatchEventType
from services.runtime.errors import ResourceExhausted, Unavailable

WATCHER_TOO_SLOW = "WATCHER_TOO_SLOW"
SERVICE_STOPPING = "SERVICE_STOPPING"

Key = tuple[str, str]
"""``(tenant, deployment_id)``."""
Marker = tuple[datetime, int]
"""``(create_time, generation)``: which incarnation of a deployment, and which spec of it.  A later
marker is a newer change; a re-created deployment has a later ``create_time`` than the one deleted."""


def marker(deployment: Deployment) -> Marker:
    """The deployment's position in its history of spec changes."""
    return (deployment.create_time, deployment.generation)


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
    """Delivers every published change once to the subscribers of its tenant and to all-tenant ones.

    A CREATED or UPDATED whose marker is not newer than the one last
    delivered for the deployment is a duplicate (or an older state arriving
    late) and is dropped.  Once :meth:`seed` has told the hub every
    deployment in the store, a DELETED is delivered only for a deployment it
    knows; the deleted marker is then kept until :meth:`forget_deleted`, so
    that a late event about the deleted incarnation, of whatever generation,
    does not bring it back.
    """

    def __init__(self, queue_size: int) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._delivered: dict[Key, Deployment] = {}
        self._deleted: dict[Key, tuple[Marker, int]] = {}
        self._deletions = 0
        self._seeded = False
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"WatchHub(subscribers={len(self._subscribers)}, queue_size={self._queue_size}, "
            f"known={len(self._delivered)}, seeded={self._seeded})"
        )

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def seeded(self) -> bool:
        """Whether :meth:`seed` told the hub every deployment in the store (a poller runs)."""
        return self._seeded

    def subscribe(self, tenant: str | None) -> Subscription:
        """A new subscription to ``tenant``'s changes, or to every tenant's when None.

        UNAVAILABLE once :meth:`close` has ended the streams: nothing would end this one.
        """
        if self._closed:
            raise Unavailable("the model service is stopping; watch again", reason=SERVICE_STOPPING)
        subscription = Subscription(self, tenant, self._queue_size)
        self._subscribers.add(subscription)
        return subscription

    def discard(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def seed(self, found: Mapping[Key, Deployment]) -> None:
        """Learn every deployment in the store, read before anything is published from it.

        Until then the hub has a single source (the writers of this process)
        and delivers a DELETED even for a deployment it never heard of.
        """
        for key, deployment in found.items():
            known = self._delivered.get(key)
            if known is None or marker(deployment) > marker(known):
                self._delivered[key] = deployment
        self._seeded = True

    def known(self) -> dict[Key, Deployment]:
        """Every deployment as last delivered: what the watchers have been told exists (a copy)."""
        return dict(self._delivered)

    def knows(self, key: Key, create_time: datetime) -> bool:
        """Whether the watchers have been told of this incarnation of the deployment (any generation).

        Once seeded, the hub delivers the deletion of what it knows and of
        nothing else, so a watch's snapshot must not hold anything it does not.
        """
        known = self._delivered.get(key)
        return known is not None and known.create_time == create_time

    def publish(self, tenant: str, event_type: WatchEventType, deployment: Deployment) -> None:
        """Announce a committed change; DELETED carries the deployment as it was.  Duplicates are dropped."""
        if not self._admit((tenant, deployment.deployment_id), event_type, deployment):
            return
        event = WatchEvent(event_type, tenant, deployment.deployment_id, deployment)
        for subscription in list(self._subscribers):
            if subscription.tenant is None or subscription.tenant == tenant:
                subscription.offer(event)

    def checkpoint(self) -> int:
        """A position in the sequence of delivered deletions, for :meth:`forget_deleted`."""
        return self._deletions

    def forget_deleted(self, before: int) -> None:
        """Drop the markers of deletions delivered before ``checkpoint()`` returned ``before``.

        The poller calls this after each poll with the checkpoint taken
        before its read: that read saw those deletions, so no event about the
        deleted deployments can still be on its way.
        """
        for key, (_, position) in list(self._deleted.items()):
            if position < before:
                del self._deleted[key]

    def _admit(self, key: Key, event_type: WatchEventType, deployment: Deployment) -> bool:
        seen = marker(deployment)
        last = self._delivered.get(key)
        known = None if last is None else marker(last)
        if event_type == WatchEventType.DELETED:
            if known is None:
                return not self._seeded
            if seen[0] < known[0]:
                return False  # an earlier incarnation than the one the watchers have
            del self._delivered[key]
            if self._seeded:
                self._deleted[key] = (max(known, seen), self._deletions)
                self._deletions += 1
            return True
        gone = self._deleted.get(key)
        # A deleted incarnation has no later generation: whatever still arrives about it is late.
        if (known is not None and seen <= known) or (gone is not None and seen[0] <= gone[0][0]):
            return False
        self._delivered[key] = deployment
        self._deleted.pop(key, None)
        return True

    def close(self) -> None:
        """End every subscription (on shutdown), so that watch streams finish instead of hanging.

        Later subscriptions are refused: a watch that arrives while the server drains goes elsewhere.
        """
        self._closed = True
        for subscription in list(self._subscribers):
            subscription.close()
