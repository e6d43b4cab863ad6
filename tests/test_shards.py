"""Sharded pub/sub on a Redis Cluster (``arda.events.backends.shards`` and the sharded half of ``.resp``).

The pure parts by tables: a channel's slot (as Redis computes it), the ``CLUSTER SLOTS`` reply read into a slot map,
owners, grouping by slot and by owner, the diff after a map change, the ``-MOVED``/``-ASK`` error text. Then against
real ``redis-server`` clusters (:class:`arda.testing.cluster.ClusterSetup`): ``PubSubConnection``'s SSUBSCRIBE,
``smessage``, refusals that fail one command only, unasked ``sunsubscribe`` pushes; the subscriber's placement (30
tenants over the 3 primaries, each message received once, a connection to each owner and to nothing else),
unsubscribe; and the faults it follows — a slot migrated, a primary killed (``kill -9``) and its replica promoted, a
``CLUSTER FAILOVER`` — each on a cluster of the test's own, with the time it took printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from arda.events.backends.resp import PubSubConnection, RedirectError, RespError, parse_redirect
from arda.events.backends.shards import (
    Changes,
    ShardedSubscriber,
    SlotMap,
    SlotRange,
    assign,
    channel_slot,
    diff,
    group_by_slot,
    owner_of,
    parse_cluster_slots,
)
from arda.events.backoff import Backoff
from arda.events.errors import BackendUnavailableError
from arda.testing.cluster import ClusterNode, ClusterSetup, key_slot
from arda.testing.redis_server import RedisServer, free_port
from conftest import HASH_TAG_EDGES, eventually

FAST = Backoff(base=0.02, cap=0.25)  # the fault tests' backoff (the default caps at 5 s)

# -- pure ----------------------------------------------------------------------------------------------------------


def test_a_channels_slot_is_the_slot_redis_gives_the_same_key() -> None:
    rng = random.Random(12)
    keys = HASH_TAG_EDGES + ["".join(rng.choice("ab{}:x-é0") for _ in range(rng.randint(0, 14))) for _ in range(3000)]
    assert [channel_slot(k.encode()) for k in keys] == [key_slot(k) for k in keys]
    assert channel_slot(b"arda:events:{tenant-001}") == key_slot("tenant-001") == channel_slot(b"tenant-001")
    assert channel_slot(b"somekey") == 11058
    assert channel_slot(b"foo{hash_tag}") == 2515


A, B, C = ("10.0.0.1", 7000), ("10.0.0.2", 7001), ("10.0.0.3", 7002)
A2 = ("10.0.0.4", 7003)  # A's replica


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        pytest.param([], (), id="empty"),
        pytest.param(
            [
                [5461, 16383, [b"10.0.0.2", 7001, b"id-b", {}], [b"10.0.0.3", 7002, b"id-c", {}]],
                [0, 5460, [b"10.0.0.1", 7000, b"id-a", {}], [b"10.0.0.4", 7003, b"id-a2", {}]],
            ],
            (SlotRange(0, 5460, A, (A2,)), SlotRange(5461, 16383, B, (C,))),
            id="resp3-bytes-sorted-by-first-slot",
        ),
        pytest.param(
            [[0, 100, ["10.0.0.1", 7000, "id-a", ["hostname", "a.example"]]]],
            (SlotRange(0, 100, A),),
            id="resp2-str-metadata-ignored",
        ),
        pytest.param(
            [[0, 1, [b"", 7000, b"id"], [None, 7003, b"id2"]]],
            (SlotRange(0, 1, ("10.9.9.9", 7000), (("10.9.9.9", 7003),)),),
            id="empty-or-null-host-is-the-host-asked",
        ),
        pytest.param(
            [[0, 10, [b"?", 7000, b"id"]], [11, 20, [b"10.0.0.2", 7001, b"id"], [b"?", 7009, b"r"]]],
            (SlotRange(11, 20, B),),
            id="unknown-endpoint-has-no-owner",
        ),
        pytest.param(
            [[7, 7, [b"::1", 7000, b"id"]]],
            (SlotRange(7, 7, ("::1", 7000)),),
            id="ipv6",
        ),
    ],
)
def test_cluster_slots_replies_read_as_slot_maps(reply: Any, expected: SlotMap) -> None:
    assert parse_cluster_slots(reply, ("10.9.9.9", 1)) == expected


@pytest.mark.parametrize(
    "reply",
    [b"OK", [[0]], [[0, 5, b"10.0.0.1"]], [[0, 5, [b"10.0.0.1"]]], [[6, 5, [b"h", 1]]], [[0, 16384, [b"h", 1]]]],
)
def test_malformed_cluster_slots_replies_are_refused(reply: Any) -> None:
    with pytest.raises(ValueError, match="CLUSTER SLOTS"):
        parse_cluster_slots(reply, A)


MAP: SlotMap = (SlotRange(0, 5460, A), SlotRange(5461, 10922, B), SlotRange(10924, 16383, C))  # 10923: no owner


@pytest.mark.parametrize(
    ("slot", "owner"),
    [(0, A), (5460, A), (5461, B), (10922, B), (10923, None), (10924, C), (16383, C)],
)
def test_owner_of_a_slot(slot: int, owner: tuple[str, int] | None) -> None:
    assert owner_of(MAP, slot) == owner
    assert owner_of((), slot) is None


def ch(tag: str) -> bytes:
    return b"arda:events:{%s}" % tag.encode()


def tag_in(first: int, last: int, prefix: str, exclude: tuple[int, ...] = ()) -> str:
    """A tag whose slot is in ``first`` … ``last``, not one of ``exclude``."""
    return next(t for i in range(100_000) if first <= (s := key_slot(t := f"{prefix}{i}")) <= last and s not in exclude)


TA1 = tag_in(0, 5460, "a")  # two tags of A's slots, in different slots
TA2 = tag_in(0, 5460, "a", exclude=(key_slot(TA1),))
TB = tag_in(5461, 10922, "b")
TC = tag_in(10924, 16383, "c")
T_NONE = next(f"n{i}" for i in range(100_000) if key_slot(f"n{i}") == 10923)


def test_channels_grouped_by_slot_each_once_in_order() -> None:
    same = [ch(TA1), b"x:{%s}:other" % TA1.encode()]
    assert group_by_slot([*same, ch(TB), ch(TA1)]) == {key_slot(TA1): same, key_slot(TB): [ch(TB)]}
    assert group_by_slot([]) == {}


def test_channels_assigned_to_their_slots_owner() -> None:
    placement, unowned = assign([ch(TA1), ch(TB), ch(TA2), ch(T_NONE), ch(TC)], MAP)
    assert placement == {
        A: {key_slot(TA1): [ch(TA1)], key_slot(TA2): [ch(TA2)]},
        B: {key_slot(TB): [ch(TB)]},
        C: {key_slot(TC): [ch(TC)]},
    }
    assert unowned == [ch(T_NONE)]


def _per_slot(*channels: bytes) -> dict[int, list[bytes]]:
    return group_by_slot(sorted(channels))


# after a map change: the map moved TA1's slot from A to B, A failed over to A2, ...
MOVED_TA1: SlotMap = (
    SlotRange(0, key_slot(TA1) - 1, A),
    SlotRange(key_slot(TA1), key_slot(TA1), B),
    SlotRange(key_slot(TA1) + 1, 5460, A),
    *MAP[1:],
)
FAILED_OVER_A: SlotMap = (SlotRange(0, 5460, A2), *MAP[1:])
EVERYTHING = [ch(TA1), ch(TA2), ch(TB), ch(TC)]
ALL_PLACED = {A: [ch(TA1), ch(TA2)], B: [ch(TB)], C: [ch(TC)]}


@pytest.mark.parametrize(
    ("desired", "slot_map", "placed", "expected"),
    [
        pytest.param(
            EVERYTHING,
            MAP,
            {},
            Changes({A: _per_slot(ch(TA1), ch(TA2)), B: _per_slot(ch(TB)), C: _per_slot(ch(TC))}, {}, [], []),
            id="nothing-placed-yet",
        ),
        pytest.param(EVERYTHING, MAP, ALL_PLACED, Changes({}, {}, [], []), id="all-in-place"),
        pytest.param(
            EVERYTHING,
            MOVED_TA1,
            ALL_PLACED,
            Changes({B: _per_slot(ch(TA1))}, {A: _per_slot(ch(TA1))}, [], []),
            id="a-slot-migrated",
        ),
        pytest.param(
            EVERYTHING,
            MOVED_TA1,
            {A: [ch(TA2)], B: [ch(TB)], C: [ch(TC)]},  # A pushed sunsubscribe for TA1 already
            Changes({B: _per_slot(ch(TA1))}, {}, [], []),
            id="a-slot-migrated-and-pushed",
        ),
        pytest.param(
            EVERYTHING,
            MAP,
            {B: [ch(TB)], C: [ch(TC)]},
            Changes({A: _per_slot(ch(TA1), ch(TA2))}, {}, [], []),
            id="a-connection-lost",
        ),
        pytest.param(
            EVERYTHING,
            FAILED_OVER_A,
            {A: [], B: [ch(TB)], C: [ch(TC)]},
            Changes({A2: _per_slot(ch(TA1), ch(TA2))}, {}, [A], []),
            id="failed-over-the-demoted-node-closed",
        ),
        pytest.param(
            [ch(TB)],
            MAP,
            {A: [ch(TA1)], B: [ch(TB)], C: []},
            Changes({}, {}, [A, C], []),
            id="nodes-owning-nothing-desired-closed",
        ),
        pytest.param(
            [ch(TA1), ch(TB)],
            MAP,
            {A: [ch(TA1), ch(TA2)], B: [ch(TB)]},
            Changes({}, {A: _per_slot(ch(TA2))}, [], []),
            id="no-longer-desired-left",
        ),
        pytest.param(
            [ch(TB), ch(T_NONE)],
            MAP,
            {C: [ch(T_NONE)], B: []},
            Changes({B: _per_slot(ch(TB))}, {}, [], [ch(T_NONE)]),
            id="a-slot-without-owner-stays-where-it-is",
        ),
        pytest.param([], (), {A: [ch(TA1)]}, Changes({}, {}, [A], []), id="nothing-desired"),
    ],
)
def test_diff_after_a_map_change(
    desired: list[bytes], slot_map: SlotMap, placed: dict[tuple[str, int], list[bytes]], expected: Changes
) -> None:
    assert diff(desired, slot_map, placed) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ("MOVED 1598 127.0.0.1:36599", ("MOVED", 1598, "127.0.0.1", 36599)),
        ("ASK 3999 10.0.0.2:6380", ("ASK", 3999, "10.0.0.2", 6380)),
        ("MOVED 12 ::1:7000", ("MOVED", 12, "::1", 7000)),
        ("MOVED 12 [::1]:7000", ("MOVED", 12, "::1", 7000)),
        ("CROSSSLOT Keys in request don't hash to the same slot", None),
        ("MOVED x 127.0.0.1:1", None),
        ("MOVED 1 127.0.0.1", None),
        ("ERR unknown command", None),
    ],
)
def test_redirect_errors_read(error: str, expected: tuple[str, int, str, int] | None) -> None:
    assert parse_redirect(error) == expected


# -- helpers against real clusters -----------------------------------------------------------------------------


class Recorder:
    """The subscriber's callbacks: messages as (channel, payload), and when ``on_lost``/``on_resubscribed`` ran."""

    def __init__(self) -> None:
        self.messages: list[tuple[bytes, bytes]] = []
        self.lost: list[tuple[float, str]] = []
        self.resubscribed: list[float] = []

    def on_message(self, channel: bytes, payload: bytes) -> None:
        self.messages.append((channel, payload))

    def on_lost(self, reason: str) -> None:
        self.lost.append((time.monotonic(), reason))

    def on_resubscribed(self) -> None:
        self.resubscribed.append(time.monotonic())

    def payloads(self) -> Counter[bytes]:
        return Counter(p for _, p in self.messages)


