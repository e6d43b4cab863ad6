"""When Redis loses data — FLUSHALL, a restart without persistence, a failover to a replica that lags —
nobody is told "recovered" for history that is not the history their position was taken from (issue 10's
findings 1–3), and readiness follows the primary (finding 4)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from arda.events import EventBus, Gap
from arda.events.backends.memory import MemoryBackend
from arda.testing.cluster import ClusterSetup
from arda.testing.redis_server import RedisServer
from arda.testing.sentinel import SentinelSetup
from arda.testing.tcp_proxy import TcpProxy
from conftest import Collector, eventually, order
from ws_client import Running, running_service


# -- finding 1: the empty stream's position, after the history is lost --------------------------------------
@pytest.fixture
async def svc(bus_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with running_service(bus_url, tmp_path, check_interval_s=0.2) as running:
        yield running


def record_gaps(svc: Running) -> list[Gap]:
    """The gaps the service's bus reports (the service goes on acting on them)."""
    gaps: list[Gap] = []
    service_handler = svc.service.bus.on_gap
    assert service_handler is not None

    def record(gap: Gap) -> None:
        gaps.append(gap)
        service_handler(gap)

    svc.service.bus.on_gap = record
    return gaps


def lose_everything(svc: Running, request: pytest.FixtureRequest) -> None:
    backend = svc.service.bus.backend
    if isinstance(backend, MemoryBackend):
        backend.broker.flush()
    elif "sentinel" in svc.service.bus.url:
        setup: SentinelSetup = request.getfixturevalue("sentinel_setup")
        setup.node(setup.primary_port()).client().flushall()
    elif "cluster" in svc.service.bus.url:
        cluster: ClusterSetup = request.getfixturevalue("cluster_setup")
        for primary in cluster.primaries():
            cluster.command(primary, "FLUSHALL")
    else:
        request.getfixturevalue("redis_server").client().flushall()


async def test_a_position_of_an_empty_tenant_does_not_resume_after_history_is_lost(
    svc: Running, request: pytest.FixtureRequest
) -> None:
    async with svc.user("u-1", ["tenant-empty"]) as c:
        start = (await c.subscribe("tenant-empty"))["position"]
    await svc.publish(*[order("tenant-empty", n) for n in range(5)])
    lose_everything(svc, request)
    async with svc.user("u-1", ["tenant-empty"]) as again:
        resumed = await again.subscribe("tenant-empty", since=start)
        assert resumed["recovered"] is False  # it said "0-0 … recovered: true" and replayed nothing
        assert [m for m in await again.quiet() if m["type"] == "notification"] == []


async def test_a_position_of_an_empty_tenant_still_resumes_when_nothing_was_lost(svc: Running) -> None:
    async with svc.user("u-1", ["tenant-empty"]) as c:
        start = (await c.subscribe("tenant-empty"))["position"]
    published = await svc.publish(*[order("tenant-empty", n) for n in range(5)])
    async with svc.user("u-1", ["tenant-empty"]) as again:
        assert (await again.subscribe("tenant-empty", since=start))["recovered"] is True
        got = await again.notifications(5)
        assert [n["eventId"] for n in got] == [p["id"] for p in published]


# -- finding 3: lost while idle, noticed without a publish ---------------------------------------------------
async def test_history_lost_while_idle_is_noticed_and_clients_are_told(
    svc: Running, request: pytest.FixtureRequest
) -> None:
    gaps = record_gaps(svc)
    async with svc.user() as c:
        await c.subscribe()
        await svc.publish(order())
        (n,) = await c.notifications(1)
        lose_everything(svc, request)  # and nothing is published afterwards
        assert await c.closed_with(timeout=5) == 4006  # the periodic check (0.2 s here; 5 s by default)
    assert [(g.stream, g.reason) for g in gaps] == [("tenant-001", "history_lost")]
    async with svc.user() as again:
        assert (await again.subscribe(since=n["position"]))["recovered"] is False


async def test_the_bus_notices_a_deleted_stream_within_the_check_interval(redis_url: str) -> None:
    gaps: list[Gap] = []
    async with EventBus(redis_url, on_gap=gaps.append, check_interval=0.2) as bus:
        got = Collector()
        await bus.subscribe_tenant("tenant-x", got)
        await bus.publish(order("tenant-x"))
        await got.wait_for(1)
        redis = bus.backend._client  # type: ignore[attr-defined]
        await redis.delete("arda:stream:tenant-x")
        await eventually(lambda: gaps, timeout=3)
        assert gaps[0].stream == "tenant-x"
        published = await bus.publish(order("tenant-x", 2))  # and it goes on, from the new stream
        assert (await got.wait_for(2))[1].id == published.id


class _LosesOneCancellation(MemoryBackend):
    """A backend whose primary check loses the first cancellation it gets, as a redis-py command can on Python
    3.11: its writes go through ``asyncio.wait_for``, which returns the result and drops a cancellation that
    arrives as the write completes (fixed in 3.12)."""

    def __init__(self) -> None:
        super().__init__("loses-one-cancellation")
        self.checking = asyncio.Event()
        self.lost = 0

    async def primary(self) -> bool:
        self.checking.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self.lost or task is None:
                raise
            self.lost += 1
            task.uncancel()  # what the race leaves: no cancellation pending
        return True


