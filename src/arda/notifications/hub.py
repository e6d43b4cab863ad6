"""The hub: which local connection is subscribed to what, and fan-out to them.

Fan-out does no I/O per recipient and never awaits: a notification is mapped, encoded and framed once per
event; the same frame bytes are appended to each recipient's outbound list, and one callback at the end
of the event-loop turn writes each connection's list with a single ``write()`` (one ``send()`` syscall per
connection per turn, whatever the number of events — the write coalescing measured in
``docs/benchmarks.md``). A connection that negotiated permessage-deflate gets its frames compressed on that write
by the service's shared :class:`~.deflate.Deflater` — once per frame, not per recipient.

Outbound queues are bounded: a connection that still holds more than ``max_bytes`` unsent when the next write
comes (or more than ``BURST_FACTOR`` times that right after one), or whose list passes ``max_messages``
within one turn (or during a replay), is closed with 4004 (slow consumer: reconnect and resume). The
kernel's share is capped too (:func:`~.websocket.serve` sets ``SO_SNDBUF``), so a reader that stopped piles
up where it is counted. Nobody else waits for it. The list itself holds references to frames
shared by all recipients, so a burst costs a pointer per message and connection until the turn ends.

Filters (:mod:`.filters`) cost per event, not per connection: a tenant's subscribers without a filter are one
group (the hot path, unchanged), and those with a filter are grouped by it — each group's filter is matched once
per event, and the frame goes to the whole group when it matches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol

from ..events.catchup import AnyKey, Catchup
from ..events.positions import position_key
from .codes import SLOW_CONSUMER, CloseCode
from .deflate import Deflater
from .filters import Filter

Members = dict["Peer", Catchup[bytes]]
#: What a notification is, for filters: its event type and severity.
Kind = tuple[str, str]

#: How far past the outbound bound one turn's write may take a connection before it counts as slow at once.
BURST_FACTOR = 8


class Peer(Protocol):
    """What the hub needs of a connection (implemented by :class:`~.websocket.Connection`)."""

    id: str
    out: list[bytes]
    dirty: bool
    closed: bool
    sent: int  # messages written (counted once per write, not per message)
    deflater: Deflater | None  # permessage-deflate negotiated: frames go out as this compresses them

    def write(self, data: bytes) -> None: ...

    def write_buffer_size(self) -> int: ...

    def close(self, code: CloseCode, reason: str = "") -> None: ...


class Hub:
    def __init__(self, max_bytes: int, max_messages: int, on_slow: Callable[[Peer], None] | None = None) -> None:
        self.max_bytes = max_bytes
        self.max_messages = max_messages
        self.on_slow = on_slow  # told of each connection closed as a slow consumer (metrics, logs)
        # stream → its local subscribers without a filter (insertion-ordered), each with the catch-up state of its
        # subscription; and those with one, by filter
        self.tenants: dict[str, Members] = {}
        self.filtered: dict[str, dict[Filter, Members]] = {}
        self._filters: dict[tuple[str, str], Filter] = {}  # (stream, peer id) → its filter, when it has one
        # tenant → user → that user's connections on the tenant; a list, as most users have one or two (nested
        # rather than keyed by a (tenant, user) tuple: 56 B less per subscribed user)
        self.users: dict[str, dict[str, list[Peer]]] = {}
        self._dirty: list[Peer] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- registry ---------------------------------------------------------------------------------
    def subscribe(
        self, peer: Peer, tenant: str, catchup: Catchup[bytes], user_id: str, filter_: Filter | None = None
    ) -> bool:
        """Register ``peer`` (``user_id``'s connection) on ``tenant``, with its filter; True when it is the tenant's
        first local subscriber. Its frames pass through ``catchup`` (held while it replays, repeats dropped
        after)."""
        first = tenant not in self.tenants and tenant not in self.filtered
        self._place(peer, tenant, catchup, filter_)
        same_user = self.users.setdefault(tenant, {}).setdefault(user_id, [])
        if peer not in same_user:
            same_user.append(peer)
        return first

    def _place(self, peer: Peer, tenant: str, catchup: Catchup[bytes], filter_: Filter | None) -> None:
        if filter_ is None:
            self.tenants.setdefault(tenant, {})[peer] = catchup
            return
        self.filtered.setdefault(tenant, {}).setdefault(filter_, {})[peer] = catchup
        self._filters[(tenant, peer.id)] = filter_

    def _remove(self, peer: Peer, tenant: str) -> Catchup[bytes] | None:
        """Take ``peer`` out of its group on ``tenant``; its catch-up state (None: it was not there)."""
        filter_ = self._filters.pop((tenant, peer.id), None)
        if filter_ is None:
            members = self.tenants.get(tenant)
            catchup = members.pop(peer, None) if members is not None else None
            if members is not None and not members:
                del self.tenants[tenant]
            return catchup
        groups = self.filtered[tenant]
        catchup = groups[filter_].pop(peer, None)
        if not groups[filter_]:
            del groups[filter_]
            if not groups:
                del self.filtered[tenant]
        return catchup

    def refilter(self, peer: Peer, tenant: str, filter_: Filter | None) -> None:
        """``peer``'s subscription to ``tenant`` takes another filter (its catch-up state stays)."""
        catchup = self._remove(peer, tenant)
        if catchup is not None:
            self._place(peer, tenant, catchup, filter_)

    def unsubscribe(self, peer: Peer, tenant: str, user_id: str) -> bool:
        """Remove ``peer`` from ``tenant``; True when the tenant has no local subscriber left."""
        if self._remove(peer, tenant) is None:
            return False
        users = self.users.get(tenant, {})
        same_user = users.get(user_id)
        if same_user is not None:
            if peer in same_user:
                same_user.remove(peer)
            if not same_user:
                del users[user_id]
                if not users:
                    del self.users[tenant]
        return tenant not in self.tenants and tenant not in self.filtered

    def subscribers(self, tenant: str) -> Iterable[Peer]:
        peers = list(self.tenants.get(tenant, ()))
        for members in self.filtered.get(tenant, {}).values():
            peers += members
        return tuple(peers)

    # -- sending ----------------------------------------------------------------------------------
    def fanout(
        self,
        tenant: str,
        frame: bytes,
        position: str | None,
        recipients: Iterable[str] | None,
        kind: Kind | None = None,
    ) -> int:
        """Queue ``frame`` for the tenant's subscribers (only ``recipients``' connections when given) whose filter
        ``kind`` matches (subscribers without a filter: all). Returns the number of connections it was queued for."""
        members = self.tenants.get(tenant)
        groups = self.filtered.get(tenant)
        if members is None and groups is None:
            return 0
        key = position_key(position) if position is not None else None
        if recipients is not None:
            return self._deliver(self._targets(tenant, recipients, kind), key, frame)
        count = self._deliver(members.items(), key, frame) if members is not None else 0
        if groups is not None:
            for filter_, group in groups.items():
                if kind is None or filter_.matches(*kind):  # once per event and filter, not per connection
                    count += self._deliver(group.items(), key, frame)
        return count

    def _targets(self, tenant: str, recipients: Iterable[str], kind: Kind | None) -> list[tuple[Peer, Catchup[bytes]]]:
        """The connections of ``recipients`` on ``tenant`` that take a notification of ``kind``."""
        members = self.tenants.get(tenant, {})
        users = self.users.get(tenant, {})
        out = []
        for user in set(recipients):
            for peer in users.get(user, ()):
                catchup = members.get(peer)
                if catchup is None:
                    filter_ = self._filters.get((tenant, peer.id))
                    if filter_ is None or (kind is not None and not filter_.matches(*kind)):
                        continue
                    catchup = self.filtered[tenant][filter_][peer]
                out.append((peer, catchup))
        return out

    def _deliver(self, targets: Iterable[tuple[Peer, Catchup[bytes]]], key: AnyKey | None, frame: bytes) -> int:
        count = 0
        for peer, catchup in targets:
            if peer.closed:
                continue
            if catchup.held is not None:  # replaying: held until the replay is done (bounded)
                if catchup.hold(key, frame) > self.max_messages:
                    self.slow(peer)
                continue
            if catchup.after is not None and not catchup.admit(key):
                continue  # replayed already, or before the position the client was given
            self.send(peer, frame)
            count += 1
        return count

    def connections_of(self, tenant: str, user_id: str) -> tuple[Peer, ...]:
        """``user_id``'s connections subscribed to ``tenant`` (a copy: sending may close one)."""
        return tuple(self.users.get(tenant, {}).get(user_id, ()))

    def send_to_user(self, tenant: str, user_id: str, frame: bytes, skip_id: str | None = None) -> int:
        count = 0
        for peer in self.connections_of(tenant, user_id):
            if peer.id != skip_id:
                self.send(peer, frame)
                count += 1
        return count

    def send(self, peer: Peer, frame: bytes, replay: bool = False) -> None:
        """Queue ``frame`` for ``peer`` (written at the end of the loop turn). Replays pace themselves by the
        socket buffer instead of the per-turn message cap."""
        if peer.closed:
            return
        peer.out.append(frame)
        if not replay and len(peer.out) > self.max_messages:
            self.slow(peer)
            return
        if not peer.dirty:
            peer.dirty = True
            self._dirty.append(peer)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                if self._loop is None:
                    self._loop = asyncio.get_running_loop()
                self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write each dirty connection's queued frames with one write (end of the loop turn).

        The bound is on what a connection has not taken of earlier writes: still more than ``max_bytes`` unsent
        when the next write comes, it is slow (4004). One turn's write may go past it (a burst to a client that
        reads fine), up to ``BURST_FACTOR`` times."""
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        max_bytes = self.max_bytes
        for peer in dirty:
            peer.dirty = False
            if peer.closed or not peer.out:
                continue
            if peer.write_buffer_size() > max_bytes:
                self.slow(peer)
                continue
            out, deflater = peer.out, peer.deflater
            if len(out) == 1:
                data = out[0] if deflater is None else deflater.frame(out[0])
            else:
                data = b"".join(out if deflater is None else deflater.frames(out))
            peer.sent += len(out)
            peer.out.clear()
            peer.write(data)
            if peer.write_buffer_size() > BURST_FACTOR * max_bytes:
                self.slow(peer)

    def slow(self, peer: Peer) -> None:
        """The overflow policy: the connection is closed with 4004 (it reconnects and resumes)."""
        peer.out.clear()
        if not peer.closed:
            if self.on_slow is not None:
                self.on_slow(peer)
            peer.close(SLOW_CONSUMER, "slow consumer: reconnect and resume")