def make(nodes: list[tuple[str, int]], params: dict[str, Any], recorder: Recorder, **options: Any) -> ShardedSubscriber:
    return ShardedSubscriber(nodes, params, recorder.on_message, recorder.on_lost, recorder.on_resubscribed, **options)


@asynccontextmanager
async def subscriber(setup: ClusterSetup, recorder: Recorder, **options: Any) -> AsyncIterator[ShardedSubscriber]:
    nodes = [(n.host, n.port) for n in setup.nodes]
    sub = make(nodes, {}, recorder, **options)
    await sub.start()
    try:
        yield sub
    finally:
        await sub.close()


TENANTS = [f"tenant-{i:03d}" for i in range(1, 31)]
CHANNELS = [ch(t) for t in TENANTS]


def owner(setup: ClusterSetup, channel: bytes) -> ClusterNode:
    return setup.node_for_slot(key_slot(channel))


def spread(setup: ClusterSetup) -> dict[int, list[bytes]]:
    """The 30 tenants' channels by the port of their owner; every primary has some."""
    by_port: dict[int, list[bytes]] = {}
    for channel in CHANNELS:
        by_port.setdefault(owner(setup, channel).port, []).append(channel)
    assert len(by_port) == 3, "the 30 tenants should spread over the 3 primaries"
    return by_port


