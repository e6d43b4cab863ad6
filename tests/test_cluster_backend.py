"""The Redis Cluster backend's commands (:class:`arda.events.backends.cluster.ClusterCommands`) on a real
cluster: each tenant's keys on the node owning its slot, tenants over every primary, the global feed in shards,
idempotent two-step publishing, history and its checks, read state, revocations, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from arda.events import AnyEvent, BackendUnavailableError, BusError, EventBus, OrderCreated
from arda.events.backends.base import PublishItem, Retention
from arda.events.backends.cluster import ClusterBackend, ClusterCommands
from arda.events.layout import CLUSTER, GLOBAL_SHARD_STREAMS, global_shard
from arda.events.wire import DeadLetter
from arda.testing.cluster import ClusterSetup
from arda.testing.invariant import Accepted
from arda.testing.recorder import publish_until_accepted
from conftest import eventually


def order(tenant: str, n: int) -> OrderCreated:
    return OrderCreated(tenant_id=tenant, order_id=f"o-{n}", order_number=f"PO-{n}")


def item(tenant: str, n: int) -> PublishItem:
    return PublishItem(tenant, f"{tenant}-e{n}", b'{"type":"order.created","id":"%s-e%d"}' % (tenant.encode(), n))


@pytest.fixture(autouse=True)
def _emptied(cluster_url: str) -> str:
    """The session's cluster, emptied: the tests here count what is in its streams."""
    return cluster_url


@pytest.fixture
async def commands(cluster_setup: ClusterSetup) -> AsyncIterator[ClusterCommands]:
    backend = ClusterCommands(cluster_setup.url, Retention(max_events=1000, global_max_events=10_000))
    await backend.connect()
    try:
        yield backend
    finally:
        await backend.close()


def owner(setup: ClusterSetup, key: str) -> str:
    return setup.node_for_slot(setup.slot_of(key)).node_id


async def test_fifty_tenants_over_every_primary_each_in_order(
    commands: ClusterCommands, cluster_setup: ClusterSetup
) -> None:
    tenants = [f"spread-{i:02d}" for i in range(50)]
    batch = [item(t, n) for n in range(3) for t in tenants]  # interleaved tenants, in one call
    outcomes = await commands.publish(batch)
    assert [o.error for o in outcomes] == [None] * len(batch)
    assert not any(o.duplicate for o in outcomes)
    owners = {owner(cluster_setup, CLUSTER.stream_key(t)) for t in tenants}
    assert owners == {n.node_id for n in cluster_setup.primaries()}  # spread over all three
    for tenant in tenants:
        read = await commands.history(tenant, None, 10)
        assert [e.payload for e in read.entries] == [item(tenant, n).payload for n in range(3)]
        positions = [o.position for o, i in zip(outcomes, batch, strict=True) if i.tenant_id == tenant]
        assert [e.position for e in read.entries] == positions
        assert read.reaches_back
    # the global feed: every event once, in its tenant's global shard, in the tenant's order
    seen: dict[str, list[bytes]] = {}
    for shard in GLOBAL_SHARD_STREAMS:
        for entry in (await commands.history(shard, None, 1000)).entries:
            seen.setdefault(shard, []).append(entry.payload)
    assert sum(len(v) for v in seen.values()) == len(batch)
    for tenant in tenants:
        in_shard = [
            p
            for p in seen[global_shard(tenant)]
            if p.startswith(b'{"type":"order.created","id":"%s-' % tenant.encode())
        ]
        assert in_shard == [item(tenant, n).payload for n in range(3)]


