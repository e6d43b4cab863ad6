"""The hub (``arda.notifications.hub``): who is subscribed to what, fan-out, coalesced writes and the slow-consumer
policy — with fake peers that record what they get. ``send`` schedules the flush with ``call_soon``, so these
tests run in the event loop (``asyncio_mode = auto``); nothing else of it is used: no sockets."""

from __future__ import annotations

import asyncio

import pytest

from arda.events.catchup import Catchup
from arda.events.positions import fast_key
from arda.notifications.codes import SLOW_CONSUMER, CloseCode
from arda.notifications.deflate import Deflater
from arda.notifications.hub import BURST_FACTOR, Hub, Peer

TENANT = "tenant-a"
MAX_BYTES = 100
MAX_MESSAGES = 3


class FakePeer:
    """A connection as the hub sees it: what it was written, its socket buffer, how it was closed."""

    def __init__(self, peer_id: str, buffered: int = 0, keeps: bool = False) -> None:
        self.id = peer_id
        self.out: list[bytes] = []
        self.dirty = False
        self.closed = False
        self.sent = 0
        self.deflater: Deflater | None = None
        self.writes: list[bytes] = []
        self.buffered = buffered
        self.keeps = keeps  # the client reads nothing: what is written stays in the buffer
        self.closes: list[tuple[CloseCode, str]] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        if self.keeps:
            self.buffered += len(data)

    def write_buffer_size(self) -> int:
        return self.buffered

    def close(self, code: CloseCode, reason: str = "") -> None:
        self.closes.append((code, reason))
        self.closed = True

    def __repr__(self) -> str:
        return f"FakePeer({self.id})"


class Slow:
    def __init__(self) -> None:
        self.peers: list[Peer] = []

    def __call__(self, peer: Peer) -> None:
        self.peers.append(peer)


@pytest.fixture
def slow() -> Slow:
    return Slow()


@pytest.fixture
def hub(slow: Slow) -> Hub:
    return Hub(MAX_BYTES, MAX_MESSAGES, on_slow=slow)


def live() -> Catchup[bytes]:
    return Catchup(live=True)


def join(hub: Hub, peer: FakePeer, user: str, catchup: Catchup[bytes] | None = None) -> Catchup[bytes]:
    catchup = catchup if catchup is not None else live()
    hub.subscribe(peer, TENANT, catchup, user)
    return catchup


async def turn() -> None:
    """Let the loop run the flush scheduled by ``send``."""
    await asyncio.sleep(0)


def received(peer: FakePeer) -> bytes:
    return b"".join(peer.writes)


def assert_slow(peer: FakePeer, slow: Slow) -> None:
    assert [code for code, _ in peer.closes] == [SLOW_CONSUMER]
    assert SLOW_CONSUMER.code == 4004
    assert slow.peers == [peer]
    assert peer.out == []


# -- fan-out ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("recipients", "expected"),
    [
        (None, {"a1", "a2", "b1"}),
        (["alice"], {"a1", "a2"}),
        (["bob"], {"b1"}),
        (["alice", "alice"], {"a1", "a2"}),  # each connection once
        (["carol"], set()),
        ([], set()),
    ],
)
async def test_fanout_reaches_the_recipients_connections(
    hub: Hub, recipients: list[str] | None, expected: set[str]
) -> None:
    peers = {"a1": FakePeer("a1"), "a2": FakePeer("a2"), "b1": FakePeer("b1")}
    for peer in peers.values():
        join(hub, peer, "alice" if peer.id.startswith("a") else "bob")
    assert hub.fanout(TENANT, b"frame", "1-0", recipients) == len(expected)
    await turn()
    assert {p.id for p in peers.values() if p.writes} == expected
    for peer_id in expected:
        assert peers[peer_id].writes == [b"frame"]


async def test_fanout_to_a_stream_nobody_here_subscribes(hub: Hub) -> None:
    join(hub, FakePeer("a1"), "alice")
    assert hub.fanout("tenant-z", b"frame", None, None) == 0


async def test_fanout_skips_closed_peers(hub: Hub) -> None:
    gone, here = FakePeer("a1"), FakePeer("a2")
    join(hub, gone, "alice")
    join(hub, here, "alice")
    gone.closed = True
    assert hub.fanout(TENANT, b"frame", "1-0", None) == 1
    await turn()
    assert (gone.writes, here.writes) == ([], [b"frame"])