def publish_all(setup: ClusterSetup, channels: list[bytes], tag: str) -> list[bytes]:
    """SPUBLISH one message per channel through its owner; the payloads."""
    payloads = []
    for channel in channels:
        payload = b"%s|%s" % (tag.encode(), channel)
        assert setup.command(owner(setup, channel), "SPUBLISH", channel, payload) == 1
        payloads.append(payload)
    return payloads


def connections(setup: ClusterSetup) -> dict[int, tuple[int, int]]:
    """Per running node (by port): (client connections other than replication links and the asking one,
    of which with shard subscriptions)."""
    out = {}
    for node in setup.nodes:
        if not node.alive:
            continue
        clients = [
            dict(f.split("=", 1) for f in line.split() if "=" in f)
            for line in setup.command(node, "CLIENT", "LIST").splitlines()
        ]
        ours = [c for c in clients if not {"S", "M"} & set(c["flags"]) and c["cmd"] != "client|list"]
        out[node.port] = (len(ours), sum(1 for c in ours if int(c.get("ssub", 0)) > 0))
    return out


def expect_connections(setup: ClusterSetup, owners: set[int]) -> dict[int, tuple[int, int]]:
    return {n.port: ((1, 1) if n.port in owners else (0, 0)) for n in setup.nodes if n.alive}


