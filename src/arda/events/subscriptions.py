"""The receiving side of the bus: one subscription per stream, gap recovery, dead letters.

For each subscribed stream (a tenant, or ``global``) the bus keeps a cursor: the position of the last event
it delivered. Recovery — on subscribe and after every reconnect — buffers what arrives live, replays from
history everything after the cursor, then drains the buffer without what history already gave. When
history no longer reaches back, nothing partial is replayed: the gap is reported and delivery goes on live.
Messages are decoded once per stream and handed to each handler's bounded queue (:mod:`.handlers`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from .. import logs
from .backends.base import Backend
from .backoff import Backoff
from .catchup import Catchup
from .handlers import Handler, HandlerQueue
from .models import AnyEvent, utc_now
from .positions import fast_key
from .registry import EventRegistry
from .stats import BusStats
from .wire import DeadLetter, Malformed, Revocation, dead_letter, frame_with_position, parse_message

log = logging.getLogger("arda.events")

RECOVERY_PAGE = 1000
#: Live messages held per stream while a replay runs; beyond it the oldest are dropped. Stored events among
#: them were published before the replay's last history read, so the replay delivers them; raw (unstored)
#: publishes among them are lost.
RECOVERY_BUFFER = 100_000
#: Dead letters waiting to be written; beyond it new ones are counted in ``dead_letter_dropped``.
DLQ_QUEUE = 1000
#: The periodic check's interval (seconds): lost history is noticed within it (plus a round trip).
CHECK_INTERVAL_S = 5.0


class Gap(NamedTuple):
    stream: str  # tenant id or "global"
    #: "history_trimmed" (retention passed the position), "history_lost" (events accepted were lost: a
    #: failover, a crash, a stream deleted — noticed on reconnect or by the periodic check) or "handler_overflow"
    reason: str
    #: The last position delivered (to the handler, for "handler_overflow") before the gap; read
    #: ``history(since=…)`` from it to see what is still retained.
    since: str | None


OnGap = Callable[[Gap], None]
#: Called with each revocation any instance records (and, after a reconnect, with every one again).
OnRevocation = Callable[[Revocation], None]


class StreamSubscription:
    __slots__ = (
        "catchup",
        "cursor",
        "cursor_key",
        "queues",
        "ready",
        "recovery",
        "stream",
    )

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.queues: dict[Handler, HandlerQueue] = {}
        self.cursor: str | None = None  # last position delivered (or the top when subscribing)
        self.cursor_key: tuple[int, int] | None = None
        # Live events held while history is replayed; after it, repeats of what history gave are dropped.
        self.catchup: Catchup[AnyEvent] = Catchup()
        self.recovery: asyncio.Task[None] | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def set_cursor(self, position: str | None) -> None:
        self.cursor = position
        self.cursor_key = fast_key(position) if position is not None else None


class Subscriber:
    """Receives from the backend (it is the backend's listener) and feeds the handler queues."""

    def __init__(
        self,
        backend: Backend,
        registry: EventRegistry,
        stats: BusStats,
        backoff: Backoff,
        handler_queue_size: int,
        on_gap: OnGap | None,
    ) -> None:
        self.backend = backend
        self.registry = registry
        self.stats = stats
        self.backoff = backoff
        self.handler_queue_size = handler_queue_size
        self.on_gap = on_gap
        self.on_revocation: OnRevocation | None = None
        self.streams: dict[str, StreamSubscription] = {}
        self._reload: asyncio.Task[None] | None = None
        self._dlq: deque[DeadLetter] = deque()
        self._dlq_task: asyncio.Task[None] | None = None
        #: How often subscribed streams are checked for lost history, and the backend for still being the
        #: primary, even with nothing published (:meth:`watch`).
        self.check_interval = CHECK_INTERVAL_S
        self._watcher: asyncio.Task[None] | None = None
        # Set first by close(). Every loop here ends on it, not on cancellation alone: on Python 3.11 a redis-py
        # command can lose a cancellation (its writes go through asyncio.wait_for, which drops one that arrives
        # as the write completes), and a loop that missed it would run on after the bus is shut down.
        self._closing = False

    # -- subscribe / unsubscribe --------------------------------------------------------------------
    async def add(self, stream: str, handler: Handler) -> None:
        if self._watcher is None:
            self._watcher = asyncio.create_task(self.watch(), name="arda-watch")
        while True:
            sub = self.streams.get(stream)
            if sub is None:
                break
            await asyncio.shield(sub.ready)  # a subscribe of the same stream is under way: share its outcome
            if self.streams.get(stream) is sub:
                if handler not in sub.queues:
                    sub.queues[handler] = self._queue(stream, handler)
                return
        sub = self.streams[stream] = StreamSubscription(stream)
        sub.queues[handler] = self._queue(stream, handler)
        try:
            # Read the newest position before subscribing, then replay from it: nothing published after the
            # caller's subscribe is missed, even what lands between the two round trips.
            sub.set_cursor(await self.backend.top(stream))
            await self.backend.subscribe([stream])
        except BaseException as exc:
            if self.streams.get(stream) is sub:
                del self.streams[stream]
            for queue in sub.queues.values():
                queue.cancel()
            sub.ready.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            sub.ready.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        sub.ready.set_result(None)
        if self.streams.get(stream) is not sub:  # every handler unsubscribed meanwhile
            await self.backend.unsubscribe([stream])
            return
        self._start_recovery(sub)

    def _queue(self, stream: str, handler: Handler) -> HandlerQueue:
        return HandlerQueue(stream, handler, self.handler_queue_size, self.stats, self._handler_overflowed)

    async def remove(self, stream: str, handler: Handler) -> None:
        sub = self.streams.get(stream)
        if sub is None:
            return
        queue = sub.queues.pop(handler, None)
        if queue is not None:
            queue.cancel()
        if not sub.queues:
            del self.streams[stream]
            if sub.recovery is not None:
                sub.recovery.cancel()
            if sub.ready.done():  # else the subscribe under way sees it is gone and unsubscribes
                await self.backend.unsubscribe([stream])

    def queues(self) -> list[HandlerQueue]:
        return [q for sub in self.streams.values() for q in sub.queues.values()]

    async def close(self, drain_timeout: float) -> None:
        """Let handler queues drain (up to ``drain_timeout``), then stop everything; the periodic check is
        gone when this returns (or ``drain_timeout`` later, when a Redis command it is in does not end)."""
        self._closing = True
        waiters = [asyncio.create_task(q.idle.wait()) for q in self.queues()]
        if waiters:
            await asyncio.wait(waiters, timeout=drain_timeout)
            for waiter in waiters:
                waiter.cancel()
        for sub in self.streams.values():
            if sub.recovery is not None:
                sub.recovery.cancel()
            for queue in sub.queues.values():
                queue.cancel()
        self.streams.clear()
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.wait([self._watcher], timeout=drain_timeout)
        if self._dlq_task is not None:
            await asyncio.wait([self._dlq_task], timeout=drain_timeout)

    # -- the periodic check -------------------------------------------------------------------------
    async def watch(self) -> None:
        """Every ``check_interval``: is the backend still the writable primary (a promotion raises floors), and
        does history still reach back to each subscribed stream's cursor? A stream that lost its history while
        idle (FLUSHALL, a restart without persistence, a failover) is noticed here — with nothing published
        after — and recovered: ``on_gap`` reports it. Never ends on an error (Redis down: next time)."""
        while not self._closing:
            await asyncio.sleep(self.check_interval)
            if self._closing:
                return
            try:
                await self.backend.primary()
                due = [
                    (sub.stream, sub.cursor)
                    for sub in self.streams.values()
                    if sub.cursor is not None and sub.ready.done() and not sub.catchup.catching_up
                ]
                intact = await self.backend.check(due)
            except Exception as exc:
                log.debug("periodic check failed", extra={"error": repr(exc)})
                continue
            for (stream, cursor), ok in zip(due, intact, strict=True):
                sub = self.streams.get(stream)
                if not ok and sub is not None and sub.cursor == cursor and not sub.catchup.catching_up:
                    log.warning("history lost under a subscription", extra={"stream": stream, "cursor": cursor})
                    self._start_recovery(sub)

    # -- backend listener ----------------------------------------------------------------------------
    def on_message(self, stream: str, payload: bytes) -> None:
        sub = self.streams.get(stream)
        if sub is None:
            return
        parsed = parse_message(self.registry, stream, payload)
        if isinstance(parsed, Malformed):
            self._malformed(stream, payload, parsed)
            return
        catchup = sub.catchup
        position = parsed.position
        if catchup.held is not None:
            if len(catchup.held) >= RECOVERY_BUFFER:
                catchup.drop_oldest()  # stored events among these come back from the replay's history read
            catchup.hold(fast_key(position) if position is not None else None, parsed)
            return
        if catchup.after is not None and position is not None and not catchup.admit(fast_key(position)):
            return  # already delivered from history
        self._deliver(sub, parsed)

    def on_connection_lost(self, reason: str) -> None:
        for sub in self.streams.values():
            sub.catchup.pause()
            if sub.recovery is not None:
                sub.recovery.cancel()
                sub.recovery = None

    def on_resubscribed(self) -> None:
        self.stats.reconnects += 1
        for sub in self.streams.values():
            if sub.ready.done():
                self._start_recovery(sub)
        if self.on_revocation is not None and (self._reload is None or self._reload.done()):
            # revocations announced while the connection was down were missed: read them all again
            self._reload = asyncio.create_task(self._reload_revocations(), name="arda-revocations")

    def on_revoked(self, revocation: Revocation) -> None:
        if self.on_revocation is not None:
            try:
                self.on_revocation(revocation)
            except Exception:
                log.exception("on_revocation callback failed")

    async def _reload_revocations(self) -> None:
        attempt = 0
        while True:
            try:
                revocations = await self.backend.revocations()
                break
            except Exception as exc:
                if self._closing:
                    return
                log.warning("revocations could not be read again", extra={"error": repr(exc)})
                await asyncio.sleep(self.backoff.delay(attempt))
                attempt += 1
        for revocation in revocations:
            self.on_revoked(revocation)

    # -- delivery and recovery -----------------------------------------------------------------------
    def _deliver(self, sub: StreamSubscription, event: AnyEvent) -> None:
        position = event.position
        if position is not None:
            key = fast_key(position)
            if sub.cursor_key is None or key > sub.cursor_key:
                sub.cursor, sub.cursor_key = position, key
        self.stats.received += 1
        for queue in sub.queues.values():
            queue.put(event)

    def _start_recovery(self, sub: StreamSubscription) -> None:
        if sub.recovery is not None:
            sub.recovery.cancel()
        sub.catchup.pause()
        sub.recovery = asyncio.create_task(self._recover(sub), name=f"arda-recover-{sub.stream}")

    async def _recover(self, sub: StreamSubscription) -> None:
        attempt = 0
        while True:
            try:
                gap_top = await self._replay(sub)
                break
            except Exception as exc:  # Redis trouble, or anything unexpected: never leave the stream buffering
                if self._closing:
                    return
                log.warning("history read failed during recovery", extra={"stream": sub.stream, "error": repr(exc)})
                await asyncio.sleep(self.backoff.delay(attempt))
                attempt += 1
        catchup = sub.catchup
        catchup.after = sub.cursor_key  # what the replay delivered (after a gap: the cursor before it)
        for event in catchup.finish():
            self._deliver(sub, event)
        if gap_top is not None:
            # The old cursor is gone from history: continue from the newest stored position, so the next
            # recovery does not report the same gap again.
            if sub.cursor_key is None or fast_key(gap_top) > sub.cursor_key:
                sub.set_cursor(gap_top)
            catchup.after = None
        sub.recovery = None

    async def _replay(self, sub: StreamSubscription) -> str | None:
        """Deliver history after the cursor. None when complete; after a gap, the stream's newest position."""
        since = sub.cursor
        if since is None:
            return None
        while True:
            read = await self.backend.history(sub.stream, since, RECOVERY_PAGE)
            if not read.reaches_back:
                settled = await self.backend.settle(sub.stream, since)
                self._gap(Gap(sub.stream, "history_lost" if settled.lost else "history_trimmed", since))
                return settled.newest
            for entry in read.entries:
                parsed = parse_message(self.registry, sub.stream, frame_with_position(entry.position, entry.payload))
                if isinstance(parsed, Malformed):
                    self._malformed(sub.stream, entry.payload, parsed)
                    continue
                self.stats.replayed += 1
                self._deliver(sub, parsed)
            if not read.full or read.last is None:
                return None
            since = read.last

    def _handler_overflowed(self, stream: str, since: str | None) -> None:
        self._gap(Gap(stream, "handler_overflow", since))

    def _gap(self, gap: Gap) -> None:
        self.stats.gaps += 1
        log.warning("gap in delivery", extra={"stream": gap.stream, "reason": gap.reason, "since": gap.since})
        if self.on_gap is not None:
            try:
                self.on_gap(gap)
            except Exception:
                log.exception("on_gap callback failed")

    # -- malformed messages --------------------------------------------------------------------------
    def _malformed(self, stream: str, payload: bytes, malformed: Malformed) -> None:
        self.stats.malformed += 1
        logs.client_fault(
            log,
            "malformed_event",
            "[EventBus] Failed to parse event",
            stream=stream,
            reason=malformed.reason,
            error=malformed.detail[:500],
        )
        if len(self._dlq) >= DLQ_QUEUE:
            self.stats.dead_letter_dropped += 1
            return
        self._dlq.append(dead_letter(malformed, stream, payload, utc_now()))
        if self._dlq_task is None or self._dlq_task.done():
            self._dlq_task = asyncio.create_task(self._write_dead_letters())

    async def _write_dead_letters(self) -> None:
        while self._dlq:
            batch = list(self._dlq)
            self._dlq.clear()
            try:
                await self.backend.dead_letter(batch)
                self.stats.dead_lettered += len(batch)
            except Exception as exc:
                self.stats.dead_letter_dropped += len(batch)
                log.warning("dead letters lost", extra={"count": len(batch), "error": repr(exc)})