async def test_frames_of_one_turn_are_written_together(hub: Hub) -> None:
    peer = FakePeer("a1")
    join(hub, peer, "alice")
    for i in range(MAX_MESSAGES):
        hub.fanout(TENANT, f"f{i}".encode(), f"{i + 1}-0", None)
    assert peer.writes == []  # not before the end of the turn
    assert peer.dirty
    await turn()
    assert peer.writes == [b"f0f1f2"]
    assert (peer.out, peer.dirty) == ([], False)
    hub.fanout(TENANT, b"next", "9-0", None)
    await turn()
    assert peer.writes == [b"f0f1f2", b"next"]


async def test_fanout_is_held_while_the_subscriber_replays(hub: Hub) -> None:
    peer, other = FakePeer("a1"), FakePeer("a2")
    replaying = join(hub, peer, "alice", Catchup())
    join(hub, other, "alice")
    assert hub.fanout(TENANT, b"f1", "1-0", None) == 1  # only the live one
    assert hub.fanout(TENANT, b"raw", None, None) == 1
    await turn()
    assert peer.writes == []
    assert other.writes == [b"f1raw"]
    assert replaying.held is not None
    assert list(replaying.held) == [((1, 0), b"f1"), (None, b"raw")]


async def test_holding_more_than_the_cap_is_a_slow_consumer(hub: Hub, slow: Slow) -> None:
    peer = FakePeer("a1")
    join(hub, peer, "alice", Catchup())
    for i in range(MAX_MESSAGES):
        hub.fanout(TENANT, b"f", f"{i + 1}-0", None)
    assert peer.closes == []
    hub.fanout(TENANT, b"f", "9-0", None)
    assert_slow(peer, slow)
    hub.fanout(TENANT, b"f", "10-0", None)  # closed: nothing more
    assert len(slow.peers) == 1


@pytest.mark.parametrize(
    ("positions", "delivered"),
    [
        (["4-0", "5-0", "6-0"], [b"6-0"]),  # at or before what was replayed: repeats
        (["6-0", "5-0"], [b"6-0", b"5-0"]),  # once a newer one passed, nothing older follows: no filter left
        ([None, "5-0", "7-0"], [b"None", b"7-0"]),  # positionless: never a repeat
        (["5-1"], [b"5-1"]),
    ],
)
async def test_repeats_are_dropped_after_the_replay(
    hub: Hub, positions: list[str | None], delivered: list[bytes]
) -> None:
    peer = FakePeer("a1")
    catchup = join(hub, peer, "alice", Catchup())
    catchup.replayed(fast_key("5-0"))
    assert catchup.finish() == []
    for position in positions:
        hub.fanout(TENANT, str(position).encode(), position, None)
    await turn()
    assert received(peer) == b"".join(delivered)


# -- the outbound bounds ------------------------------------------------------------------------------------
async def test_the_per_turn_message_cap_closes_4004(hub: Hub, slow: Slow) -> None:
    peer, other = FakePeer("a1"), FakePeer("a2")
    join(hub, peer, "alice")
    for i in range(MAX_MESSAGES):
        hub.send(peer, f"f{i}".encode())
        hub.send(other, b"x")
    assert peer.closes == []
    hub.send(peer, b"one too many")
    assert_slow(peer, slow)
    hub.send(peer, b"after")  # closed: dropped
    await turn()
    assert peer.writes == []
    assert other.writes == [b"xxx"]  # the others are not held back
    assert other.closes == []


async def test_replay_sends_are_not_held_to_the_per_turn_cap(hub: Hub, slow: Slow) -> None:
    peer = FakePeer("a1")
    for i in range(10 * MAX_MESSAGES):
        hub.send(peer, f"{i},".encode(), replay=True)
    await turn()
    assert peer.closes == []
    assert slow.peers == []
    assert peer.writes == [b"".join(f"{i},".encode() for i in range(10 * MAX_MESSAGES))]


async def test_a_write_buffer_over_max_bytes_closes_4004(hub: Hub, slow: Slow) -> None:
    peer, fine = FakePeer("a1", buffered=MAX_BYTES + 1), FakePeer("a2", buffered=MAX_BYTES)
    join(hub, peer, "alice")
    join(hub, fine, "alice")
    hub.fanout(TENANT, b"frame", "1-0", None)
    await turn()
    assert peer.writes == []  # not written: it has not taken what it was given
    assert_slow(peer, slow)
    assert fine.writes == [b"frame"]
    assert fine.closes == []