async def received(recorder: Recorder, payloads: list[bytes], timeout: float = 5.0) -> None:
    """Every payload received, each exactly once (counted after a short quiet spell, for late duplicates)."""
    await eventually(lambda: set(payloads) <= set(recorder.payloads()), timeout)
    await asyncio.sleep(0.2)
    counts = recorder.payloads()
    assert {p: counts[p] for p in payloads} == dict.fromkeys(payloads, 1)


@pytest.fixture
def own_cluster() -> Iterator[ClusterSetup]:
    """A cluster of the test's own, to kill, fail over or move slots."""
    with ClusterSetup() as setup:
        yield setup


# -- the sharded connection ----------------------------------------------------------------------------------


async def test_pubsub_connection_ssubscribes_and_receives_smessages(cluster_setup: ClusterSetup) -> None:
    setup = cluster_setup
    by_port = spread(setup)
    port, channels = next(iter(by_port.items()))
    node = setup.node(port)
    got: list[tuple[bytes, bytes]] = []
    dropped: list[bytes] = []
    conn = PubSubConnection(lambda c, p: got.append((c, p)), on_sunsubscribed=dropped.append)
    await conn.open({"host": node.host, "port": node.port}, 5, primary_only=True)
    try:
        async with asyncio.timeout(5):
            await asyncio.gather(*(conn.ssubscribe(g) for g in group_by_slot(channels).values()))
            await conn.ssubscribe([])  # nothing to confirm: resolved at once
        for channel in channels:
            setup.command(node, "SPUBLISH", channel, b"to " + channel)
        await eventually(lambda: len(got) == len(channels))
        assert got == [(c, b"to " + c) for c in channels]

        conn.sunsubscribe([channels[0]])  # answered: not reported as dropped
        conn.ping()
        await eventually(lambda: setup.command(node, "SPUBLISH", channels[0], b"gone") == 0)
        setup.command(node, "SPUBLISH", channels[1], b"still")
        await eventually(lambda: got[-1] == (channels[1], b"still"))
        assert dropped == []
        assert not conn.closed.done()
    finally:
        conn.close()


