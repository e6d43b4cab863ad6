"""Sharded pub/sub on a Redis Cluster (Redis 7 ``SSUBSCRIBE``): one subscriber connection per primary that owns a
desired channel's slot, none to any other node, following the cluster as slots move and primaries fail.

The pure parts come first — a channel's slot (:func:`channel_slot`), the slot map of a ``CLUSTER SLOTS`` reply
(:func:`parse_cluster_slots`, :func:`owner_of`), channels grouped by slot and by owner (:func:`group_by_slot`,
:func:`assign`) and what to change after the map changed (:func:`diff`) — then :class:`ShardedSubscriber`, the I/O.

Following the cluster. An *incident* is any of: a node connection carrying desired channels ends (the node was
killed or closed it, or it stayed silent past the keepalive deadline — ``ping_interval + ping_timeout`` counted
from the last byte received, as for one Redis — and was dropped as half-open), or a node pushes an unasked
``sunsubscribe`` of a desired channel (its slot migrated away, or a failover demoted the node; a connection left
without channels that way is closed). For each incident ``on_lost(reason)`` is called once. Then, with
full-jitter backoff between attempts, the slot map is read again from any node that answers (first those that
just dropped channels: they know of the change before the others hear of it; then the connected ones; then every
node ever seen, each one that fails moved to the end), a connection is opened to each current owner (checked
with ``ROLE`` to be a primary: a replica accepts SSUBSCRIBE too, and a stale map must not put the subscriber on
one) and closed to each node that owns no desired slot any more, every desired channel that moved or lost its
connection is SSUBSCRIBEd again, and once all are confirmed ``on_resubscribed()`` is called. A stale map shows as
a refusal (``-MOVED``, ``ROLE`` not master) or an unreachable owner: that attempt fails and the next one reads
the map again. Trouble before the end (another node lost, another push) folds into the same incident: one
``on_lost``, one ``on_resubscribed``. It never gives up while not closed. Channels on untouched connections keep
flowing meanwhile; after ``on_resubscribed`` the listener recovers every stream from history (duplicates and
gaps are its business, not this module's).

Messages are handed to ``on_message(channel, payload)`` synchronously from each connection's receive path
(:mod:`.resp`), with nothing in between.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import functools
import logging
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from redis.exceptions import RedisError

from ..backoff import Backoff
from ..errors import BackendUnavailableError
from . import urls
from .resp import PubSubConnection, keepalive

log = logging.getLogger("arda.events.cluster")

SLOTS = 16384
Address = tuple[str, int]


# -- pure: slots, the slot map, grouping, diffing ---------------------------------------------------------------


def channel_slot(channel: bytes) -> int:
    """The hash slot of ``channel``, exactly as Redis computes a key's: if it has a ``{`` followed later by a ``}``
    with at least one byte between the first ``{`` and the first ``}`` after it, only those bytes are hashed (the
    hash tag: ``arda:events:{tenant-001}`` hashes ``tenant-001``); otherwise the whole name. CRC16/XMODEM mod 16384."""
    start = channel.find(b"{")
    if start != -1:
        end = channel.find(b"}", start + 1)
        if end > start + 1:
            channel = channel[start + 1 : end]
    return binascii.crc_hqx(channel, 0) % SLOTS


class SlotRange(NamedTuple):
    """Slots ``first`` … ``last`` (inclusive), served by ``primary``, replicated to ``replicas``."""

    first: int
    last: int
    primary: Address
    replicas: tuple[Address, ...] = ()


#: Non-overlapping ranges sorted by ``first``; a slot in no range has no known owner.
SlotMap = tuple[SlotRange, ...]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _endpoint(node: Any, asked: Address) -> Address | None:
    """A ``CLUSTER SLOTS`` node entry ``[host, port, id, …]``: its address; an empty (or null) host means the host
    the command was sent to; ``?`` (an unknown endpoint) gives None."""
    if not isinstance(node, list | tuple) or len(node) < 2:
        raise ValueError(f"CLUSTER SLOTS: a node entry should be [host, port, …], got {node!r}")
    host = "" if node[0] is None else _text(node[0])
    if host == "?":
        return None
    return (host or asked[0], int(node[1]))


def parse_cluster_slots(reply: Any, asked: Address) -> SlotMap:
    """The slot map of a ``CLUSTER SLOTS`` reply from the node at ``asked`` (RESP2 or RESP3, hosts as bytes or str,
    any metadata after host, port and id ignored). A range whose primary has an unknown endpoint (``?``) is left
    out: its slots have no known owner. Raises ``ValueError`` for a reply of another shape."""
    if not isinstance(reply, list | tuple):
        raise ValueError(f"CLUSTER SLOTS: expected an array, got {reply!r}")
    ranges = []
    for item in reply:
        if not isinstance(item, list | tuple) or len(item) < 3:
            raise ValueError(f"CLUSTER SLOTS: a range should be [first, last, primary, replicas…], got {item!r}")
        first, last = int(item[0]), int(item[1])
        if not 0 <= first <= last < SLOTS:
            raise ValueError(f"CLUSTER SLOTS: bad slot range {first}-{last}")
        primary = _endpoint(item[2], asked)
        if primary is None:
            continue
        replicas = tuple(a for a in (_endpoint(r, asked) for r in item[3:]) if a is not None)
        ranges.append(SlotRange(first, last, primary, replicas))
    return tuple(sorted(ranges))


def owner_of(slot_map: SlotMap, slot: int) -> Address | None:
    """The primary serving ``slot`` in ``slot_map``; None if no range holds it."""
    i = bisect_right(slot_map, slot, key=lambda r: r.first) - 1
    if i >= 0 and slot <= slot_map[i].last:
        return slot_map[i].primary
    return None


def group_by_slot(channels: Iterable[bytes]) -> dict[int, list[bytes]]:
    """Channels by slot (each named once, in the order given): one SSUBSCRIBE may name only one slot's."""
    out: dict[int, list[bytes]] = {}
    for channel in dict.fromkeys(channels):
        out.setdefault(channel_slot(channel), []).append(channel)
    return out