async def test_shutdown_stops_the_periodic_check_even_when_a_command_lost_the_cancellation() -> None:
    """A full run of the suite once hung for 60 s in teardown: the bus's periodic check had lost its
    cancellation inside a Redis command, and went on checking after the bus was shut down."""
    backend = _LosesOneCancellation()
    bus = EventBus(backend=backend, check_interval=0.05)
    await bus.subscribe_tenant("tenant-x", Collector())
    await asyncio.wait_for(backend.checking.wait(), 5)
    await bus.shutdown(drain_timeout=1)
    await asyncio.sleep(0.2)  # four check intervals
    assert backend.lost == 1
    checks = [task for task in asyncio.all_tasks() if task.get_name() == "arda-watch"]
    assert checks == [], "the periodic check outlived the bus"


# -- finding 2: a failover to a replica that lags -------------------------------------------------------------
@pytest.fixture
async def failover_pair() -> AsyncIterator[tuple[RedisServer, RedisServer, TcpProxy]]:
    primary, replica = RedisServer().start(), RedisServer().start()
    replica.command("REPLICAOF", "127.0.0.1", str(primary.port))
    await eventually(lambda: replica.client().info("replication")["master_link_status"] == "up", timeout=10)
    proxy = await TcpProxy(primary.port).start()
    yield primary, replica, proxy
    await proxy.close()
    for server in (primary, replica):
        if server.proc is not None:
            os.kill(server.proc.pid, signal.SIGCONT)
        server.close()


async def test_events_lost_in_a_failover_are_reported_to_every_affected_client(
    failover_pair: tuple[RedisServer, RedisServer, TcpProxy], tmp_path: Path
) -> None:
    primary, replica, proxy = failover_pair
    async with running_service(proxy.url, tmp_path, check_interval_s=0.2) as svc:
        gaps = record_gaps(svc)
        async with svc.user("u-away") as away:
            await away.subscribe()
            await svc.publish(*[order(n=n) for n in range(10)])
            before = (await away.notifications(10))[-1]["position"]
        await eventually(lambda: replica.client().xlen("arda:stream:tenant-001") == 10 + 1, timeout=5)  # + anchor
        async with svc.user("u-live") as live:
            await live.subscribe()
            assert replica.proc is not None
            os.kill(replica.proc.pid, signal.SIGSTOP)  # the replica lags: what follows never reaches it
            lost = await svc.publish(*[order(n=n) for n in range(10, 15)])  # accepted by the primary
            got = await live.notifications(5)
            assert [n["eventId"] for n in got] == [p["id"] for p in lost]
            primary.kill()
            os.kill(replica.proc.pid, signal.SIGCONT)
            replica.command("REPLICAOF", "NO", "ONE")  # promoted, without the last five events
            proxy.retarget(replica.port)
            assert await live.closed_with(timeout=10) == 4006  # told: continuity was lost
        assert gaps
        assert gaps[0].reason == "history_lost"
        async with svc.user("u-live") as again:  # it had seen the lost events: their positions are gone
            assert (await again.subscribe(since=got[-1]["position"]))["recovered"] is False
        async with svc.user("u-away") as again:  # it had not: its position exists, the events after it do not
            assert (await again.subscribe(since=before))["recovered"] is False
        # publishing goes on, on the new primary, and a position taken now resumes normally
        async with svc.user("u-new") as new:
            await new.subscribe()
            (fresh,) = await svc.publish(order(n=99))
            position = (await new.notifications(1))[0]["position"]
        await svc.publish(order(n=100))
        async with svc.user("u-new") as again:
            assert (await again.subscribe(since=position))["recovered"] is True
            assert (await again.notifications(1))[0]["data"]["orderId"] == "o-100"
        assert fresh["position"]


# -- finding 4: readiness follows the primary ----------------------------------------------------------------
async def test_readyz_is_503_on_a_replica(tmp_path: Path) -> None:
    primary, replica = RedisServer().start(), RedisServer().start()
    try:
        replica.command("REPLICAOF", "127.0.0.1", str(primary.port))
        async with running_service(replica.url, tmp_path) as svc:
            status, body, _ = await svc.http("GET", "/readyz", auth=None)
            assert status == 503, body
            assert "not the writable primary" in body["problems"][0]
            replica.command("REPLICAOF", "NO", "ONE")
            status, body, _ = await svc.http("GET", "/readyz", auth=None)
            assert status == 200, body
    finally:
        primary.close()
        replica.close()


# -- finding 4: a bus outage is not silence ------------------------------------------------------------------
async def test_clients_are_told_when_the_bus_cannot_receive_and_resume_after(
    fresh_redis: RedisServer, tmp_path: Path
) -> None:
    async with running_service(fresh_redis.url, tmp_path, bus_outage_s=1, check_interval_s=0.2) as svc:
        async with svc.user() as c, svc.user("u-2") as idle_client:
            await c.subscribe()
            (before,) = await svc.publish(order())
            position = (await c.notifications(1))[0]["position"]
            fresh_redis.kill()  # Redis is gone (its data is on disk: appendfsync always)
            assert await c.closed_with(timeout=10) == 1013  # told, after ARDA_BUS_OUTAGE_S
            status, body, _ = await svc.http("GET", "/readyz", auth=None)
            assert status == 503, body
            await idle_client.send("ping", None, "p")  # not subscribed: not affected
            assert (await idle_client.expect("pong"))["messageId"] == "p"
        fresh_redis.start()
        await eventually(lambda: svc.service.bus.live, timeout=15)
        async with svc.user() as again:
            resumed = await again.subscribe(since=position)
            assert resumed["recovered"] is True
            (after,) = await svc.publish(order(n=2))
            assert (await again.notifications(1))[0]["eventId"] == after["id"]
        assert before["id"] != after["id"]
