"""The fan-out hub: per-tenant delivery, bounded queues, slow subscribers cut off, close."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.models.domain import Deployment, DeploymentSpec, DeploymentStatus
from services.models.enums import WatchEventType
from services.models.watch import WatchHub
from services.runtime.errors import ResourceExhausted


def _deployment(deployment_id: str) -> Deployment:
    now = datetime.now(UTC)
    return Deployment(deployment_id, DeploymentSpec("m", ()), DeploymentStatus(), 1, now, now, "etag")


async def test_subscribers_get_their_tenants_events_and_all_tenant_subscribers_get_all() -> None:
    hub = WatchHub(queue_size=8)
    acme, everyone = hub.subscribe("acme"), hub.subscribe(None)
    hub.publish("globex", WatchEventType.CREATED, _deployment("g"))
    hub.publish("acme", WatchEventType.CREATED, _deployment("a"))
    assert (await anext(acme)).deployment_id == "a"
    assert [(await anext(everyone)).tenant for _ in range(2)] == ["globex", "acme"]


async def test_a_full_queue_cuts_the_subscriber_off_without_blocking_the_writer() -> None:
    hub = WatchHub(queue_size=2)
    slow, fast = hub.subscribe("acme"), hub.subscribe("acme")
    for index in range(3):
        hub.publish("acme", WatchEventType.UPDATED, _deployment(f"d{index}"))
        await anext(fast)
    with pytest.raises(ResourceExhausted) as raised:
        await anext(slow)
    assert raised.value.reason == "WATCHER_TOO_SLOW"
    assert hub.subscriber_count == 1
    hub.publish("acme", WatchEventType.UPDATED, _deployment("d3"))
    assert (await anext(fast)).deployment_id == "d3"


async def test_close_ends_every_subscription() -> None:
    hub = WatchHub(queue_size=2)
    subscription = hub.subscribe(None)
    hub.close()
    with pytest.raises(StopAsyncIteration):
        await anext(subscription)
    assert hub.subscriber_count == 0
