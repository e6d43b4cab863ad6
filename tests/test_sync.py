"""``SyncPublisher`` (``arda.events.sync``) against a real redis-server: a refused event is an error, as on the
``EventBus``, never a silent loss."""

from __future__ import annotations

import uuid

import pytest

from arda.events import EventBus, PublishError, SyncPublisher
from arda.testing.redis_server import RedisServer
from conftest import order


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
