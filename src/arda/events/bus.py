"""The :class:`EventBus`: publish typed events, subscribe per tenant or globally, read history.

Delivery to handlers (see ``docs/delivery.md``):

* Order: events of one stream (a tenant's, or the global one) reach each handler in publish order.
* Gaps are filled: when the backend connection drops, the bus buffers what arrives on the new connection,
  replays from history everything after the last position it delivered, then the buffer, skipping what was
  already delivered. Handlers see each event once, in order, as long as history still reaches back.
* When history no longer reaches back, nothing partial is replayed: ``on_gap`` is called with the stream
  and the reason, and delivery goes on live.
* Each handler has its own bounded queue (``handler_queue_size``, default 10,000) and its own task, so a
  slow or failing handler delays no one else. Overflow policy: the oldest queued event is dropped, counted
  in ``stats.handler_dropped``, and ``on_gap`` is called with reason ``"handler_overflow"``.
* A handler that raises is logged with the event id and counted; the subscription goes on.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from .backends.base import Backend, PublishItem, PublishOutcome, Retention
from .backends.memory import MemoryBackend
from .backends.redis import RedisBackend
from .backoff import Backoff
from .errors import BackendUnavailableError, BusClosedError, EventValidationError, PublishError
from .models import AnyEvent, validate_tenant_id
from .positions import is_position, parse_position
from .registry import EventRegistry, default_registry
from .stats import BusStats
from .wire import GLOBAL, Malformed, dead_letter, frame_with_position, parse_message

log = logging.getLogger("arda.events")

Handler = Callable[[AnyEvent], Awaitable[None] | None]


class PublishResult(NamedTuple):
    id: str
    position: str
    #: True when this id was already published within the idempotency window (nothing was sent again).
    duplicate: bool = False


class HistoryPage(NamedTuple):
    events: list[AnyEvent]  # oldest first, each with ``position`` set
    #: False when retained history no longer reaches back to ``since``: the gap cannot be recovered and
    #: ``events`` is empty. Reload state, then continue from ``position``.
    reaches_back: bool
    #: Pass as ``since`` to read the next page (the last event's position, or ``since`` when empty).
    position: str | None
    has_more: bool


class Gap(NamedTuple):
    stream: str  # tenant id or "global"
    reason: str  # "history_trimmed" or "handler_overflow"
    since: str | None  # the last position delivered before the gap


OnGap = Callable[[Gap], None]
_RECOVERY_PAGE = 1000
_RECOVERY_BUFFER = 100_000
_DLQ_QUEUE = 1000
#: Publish round trips in flight at once. Two overlap encoding with Redis's work; concurrent publishes have no
#: order between them anyway, and one caller's awaited publishes never share a round trip.
_MAX_IN_FLIGHT = 2


class _HandlerWorker:
    """One handler and its bounded FIFO, drained by its own task."""

    __slots__ = ("bus", "handler", "idle", "limit", "queue", "stream", "task", "wake")

    def __init__(self, bus: EventBus, stream: str, handler: Handler, limit: int) -> None:
        self.bus = bus
        self.stream = stream
        self.handler = handler
        self.queue: deque[AnyEvent] = deque()
        self.limit = limit
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.task = asyncio.create_task(self.run(), name=f"arda-handler-{stream}")

    def put(self, event: AnyEvent) -> None:
        if len(self.queue) >= self.limit:
            dropped = self.queue.popleft()
            self.bus._overflowed(self, dropped)
        self.queue.append(event)
        self.idle.clear()
        self.wake.set()

    async def run(self) -> None:
        stats = self.bus.stats
        handler = self.handler
        queue = self.queue
        while True:
            if not queue:
                self.idle.set()
                self.wake.clear()
                await self.wake.wait()
                continue
            # Take what is queued now, then yield to the loop (so the reader runs even with sync handlers).
            for _ in range(len(queue)):
                event = queue.popleft()
                try:
                    result = handler(event)
                    if inspect.isawaitable(result):
                        await result
                    stats.delivered += 1
                except Exception:
                    stats.handler_failures += 1
                    log.exception(
                        "handler failed",
                        extra={"eventId": event.id, "type": event.type, "stream": self.stream},
                    )
            await asyncio.sleep(0)


class _StreamState:
    __slots__ = ("buffer", "buffering", "cursor", "cursor_key", "recovery", "replayed_until", "stream", "workers")

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.workers: dict[Handler, _HandlerWorker] = {}
        self.cursor: str | None = None  # last position delivered (or the top when subscribing)
        self.cursor_key: tuple[int, int] | None = None  # the cursor, parsed
        # After a replay, live messages still in flight may repeat what history gave: drop those up to here.
        self.replayed_until: tuple[int, int] | None = None
        self.buffering = True
        self.buffer: deque[AnyEvent] = deque()
        self.recovery: asyncio.Task[None] | None = None


def backend_for_url(url: str, retention: Retention, **redis_options: Any) -> Backend:
    """``memory://name`` → :class:`MemoryBackend`; ``redis://``, ``rediss://``, ``unix://`` → :class:`RedisBackend`."""
    if url.startswith("memory://"):
        return MemoryBackend(url[len("memory://") :], retention)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBackend(url, retention, **redis_options)
    raise ValueError(f"unsupported bus URL {url!r}: expected memory://, redis://, rediss:// or unix://")