async def test_a_refused_ssubscribe_fails_its_own_future_and_keeps_the_connection(cluster_setup: ClusterSetup) -> None:
    setup = cluster_setup
    by_port = spread(setup)
    (here, mine), (there, theirs) = list(by_port.items())[:2]
    node, elsewhere = setup.node(here), setup.node(there)
    got: list[tuple[bytes, bytes]] = []
    conn = PubSubConnection(lambda c, p: got.append((c, p)))
    await conn.open({"host": node.host, "port": node.port}, 5)
    try:
        async with asyncio.timeout(5):
            await conn.ssubscribe([mine[0]])
            with pytest.raises(RedirectError) as moved:
                await conn.ssubscribe([theirs[0]])
            assert (moved.value.kind, moved.value.slot) == ("MOVED", key_slot(theirs[0]))
            assert (moved.value.host, moved.value.port) == (elsewhere.host, elsewhere.port)
            assert f"served by {elsewhere.address}" in str(moved.value)
            assert theirs[0].decode() in str(moved.value)

            two_slots = [mine[1], *(c for c in mine if key_slot(c) != key_slot(mine[1]))][:2]
            with pytest.raises(RespError, match="CROSSSLOT") as crossslot:
                await conn.ssubscribe(two_slots)
            assert not isinstance(crossslot.value, RedirectError)
            # commands in flight together: each answer goes to its own command
            ok, refused, ok_too = conn.ssubscribe([mine[1]]), conn.ssubscribe([theirs[1]]), conn.ssubscribe([mine[2]])
            results = await asyncio.gather(ok, refused, ok_too, return_exceptions=True)
            assert results[0] is None
            assert results[2] is None
            assert isinstance(results[1], RedirectError)
        conn.sunsubscribe([theirs[0]])  # refused (MOVED) as well: ignored
        for channel in (mine[0], mine[1], mine[2]):
            setup.command(node, "SPUBLISH", channel, b"after the refusals")
        await eventually(lambda: len(got) == 3)
        assert not conn.closed.done()
    finally:
        conn.close()
    assert await asyncio.wait_for(conn.closed, 5) == "closed"


async def test_the_plain_subscriber_path_is_unchanged(redis_server: RedisServer) -> None:
    """One Redis: SUBSCRIBE, ``message``, ROLE as a request, PING, UNSUBSCRIBE — what the Redis backend uses."""
    got: list[tuple[bytes, bytes]] = []
    conn = PubSubConnection(lambda c, p: got.append((c, p)))
    await conn.open({"host": "127.0.0.1", "port": redis_server.port}, 5, primary_only=True)
    try:
        async with asyncio.timeout(5):
            await conn.subscribe([b"plain:a", b"plain:b"])
        client = redis_server.client()
        client.publish("plain:a", b"1")
        client.publish("plain:b", b"2")
        conn.ping()
        await eventually(lambda: len(got) == 2)
        assert got == [(b"plain:a", b"1"), (b"plain:b", b"2")]
        conn.unsubscribe([b"plain:a"])
        await eventually(lambda: client.publish("plain:a", b"x") == 0)
        assert not conn.closed.done()
    finally:
        conn.close()


# -- the subscriber on a settled cluster -------------------------------------------------------------------------


async def test_thirty_tenants_each_received_once_with_connections_to_their_owners_only(
    cluster_setup: ClusterSetup,
) -> None:
    setup = cluster_setup
    by_port = spread(setup)
    recorder = Recorder()
    async with subscriber(setup, recorder) as sub:
        assert sub.live()
        two = [p for p in by_port][:2]
        async with asyncio.timeout(10):
            await sub.subscribe([c for p in two for c in by_port[p]])
        await eventually(lambda: connections(setup) == expect_connections(setup, set(two)))
        assert sub.live()

        async with asyncio.timeout(10):
            await sub.subscribe(CHANNELS)  # the rest: the third primary's connection opens
            await sub.subscribe(CHANNELS[:3])  # subscribed already: nothing to do
        await eventually(lambda: connections(setup) == expect_connections(setup, set(by_port)))
        await received(recorder, publish_all(setup, CHANNELS, "once"))
        assert {c for c, _ in recorder.messages} == set(CHANNELS)
        assert (recorder.lost, recorder.resubscribed, sub.reconnects) == ([], [], 0)
        assert sub.live()
    assert not sub.live()
    await eventually(lambda: connections(setup) == expect_connections(setup, set()))