#: Per node, per slot: channels (one SSUBSCRIBE or SUNSUBSCRIBE each).
Placement = dict[Address, dict[int, list[bytes]]]


def assign(channels: Iterable[bytes], slot_map: SlotMap) -> tuple[Placement, list[bytes]]:
    """``channels`` by the primary owning their slot in ``slot_map``, then by slot; and, apart, the channels whose
    slot has no owner in the map (each named once, in the order given)."""
    placement: Placement = {}
    unowned: list[bytes] = []
    for slot, group in group_by_slot(channels).items():
        owner = owner_of(slot_map, slot)
        if owner is None:
            unowned.extend(group)
        else:
            placement.setdefault(owner, {})[slot] = group
    return placement, unowned


class Changes(NamedTuple):
    """What to do to make ``placed`` match ``desired`` under a slot map (:func:`diff`)."""

    subscribe: Placement  # desired channels not on their owner's connection yet: SSUBSCRIBE them there
    leave: Placement  # channels on a kept connection that are not its own any more: SUNSUBSCRIBE them
    close: list[Address]  # connections to nodes that own no desired channel: close them (their channels go too)
    unowned: list[bytes]  # desired channels whose slot the map gives no owner (left where they are, if anywhere)


def diff(desired: Collection[bytes], slot_map: SlotMap, placed: Mapping[Address, Collection[bytes]]) -> Changes:
    """From the channels now SSUBSCRIBEd on each node connection (``placed``) to every ``desired`` channel on the
    primary owning its slot in ``slot_map``. A channel whose slot has no owner in the map stays where it is (the map
    may just be incomplete): it is neither left nor counted to keep its node, and is reported in ``unowned``."""
    plan, unowned = assign(desired, slot_map)
    homeless = set(unowned)
    subscribe: Placement = {}
    for address, slots in plan.items():
        there = placed.get(address, ())
        missing = {slot: todo for slot, group in slots.items() if (todo := [c for c in group if c not in there])}
        if missing:
            subscribe[address] = missing
    leave: Placement = {}
    for address, there in placed.items():
        if address not in plan:
            continue
        own = {c for group in plan[address].values() for c in group}
        stale = [c for c in there if c not in own and c not in homeless]
        if stale:
            leave[address] = group_by_slot(sorted(stale))
    close = sorted(a for a, there in placed.items() if a not in plan and not any(c in homeless for c in there))
    return Changes(subscribe, leave, close, unowned)


