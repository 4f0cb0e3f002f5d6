"""The watch stream and the audit log through the core."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from services.models.core import ModelsCore
from services.models.domain import WatchEvent
from services.models.enums import WatchEventType
from services.runtime.auth import Identity, Role, bind_identity
from services.runtime.errors import InvalidArgument, PermissionDenied, Unavailable

from .helpers import create_model, draft, upload

pytestmark = pytest.mark.usefixtures("caller")


async def _next(stream: AsyncIterator[WatchEvent]) -> WatchEvent:
    return await asyncio.wait_for(anext(stream), timeout=5)


async def test_watch_sends_the_snapshot_then_changes(core: ModelsCore, tenant: str) -> None:
    await create_model(core)
    await upload(core)
    await core.deployments.create_deployment("before", draft())
    stream = core.feeds.watch(all_tenants=False)
    async with contextlib.aclosing(stream):
        existing = await _next(stream)
        assert (existing.type, existing.deployment_id, existing.tenant) == (
            WatchEventType.EXISTING,
            "before",
            tenant,
        )
        assert (await _next(stream)).type == WatchEventType.SYNCED

        await core.deployments.create_deployment("after", draft())
        # An update that changes nothing is not a change: no event.
        await core.deployments.update_deployment("deployments/after", draft(), ["display_name"])
        renamed = dataclasses.replace(draft(), display_name="Live")
        await core.deployments.update_deployment("deployments/after", renamed, ["display_name"])
        await core.deployments.delete_deployment("deployments/before", etag="")
        events = [await _next(stream) for _ in range(3)]
    assert [(e.type, e.deployment_id) for e in events] == [
        (WatchEventType.CREATED, "after"),
        (WatchEventType.UPDATED, "after"),
        (WatchEventType.DELETED, "before"),
    ]
    assert events[1].deployment is not None
    assert events[1].deployment.generation == 2
    assert core.hub.subscriber_count == 0


async def test_a_recreated_deployment_is_sent_though_the_snapshot_had_a_later_generation(
    core: ModelsCore, tenant: str
) -> None:
    await create_model(core)
    await upload(core)
    await core.deployments.create_deployment("live", draft())
    old = await core.deployments.update_deployment(
        "deployments/live", dataclasses.replace(draft(), display_name="Old"), ["display_name"]
    )
    stream = core.feeds.watch(all_tenants=False)
    async with contextlib.aclosing(stream):
        assert (await _next(stream)).type == WatchEventType.EXISTING
        assert (await _next(stream)).type == WatchEventType.SYNCED
        # Deleted through another process, re-created through this one before the poller noticed: the
        # hub delivers the creation (and later drops the poller's deletion of the earlier incarnation).
        recreated = dataclasses.replace(old, generation=1, create_time=old.create_time + timedelta(seconds=1))
        core.hub.publish(tenant, WatchEventType.CREATED, recreated)
        event = await _next(stream)
    assert (event.type, event.deployment) == (WatchEventType.CREATED, recreated)


async def test_other_tenants_changes_are_not_sent(core: ModelsCore, tenant: str) -> None:
    stream = core.feeds.watch(all_tenants=False)
    async with contextlib.aclosing(stream):
        assert (await _next(stream)).type == WatchEventType.SYNCED
        with bind_identity(Identity("bob", f"{tenant}-b", frozenset({Role.EDITOR}))):
            await create_model(core)
            await upload(core)
            await core.deployments.create_deployment("theirs", draft())
        await create_model(core)
        await upload(core)
        await core.deployments.create_deployment("ours", draft())
        assert (await _next(stream)).deployment_id == "ours"


async def test_all_tenants_needs_admin_and_names_the_tenant(core: ModelsCore, tenant: str) -> None:
    with pytest.raises(PermissionDenied):
        await anext(core.feeds.watch(all_tenants=True))
    with bind_identity(Identity("inference", "platform", frozenset({Role.ADMIN}))):
        stream = core.feeds.watch(all_tenants=True)
        async with contextlib.aclosing(stream):
            while (await _next(stream)).type != WatchEventType.SYNCED:
                pass
            with bind_identity(Identity("alice", tenant, frozenset({Role.EDITOR}))):
                await create_model(core)
                await upload(core)
                await core.deployments.create_deployment("live", draft())
            event = await _next(stream)
            while event.tenant != tenant:
                event = await _next(stream)
            assert (event.type, event.deployment_id) == (WatchEventType.CREATED, "live")


async def test_a_watch_that_begins_after_the_streams_were_ended_for_shutdown_is_unavailable(
    core: ModelsCore,
) -> None:
    # Shutdown ends the watch streams before the server stops taking calls: a watcher that reconnects
    # in between must be told to go elsewhere, not left waiting for changes until the grace period ends.
    await core.close()
    stream = core.feeds.watch(all_tenants=False)
    async with contextlib.aclosing(stream):
        with pytest.raises(Unavailable) as raised:
            await _next(stream)
    assert raised.value.reason == "SERVICE_STOPPING"
    assert core.hub.subscriber_count == 0


async def test_audit_events_page_and_filter_by_time(core: ModelsCore) -> None:
    await create_model(core)
    await upload(core)
    start = datetime.now(UTC) - timedelta(seconds=1)
    for index in range(3):
        await core.aliases.set_alias(f"models/fraud/aliases/a{index}", "models/fraud/versions/1")
    first = await core.feeds.list_audit_events(2, "", resource="", start_time=start, end_time=None)
    second = await core.feeds.list_audit_events(
        2, first.next_page_token, resource="", start_time=start, end_time=None
    )
    resources = [e.resource for e in first.items + second.items]
    assert resources == [f"models/fraud/aliases/a{index}" for index in (2, 1, 0)]
    assert not second.next_page_token
    later = await core.feeds.list_audit_events(0, "", resource="", start_time=None, end_time=start)
    assert later.items == ()
    with pytest.raises(InvalidArgument):
        await core.feeds.list_audit_events(0, "", resource="models/x", start_time=None, end_time=None)
    with pytest.raises(InvalidArgument):
        await core.feeds.list_audit_events(0, "", resource="", start_time=start, end_time=start)