async def test_unsubscribe_stops_delivery_and_closes_connections_left_without_channels(
    cluster_setup: ClusterSetup,
) -> None:
    setup = cluster_setup
    by_port = spread(setup)
    recorder = Recorder()
    async with subscriber(setup, recorder) as sub:
        async with asyncio.timeout(10):
            await sub.subscribe(CHANNELS)
        emptied, *kept = by_port
        leaving = by_port[emptied] + by_port[kept[0]][:2]
        sub.unsubscribe(leaving)
        sub.unsubscribe([b"arda:events:{never-subscribed}"])
        await eventually(lambda: connections(setup) == expect_connections(setup, set(kept)))
        await eventually(lambda: all(setup.command(owner(setup, c), "SPUBLISH", c, b"?") == 0 for c in leaving))
        staying = [c for c in CHANNELS if c not in leaving]
        before = len(recorder.messages)
        await received(recorder, publish_all(setup, staying, "after"))
        assert len(recorder.messages) == before + len(staying)

        async with asyncio.timeout(10):
            await sub.subscribe(leaving)  # back again: the emptied node's connection reopens
        await received(recorder, publish_all(setup, leaving, "back"))
        assert recorder.lost == []


async def test_start_tries_every_startup_node_and_fails_when_none_answers(cluster_setup: ClusterSetup) -> None:
    dead = [("127.0.0.1", free_port()), ("127.0.0.1", free_port())]
    recorder = Recorder()
    sub = make(dead, {}, recorder)
    with pytest.raises(BackendUnavailableError, match="no Redis Cluster node answered") as error:
        async with asyncio.timeout(5):
            await sub.start()
    assert all(f"127.0.0.1:{port}" in str(error.value) for _, port in dead)
    await sub.close()

    node = cluster_setup.primaries()[0]
    sub = make([*dead, (node.host, node.port)], {}, recorder)
    try:
        async with asyncio.timeout(10):
            await sub.subscribe(CHANNELS[:5])  # starts it
        await received(recorder, publish_all(cluster_setup, CHANNELS[:5], "via-a-live-seed"))
    finally:
        await sub.close()


async def test_wrong_credentials_are_refused_at_start(cluster_setup: ClusterSetup) -> None:
    node = cluster_setup.primaries()[0]
    recorder = Recorder()
    params = {"username": "nobody", "password": "wrong"}
    sub = make([(node.host, node.port)], params, recorder)
    with pytest.raises(BackendUnavailableError, match=r"WRONGPASS|invalid username"):
        async with asyncio.timeout(5):
            await sub.start()
    await sub.close()


# -- following the cluster --------------------------------------------------------------------------------------


async def _followed(recorder: Recorder, timeout: float = 20.0) -> None:
    await eventually(lambda: recorder.resubscribed, timeout)
    await asyncio.sleep(0.3)  # nothing more comes: one incident, one recovery
    assert len(recorder.lost) == 1
    assert len(recorder.resubscribed) == 1


async def test_a_migrated_slot_is_followed(own_cluster: ClusterSetup) -> None:
    setup = own_cluster
    by_port = spread(setup)
    recorder = Recorder()
    async with subscriber(setup, recorder, backoff=FAST) as sub:
        async with asyncio.timeout(10):
            await sub.subscribe(CHANNELS)
        moving = CHANNELS[0]
        source = owner(setup, moving)
        target = next(p for p in setup.primaries() if p is not source)
        staying_on_source = next(c for c in by_port[source.port] if key_slot(c) != key_slot(moving))
        # the connection itself: the server's unasked sunsubscribe reaches on_sunsubscribed, once
        dropped: list[bytes] = []
        conn = PubSubConnection(lambda c, p: None, on_sunsubscribed=dropped.append)
        await conn.open({"host": source.host, "port": source.port}, 5)
        async with asyncio.timeout(5):
            await conn.ssubscribe([moving])
            await conn.ssubscribe([staying_on_source])

        began = time.monotonic()
        await asyncio.to_thread(setup.migrate_slot, key_slot(moving), target)
        moved_at = time.monotonic()
        await _followed(recorder)
        assert owner(setup, moving) is target
        assert "dropped arda:events:{tenant-001}" in recorder.lost[0][1]
        assert sub.reconnects == 1
        assert sub.live()
        await eventually(lambda: dropped == [moving])
        assert not conn.closed.done()
        conn.close()

        await eventually(lambda: connections(setup) == expect_connections(setup, set(by_port)))
        await received(recorder, publish_all(setup, CHANNELS, "after-the-move"))
        print(
            f"\nmigrate_slot followed: on_resubscribed {recorder.resubscribed[0] - began:.3f} s after the migration "
            f"began ({recorder.resubscribed[0] - recorder.lost[0][0]:.3f} s after on_lost; migrate_slot took "
            f"{moved_at - began:.3f} s)"
        )


