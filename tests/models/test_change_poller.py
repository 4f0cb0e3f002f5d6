"""Several processes on one store: each one's watchers hear of every change once, whoever wrote it.

Each "process" is a ModelsCore over its own Database (its own engine and
connection pool) on the same store, a SQLite file or a PostgreSQL schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from services.models.artifacts import ArtifactStorage
from services.models.change_poller import ChangePoller
from services.models.core import ModelsCore
from services.models.domain import WatchEvent
from services.models.enums import WatchEventType
from services.models.feeds import Feeds
from services.models.store.notifications import ChangeListener, announce_change
from services.models.watch import WatchHub
from services.runtime.auth import Identity, Role, bind_identity
from services.runtime.store import Database

from .helpers import create_model, draft, upload

pytestmark = pytest.mark.usefixtures("caller")

T = TypeVar("T")
INTERVAL = 0.02
"""Seconds between polls in these tests."""
PLATFORM = Identity("inference", "platform", frozenset({Role.ADMIN}))


async def _eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds, checking every few milliseconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        await asyncio.sleep(0.005)


class _Watcher:
    """A WatchDeployments stream read in the background into ``events`` (one tenant's, after SYNCED)."""

    def __init__(self, core: ModelsCore, tenant: str, identity: Identity | None) -> None:
        self.tenant = tenant
        self.synced = False
        self.events: list[WatchEvent] = []
        # The task copies the identity bound now, which the stream reads when it starts.
        with contextlib.ExitStack() as binding:
            if identity is not None:
                binding.enter_context(bind_identity(identity))
            stream = core.feeds.watch(all_tenants=identity is not None)
            self._task = asyncio.create_task(self._run(stream))

    async def _run(self, stream: AsyncIterator[WatchEvent]) -> None:
        async for event in stream:
            if event.type == WatchEventType.SYNCED:
                self.synced = True
            elif self.synced and event.tenant == self.tenant:
                self.events.append(event)

    def seen(self) -> list[tuple[WatchEventType, str, int]]:
        return [
            (event.type, event.deployment_id, 0 if event.deployment is None else event.deployment.generation)
            for event in self.events
        ]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def _watching(core: ModelsCore, tenant: str, admin: Identity | None = None) -> AsyncIterator[_Watcher]:
    """Watch ``tenant``'s deployments as the caller, or every tenant's as ``admin`` (as inference does)."""
    watcher = _Watcher(core, tenant, admin)
    try:
        await _eventually(lambda: watcher.synced)
        yield watcher
    finally:
        await watcher.close()


class _Mirror:
    """What a watcher believes exists, built from every event as the inference service builds it."""

    def __init__(self, core: ModelsCore) -> None:
        self.synced = False
        self.events: list[WatchEvent] = []
        self.deployments: dict[str, int] = {}
        """``deployment_id -> generation`` of what the watcher was told exists."""
        self._task = asyncio.create_task(self._run(core.feeds.watch(all_tenants=False)))

    async def _run(self, stream: AsyncIterator[WatchEvent]) -> None:
        async for event in stream:
            if event.type == WatchEventType.SYNCED:
                self.synced = True
                continue
            self.events.append(event)
            if event.type == WatchEventType.DELETED:
                self.deployments.pop(event.deployment_id, None)
            elif event.deployment is not None:
                self.deployments[event.deployment_id] = event.deployment.generation

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def _mirroring(core: ModelsCore) -> AsyncIterator[_Mirror]:
    """Follow the caller's deployments through ``core`` from its snapshot on."""
    mirror = _Mirror(core)
    try:
        await _eventually(lambda: mirror.synced)
        yield mirror
    finally:
        await mirror.close()


async def _fence(writer: ModelsCore, poller: ChangePoller, watcher: _Watcher | _Mirror) -> None:
    """Create deployment ``fence`` through ``writer``, poll, and wait for it: what came before has arrived."""
    await writer.deployments.create_deployment("fence", draft())
    await poller.poll()
    await _eventually(lambda: any(event.deployment_id == "fence" for event in watcher.events))


async def _quiet_for_polls(*pollers: ChangePoller, polls: int = 3) -> None:
    """Wait until every poller has completed ``polls`` more polls (a duplicate would have arrived)."""
    targets = [(poller, poller.polls + polls) for poller in pollers]
    await _eventually(lambda: all(poller.polls >= target for poller, target in targets))


def _core(db: Database, storage: ArtifactStorage, staging_dir: Path) -> ModelsCore:
    return ModelsCore.build(
        db, storage, staging_dir=staging_dir, max_upload_bytes=1024 * 1024, watch_poll_seconds=INTERVAL
    )


@pytest.fixture
async def two_cores(
    database: Database, second_database: Database, storage: ArtifactStorage, staging_dir: Path
) -> AsyncIterator[tuple[ModelsCore, ModelsCore]]:
    """Processes A and B on one store, neither with its poller started."""
    core_a, core_b = _core(database, storage, staging_dir), _core(second_database, storage, staging_dir)
    try:
        yield core_a, core_b
    finally:
        await core_a.close()
        await core_b.close()


async def test_a_watcher_of_one_process_hears_of_changes_written_through_another_once(
    two_cores: tuple[ModelsCore, ModelsCore], tenant: str
) -> None:
    core_a, core_b = two_cores
    await core_a.poller.start()
    await core_b.poller.start()
    await create_model(core_a)
    await upload(core_a)
    renamed = dataclasses.replace(draft(), display_name="Live")
    changes = [
        lambda: core_a.deployments.create_deployment("live", draft()),
        lambda: core_a.deployments.update_deployment("deployments/live", renamed, ["display_name"]),
        lambda: core_a.deployments.delete_deployment("deployments/live", etag=""),
    ]
    async with _watching(core_b, tenant, PLATFORM) as watcher:
        for count, change in enumerate(changes, start=1):
            await change()
            await _eventually(lambda count=count: len(watcher.events) >= count)
            await _quiet_for_polls(core_a.poller, core_b.poller)
            assert len(watcher.events) == count
    assert watcher.seen() == [
        (WatchEventType.CREATED, "live", 1),
        (WatchEventType.UPDATED, "live", 2),
        (WatchEventType.DELETED, "live", 2),
    ]
    updated = watcher.events[1].deployment
    assert updated is not None
    assert updated.spec.display_name == "Live"


async def test_a_local_change_reaches_a_local_watcher_once_though_the_poller_sees_it_too(
    two_cores: tuple[ModelsCore, ModelsCore], tenant: str
) -> None:
    core_a, _ = two_cores
    await create_model(core_a)
    await upload(core_a)
    await core_a.poller.start()
    renamed = dataclasses.replace(draft(), display_name="Live")
    changes = [
        lambda: core_a.deployments.create_deployment("live", draft()),
        lambda: core_a.deployments.update_deployment("deployments/live", renamed, ["display_name"]),
        lambda: core_a.deployments.delete_deployment("deployments/live", etag=""),
    ]
    async with _watching(core_a, tenant) as watcher:
        for count, change in enumerate(changes, start=1):
            await change()
            await _eventually(lambda count=count: len(watcher.events) >= count)
            # The poller finds the change in the store too; what it publishes must be dropped.
            await _quiet_for_polls(core_a.poller)
            assert len(watcher.events) == count
    assert watcher.seen() == [
        (WatchEventType.CREATED, "live", 1),
        (WatchEventType.UPDATED, "live", 2),
        (WatchEventType.DELETED, "live", 2),
    ]


async def test_a_change_the_poller_delivered_first_is_not_delivered_again_by_the_writer(
    database: Database, core: ModelsCore, tenant: str
) -> None:
    await create_model(core)
    await upload(core)
    # A second hub stands for a process whose poller runs: it hears of core's changes only by polling.
    hub = WatchHub(queue_size=8)
    poller = ChangePoller(database, hub, INTERVAL)
    subscription = hub.subscribe(tenant)
    await poller.seed()
    created = await core.deployments.create_deployment("live", draft())
    await poller.poll()
    hub.publish(tenant, WatchEventType.CREATED, created)  # the writer's publish, arriving late
    await poller.poll()
    subscription.close()
    assert [(event.type, event.deployment_id) async for event in subscription] == [
        (WatchEventType.CREATED, "live")
    ]


async def test_a_delete_and_recreate_between_two_polls_is_a_deletion_then_a_creation(
    two_cores: tuple[ModelsCore, ModelsCore], tenant: str
) -> None:
    core_a, core_b = two_cores
    await create_model(core_a)
    await upload(core_a)
    await core_a.deployments.create_deployment("live", draft())
    renamed = dataclasses.replace(draft(), display_name="Old")
    await core_a.deployments.update_deployment("deployments/live", renamed, ["display_name"])
    await core_b.poller.seed()
    async with _watching(core_b, tenant) as watcher:
        await core_a.deployments.delete_deployment("deployments/live", etag="")
        await core_a.deployments.create_deployment("live", draft())
        await core_b.poller.poll()
        await _fence(core_a, core_b.poller, watcher)
    assert watcher.seen() == [
        (WatchEventType.DELETED, "live", 2),
        (WatchEventType.CREATED, "live", 1),
        (WatchEventType.CREATED, "fence", 1),
    ]
    deleted, created = (event.deployment for event in watcher.events[:2])
    assert deleted is not None
    assert created is not None
    assert deleted.spec.display_name == "Old"
    assert created.create_time > deleted.create_time


async def test_seeding_publishes_nothing(two_cores: tuple[ModelsCore, ModelsCore], tenant: str) -> None:
    core_a, core_b = two_cores
    await create_model(core_a)
    await upload(core_a)
    await core_a.deployments.create_deployment("live", draft())
    async with _watching(core_b, tenant) as watcher:
        await core_b.poller.seed()
        await _fence(core_a, core_b.poller, watcher)
    assert watcher.seen() == [(WatchEventType.CREATED, "fence", 1)]


class _FlakyDatabase(Database):
    """The store, except that the next ``failures`` reads fail as if it were unreachable."""

    def __init__(self, db: Database) -> None:
        super().__init__(db.engine)
        self.failures = 0

    async def read(self, work: Callable[[Session], T]) -> T:
        if self.failures:
            self.failures -= 1
            raise OperationalError("SELECT", {}, ConnectionRefusedError("the store is unreachable"))
        return await super().read(work)


async def test_the_poller_survives_failing_reads_and_catches_up(
    database: Database, core: ModelsCore, tenant: str, caplog: pytest.LogCaptureFixture
) -> None:
    await create_model(core)
    await upload(core)
    flaky = _FlakyDatabase(database)
    hub = WatchHub(queue_size=8)
    poller = ChangePoller(flaky, hub, INTERVAL)
    subscription = hub.subscribe(tenant)
    flaky.failures = 1
    with caplog.at_level(logging.WARNING, logger="services.models.change_poller"):
        try:
            await poller.start()  # the seed fails once: start tries again until it succeeds
            await _eventually(lambda: poller.polls >= 1)
            flaky.failures = 2
            await core.deployments.create_deployment("live", draft())
            await _eventually(lambda: flaky.failures == 0)
            assert poller.running
            event = await asyncio.wait_for(anext(subscription), timeout=5)
        finally:
            await poller.stop()
    assert (event.type, event.deployment_id) == (WatchEventType.CREATED, "live")
    failures = [record for record in caplog.records if getattr(record, "event", "") == "watch_poll_failed"]
    assert len(failures) == 3
    assert all(record.levelno == logging.WARNING for record in failures)
    assert "the store is unreachable" in failures[0].getMessage()
    assert not poller.running


async def test_closing_the_core_stops_its_poller(
    database: Database, storage: ArtifactStorage, staging_dir: Path
) -> None:
    core = _core(database, storage, staging_dir)
    await core.poller.start()
    assert core.poller.running
    with pytest.raises(RuntimeError):
        await core.poller.start()
    await core.close()
    assert not core.poller.running
    await core.poller.stop()


async def test_on_postgresql_a_change_reaches_another_process_at_once_not_at_the_next_poll(
    database: Database, second_database: Database, storage: ArtifactStorage, staging_dir: Path, tenant: str
) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: other stores have no change notifications")
    core_a, core_b = (
        ModelsCore.build(
            db, storage, staging_dir=staging_dir, max_upload_bytes=1024 * 1024, watch_poll_seconds=3600.0
        )
        for db in (database, second_database)
    )
    try:
        await create_model(core_a)
        await upload(core_a)
        await core_b.poller.start()
        assert core_b.poller.listener is not None
        await asyncio.wait_for(core_b.poller.listener.listening.wait(), 5)
        async with _watching(core_b, tenant, PLATFORM) as watcher:
            await core_a.deployments.create_deployment("live", draft())
            # Polls come an hour apart: only the notification can bring the change this soon.
            await _eventually(lambda: len(watcher.events) == 1, timeout=5)
        assert watcher.seen() == [(WatchEventType.CREATED, "live", 1)]
    finally:
        await core_a.close()
        await core_b.close()


async def test_a_rolled_back_change_wakes_nobody(database: Database, tenant: str) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: other stores have no change notifications")
    woken: list[None] = []
    listener = ChangeListener.for_engine(database.engine, lambda: woken.append(None))
    assert listener is not None
    listener.start()
    try:
        await asyncio.wait_for(listener.listening.wait(), 5)
        await _eventually(lambda: len(woken) == 1)  # once on connecting

        def fail_after_announcing(session: Session) -> None:
            announce_change(session)
            raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            await database.write(fail_after_announcing)
        await database.write(announce_change)
        await _eventually(lambda: len(woken) == 2)
        await asyncio.sleep(0.2)
        assert len(woken) == 2, "only the committed change was announced"
    finally:
        await listener.stop()


def test_stores_without_notifications_poll_on_the_timer_alone(sqlite_database: Database) -> None:
    assert ChangePoller(sqlite_database, WatchHub(queue_size=8), 1.0).listener is None


async def test_a_listener_that_cannot_connect_says_so_and_keeps_trying(
    caplog: pytest.LogCaptureFixture,
) -> None:
    woken: list[None] = []
    unreachable = "host=127.0.0.1 port=1 connect_timeout=1"
    listener = ChangeListener(unreachable, lambda: woken.append(None), retry_seconds=0.01)
    caplog.set_level(logging.WARNING, logger="services.models.store.notifications")
    listener.start()
    try:
        await _eventually(lambda: sum("not listening" in r.message for r in caplog.records) >= 2)
        assert not listener.listening.is_set()
        assert woken == []
    finally:
        await listener.stop()


@pytest.mark.parametrize("deleted_by", ["another replica", "the watched replica"])
async def test_a_deployment_listed_before_the_poller_saw_it_and_then_deleted_does_not_linger(
    two_cores: tuple[ModelsCore, ModelsCore], deleted_by: str
) -> None:
    core_a, core_b = two_cores
    await create_model(core_a)
    await upload(core_a)
    await core_b.poller.seed()
    # B's poller has not seen "ghost" yet when B's watcher reads its snapshot.
    await core_a.deployments.create_deployment("ghost", draft())
    deleter = core_a if deleted_by == "another replica" else core_b
    async with _mirroring(core_b) as mirror:
        await deleter.deployments.delete_deployment("deployments/ghost", etag="")
        await _fence(core_a, core_b.poller, mirror)
    assert mirror.deployments == {"fence": 1}


async def test_a_local_creation_deleted_elsewhere_before_the_next_poll_is_deleted_for_watchers(
    two_cores: tuple[ModelsCore, ModelsCore],
) -> None:
    core_a, core_b = two_cores
    await create_model(core_a)
    await upload(core_a)
    await core_b.poller.seed()
    async with _mirroring(core_b) as mirror:
        await core_b.deployments.create_deployment("ghost", draft())  # B's watchers hear of it at once
        await core_a.deployments.delete_deployment("deployments/ghost", etag="")
        await _fence(core_a, core_b.poller, mirror)
    assert mirror.deployments == {"fence": 1}
    assert [(event.type, event.deployment_id) for event in mirror.events] == [
        (WatchEventType.CREATED, "ghost"),
        (WatchEventType.DELETED, "ghost"),
        (WatchEventType.CREATED, "fence"),
    ]


async def test_a_change_made_elsewhere_while_the_first_seed_fails_still_reaches_watchers(
    database: Database, core: ModelsCore, tenant: str
) -> None:
    await create_model(core)
    await upload(core)
    await core.deployments.create_deployment("live", draft())
    # This process: its poller's first seed fails, then its watchers connect and read their snapshots.
    flaky = _FlakyDatabase(database)
    hub = WatchHub(queue_size=8)
    poller = ChangePoller(flaky, hub, 0.3)
    poller.listener = None  # the timer alone, on every store: a notification could hide the gap
    flaky.failures = 1
    try:
        await poller.start()
        mirror = _Mirror(dataclasses.replace(core, feeds=Feeds(database, hub)))
        try:
            await _eventually(lambda: mirror.synced)
            assert mirror.deployments == {"live": 1}
            renamed = dataclasses.replace(draft(), display_name="Live")
            await core.deployments.update_deployment("deployments/live", renamed, ["display_name"])
            await _eventually(lambda: mirror.deployments == {"live": 2})
        finally:
            await mirror.close()
    finally:
        await poller.stop()


async def test_a_deployment_recreated_by_a_replica_whose_clock_is_behind_reaches_watchers(
    database: Database,
    second_database: Database,
    storage: ArtifactStorage,
    staging_dir: Path,
    two_cores: tuple[ModelsCore, ModelsCore],
) -> None:
    core_a, core_b = two_cores
    behind = ModelsCore.build(
        second_database,
        storage,
        staging_dir=staging_dir,
        max_upload_bytes=1024 * 1024,
        clock=lambda: datetime.now(UTC) - timedelta(seconds=5),
    )
    try:
        await create_model(core_a)
        await upload(core_a)
        await core_a.deployments.create_deployment("live", draft())
        await core_b.poller.seed()
        async with _mirroring(core_b) as mirror:
            await core_a.deployments.delete_deployment("deployments/live", etag="")
            # The new incarnation's create time is earlier than the deleted one's.
            recreated = await behind.deployments.create_deployment("live", draft())
            for _ in range(3):
                await core_b.poller.poll()
            await _fence(core_a, core_b.poller, mirror)
            assert mirror.deployments == {"live": 1, "fence": 1}
            current = [e.deployment for e in mirror.events if e.deployment_id == "live"][-1]
            assert current is not None
            assert current.create_time == recreated.create_time
    finally:
        await behind.close()