async def test_a_retried_publish_is_a_duplicate_everywhere_and_completes_the_global_step(
    commands: ClusterCommands,
) -> None:
    tenant = "retry-1"
    first = await commands.publish([item(tenant, 1)])
    # a publish whose global step never ran: the tenant step alone, as if the publisher died between them
    r = commands.retention
    from arda.events.backends import cluster_scripts

    args = cluster_scripts.append_args(
        r.max_events, 0, 300_000, CLUSTER.idempotency_key(tenant, ""), CLUSTER.channel(tenant), [item(tenant, 2)]
    )
    await commands._append_all([(tenant, args)])
    again = await commands.publish([item(tenant, 1), item(tenant, 2)])
    assert [o.duplicate for o in again] == [True, True]
    assert again[0].position == first[0].position
    shard = await commands.history(global_shard(tenant), None, 1000)
    mine = [e.payload for e in shard.entries if b'"id":"retry-1-' in e.payload]
    assert mine == [item(tenant, 1).payload, item(tenant, 2).payload]  # each once: the retry filled the gap


async def test_a_refused_event_is_reported_and_the_others_stored(
    commands: ClusterCommands, cluster_setup: ClusterSetup
) -> None:
    bad = CLUSTER.stream_key("refused-1")
    cluster_setup.command(cluster_setup.node_for_slot(cluster_setup.slot_of(bad)), "SET", bad, "not a stream")
    outcomes = await commands.publish([item("fine-1", 1), item("refused-1", 1), item("fine-1", 2)])
    assert outcomes[0].error is None
    assert outcomes[2].error is None
    assert outcomes[1].error is not None
    assert "WRONGTYPE" in outcomes[1].error
    assert len((await commands.history("fine-1", None, 10)).entries) == 2


async def test_history_checks_and_a_lost_stream(commands: ClusterCommands, cluster_setup: ClusterSetup) -> None:
    tenant = "lost-1"
    anchor = await commands.top(tenant)  # an empty stream's position is an anchor
    (stored,) = await commands.publish([item(tenant, 1)])
    read = await commands.history(tenant, anchor, 10)
    assert read.reaches_back
    assert [e.position for e in read.entries] == [stored.position]
    assert await commands.check([(tenant, stored.position)]) == [True]
    key = CLUSTER.stream_key(tenant)
    cluster_setup.command(cluster_setup.node_for_slot(cluster_setup.slot_of(key)), "DEL", key)
    assert await commands.check([(tenant, stored.position)]) == [False]
    settled = await commands.settle(tenant, stored.position)
    assert settled.lost
    assert not (await commands.history(tenant, stored.position, 10)).reaches_back


async def test_read_state_revocations_dead_letters_and_raw_publishes(commands: ClusterCommands) -> None:
    tenant = "reads-1"
    assert await commands.latest_read(tenant) is None
    assert await commands.mark_read(tenant, "u-1", "e1", b"") is True
    assert await commands.mark_read(tenant, "u-1", "e1", b"") is False
    assert await commands.read_marks(tenant, "u-1", ["e1", "e2"]) == [True, False]
    latest = await commands.latest_read(tenant)
    assert latest is not None
    assert await commands.read_since(tenant, "u-1", latest) == ["e1"]
    assert await commands.read_since(tenant, "u-1", latest + 1) == []
    revocation = await commands.revoke("u-9", tenant)
    assert revocation in await commands.revocations()
    letter = DeadLetter("malformed", "bad json", CLUSTER.channel(tenant), b"{", "2026-12-02T00:00:00Z")
    await commands.dead_letter([letter])
    assert letter in await commands.dead_letters(10)
    assert await commands.publish_raw(tenant, b"{}") == 0  # nobody subscribed to the shard channel
    assert await commands.ping() > 0


