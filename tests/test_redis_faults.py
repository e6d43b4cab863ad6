"""Faults of the Redis transport: unreachable server, restarts, killed and half-open connections."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from arda.events import (
    BackendUnavailableError,
    EventBus,
    EventValidationError,
    Gap,
    PublishError,
    Retention,
    SyncPublisher,
)
from arda.events.backoff import Backoff
from arda.testing.redis_server import RedisServer, free_port
from arda.testing.tcp_proxy import TcpProxy
from conftest import Collector, eventually, order

FAST = {"backoff": Backoff(base=0.02, cap=0.2), "connect_timeout": 1.0}


async def test_connect_fails_fast_naming_the_url_without_password() -> None:
    port = free_port()  # nothing listens here
    bus = EventBus(f"redis://:hunter2@127.0.0.1:{port}/0")
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError) as info:
        await bus.connect()
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message
    assert "hunter2" not in message
    assert "***" in message
    assert "refused" in message.lower() or "111" in message


async def test_connect_to_a_server_that_never_answers_times_out() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)  # accepts TCP, never speaks
    port = silent.getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(BackendUnavailableError, match=r"no answer within 0\.5 s"):
            await EventBus(f"redis://127.0.0.1:{port}", connect_timeout=0.5).connect()
        assert time.monotonic() - started < 3
    finally:
        silent.close()


async def test_publish_while_redis_is_down_raises_a_clear_error(fresh_redis: RedisServer) -> None:
    async with EventBus(fresh_redis.url, **FAST) as bus:  # type: ignore[arg-type]
        await bus.publish(order())
        fresh_redis.kill()
        with pytest.raises(PublishError, match="cannot reach Redis"):
            await bus.publish(order(n=2))
        assert bus.stats.publish_failures == 1


async def test_redis_killed_and_restarted_every_accepted_event_arrives_once_in_order(
    fresh_redis: RedisServer,
) -> None:
    """SIGKILL with fsync'd AOF while publishing with retries: exactly once, in order, for every accepted id."""
    received = Collector()
    accepted: list[str] = []
    async with EventBus(fresh_redis.url, **FAST) as publisher, EventBus(fresh_redis.url, **FAST) as subscriber:  # type: ignore[arg-type]
        await subscriber.subscribe_tenant("tenant-001", received)

        async def publish_all() -> None:
            for n in range(300):
                event = order(n=n, id=f"evt-{n:04d}")
                while True:  # a publisher's retry: same id, so never stored twice
                    try:
                        await publisher.publish(event)
                        break
                    except PublishError:
                        await asyncio.sleep(0.02)
                accepted.append(str(event["id"]))
                await asyncio.sleep(0.002)

        async def chaos() -> None:
            for _ in range(2):
                await asyncio.sleep(0.15)
                fresh_redis.kill()
                await asyncio.sleep(0.3)
                fresh_redis.start()

        await asyncio.gather(publish_all(), chaos())
        await received.wait_for(300, timeout=20)
        await received.settle(0.3)
        assert received.ids == accepted
        assert subscriber.stats.reconnects >= 1
        assert subscriber.stats.replayed >= 1  # some arrived from history, not live


async def test_client_kill_type_pubsub_reconnects_and_misses_nothing(redis_server: RedisServer, redis_url: str) -> None:
    received = Collector()
    async with EventBus(redis_url, **FAST) as publisher, EventBus(redis_url, **FAST) as subscriber:  # type: ignore[arg-type]
        await subscriber.subscribe_tenant("tenant-001", received)
        sent: list[str] = []

        async def publish_all() -> None:
            for n in range(400):
                sent.append((await publisher.publish(order(n=n))).id)
                if n % 50 == 0:
                    await asyncio.sleep(0.01)

        async def kill() -> None:
            for _ in range(3):
                await asyncio.sleep(0.03)
                redis_server.client().client_kill_filter(_type="pubsub")

        await asyncio.gather(publish_all(), kill())
        await received.wait_for(400, timeout=10)
        await received.settle()
        assert received.ids == sent
        assert subscriber.stats.reconnects >= 1
        assert subscriber.stats.replayed >= 1 or subscriber.stats.reconnects >= 1


