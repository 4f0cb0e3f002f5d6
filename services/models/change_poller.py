"""Hearing of deployment changes committed by other processes of the service.

Every process of model management has its own :class:`WatchHub`; a writer
publishes to its own hub only.  The poller reads a cheap marker of every
deployment (``(create_time, generation)``) every ``interval`` seconds,
compares it with what the hub has delivered (:meth:`WatchHub.known`, taken
before the read) and publishes what differs: CREATED for a new deployment,
UPDATED for a new generation, DELETED (carrying the deployment as last
delivered) for one that is gone, and DELETED then CREATED for one deleted
and re-created in between.  Comparing with the hub rather than with its own
previous read, the poller also deletes what this process's writers created
and another process deleted before the poller saw it.  The hub drops what
this process's writers already published, so each watcher hears of each
change once.

On PostgreSQL a :class:`~services.models.store.notifications.ChangeListener`
wakes the poller as soon as another process commits a change, so watchers
hear of it within milliseconds rather than at the next tick.

A poll that fails (the store unreachable) is logged and tried again at the
next tick; the hub stays as it was, so nothing is lost, only late.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from services.models.domain import Deployment
from services.models.enums import WatchEventType
from services.models.store import deployments
from services.models.store.notifications import ChangeListener
from services.models.watch import Key, WatchHub, marker
from services.runtime.store import Database
from services.runtime.tasks import cancel_and_wait, wait_set

_log = logging.getLogger(__name__)

_Step = Callable[[], Awaitable[None]]


class ChangePoller:
    """Publishes to ``hub`` the deployment changes it finds in the store, every ``interval`` seconds."""

    def __init__(self, db: Database, hub: WatchHub, interval: float) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._db = db
        self._hub = hub
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._polls = 0
        self._woken = asyncio.Event()
        self.listener = ChangeListener.for_engine(db.engine, self._woken.set)
        """Wakes the poller on the store's change notifications; None on stores without them."""

    def __repr__(self) -> str:
        return f"ChangePoller(interval={self._interval}, seeded={self._hub.seeded}, running={self.running})"

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def polls(self) -> int:
        """Polls completed so far (seeding and failed attempts not counted)."""
        return self._polls

    async def start(self) -> None:
        """Seed the hub, then poll in a background task until :meth:`stop`.

        Call it before the process accepts writes and watches.  A seed that
        fails is retried every ``interval`` until it succeeds: a watch that
        read its snapshot before the seed would miss what other processes
        change between the two.
        """
        if self._task is not None:
            raise RuntimeError("the change poller is already started")
        await self._guarded(self.seed)
        while not self._hub.seeded:
            await asyncio.sleep(self._interval)
            await self._guarded(self.seed)
        self._task = asyncio.create_task(self._run(), name="models-change-poller")
        if self.listener is not None:
            self.listener.start()

    async def stop(self) -> None:
        """Stop polling (idempotent)."""
        if self.listener is not None:
            await self.listener.stop()
        task, self._task = self._task, None
        await cancel_and_wait([task])

    async def seed(self) -> None:
        """Read every deployment and tell the hub; publishes nothing."""
        snapshot = await self._db.read(lambda session: deployments.everything(session, None))
        self._hub.seed({(tenant, deployment.deployment_id): deployment for tenant, deployment in snapshot})

    async def poll(self) -> None:
        """Publish how the store differs from what the hub delivered (the first call only seeds)."""
        if not self._hub.seeded:
            await self.seed()
            return
        # Taken before the read: what the hub learns while it runs (from this process's writers) may
        # be newer than what it reads, and must not be taken back.
        known = self._hub.known()
        checkpoint = self._hub.checkpoint()

        def work(session: Session) -> tuple[Collection[Key], dict[Key, Deployment]]:
            current = deployments.markers(session)
            changed = [key for key, seen in current.items() if key not in known or marker(known[key]) != seen]
            return current.keys(), deployments.find_many(session, changed)

        present, fetched = await self._db.read(work)
        for key in sorted(known.keys() - set(present)):
            self._hub.publish(key[0], WatchEventType.DELETED, known[key])
        # A key that changed and was deleted between the two reads is not fetched; the next poll
        # finds it missing and publishes its deletion.
        for key in sorted(fetched):
            self._publish_change(known.get(key), key, fetched[key])
        self._hub.forget_deleted(checkpoint)
        self._polls += 1

    def _publish_change(self, previous: Deployment | None, key: Key, deployment: Deployment) -> None:
        tenant = key[0]
        if previous is None:
            self._hub.publish(tenant, WatchEventType.CREATED, deployment)
        elif previous.create_time != deployment.create_time:
            self._hub.publish(tenant, WatchEventType.DELETED, previous)
            self._hub.publish(tenant, WatchEventType.CREATED, deployment)
        elif previous.generation != deployment.generation:
            self._hub.publish(tenant, WatchEventType.UPDATED, deployment)

    async def _run(self) -> None:
        while True:
            await wait_set(self._woken, self._interval)
            self._woken.clear()
            await self._guarded(self.poll)

    async def _guarded(self, step: _Step) -> None:
        try:
            await step()
        except OperationalError as error:
            _log.warning(
                "could not read deployment changes from the store, trying again in %ss: %s",
                self._interval,
                str(error.orig or error).splitlines()[0],
                extra={"event": "watch_poll_failed"},
            )
        except Exception:
            # A bug here must not end the task: the next tick compares with the hub and catches up.
            _log.exception(
                "reading deployment changes from the store failed", extra={"event": "watch_poll_failed"}
            )