async def test_the_bus_over_the_cluster_delivers_each_tenant_in_order_once(cluster_setup: ClusterSetup) -> None:
    tenants = [f"live-{i:02d}" for i in range(12)]
    async with EventBus(backend=ClusterBackend(cluster_setup.url)) as bus:
        got: dict[str, list[str]] = {t: [] for t in tenants}
        done = asyncio.Event()
        expected = 5 * len(tenants)

        def handler(event: AnyEvent) -> None:
            got[event.tenant_id].append(event.id)
            if sum(len(v) for v in got.values()) >= expected:
                done.set()

        for tenant in tenants:
            await bus.subscribe_tenant(tenant, handler)
        events = [order(t, n) for n in range(5) for t in tenants]
        await bus.publish_many(events)
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(0.2)  # nothing more arrives: once each
        for tenant in tenants:
            assert got[tenant] == [e.id for e in events if e.tenant_id == tenant]
            page = await bus.history(tenant)
            assert [e.id for e in page.events] == got[tenant]
        feed = await bus.global_history(limit=1000)  # the 8 global shards, merged
        assert sorted(e.id for e in feed.events) == sorted(e.id for e in events)
        for tenant in tenants:
            assert [e.id for e in feed.events if e.tenant_id == tenant] == got[tenant]
        with pytest.raises(BusError, match="split into shards"):
            await bus.backend.history("global", None, 10)  # the one-Redis name: refused, never silently empty


async def test_a_global_subscription_follows_every_shard(cluster_setup: ClusterSetup) -> None:
    tenants = [f"mon-{i:02d}" for i in range(20)]
    async with EventBus(backend=ClusterBackend(cluster_setup.url)) as bus:
        got: list[AnyEvent] = []
        await bus.subscribe_global(got.append)
        events = [order(t, n) for n in range(3) for t in tenants]
        await bus.publish_many(events)
        await eventually(lambda: len(got) >= len(events), 10)
        await asyncio.sleep(0.2)
        assert sorted(e.id for e in got) == sorted(e.id for e in events)  # every event once, from all 8 shards
        for tenant in tenants:  # each shard keeps its tenants' order
            assert [e.id for e in got if e.tenant_id == tenant] == [e.id for e in events if e.tenant_id == tenant]
        assert {global_shard(t) for t in tenants} == set(GLOBAL_SHARD_STREAMS)
        # each event comes with a composite position: resuming from any of them gives exactly what came after it
        for cut in (0, 17, len(got) - 1):
            since = got[cut].position
            assert since is not None
            assert since.startswith("g")
            rest: list[AnyEvent] = []
            while True:
                page = await bus.global_history(since, limit=7)
                assert page.reaches_back
                rest += page.events
                if not page.has_more:
                    break
                since = page.position
            assert sorted(e.id for e in rest) == sorted(e.id for e in got[cut + 1 :])
            for tenant in tenants:
                assert [e.id for e in rest if e.tenant_id == tenant] == [
                    e.id for e in got[cut + 1 :] if e.tenant_id == tenant
                ]
        start = await bus.latest_global_position()
        assert (await bus.global_history(start)).events == []
        await bus.unsubscribe_global(got.append)
        before = len(got)
        await bus.publish(order(tenants[0], 99))
        await asyncio.sleep(0.3)
        assert len(got) == before  # unsubscribed from every shard


async def _publish_through(fault: Callable[[ClusterSetup, list[str]], None]) -> None:
    """8 tenants subscribed and published to while ``fault`` runs; then every accepted event must have reached
    the subscriber once, in order — or its tenant's gap was reported."""
    tenants = [f"fault-{i:02d}" for i in range(8)]
    with ClusterSetup() as setup:
        gaps: list[str] = []
        got: dict[str, list[str]] = {t: [] for t in tenants}
        accepted: list[Accepted] = []
        bus = EventBus(backend=ClusterBackend(setup.url, command_timeout=1.0), on_gap=lambda g: gaps.append(g.stream))
        async with bus:
            for tenant in tenants:
                await bus.subscribe_tenant(tenant, lambda e: got[e.tenant_id].append(e.id))
            stop = asyncio.Event()

            async def publish(tenant: str) -> None:
                n = 0
                while not stop.is_set():
                    await publish_until_accepted(bus, tenant, n, accepted)
                    n += 1
                    await asyncio.sleep(0.02)

            publishers = [asyncio.create_task(publish(t)) for t in tenants]
            await asyncio.sleep(1.0)
            await asyncio.to_thread(fault, setup, tenants)
            await asyncio.sleep(2.0)
            stop.set()
            await asyncio.gather(*publishers)
            wanted = {t: {a.event_id for a in accepted if a.tenant == t} for t in tenants}
            with contextlib.suppress(TimeoutError):  # the assertions below say what is missing
                await eventually(lambda: all(set(got[t]) >= wanted[t] for t in tenants if t not in gaps), 10)
        for tenant in tenants:
            mine = [a.event_id for a in accepted if a.tenant == tenant]
            assert len(mine) > 20  # publishing went on across the fault
            if tenant in gaps:
                continue  # told: the loss (if any) was reported
            seen = list(dict.fromkeys(got[tenant]))  # once each after dedupe by id, in order
            assert seen == mine, f"{tenant}: {len(set(mine) - set(seen))} accepted events missing, not reported"


