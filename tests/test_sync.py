"""``SyncPublisher`` (``arda.events.sync``) against a real redis-server: a refused event is an error, as on the
``EventBus``, never a silent loss."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from arda.events import EventBus, PublishError, SyncPublisher
from arda.events.layout import CLUSTER
from arda.testing.cluster import ClusterSetup
from arda.testing.redis_server import RedisServer
from conftest import Collector, order


def _poison(redis_server: RedisServer, tenant: str) -> None:
    """Make the publish script refuse ``tenant``'s events: its stream key holds a string (WRONGTYPE at XADD)."""
    redis_server.command("SET", f"arda:stream:{tenant}", "not a stream")


def test_a_refused_event_raises_publish_error_and_nothing_of_it_is_stored(
    redis_server: RedisServer, redis_url: str
) -> None:
    _poison(redis_server, "tenant-bad")
    bad = order("tenant-bad", id=str(uuid.uuid4()))
    with SyncPublisher(redis_url) as publisher, pytest.raises(PublishError) as info:
        publisher.publish(bad)
    message = str(info.value)
    assert "WRONGTYPE" in message
    assert bad["id"] in message
    assert "tenant-bad" in message
    assert redis_server.command("TYPE", "arda:stream:tenant-bad") == b"string"  # untouched
    assert redis_server.command("XLEN", "arda:stream:global") == 0  # not published on the global stream either


def test_publish_many_raises_for_the_refused_one_and_publishes_the_others(
    redis_server: RedisServer, redis_url: str
) -> None:
    _poison(redis_server, "tenant-bad")
    events = [order("tenant-ok", n=1), order("tenant-bad", n=2), order("tenant-ok", n=3)]
    with SyncPublisher(redis_url) as publisher, pytest.raises(PublishError, match="tenant-bad") as info:
        publisher.publish_many(events)
    assert "WRONGTYPE" in str(info.value)
    stored = redis_server.command("XRANGE", "arda:stream:tenant-ok", "-", "+")
    assert len(stored) == 2  # the batch went in one round trip: the others were stored


async def test_the_same_refusal_reads_the_same_on_the_event_bus(redis_server: RedisServer, redis_url: str) -> None:
    _poison(redis_server, "tenant-bad")
    bad = order("tenant-bad", id=str(uuid.uuid4()))
    with SyncPublisher(redis_url) as publisher, pytest.raises(PublishError) as sync_error:
        publisher.publish_many([bad])
    async with EventBus(redis_url) as bus:
        with pytest.raises(PublishError) as bus_error:
            await bus.publish_many([bad])
    assert str(sync_error.value) == str(bus_error.value)


# -- on a Redis Cluster ----------------------------------------------------------------------------------------
async def test_on_a_cluster_it_publishes_like_the_bus(cluster_setup: ClusterSetup, cluster_url: str) -> None:
    """Tenants over every primary, one round per node: stored, delivered live, in the global feed, deduplicated;
    a refused event raises the bus's own error and the others are published."""
    tenants = [f"sync-{i:02d}" for i in range(12)]
    bad = "sync-bad"
    poisoned = CLUSTER.stream_key(bad)
    cluster_setup.command(cluster_setup.node_for_slot(cluster_setup.slot_of(poisoned)), "SET", poisoned, "x")
    async with EventBus(cluster_url) as bus:
        got = Collector()
        for tenant in tenants:
            await bus.subscribe_tenant(tenant, got)
        events = [order(t, n, id=str(uuid.uuid4())) for n in range(3) for t in tenants]
        with SyncPublisher(cluster_url) as publisher:
            results = await asyncio.to_thread(publisher.publish_many, events)
            assert [r.duplicate for r in results] == [False] * len(events)
            again = await asyncio.to_thread(publisher.publish, events[0])
            assert again.duplicate
            assert again.position == results[0].position
            refused = order(bad, id=str(uuid.uuid4()))
            with pytest.raises(PublishError) as sync_error:
                await asyncio.to_thread(publisher.publish_many, [order(tenants[0], 9), refused])
        with pytest.raises(PublishError) as bus_error:
            await bus.publish_many([refused])
        assert str(sync_error.value) == str(bus_error.value)
        await got.wait_for(len(events) + 1)
        for tenant in tenants:
            sent = [e["id"] for e in events if e["tenantId"] == tenant]
            assert [e.id for e in got.events if e.tenant_id == tenant][: len(sent)] == sent
        feed = await bus.global_history(limit=1000)
        assert {e.id for e in feed.events} >= {e["id"] for e in events}
        assert len(feed.events) == len(events) + 1  # once each (the duplicate not again), the refused one absent
    owners = {cluster_setup.node_for_slot(cluster_setup.slot_of(CLUSTER.stream_key(t))).port for t in tenants}
    assert len(owners) == 3