class EventBus:
    """Typed events over Redis (or in process with ``memory://``). See the module docstring for guarantees.

    ``url``: ``redis://[:password@]host:port/db``, ``rediss://…``, ``unix://path``, or ``memory://[name]``
    (the default when ``url`` is None). Use as ``async with EventBus(url) as bus`` or call
    :meth:`connect` and :meth:`shutdown`. Methods connect on first use if :meth:`connect` was not called.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        registry: EventRegistry | None = None,
        retention: Retention = Retention(),
        handler_queue_size: int = 10_000,
        max_batch: int = 1000,
        connect_timeout: float = 5.0,
        command_timeout: float = 5.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        backoff: Backoff | None = None,
        on_gap: OnGap | None = None,
        backend: Backend | None = None,
    ) -> None:
        self.url = url or "memory://"
        self.registry = registry or default_registry
        self.retention = retention
        self.handler_queue_size = handler_queue_size
        self.max_batch = max_batch
        self.on_gap = on_gap
        self.backoff = backoff or Backoff()
        self.stats = BusStats()
        self.backend: Backend = backend or backend_for_url(
            self.url,
            retention,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            backoff=self.backoff,
        )
        self.backend.set_listener(self)
        self._streams: dict[str, _StreamState] = {}
        self._state = "new"  # new → connected → closed
        self._connect_lock: asyncio.Lock | None = None
        self._pending: list[tuple[PublishItem, asyncio.Future[PublishOutcome]]] = []
        self._sends: set[asyncio.Task[None]] = set()  # publish round trips in flight (≤ _MAX_IN_FLIGHT)
        self._kick_scheduled = False
        self._dlq: deque[Any] = deque()
        self._dlq_task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def connect(self) -> EventBus:
        """Connect the backend. Raises :class:`BackendUnavailableError` (naming the URL and the cause) within
        the connect timeout when Redis cannot be reached, :class:`BusClosedError` after :meth:`shutdown`."""
        if self._state == "closed":
            raise BusClosedError("the event bus was shut down")
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._state == "new":
                await self.backend.connect()
                self._state = "connected"
                log.info("event bus connected", extra={"url": self.backend.safe_url})
        return self

    async def _ready(self) -> None:
        if self._state != "connected":
            await self.connect()

    async def __aenter__(self) -> EventBus:
        return await self.connect()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    async def shutdown(self, drain_timeout: float = 5.0) -> None:
        """Stop: finish pending publishes, let handlers drain their queues (up to ``drain_timeout`` seconds),
        unsubscribe, close the backend. Idempotent."""
        if self._state == "closed":
            return
        was_connected = self._state == "connected"
        self._state = "closed"
        while self._sends:
            done, _ = await asyncio.wait(set(self._sends), timeout=drain_timeout)
            if not done:
                break
        workers = [w for s in self._streams.values() for w in s.workers.values()]
        if workers:
            await asyncio.wait([asyncio.create_task(w.idle.wait()) for w in workers], timeout=drain_timeout)
        for state in self._streams.values():
            if state.recovery is not None:
                state.recovery.cancel()
            for worker in state.workers.values():
                worker.task.cancel()
        self._streams.clear()
        if self._dlq_task is not None:
            await asyncio.wait([self._dlq_task], timeout=drain_timeout)
        if was_connected:
            await self.backend.close()
        log.info("event bus shut down", extra={"url": self.backend.safe_url})

    # -- publishing ------------------------------------------------------------------------------
    async def publish(self, event: AnyEvent | Mapping[str, Any]) -> PublishResult:
        """Validate, store in history and publish one event; return its id and position.

        Concurrent calls are combined into one round trip per event-loop turn. Raises
        :class:`EventValidationError`, :class:`UnknownEventTypeError` before anything is sent, or
        :class:`PublishError` (retry with the same event: publishing is idempotent by ``id``).
        """
        parsed, data = self.registry.prepare(event)
        await self._ready()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PublishOutcome] = loop.create_future()
        self._pending.append((PublishItem(parsed.tenant_id, parsed.id, data), future))
        if not self._kick_scheduled:
            self._kick_scheduled = True
            loop.call_soon(self._kick)  # gather every publish of this loop turn into one round trip
        outcome = await future
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "[EventBus] Publishing event",
                extra={
                    "type": parsed.type,
                    "tenantId": parsed.tenant_id,
                    "eventId": parsed.id,
                    "timestamp": str(parsed.timestamp),
                },
            )
        return PublishResult(parsed.id, outcome.position, outcome.duplicate)

    def _kick(self) -> None:
        self._kick_scheduled = False
        while self._pending and len(self._sends) < _MAX_IN_FLIGHT:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            task = asyncio.create_task(self._send(batch))
            self._sends.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        if self._pending:
            self._kick()

    async def _send(self, batch: list[tuple[PublishItem, asyncio.Future[PublishOutcome]]]) -> None:
        try:
            outcomes = await self._publish_items([item for item, _ in batch])
        except PublishError as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)

    async def _publish_items(self, items: Sequence[PublishItem]) -> list[PublishOutcome]:
        try:
            outcomes = await self.backend.publish(items)
        except BackendUnavailableError as exc:
            self.stats.publish_failures += len(items)
            log.warning("publish failed", extra={"events": len(items), "error": str(exc)})
            raise PublishError(f"publish of {len(items)} event(s) failed: {exc}") from exc
        duplicates = sum(1 for o in outcomes if o.duplicate)
        self.stats.duplicates += duplicates
        self.stats.published += len(outcomes) - duplicates
        return outcomes

    async def publish_many(self, events: Iterable[AnyEvent | Mapping[str, Any]]) -> list[PublishResult]:
        """Validate every event first (nothing is sent if one is invalid), then publish them in one round trip
        per ``max_batch`` events, atomically per round trip. Results are in input order."""
        prepared = []
        for index, event in enumerate(events):
            try:
                prepared.append(self.registry.prepare(event))
            except EventValidationError as exc:
                raise EventValidationError(exc.event_type, exc.field, f"events[{index}]: {exc.detail}") from None
        await self._ready()
        results: list[PublishResult] = []
        for start in range(0, len(prepared), self.max_batch):
            chunk = prepared[start : start + self.max_batch]
            outcomes = await self._publish_items([PublishItem(e.tenant_id, e.id, data) for e, data in chunk])
            results += [PublishResult(e.id, o.position, o.duplicate) for (e, _), o in zip(chunk, outcomes, strict=True)]
        return results

    # -- subscribing -----------------------------------------------------------------------------
    async def subscribe_tenant(self, tenant_id: str, handler: Handler) -> None:
        """Call ``handler`` (sync or async) with every event of ``tenant_id`` published from now on."""
        await self._subscribe(validate_tenant_id(tenant_id), handler)

    async def subscribe_global(self, handler: Handler) -> None:
        """Call ``handler`` with every event of every tenant published from now on."""
        await self._subscribe(GLOBAL, handler)

    async def unsubscribe_tenant(self, tenant_id: str, handler: Handler) -> None:
        await self._unsubscribe(validate_tenant_id(tenant_id), handler)

    async def unsubscribe_global(self, handler: Handler) -> None:
        await self._unsubscribe(GLOBAL, handler)

    async def _subscribe(self, stream: str, handler: Handler) -> None:
        await self._ready()
        state = self._streams.get(stream)
        if state is not None:
            if handler not in state.workers:
                state.workers[handler] = _HandlerWorker(self, stream, handler, self.handler_queue_size)
            return
        state = self._streams[stream] = _StreamState(stream)
        state.workers[handler] = _HandlerWorker(self, stream, handler, self.handler_queue_size)
        try:
            # Read the top before subscribing, then replay from it: nothing published after this call is
            # missed, even what lands between the two round trips.
            self._set_cursor(state, await self.backend.top(stream))
            await self.backend.subscribe([stream])
        except BaseException:
            self._streams.pop(stream, None)
            state.workers[handler].task.cancel()
            raise
        self._start_recovery(state)

    async def _unsubscribe(self, stream: str, handler: Handler) -> None:
        state = self._streams.get(stream)
        if state is None:
            return
        worker = state.workers.pop(handler, None)
        if worker is not None:
            worker.task.cancel()
        if not state.workers:
            del self._streams[stream]
            if state.recovery is not None:
                state.recovery.cancel()
            await self.backend.unsubscribe([stream])

    # -- history ---------------------------------------------------------------------------------
    async def history(self, tenant_id: str, since: str | None = None, limit: int = 100) -> HistoryPage:
        """Events of ``tenant_id`` after position ``since`` (oldest retained when None), oldest first.

        ``reaches_back`` is False — and ``events`` empty — when retention no longer reaches back to
        ``since``: a partial replay is never presented as complete.
        """
        return await self._history(validate_tenant_id(tenant_id), since, limit)

    async def global_history(self, since: str | None = None, limit: int = 100) -> HistoryPage:
        return await self._history(GLOBAL, since, limit)

    async def _history(self, stream: str, since: str | None, limit: int) -> HistoryPage:
        if since is not None and not is_position(since):
            raise EventValidationError(None, "since", f"invalid position {since!r}: expected '<ms>-<seq>'")
        if not 1 <= limit <= 10_000:
            raise EventValidationError(None, "limit", "limit must be between 1 and 10000")
        await self._ready()
        read = await self.backend.history(stream, since, limit)
        events: list[AnyEvent] = []
        for entry in read.entries:
            parsed = parse_message(self.registry, stream, frame_with_position(entry.position, entry.payload))
            if isinstance(parsed, Malformed):
                self.stats.malformed += 1
                log.warning("malformed event in history", extra={"stream": stream, "position": entry.position})
                continue
            events.append(parsed)
        last = read.entries[-1].position if read.entries else since
        return HistoryPage(events, read.reaches_back, last, len(read.entries) == limit)

    async def dead_letters(self, count: int = 100) -> list[Any]:
        await self._ready()
        return await self.backend.dead_letters(count)

    # -- backend listener (called by the backend on the event loop) -------------------------------
    def on_message(self, stream: str, payload: bytes) -> None:
        state = self._streams.get(stream)
        if state is None:
            return
        parsed = parse_message(self.registry, stream, payload)
        if isinstance(parsed, Malformed):
            self._malformed(stream, payload, parsed)
            return
        if state.buffering:
            if len(state.buffer) >= _RECOVERY_BUFFER:
                state.buffer.popleft()
            state.buffer.append(parsed)
            return
        if state.replayed_until is not None and parsed.position is not None:
            if parse_position(parsed.position) <= state.replayed_until:
                return  # already delivered from history
            state.replayed_until = None  # the channel is ordered: nothing older can follow
        self._deliver(state, parsed)

    def on_connection_lost(self, reason: str) -> None:
        for state in self._streams.values():
            state.buffering = True
            if state.recovery is not None:
                state.recovery.cancel()
                state.recovery = None

    def on_resubscribed(self) -> None:
        self.stats.reconnects += 1
        for state in self._streams.values():
            self._start_recovery(state)

    # -- delivery --------------------------------------------------------------------------------
    def _deliver(self, state: _StreamState, event: AnyEvent) -> None:
        position = event.position
        if position is not None:
            key = parse_position(position)
            if state.cursor_key is None or key > state.cursor_key:
                state.cursor, state.cursor_key = position, key
        self.stats.received += 1
        for worker in state.workers.values():
            worker.put(event)

    @staticmethod
    def _set_cursor(state: _StreamState, position: str | None) -> None:
        state.cursor = position
        state.cursor_key = parse_position(position) if position is not None else None

    def _start_recovery(self, state: _StreamState) -> None:
        if state.recovery is not None:
            state.recovery.cancel()
        state.buffering = True
        state.recovery = asyncio.create_task(self._recover(state), name=f"arda-recover-{state.stream}")

    async def _recover(self, state: _StreamState) -> None:
        """Replay history after the cursor, then the live buffer without what history already gave."""
        attempt = 0
        while True:
            try:
                await self._replay(state)
                break
            except BackendUnavailableError as exc:
                log.warning("history read failed during recovery", extra={"stream": state.stream, "error": str(exc)})
                await asyncio.sleep(self.backoff.delay(attempt))
                attempt += 1
        cursor = state.cursor_key
        state.replayed_until = cursor
        while state.buffer:
            event = state.buffer.popleft()
            if event.position is None or cursor is None or parse_position(event.position) > cursor:
                self._deliver(state, event)
        state.buffering = False
        state.recovery = None

    async def _replay(self, state: _StreamState) -> None:
        since = state.cursor
        if since is None:
            return
        while True:
            read = await self.backend.history(state.stream, since, _RECOVERY_PAGE)
            if not read.reaches_back:
                self._gap(Gap(state.stream, "history_trimmed", since))
                self._set_cursor(state, None)
                if not state.buffer:
                    self._set_cursor(state, await self.backend.top(state.stream))
                return
            for entry in read.entries:
                parsed = parse_message(self.registry, state.stream, frame_with_position(entry.position, entry.payload))
                if isinstance(parsed, Malformed):
                    self.stats.malformed += 1
                    continue
                self.stats.replayed += 1
                self._deliver(state, parsed)
            if len(read.entries) < _RECOVERY_PAGE:
                return
            since = read.entries[-1].position

    def _gap(self, gap: Gap) -> None:
        self.stats.gaps += 1
        log.warning("gap in delivery", extra={"stream": gap.stream, "reason": gap.reason, "since": gap.since})
        if self.on_gap is not None:
            try:
                self.on_gap(gap)
            except Exception:
                log.exception("on_gap callback failed")

    def _overflowed(self, worker: _HandlerWorker, dropped: AnyEvent) -> None:
        self.stats.handler_dropped += 1
        self._gap(Gap(worker.stream, "handler_overflow", dropped.position))

    # -- malformed messages ------------------------------------------------------------------------
    def _malformed(self, stream: str, payload: bytes, malformed: Malformed) -> None:
        from .models import utc_now

        self.stats.malformed += 1
        log.warning(
            "[EventBus] Failed to parse event",
            extra={"stream": stream, "reason": malformed.reason, "error": malformed.detail[:500]},
        )
        if len(self._dlq) >= _DLQ_QUEUE:
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
            except BackendUnavailableError as exc:
                self.stats.dead_letter_dropped += len(batch)
                log.warning("dead letters lost", extra={"count": len(batch), "error": str(exc)})


_default_bus: EventBus | None = None


def get_event_bus() -> EventBus:
    """The process-wide bus, configured from ``ARDA_REDIS_URL`` (``memory://`` when unset). It connects on
    first use; call ``await get_event_bus().connect()`` at startup to fail fast."""
    global _default_bus
    if _default_bus is None or _default_bus._state == "closed":
        _default_bus = EventBus(os.environ.get("ARDA_REDIS_URL") or None)
    return _default_bus