def _kill_an_owner(setup: ClusterSetup, tenants: list[str]) -> None:
    victim = setup.node_for_slot(setup.slot_of(CLUSTER.stream_key(tenants[0])))
    setup.kill(victim)
    setup.wait_promoted(victim)


def _migrate_a_tenant(setup: ClusterSetup, tenants: list[str]) -> None:
    slot = setup.slot_of(CLUSTER.stream_key(tenants[0]))
    source = setup.node_for_slot(slot)
    target = next(n for n in setup.primaries() if n is not source)
    setup.migrate_slot(slot, target)


async def test_kill_9_of_a_primary_while_publishing_loses_nothing_silently() -> None:
    """A primary owning subscribed tenants is killed while they are published to; its replica is promoted."""
    await _publish_through(_kill_an_owner)


async def test_a_tenants_slot_migrated_while_publishing_loses_nothing_silently() -> None:
    """The slot of a subscribed tenant moves to another primary (keys and all) while it is published to."""
    await _publish_through(_migrate_a_tenant)


async def test_a_plain_redis_or_a_user_without_cluster_slots_is_named_as_the_cause(
    redis_url: str, cluster_setup: ClusterSetup
) -> None:
    plain = redis_url.replace("redis://", "redis+cluster://").rsplit("/", 1)[0]
    with pytest.raises(BackendUnavailableError, match="not in cluster mode"):
        await EventBus(plain).connect()
    for node in cluster_setup.nodes:
        cluster_setup.command(node, "ACL", "SETUSER", "noslots", "on", ">pw", "~*", "&*", "+@all", "-cluster")
    with pytest.raises(BackendUnavailableError, match=r"may not run CLUSTER\|SLOTS"):
        await EventBus(cluster_setup.url.replace("://", "://noslots:pw@", 1)).connect()


async def test_a_promoted_replica_raises_its_streams_floors() -> None:
    """A replica promoted (here by a failover: nothing is lost, but asynchronous replication gives no way to
    know) may lack its primary's last writes: no position from before the promotion on that node resumes as
    complete. Streams of the other primaries are untouched, and publishing goes on."""
    tenants = [f"promo-{i:02d}" for i in range(12)]
    with ClusterSetup() as setup:
        async with EventBus(setup.url) as bus:
            results = await bus.publish_many([order(t, n) for n in range(3) for t in tenants])
            first = {t: results[i].position for i, t in enumerate(tenants)}  # each tenant's first event
            victim = setup.node_for_slot(setup.slot_of(CLUSTER.stream_key(tenants[0])))
            moved = {t for t in tenants if setup.node_for_slot(setup.slot_of(CLUSTER.stream_key(t))) is victim}
            assert moved != set(tenants)
            assert await bus.primary() is True  # records each primary's history
            (replica,) = setup.replicas_of(victim)
            await asyncio.to_thread(setup.failover, replica)
            assert await bus.primary() is True  # sees the promotion (reading the slot map again)
            for tenant in tenants:
                page = await bus.history(tenant, since=first[tenant])
                assert page.reaches_back is (tenant not in moved), tenant
            later = await bus.publish(order(tenants[0], 9))
            assert (await bus.history(tenants[0], since=later.position)).reaches_back
            assert await bus.primary() is True
            assert (await bus.history(tenants[0], since=later.position)).reaches_back  # raised once, not again
