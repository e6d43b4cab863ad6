"""The in-process backend (``memory://`` or ``memory://name``): the same semantics as Redis, in one process.

Buses in one process that use the same URL share one :class:`MemoryBroker`, as they would share a Redis.
Streams are capped by count and age, publish ids are remembered for the idempotency window, messages are
delivered on the next event-loop turn (never re-entrantly inside ``publish``). Nothing survives the process.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from typing import ClassVar

from ..positions import format_position, parse_position
from ..wire import GLOBAL, DeadLetter, Revocation, frame_with_position
from .base import BackendListener, HistoryRead, PublishItem, PublishOutcome, Retention, Settled, StoredEvent

Clock = Callable[[], float]


class _Stream:
    """Entries ``(position, payload, ms)``; an anchor's payload is None (see :mod:`.scripts`)."""

    __slots__ = ("entries", "floor", "last")

    def __init__(self) -> None:
        self.entries: deque[tuple[str, bytes | None, int]] = deque()
        self.last = (0, 0)
        self.floor: tuple[int, int] | None = None  # positions at or before it are refused (history was lost)

    def append(self, payload: bytes | None, now_ms: int) -> str:
        ms, seq = self.last
        self.last = (now_ms, 0) if now_ms > ms else (ms, seq + 1)
        position = format_position(*self.last)
        self.entries.append((position, payload, now_ms))
        return position

    def trim(self, max_events: int, min_ms: int) -> None:
        while len(self.entries) > max_events or (self.entries and self.entries[0][2] < min_ms):
            self.entries.popleft()

    def newest(self, now_ms: int) -> str:
        return self.entries[-1][0] if self.entries else self.append(None, now_ms)

    def reaches_back(self, since: str) -> bool:
        if not any(p == since for p, _, _ in self.entries):
            return False
        return self.floor is None or parse_position(since) > self.floor