@pytest.mark.parametrize(("size", "is_slow"), [(BURST_FACTOR * MAX_BYTES, False), (BURST_FACTOR * MAX_BYTES + 1, True)])
async def test_one_turn_may_go_past_the_bound_up_to_the_burst_factor(
    hub: Hub, slow: Slow, size: int, is_slow: bool
) -> None:
    peer = FakePeer("a1", keeps=True)
    hub.send(peer, b"x" * size, replay=True)
    await turn()
    assert peer.writes == [b"x" * size]  # written, then judged
    assert peer.closed is is_slow
    assert len(slow.peers) == int(is_slow)


async def test_send_to_a_closed_peer_is_dropped(hub: Hub) -> None:
    peer = FakePeer("a1")
    peer.closed = True
    hub.send(peer, b"frame")
    await turn()
    assert (peer.out, peer.writes, peer.dirty) == ([], [], False)


async def test_without_on_slow_the_peer_is_still_closed() -> None:
    hub = Hub(MAX_BYTES, 1)
    peer = FakePeer("a1")
    hub.send(peer, b"a")
    hub.send(peer, b"b")
    assert [code for code, _ in peer.closes] == [SLOW_CONSUMER]


# -- the registry -------------------------------------------------------------------------------------------
def test_subscribe_tells_the_first_and_unsubscribe_the_last(hub: Hub) -> None:
    a1, a2, b1 = FakePeer("a1"), FakePeer("a2"), FakePeer("b1")
    assert hub.subscribe(a1, TENANT, live(), "alice") is True
    assert hub.subscribe(a2, TENANT, live(), "alice") is False
    assert hub.subscribe(b1, TENANT, live(), "bob") is False
    assert hub.subscribe(a1, "tenant-b", live(), "alice") is True
    assert list(hub.subscribers(TENANT)) == [a1, a2, b1]
    assert hub.unsubscribe(a1, TENANT, "alice") is False
    assert hub.unsubscribe(a1, TENANT, "alice") is False  # not subscribed any more
    assert hub.unsubscribe(b1, TENANT, "bob") is False
    assert hub.connections_of(TENANT, "bob") == ()
    assert "bob" not in hub.users[TENANT]
    assert hub.connections_of(TENANT, "alice") == (a2,)
    assert hub.unsubscribe(a2, TENANT, "alice") is True  # the last one: the node drops the bus subscription
    assert TENANT not in hub.tenants
    assert TENANT not in hub.users  # no empty per-tenant table is left behind
    assert hub.connections_of(TENANT, "alice") == ()
    assert list(hub.subscribers(TENANT)) == []
    assert hub.unsubscribe(a2, "tenant-z", "alice") is False
    assert hub.subscribers("tenant-b") == (a1,)


async def test_an_unsubscribed_peer_gets_no_more_frames(hub: Hub) -> None:
    a1, a2 = FakePeer("a1"), FakePeer("a2")
    join(hub, a1, "alice")
    join(hub, a2, "alice")
    hub.unsubscribe(a1, TENANT, "alice")
    assert hub.fanout(TENANT, b"f", "1-0", None) == 1
    assert hub.fanout(TENANT, b"g", "2-0", ["alice"]) == 1
    await turn()
    assert (a1.writes, a2.writes) == ([], [b"fg"])


async def test_send_to_user_skips_the_origin(hub: Hub) -> None:
    a1, a2, a3, b1 = FakePeer("a1"), FakePeer("a2"), FakePeer("a3"), FakePeer("b1")
    for peer in (a1, a2, a3):
        join(hub, peer, "alice")
    join(hub, b1, "bob")
    assert hub.send_to_user(TENANT, "alice", b"ack", skip_id="a2") == 2
    assert hub.send_to_user(TENANT, "carol", b"ack") == 0
    assert hub.send_to_user("tenant-z", "alice", b"ack") == 0
    await turn()
    assert [p.writes for p in (a1, a2, a3, b1)] == [[b"ack"], [], [b"ack"], []]
    assert hub.send_to_user(TENANT, "bob", b"ack2") == 1
    await turn()
    assert b1.writes == [b"ack2"]