async def test_a_killed_primary_is_followed_to_its_promoted_replica(own_cluster: ClusterSetup) -> None:
    setup = own_cluster
    by_port = spread(setup)
    recorder = Recorder()
    async with subscriber(setup, recorder, backoff=FAST) as sub:
        async with asyncio.timeout(10):
            await sub.subscribe(CHANNELS)
        victim = setup.primaries()[1]
        (replica,) = setup.replicas_of(victim)
        others = [p for p in by_port if p != victim.port]
        # a second subscriber with nothing on the victim: a subscribe needing it fails within connect_timeout
        second = Recorder()
        async with subscriber(setup, second, connect_timeout=0.5) as bystander:
            elsewhere = setup.node(others[0])
            aside = next(c for i in range(10_000) if elsewhere.owns(key_slot(c := ch(f"bystander-{i}"))))
            async with asyncio.timeout(5):
                await bystander.subscribe([aside])  # not one of the 30: they each have one subscriber

            killed_at = time.monotonic()
            await asyncio.to_thread(setup.kill, victim)
            await eventually(lambda: recorder.lost, 5)
            assert not sub.live()
            started = time.monotonic()
            with pytest.raises(BackendUnavailableError, match=r"within 0\.5 s"):
                await bystander.subscribe(by_port[victim.port][:1])
            assert time.monotonic() - started < 2
            assert bystander.live()
            assert second.lost == []

            promoted = await asyncio.to_thread(setup.wait_promoted, victim)
            promoted_at = time.monotonic()
            assert promoted is replica
            await _followed(recorder)
            assert sub.live()
            assert sub.reconnects == 1
            assert str(victim.port) in recorder.lost[0][1]
            await received(recorder, publish_all(setup, CHANNELS, "after-the-kill"))
            await eventually(lambda: second.messages == [] and bystander.live())
        await eventually(lambda: connections(setup) == expect_connections(setup, {*others, replica.port}))
        resubscribed = recorder.resubscribed[0]
        print(
            f"\nkill -9 followed: on_resubscribed {resubscribed - killed_at:.3f} s after the kill, "
            f"{resubscribed - promoted_at:+.3f} s from wait_promoted's return "
            f"(which came {promoted_at - killed_at:.3f} s after the kill)"
        )


async def test_a_cluster_failover_is_followed(own_cluster: ClusterSetup) -> None:
    setup = own_cluster
    by_port = spread(setup)
    recorder = Recorder()
    async with subscriber(setup, recorder, backoff=FAST) as sub:
        async with asyncio.timeout(10):
            await sub.subscribe(CHANNELS)
        primary = setup.primaries()[2]
        (replica,) = setup.replicas_of(primary)
        began = time.monotonic()
        assert await asyncio.to_thread(setup.failover, replica) is primary
        swapped_at = time.monotonic()
        await _followed(recorder)
        assert "dropped" in recorder.lost[0][1] or str(primary.port) in recorder.lost[0][1]
        assert sub.live()
        assert sub.reconnects == 1
        owners = {p for p in by_port if p != primary.port} | {replica.port}
        await eventually(lambda: connections(setup) == expect_connections(setup, owners))
        await received(recorder, publish_all(setup, CHANNELS, "after-the-failover"))
        print(
            f"\nCLUSTER FAILOVER followed: on_resubscribed {recorder.resubscribed[0] - began:.3f} s after the "
            f"command ({recorder.resubscribed[0] - recorder.lost[0][0]:.3f} s after on_lost; setup.failover "
            f"returned after {swapped_at - began:.3f} s)"
        )