class MemoryBroker:
    """The shared state behind every ``memory://`` backend of one name in this process."""

    _named: ClassVar[dict[str, MemoryBroker]] = {}

    def __init__(self, retention: Retention, clock: Clock = time.time) -> None:
        self.retention = retention
        self.clock = clock
        self.streams: dict[str, _Stream] = {}
        self.idempotency: dict[tuple[str, str], tuple[str, float]] = {}
        self.subscribers: dict[str, set[MemoryBackend]] = {}
        self.dead: deque[DeadLetter] = deque(maxlen=retention.dead_letter_max)
        # (tenant, user) -> event id -> when it was read (ms), oldest first: the read state
        self.reads: dict[tuple[str, str], dict[str, int]] = {}
        self.read_at: dict[str, int] = {}  # tenant → when anyone of it last marked something read (ms)
        self.revoked: dict[tuple[str, str | None], Revocation] = {}
        self.backends: set[MemoryBackend] = set()  # the connected ones: revocations reach them all
        self.instances: dict[str, tuple[float, bytes]] = {}  # instance id → (until when, its figures)

    @classmethod
    def named(cls, name: str, retention: Retention, clock: Clock = time.time) -> MemoryBroker:
        broker = cls._named.get(name)
        if broker is None:
            broker = cls._named[name] = cls(retention, clock)
        return broker

    def _stream(self, name: str) -> _Stream:
        stream = self.streams.get(name)
        if stream is None:
            stream = self.streams[name] = _Stream()
        return stream

    def publish(self, items: Sequence[PublishItem]) -> list[PublishOutcome]:
        now = self.clock()
        now_ms = int(now * 1000)
        min_ms = int((now - self.retention.max_age_s) * 1000)
        if len(self.idempotency) > 1024:
            self.idempotency = {k: v for k, v in self.idempotency.items() if v[1] > now}
        out: list[PublishOutcome] = []
        for item in items:
            key = (item.tenant_id, item.event_id)
            known = self.idempotency.get(key)
            if known is not None and known[1] > now:
                out.append(PublishOutcome(known[0], True))
                continue
            tenant = self._stream(item.tenant_id)
            position = tenant.append(item.payload, now_ms)
            tenant.trim(self.retention.max_events, min_ms)
            glob = self._stream(GLOBAL)
            global_position = glob.append(item.payload, now_ms)
            glob.trim(self.retention.global_max_events, min_ms)
            self.idempotency[key] = (position, now + self.retention.idempotency_window_s)
            self.deliver(item.tenant_id, frame_with_position(position, item.payload))
            self.deliver(GLOBAL, frame_with_position(global_position, item.payload))
            out.append(PublishOutcome(position, False))
        return out

    def deliver(self, stream: str, payload: bytes) -> int:
        subscribers = self.subscribers.get(stream, ())
        for backend in subscribers:
            backend.receive(stream, payload)
        return len(subscribers)

    def history(self, name: str, since: str | None, limit: int) -> HistoryRead:
        stream = self.streams.get(name)
        if stream is None:
            return HistoryRead([], since is None)
        if since is None:
            read = list(stream.entries)[:limit]
        elif not stream.reaches_back(since):
            return HistoryRead([], False)
        else:
            after = parse_position(since)
            read = [e for e in stream.entries if parse_position(e[0]) > after][:limit]
        return HistoryRead(
            [StoredEvent(p, d) for p, d, _ in read if d is not None],
            True,
            read[-1][0] if read else None,
            len(read) == limit,
        )

    def history_before(self, name: str, end: str | None, limit: int, inclusive: bool) -> HistoryRead:
        stream = self.streams.get(name)
        if stream is None:
            return HistoryRead([], True)
        newest_first = reversed(stream.entries)
        if end is not None:
            bound = parse_position(end)
            newest_first = (
                e for e in newest_first if (k := parse_position(e[0])) < bound or (inclusive and k == bound)
            )
        read = list(itertools.islice(newest_first, limit))
        return HistoryRead(
            [StoredEvent(p, d) for p, d, _ in read if d is not None],
            True,
            read[-1][0] if read else None,
            len(read) == limit,
        )

    def check(self, cursors: Sequence[tuple[str, str]]) -> list[bool]:
        return [(s := self.streams.get(name)) is not None and s.reaches_back(cursor) for name, cursor in cursors]

    def settle(self, name: str, cursor: str, lost: bool) -> Settled:
        stream = self._stream(name)
        emptied = not stream.entries  # trimming never empties a stream (see .scripts)
        newest = stream.newest(int(self.clock() * 1000))
        if not lost and not emptied:
            if any(p == cursor for p, _, _ in stream.entries):  # still there: refused by an earlier loss's floor?
                return Settled(newest, stream.floor is not None and parse_position(cursor) <= stream.floor)
            if parse_position(stream.entries[0][0]) > parse_position(cursor):
                return Settled(newest, False)  # trimmed by retention, not lost
        key = parse_position(newest)
        if stream.floor is None or key > stream.floor:
            stream.floor = key
        return Settled(stream.append(None, int(self.clock() * 1000)), True)  # history goes on after the floor

    def flush(self) -> None:
        """Forget everything, as ``FLUSHALL`` does to a Redis (for tests of lost history)."""
        self.streams.clear()
        self.idempotency.clear()
        self.reads.clear()
        self.read_at.clear()
        self.revoked.clear()

    def mark_read(self, tenant_id: str, user_id: str, event_id: str, announcement: bytes) -> bool:
        marks = self.reads.setdefault((tenant_id, user_id), {})
        if event_id in marks:
            return False
        now_ms = int(self.clock() * 1000)
        marks[event_id] = now_ms
        self.read_at[tenant_id] = now_ms
        oldest = now_ms - int(self.retention.max_age_s * 1000)
        while len(marks) > self.retention.max_events or next(iter(marks.values())) < oldest:
            del marks[next(iter(marks))]  # insertion order is time order: the oldest first
        if announcement:
            self.deliver(tenant_id, announcement)
        return True

    def read_marks(self, tenant_id: str, user_id: str, event_ids: Sequence[str]) -> list[bool]:
        marks = self.reads.get((tenant_id, user_id), {})
        return [e in marks for e in event_ids]

    def read_since(self, tenant_id: str, user_id: str, since_ms: int) -> list[str]:
        marks = self.reads.get((tenant_id, user_id), {})
        return [e for e, ms in marks.items() if ms >= since_ms]

    def revoke(self, user_id: str, tenant_id: str | None) -> Revocation:
        revocation = Revocation(user_id, tenant_id, int(self.clock() * 1000) / 1000)
        self.revoked.pop((user_id, tenant_id), None)  # re-inserted: the dict stays in time order
        self.revoked[(user_id, tenant_id)] = revocation
        for backend in self.backends:
            backend.revoked(revocation)
        return revocation

    def revocations(self) -> list[Revocation]:
        oldest = self.clock() - self.retention.revocation_window_s
        return [r for r in self.revoked.values() if r.revoked_at >= oldest]

    def top(self, name: str) -> str:
        return self._stream(name).newest(int(self.clock() * 1000))