# -- I/O --------------------------------------------------------------------------------------------------------


def _address(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _unowned(channels: list[bytes]) -> str:
    return f"no primary serves slot(s) {sorted(group_by_slot(channels))[:8]} of {len(channels)} channel(s)"


async def _first_error(results: Awaitable[list[Any]]) -> None:
    """Await a ``gather(…, return_exceptions=True)``; raise the first exception among its results."""
    for result in await results:
        if isinstance(result, BaseException):
            raise result


async def _confirmed(confirmations: Collection[asyncio.Future[None]]) -> None:
    """Wait for SSUBSCRIBE confirmations (shared: a waiter that gives up must not cancel them for the others);
    raise the first failure."""
    if confirmations:
        await _first_error(asyncio.gather(*(asyncio.shield(f) for f in confirmations), return_exceptions=True))


@dataclass(eq=False)
class _Node:
    """One primary's connection. ``channels``: each desired channel SSUBSCRIBEd on it, with that command's
    confirmation (done once Redis confirmed; a refused or lost one is removed). Nothing else is kept per node."""

    address: Address
    conn: PubSubConnection
    channels: dict[bytes, asyncio.Future[None]] = field(default_factory=dict)
    keepalive: asyncio.Task[None] | None = None


class ShardedSubscriber:
    """Every desired channel SSUBSCRIBEd on the primary that owns its slot, followed across slot migrations,
    failovers and lost nodes (see the module's docstring for how and when ``on_lost`` / ``on_resubscribed`` are
    called). ``params`` are the connection options of every node (username, password, TLS: what
    :func:`.urls.subscriber_params` gives for a plain URL); host and port are set per node. ``reconnects`` counts
    the incidents recovered from."""

    def __init__(
        self,
        startup_nodes: list[tuple[str, int]],
        params: dict[str, Any],
        on_message: Callable[[bytes, bytes], None],
        on_lost: Callable[[str], None],
        on_resubscribed: Callable[[], None],
        *,
        connect_timeout: float = 5.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        backoff: Backoff | None = None,
    ) -> None:
        if not startup_nodes:
            raise ValueError("a cluster subscriber needs at least one startup node")
        self.connect_timeout = connect_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.backoff = backoff or Backoff()
        self.reconnects = 0
        self._params = {k: v for k, v in params.items() if k not in ("host", "port", "path", "db")}
        self._on_message = on_message
        self._on_lost = on_lost
        self._on_resubscribed = on_resubscribed
        self._startup = [(str(h), int(p)) for h, p in startup_nodes]
        self._known: dict[Address, None] = dict.fromkeys(self._startup)  # every node seen, in the order to ask
        self._map: SlotMap = ()
        self._desired: set[bytes] = set()
        self._nodes: dict[Address, _Node] = {}
        self._opening: dict[Address, asyncio.Task[_Node]] = {}
        self._incident: str | None = None  # the reason of the incident being recovered from
        self._troubles = 0  # every loss and every dropped channel counts, incident or not
        self._witnesses: dict[Address, None] = {}  # nodes that dropped channels in this incident: newest map
        self._wake = asyncio.Event()
        self._started = asyncio.Lock()
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False

    # -- the interface ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Read the slot map from the first node that answers (each tried within ``connect_timeout``) and start
        following the cluster. Raises :class:`BackendUnavailableError` if none answers. Idempotent."""
        async with self._started:
            if self._closing:
                raise BackendUnavailableError("the cluster subscriber is closed")
            if self._supervisor is not None:
                return
            await self._refresh_map()
            self._supervisor = asyncio.create_task(self._supervise(), name="arda-cluster-subscriber")

    async def subscribe(self, channels: Collection[bytes]) -> None:
        """SSUBSCRIBE each new channel on the primary owning its slot (opening that node's connection if needed;
        :meth:`start` first if not started); returns once Redis confirmed every one. A refusal (``-MOVED``: the map
        was stale) or an unreachable owner is retried, the map read again, with backoff, for up to
        ``connect_timeout`` in all; then the channels are dropped and :class:`BackendUnavailableError` is raised.
        During an incident (or if one starts meanwhile) it returns at once: the recovery subscribes every desired
        channel, then calls ``on_resubscribed``."""
        await self.start()
        new = [c for c in dict.fromkeys(channels) if c not in self._desired]
        if not new:
            return
        self._desired.update(new)
        failures: list[str] = []
        placed = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.connect_timeout):
                placed = await self._subscribe_new(new, failures)
        if placed:
            return
        if self._incident is not None and not self._closing:
            self._troubles += 1  # a recovery attempt under way may have missed them: it goes again
            return
        self.unsubscribe(new)
        self._tidy()
        if self._closing:
            raise BackendUnavailableError("the cluster subscriber is closed")
        cause = failures[-1] if failures else "no answer"
        raise BackendUnavailableError(
            f"cannot subscribe {len(new)} channel(s) on the cluster within {self.connect_timeout:g} s: {cause}"
        )

    def unsubscribe(self, channels: Collection[bytes]) -> None:
        """Stop wanting ``channels``: SUNSUBSCRIBE them (per slot) where they are, and close each connection left
        without a channel. Never raises; a subscribe of them still under way ends without them."""
        gone = {c for c in channels if c in self._desired}
        if not gone:
            return
        self._desired.difference_update(gone)
        for node in list(self._nodes.values()):
            leaving = [c for c in gone if c in node.channels]
            if not leaving:
                continue
            for channel in leaving:
                del node.channels[channel]
            if not node.channels:
                self._retire(node)
                continue
            for group in group_by_slot(leaving).values():
                node.conn.sunsubscribe(group)

    def live(self) -> bool:
        """True when every node connection the desired channels need is up: no incident is being recovered from
        (and the subscriber is not closed). True with nothing desired."""
        if self._closing:
            return False
        return self._incident is None and all(not n.conn.closed.done() for n in self._nodes.values())

    async def close(self) -> None:
        """Close every connection and stop following; no callback is called after it returns."""
        self._closing = True
        tasks = [t for t in (self._supervisor, *self._opening.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for node in list(self._nodes.values()):
            self._retire(node)

    # -- following the cluster ----------------------------------------------------------------------------------

    def _trouble(self, reason: str) -> None:
        self._troubles += 1
        if self._incident is None and not self._closing:
            self._incident = reason
            self._wake.set()

    async def _supervise(self) -> None:
        """One incident at a time: ``on_lost``, attempts with backoff until everything desired is subscribed
        again with no new trouble during the attempt, ``on_resubscribed``. Never ends but by :meth:`close`."""
        loop = asyncio.get_running_loop()
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            reason = self._incident
            if reason is None:
                continue
            began = loop.time()
            log.warning("cluster subscriber lost", extra={"reason": reason, "channels": len(self._desired)})
            self._notify(self._on_lost, reason)
            attempt = 0
            while not self._closing:  # not only cancellation: a redis-py command can lose it (Python 3.11)
                await asyncio.sleep(self.backoff.delay(attempt))
                seen = self._troubles
                try:
                    await self._recover()
                except Exception as exc:
                    attempt += 1
                    log.info("cluster resubscribe failed", extra={"attempt": attempt, "error": repr(exc)})
                    continue
                if self._troubles == seen:
                    break
            if self._closing:
                return
            self._incident = None
            self._witnesses.clear()
            self.reconnects += 1
            log.info(
                "cluster subscriber resubscribed",
                extra={
                    "reason": reason,
                    "after_s": round(loop.time() - began, 3),
                    "nodes": [_address(a) for a in self._nodes],
                    "channels": len(self._desired),
                },
            )
            self._notify(self._on_resubscribed)

    @staticmethod
    def _notify(callback: Callable[..., None], *args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("cluster subscriber listener failed")

    async def _recover(self) -> None:
        """One attempt: a fresh slot map, then every desired channel on its owner (see :func:`diff`), confirmed.
        Raises on anything missing: a node unreachable, a refusal, a slot without an owner."""
        await self._refresh_map()
        changes = diff(self._desired, self._map, {a: n.channels.keys() for a, n in self._nodes.items()})
        for address in changes.close:
            self._retire(self._nodes[address])
        for address, slots in changes.leave.items():
            node = self._nodes[address]
            for group in slots.values():
                for channel in group:
                    node.channels.pop(channel, None)
                node.conn.sunsubscribe(group)
        async with asyncio.timeout(self.connect_timeout):
            await self._place(changes.subscribe)
            # SSUBSCRIBEs sent by a subscribe() meanwhile: a refused one must be placed again by this recovery
            await _confirmed({f for node in self._nodes.values() for f in node.channels.values() if not f.done()})
        if changes.unowned:
            raise ConnectionError(_unowned(changes.unowned))

    async def _subscribe_new(self, new: list[bytes], failures: list[str]) -> bool:
        """Place ``new`` (those still desired) until all are confirmed (True): after a failure, back off and read
        the map again. Returns False during an incident (the recovery places them) or once closed."""
        attempt = 0
        while not self._closing and self._incident is None:
            placement, unowned = assign([c for c in new if c in self._desired], self._map)
            try:
                await self._place(placement)
                if not unowned:
                    return True
                failures.append(_unowned(unowned))
            except OSError as exc:  # ConnectionError, RespError (MOVED…), TimeoutError of an open
                failures.append(str(exc) or type(exc).__name__)
            attempt += 1
            await asyncio.sleep(self.backoff.delay(attempt))
            try:
                await self._refresh_map()
            except BackendUnavailableError as exc:
                failures.append(str(exc))
        return False

    async def _place(self, placement: Placement) -> None:
        """:meth:`_place_on` for every node at once; raises the first failure once all have ended."""
        placing = [self._place_on(address, slots) for address, slots in placement.items()]
        await _first_error(asyncio.gather(*placing, return_exceptions=True))

    async def _place_on(self, address: Address, slots: Mapping[int, list[bytes]]) -> None:
        """SSUBSCRIBE the channels (one command per slot) on ``address``'s connection, opening it if needed, but
        those already sent there or no longer desired; return once every one there is confirmed."""
        node = await self._connection(address)
        waiting: set[asyncio.Future[None]] = set()
        for group in slots.values():
            todo = [c for c in group if c in self._desired and c not in node.channels]
            if todo:
                self._send(node, todo)
            waiting.update(node.channels[c] for c in group if c in node.channels)
        await _confirmed(waiting)

    def _send(self, node: _Node, channels: list[bytes]) -> None:
        done = node.conn.ssubscribe(channels)  # raises ConnectionError when the connection is closed
        for channel in channels:
            node.channels[channel] = done
        done.add_done_callback(functools.partial(self._answered, node, channels))

    @staticmethod
    def _answered(node: _Node, channels: list[bytes], done: asyncio.Future[None]) -> None:
        if done.cancelled() or done.exception() is not None:  # refused or lost: not placed there after all
            for channel in channels:
                if node.channels.get(channel) is done:
                    del node.channels[channel]

    def _dropped(self, node: _Node, channel: bytes) -> None:
        """The node pushed an unasked ``sunsubscribe``: its slot moved away or the node was demoted. The node
        knows the new slot map first (other nodes may lag, gossiping): it is asked first during the recovery.
        Left without channels (all dropped: demoted, most likely), its connection is closed — a replica accepts
        SSUBSCRIBE, so a stale map must not find it open: a new connection is checked with ROLE."""
        if self._nodes.get(node.address) is node and node.channels.pop(channel, None) is not None:
            name = channel.decode(errors="replace")
            self._trouble(f"{_address(node.address)} dropped {name} (its slot moved, or the node was demoted)")
            self._witnesses[node.address] = None
            if not node.channels:
                self._retire(node)

    def _closed(self, node: _Node, closed: asyncio.Future[str]) -> None:
        if node.keepalive is not None:
            node.keepalive.cancel()
        if self._nodes.get(node.address) is not node:
            return  # retired on purpose
        del self._nodes[node.address]
        if node.channels:  # confirmed ones (refused or unanswered ones were removed, their waiters retry)
            self._trouble(f"{_address(node.address)}: {closed.result()}")

    def _retire(self, node: _Node) -> None:
        """Close a connection on purpose: no incident."""
        if self._nodes.get(node.address) is node:
            del self._nodes[node.address]
        if node.keepalive is not None:
            node.keepalive.cancel()
        node.conn.close()

    def _tidy(self) -> None:
        for node in [n for n in self._nodes.values() if not n.channels]:
            self._retire(node)

    # -- connections and the slot map ---------------------------------------------------------------------------

    async def _connection(self, address: Address) -> _Node:
        """The node's connection; opened once however many callers want it at the same time."""
        node = self._nodes.get(address)
        if node is not None and not node.conn.closed.done():
            return node
        task = self._opening.get(address)
        if task is None:
            task = self._opening[address] = asyncio.ensure_future(self._open(address))
            task.add_done_callback(functools.partial(self._opened, address))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled() and self._closing:  # close() stopped the opening, not our caller
                raise ConnectionError("the cluster subscriber is closed") from None
            raise

    def _opened(self, address: Address, task: asyncio.Task[_Node]) -> None:
        if self._opening.get(address) is task:
            del self._opening[address]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter got it already, or gave up

    async def _open(self, address: Address) -> _Node:
        """Connect, authenticate and check with ROLE that the node is a primary. Refused (``ConnectionError``)
        once no desired channel's slot belongs to it any more: a caller that gave up leaves no idle connection."""
        host, port = address
        holder: list[_Node] = []
        conn = PubSubConnection(self._on_message, on_sunsubscribed=lambda c: self._dropped(holder[0], c))
        await conn.open({**self._params, "host": host, "port": port}, self.connect_timeout, primary_only=True)
        if self._closing or not any(owner_of(self._map, channel_slot(c)) == address for c in self._desired):
            conn.close()
            raise ConnectionError(f"{_address(address)} is not needed any more")
        node = _Node(address, conn)
        holder.append(node)
        node.keepalive = asyncio.create_task(
            keepalive(conn, self.ping_interval, self.ping_timeout), name=f"arda-cluster-keepalive-{port}"
        )
        self._nodes[address] = node
        conn.closed.add_done_callback(functools.partial(self._closed, node))
        log.info("cluster subscriber connected", extra={"node": _address(address)})
        return node

    async def _refresh_map(self) -> None:
        """Read ``CLUSTER SLOTS`` from the first node that answers: those that dropped channels in this incident,
        the connected ones, then every node seen (a node that fails is asked last next time). Raises
        :class:`BackendUnavailableError` if none answers."""
        sources = list(dict.fromkeys([*self._witnesses, *self._nodes, *self._known]))
        failures = []
        for address in sources:
            try:
                slot_map = await self._read_map(address)
                if not slot_map:
                    raise ValueError("it serves no slot (not part of a cluster yet?)")
            except (RedisError, OSError, ValueError) as exc:  # TimeoutError is an OSError
                failures.append(f"{_address(address)}: {str(exc) or type(exc).__name__}")
                if address in self._known:
                    del self._known[address]
                    self._known[address] = None
                continue
            self._map = slot_map
            for slot_range in slot_map:
                for seen in (slot_range.primary, *slot_range.replicas):
                    self._known.setdefault(seen)
            return
        raise BackendUnavailableError(f"no Redis Cluster node answered CLUSTER SLOTS: {'; '.join(failures)}")

    async def _read_map(self, address: Address) -> SlotMap:
        client = urls.node_client(self._params, address[0], address[1], timeout=self.connect_timeout)
        try:
            async with asyncio.timeout(self.connect_timeout):
                reply: Any = await client.execute_command("CLUSTER", "SLOTS")  # type: ignore[no-untyped-call]
        finally:
            await client.aclose()
        return parse_cluster_slots(reply, address)


__all__ = [
    "SLOTS",
    "Address",
    "Changes",
    "Placement",
    "ShardedSubscriber",
    "SlotMap",
    "SlotRange",
    "assign",
    "channel_slot",
    "diff",
    "group_by_slot",
    "owner_of",
    "parse_cluster_slots",
]
