"""The fan-out hub: per-tenant delivery, bounded queues, slow subscribers cut off, close, each change once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.models.domain import Deployment, DeploymentSpec, DeploymentStatus
from services.models.enums import WatchEventType
from services.models.watch import Subscription, WatchHub
from services.runtime.errors import ResourceExhausted, Unavailable

CREATED, UPDATED, DELETED = WatchEventType.CREATED, WatchEventType.UPDATED, WatchEventType.DELETED
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _deployment(deployment_id: str, generation: int = 1, create_time: datetime | None = None) -> Deployment:
    created = create_time or datetime.now(UTC)
    return Deployment(
        deployment_id, DeploymentSpec("m", ()), DeploymentStatus(), generation, created, created, "etag"
    )


async def _delivered(subscription: Subscription) -> list[tuple[WatchEventType, str, int]]:
    """Close the subscription and return what it had received, as ``(type, deployment_id, generation)``."""
    subscription.close()
    return [
        (event.type, event.deployment_id, 0 if event.deployment is None else event.deployment.generation)
        async for event in subscription
    ]


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


async def test_a_change_published_twice_is_delivered_once_whichever_source_comes_first() -> None:
    hub = WatchHub(queue_size=16)
    hub.seed({})  # an empty store: the hub knows every deployment from here on
    subscription = hub.subscribe("acme")
    hub.publish("acme", CREATED, _deployment("d", 1, T0))  # the writer
    hub.publish("acme", CREATED, _deployment("d", 1, T0))  # the poller, later
    hub.publish("acme", UPDATED, _deployment("d", 3, T0))  # the poller saw generation 3 first
    hub.publish("acme", UPDATED, _deployment("d", 2, T0))  # the writer of generation 2, late
    hub.publish("acme", UPDATED, _deployment("d", 3, T0))  # the writer of generation 3
    hub.publish("acme", DELETED, _deployment("d", 3, T0))
    hub.publish("acme", DELETED, _deployment("d", 3, T0))
    assert await _delivered(subscription) == [(CREATED, "d", 1), (UPDATED, "d", 3), (DELETED, "d", 3)]


async def test_the_same_id_in_another_tenant_is_another_deployment() -> None:
    hub = WatchHub(queue_size=16)
    everyone = hub.subscribe(None)
    hub.publish("acme", CREATED, _deployment("d", 1, T0))
    hub.publish("globex", CREATED, _deployment("d", 1, T0))
    assert len(await _delivered(everyone)) == 2


async def test_once_seeded_a_deletion_is_delivered_only_for_a_known_deployment() -> None:
    unseeded, seeded = WatchHub(queue_size=16), WatchHub(queue_size=16)
    seeded.seed({("acme", "known"): _deployment("known", 2, T0)})
    to_unseeded, to_seeded = unseeded.subscribe("acme"), seeded.subscribe("acme")
    # Without a poller the writers are the only source: a deployment older than the hub is still deleted.
    unseeded.publish("acme", DELETED, _deployment("older-than-the-hub", 1, T0))
    seeded.publish("acme", DELETED, _deployment("never-seen", 1, T0))
    seeded.publish("acme", UPDATED, _deployment("known", 2, T0))  # what the seed already had
    seeded.publish("acme", DELETED, _deployment("known", 1, T0))  # as last seen by the poller
    assert await _delivered(to_unseeded) == [(DELETED, "older-than-the-hub", 1)]
    assert await _delivered(to_seeded) == [(DELETED, "known", 1)]


async def test_a_late_change_to_a_deleted_deployment_does_not_bring_it_back() -> None:
    hub = WatchHub(queue_size=16)
    hub.seed({})
    subscription = hub.subscribe("acme")
    hub.publish("acme", CREATED, _deployment("d", 1, T0))
    checkpoint = hub.checkpoint()
    hub.publish("acme", DELETED, _deployment("d", 2, T0))  # the writer deleted generation 2
    hub.publish("acme", UPDATED, _deployment("d", 2, T0))  # a poll that read before the deletion
    hub.forget_deleted(checkpoint)  # a poll that read before the deletion ends: still remembered
    hub.publish("acme", UPDATED, _deployment("d", 2, T0))
    hub.forget_deleted(hub.checkpoint())  # a poll that read after it ends
    recreated = _deployment("d", 1, T0 + timedelta(seconds=1))
    hub.publish("acme", CREATED, recreated)
    assert await _delivered(subscription) == [(CREATED, "d", 1), (DELETED, "d", 2), (CREATED, "d", 1)]


async def test_a_deleted_deployment_recreated_is_delivered_while_its_deletion_is_remembered() -> None:
    hub = WatchHub(queue_size=16)
    hub.seed({("acme", "d"): _deployment("d", 4, T0)})
    subscription = hub.subscribe("acme")
    later = T0 + timedelta(seconds=1)
    hub.publish("acme", DELETED, _deployment("d", 4, T0))
    hub.publish("acme", CREATED, _deployment("d", 1, later))
    # The poller, which saw both changes at once, publishes the same pair.
    hub.publish("acme", DELETED, _deployment("d", 4, T0))
    hub.publish("acme", CREATED, _deployment("d", 1, later))
    assert await _delivered(subscription) == [(DELETED, "d", 4), (CREATED, "d", 1)]


async def test_a_deletion_of_an_earlier_incarnation_is_dropped() -> None:
    hub = WatchHub(queue_size=16)
    hub.seed({})
    subscription = hub.subscribe("acme")
    later = T0 + timedelta(seconds=1)
    hub.publish("acme", CREATED, _deployment("d", 1, later))  # re-created here, deleted elsewhere
    hub.publish("acme", DELETED, _deployment("d", 5, T0))  # the poller catching up with the old one
    hub.publish("acme", CREATED, _deployment("d", 1, later))
    assert await _delivered(subscription) == [(CREATED, "d", 1)]


async def test_seeding_never_forgets_a_newer_change() -> None:
    hub = WatchHub(queue_size=16)
    subscription = hub.subscribe("acme")
    hub.publish("acme", UPDATED, _deployment("d", 3, T0))
    hub.seed({("acme", "d"): _deployment("d", 2, T0), ("acme", "e"): _deployment("e", 1, T0)})
    hub.publish("acme", UPDATED, _deployment("d", 3, T0))
    hub.publish("acme", UPDATED, _deployment("e", 1, T0))
    hub.publish("acme", UPDATED, _deployment("e", 2, T0))
    assert await _delivered(subscription) == [(UPDATED, "d", 3), (UPDATED, "e", 2)]


async def test_a_late_change_to_a_deleted_incarnation_is_dropped_whatever_its_generation() -> None:
    hub = WatchHub(queue_size=16)
    hub.seed({("acme", "d"): _deployment("d", 2, T0)})
    subscription = hub.subscribe("acme")
    # The poller, its view at generation 2, finds the deployment deleted elsewhere; the writer here
    # that committed generation 3 just before that deletion publishes after the poller.
    hub.publish("acme", DELETED, _deployment("d", 2, T0))
    hub.publish("acme", UPDATED, _deployment("d", 3, T0))
    assert await _delivered(subscription) == [(DELETED, "d", 2)]


async def test_a_subscription_after_close_is_refused_rather_than_left_open() -> None:
    hub = WatchHub(queue_size=2)
    hub.close()
    with pytest.raises(Unavailable) as raised:
        hub.subscribe("acme")
    assert raised.value.reason == "SERVICE_STOPPING"
    assert hub.subscriber_count == 0