class MemoryBackend:
    """One bus's connection to a :class:`MemoryBroker`."""

    def __init__(self, name: str = "", retention: Retention = Retention(), clock: Clock = time.time) -> None:
        self.safe_url = f"memory://{name}"
        self.global_streams: tuple[str, ...] = (GLOBAL,)
        self.broker = MemoryBroker.named(name, retention, clock)
        self._listener: BackendListener | None = None
        self._streams: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def set_listener(self, listener: BackendListener) -> None:
        self._listener = listener

    async def connect(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.broker.backends.add(self)

    async def close(self) -> None:
        self.broker.backends.discard(self)
        await self.unsubscribe(list(self._streams))

    def receive(self, stream: str, payload: bytes) -> None:
        if self._listener is not None and self._loop is not None:
            self._loop.call_soon(self._listener.on_message, stream, payload)

    def revoked(self, revocation: Revocation) -> None:
        if self._listener is not None and self._loop is not None:
            self._loop.call_soon(self._listener.on_revoked, revocation)

    async def publish(self, items: Sequence[PublishItem]) -> list[PublishOutcome]:
        return self.broker.publish(items)

    async def publish_raw(self, stream: str, payload: bytes) -> int:
        return self.broker.deliver(stream, payload)

    async def history(self, stream: str, since: str | None, limit: int) -> HistoryRead:
        return self.broker.history(stream, since, limit)

    async def history_before(self, stream: str, end: str | None, limit: int, inclusive: bool = False) -> HistoryRead:
        return self.broker.history_before(stream, end, limit, inclusive)

    async def announce(self, instance_id: str, document: bytes, ttl_ms: int) -> None:
        self.broker.instances[instance_id] = (self.broker.clock() + ttl_ms / 1000, document)

    async def instances(self) -> list[bytes]:
        now = self.broker.clock()
        live = sorted((until, doc) for until, doc in self.broker.instances.values() if until > now)
        return [doc for _, doc in live]

    async def top(self, stream: str) -> str:
        return self.broker.top(stream)

    async def check(self, cursors: Sequence[tuple[str, str]]) -> list[bool]:
        return self.broker.check(cursors)

    async def settle(self, stream: str, cursor: str, lost: bool = False) -> Settled:
        return self.broker.settle(stream, cursor, lost)

    async def listen(self) -> None:
        return None

    async def primary(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def live(self) -> bool:
        return True

    async def subscribe(self, streams: Collection[str]) -> None:
        for stream in streams:
            self._streams.add(stream)
            self.broker.subscribers.setdefault(stream, set()).add(self)

    async def unsubscribe(self, streams: Collection[str]) -> None:
        for stream in streams:
            self._streams.discard(stream)
            subscribers = self.broker.subscribers.get(stream)
            if subscribers is not None:
                subscribers.discard(self)
                if not subscribers:
                    del self.broker.subscribers[stream]

    async def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        self.broker.dead.extend(letters)

    async def dead_letters(self, count: int) -> list[DeadLetter]:
        return list(reversed(self.broker.dead))[:count]

    async def ping(self) -> float:
        return 0.0

    async def mark_read(self, tenant_id: str, user_id: str, event_id: str, announcement: bytes) -> bool:
        return self.broker.mark_read(tenant_id, user_id, event_id, announcement)

    async def read_marks(self, tenant_id: str, user_id: str, event_ids: Sequence[str]) -> list[bool]:
        return self.broker.read_marks(tenant_id, user_id, event_ids)

    async def read_since(self, tenant_id: str, user_id: str, since_ms: int) -> list[str]:
        return self.broker.read_since(tenant_id, user_id, since_ms)

    async def latest_read(self, tenant_id: str) -> int | None:
        return self.broker.read_at.get(tenant_id)

    async def revoke(self, user_id: str, tenant_id: str | None) -> Revocation:
        return self.broker.revoke(user_id, tenant_id)

    async def revocations(self) -> list[Revocation]:
        return self.broker.revocations()