async def test_half_open_connection_is_detected_and_the_gap_filled(redis_server: RedisServer, redis_url: str) -> None:
    proxy = await TcpProxy(redis_server.port).start()
    received = Collector()
    try:
        async with (
            EventBus(redis_url) as publisher,
            EventBus(proxy.url, ping_interval=0.3, ping_timeout=0.3, command_timeout=1.0, **FAST) as subscriber,  # type: ignore[arg-type]
        ):
            await subscriber.subscribe_tenant("tenant-001", received)
            first = await publisher.publish(order(n=0))
            await received.wait_for(1)
            proxy.freeze()  # no FIN, no RST: the subscriber's socket just goes quiet
            frozen_at = time.monotonic()
            conn = subscriber.backend._conn  # type: ignore[attr-defined]
            await eventually(lambda: conn.closed.done(), timeout=5)
            # dropped within ping interval + timeout of the last byte received (not of the last check)
            assert time.monotonic() - frozen_at <= 0.3 + 0.3 + 0.1
            during = [(await publisher.publish(order(n=n))).id for n in range(1, 30)]
            await received.wait_for(30, timeout=10)
            detected_after = time.monotonic() - frozen_at
            await received.settle()
            assert received.ids == [first.id, *during]
            assert subscriber.stats.reconnects == 1
            assert subscriber.stats.replayed >= 29  # the first may come from the subscribe-time replay too
            assert detected_after < 0.3 + 0.3 + 2.5  # ping interval + read deadline + reconnect and replay
    finally:
        await proxy.close()


async def test_outage_longer_than_retention_reports_a_gap_instead_of_a_partial_replay(
    redis_server: RedisServer, redis_url: str
) -> None:
    proxy = await TcpProxy(redis_server.port).start()
    gaps: list[Gap] = []
    received = Collector()
    small = Retention(max_events=5, global_max_events=5)
    try:
        async with (
            EventBus(redis_url, retention=small) as publisher,
            EventBus(
                proxy.url,
                ping_interval=0.2,
                ping_timeout=0.2,
                command_timeout=1.0,
                on_gap=gaps.append,
                **FAST,  # type: ignore[arg-type]
            ) as subscriber,
        ):
            await subscriber.subscribe_tenant("tenant-001", received)
            before = await publisher.publish(order(n=0))
            await received.wait_for(1)
            proxy.freeze()
            await publisher.publish_many([order(n=n) for n in range(1, 400)])
            await eventually(lambda: bool(gaps), timeout=10)
            assert gaps == [Gap("tenant-001", "history_trimmed", before.position)]
            after = await publisher.publish(order(n=999))
            await received.wait_for(2)
            assert received.ids == [before.id, after.id]  # nothing partial in between
    finally:
        await proxy.close()


async def test_unsubscribing_the_last_handler_drops_the_redis_subscription(
    redis_server: RedisServer, redis_url: str
) -> None:
    async with EventBus(redis_url) as bus:
        c = Collector()
        await bus.subscribe_tenant("tenant-x", c)
        assert b"arda:events:tenant-x" in redis_server.client().pubsub_channels()
        await bus.unsubscribe_tenant("tenant-x", c)
        await eventually(lambda: b"arda:events:tenant-x" not in redis_server.client().pubsub_channels(), timeout=2)


async def test_sync_publisher_speaks_the_same_wire_format(redis_url: str) -> None:
    received = Collector()
    async with EventBus(redis_url) as bus:
        await bus.subscribe_tenant("tenant-001", received)
        with SyncPublisher(redis_url) as publisher:
            first = await asyncio.to_thread(publisher.publish, order(n=1))
            again = await asyncio.to_thread(publisher.publish, order(n=1, id=first.id))
            with pytest.raises(EventValidationError):
                publisher.publish(order(orderId=""))
        (event,) = await received.wait_for(1)
        await received.settle()
        assert event.id == first.id
        assert event.position == first.position
        assert again.duplicate
        page = await bus.history("tenant-001")
        assert [e.id for e in page.events] == [first.id]


def test_sync_publisher_fails_fast_when_redis_is_unreachable() -> None:
    with pytest.raises(BackendUnavailableError, match=r"127\.0\.0\.1"):
        SyncPublisher(f"redis://127.0.0.1:{free_port()}", timeout=1).connect()
    with pytest.raises(ValueError, match="memory://"):
        SyncPublisher("memory://")


async def _frozen_subscriber(proxy: TcpProxy, received: Collector, gaps: list[Gap]) -> EventBus:
    bus = EventBus(proxy.url, ping_interval=0.2, ping_timeout=0.2, command_timeout=1.0, on_gap=gaps.append, **FAST)  # type: ignore[arg-type]
    await bus.subscribe_tenant("tenant-001", received)
    return bus


async def test_history_lost_while_disconnected_is_reported_even_for_an_empty_stream(
    redis_server: RedisServer, redis_url: str
) -> None:
    """The subscriber's cursor is the empty-stream cursor; the stream is then lost and recreated."""
    proxy = await TcpProxy(redis_server.port).start()
    gaps: list[Gap] = []
    received = Collector()
    try:
        async with EventBus(redis_url) as publisher:
            subscriber = await _frozen_subscriber(proxy, received, gaps)
            await asyncio.sleep(0.1)  # the subscribe-time replay is done
            proxy.freeze()
            await publisher.publish(order(n=1))
            redis_server.client().delete("arda:stream:tenant-001")  # as a Redis restart without persistence would
            await publisher.publish(order(n=2))
            await eventually(lambda: bool(gaps), timeout=10)
            assert gaps[0].reason == "history_trimmed"
            after = await publisher.publish(order(n=3))
            await received.wait_for(1)
            await received.settle()
            assert received.ids == [after.id]
            await subscriber.shutdown()
    finally:
        await proxy.close()


async def test_a_foreign_stream_entry_does_not_stall_recovery(redis_server: RedisServer, redis_url: str) -> None:
    received = Collector()
    async with EventBus(redis_url) as publisher, EventBus(redis_url, **FAST) as subscriber:  # type: ignore[arg-type]
        await subscriber.subscribe_tenant("tenant-001", received)
        first = await publisher.publish(order(n=1))
        await received.wait_for(1)
        redis_server.client().client_kill_filter(_type="pubsub")
        redis_server.client().xadd("arda:stream:tenant-001", {"other": "tool"})  # no field "e"
        rest = [(await publisher.publish(order(n=n))).id for n in range(2, 5)]
        await received.wait_for(4)
        await received.settle()
        assert received.ids == [first.id, *rest]
        await eventually(lambda: subscriber.stats.dead_lettered >= 1)


async def test_publish_refused_by_redis_fails_only_that_event(redis_server: RedisServer, redis_url: str) -> None:
    redis_server.client().set("arda:stream:tenant-bad", "not a stream")
    async with EventBus(redis_url) as bus:
        received = Collector()
        await bus.subscribe_global(received)
        good, bad = await asyncio.gather(
            bus.publish(order("tenant-ok")), bus.publish(order("tenant-bad")), return_exceptions=True
        )
        assert isinstance(bad, PublishError)
        assert "WRONGTYPE" in str(bad)
        assert not isinstance(good, BaseException)
        (event,) = await received.wait_for(1)
        await received.settle()
        assert event.id == good.id
        assert redis_server.client().type("arda:stream:tenant-bad") == b"string"  # untouched
        assert bus.stats.publish_failures == 1


def test_the_bus_works_on_uvloop(redis_url: str) -> None:
    """`arda serve` runs on uvloop, whose transports are not asyncio's classes."""
    import uvloop

    async def main() -> list[str]:
        received = Collector()
        async with EventBus(redis_url) as bus:
            await bus.subscribe_tenant("tenant-001", received)
            sent = [r.id for r in await bus.publish_many([order(n=n) for n in range(20)])]
            await received.wait_for(20)
            assert received.ids == sent
            return sent

    assert len(uvloop.run(main())) == 20


async def test_a_burst_of_commands_waits_for_the_pool_instead_of_failing(redis_url: str) -> None:
    async with EventBus(redis_url) as bus:
        await bus.publish(order())
        pages = await asyncio.gather(*(bus.history("tenant-001") for _ in range(300)))
        assert all(len(p.events) == 1 for p in pages)
