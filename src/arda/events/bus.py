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
  in ``stats.handler_dropped``, and ``on_gap`` is called once per overflow episode (``"handler_overflow"``).
* A handler that raises is logged with the event id and counted; the subscription goes on.

The pieces: :mod:`.publishing` (batching), :mod:`.subscriptions` (receiving, recovery, dead letters),
:mod:`.handlers` (queues), :mod:`.backends` (transport and storage).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import msgspec

from .. import logs
from .backends import urls
from .backends.base import Backend, PublishItem, PublishOutcome, Retention
from .backends.cluster import ClusterBackend
from .backends.memory import MemoryBackend
from .backends.redis import RedisBackend
from .backoff import Backoff
from .errors import BusClosedError, BusError, EventValidationError, PublishError
from .global_feed import FeedCursor, merge
from .handlers import Handler
from .models import AnyEvent, validate_tenant_id
from .positions import compose, is_position, parse_composite, parse_position
from .publishing import PublishBatcher
from .registry import EventRegistry, default_registry
from .stats import BusStats
from .subscriptions import CHECK_INTERVAL_S, Gap, OnGap, OnRevocation, Subscriber
from .wire import GLOBAL, DeadLetter, Malformed, Revocation, frame_with_position, parse_message

__all__ = [
    "EventBus",
    "Gap",
    "Handler",
    "HistoryPage",
    "PublishResult",
    "Revocation",
    "backend_for_url",
    "get_event_bus",
]

log = logging.getLogger("arda.events")


class PublishResult(NamedTuple):
    id: str
    position: str
    #: True when this id was already published within the idempotency window (nothing was sent again). Also
    #: True when a publish whose reply was lost was retried automatically after reaching Redis.
    duplicate: bool = False


class HistoryPage(NamedTuple):
    events: list[AnyEvent]  # oldest first, each with ``position`` set
    #: False when retained history no longer reaches back to ``since``: the gap cannot be recovered and
    #: ``events`` is empty. Reload state, then continue from ``position``.
    reaches_back: bool
    #: Pass as ``since`` to read the next page (the last event's position, or ``since`` when empty).
    position: str | None
    has_more: bool


def backend_for_url(url: str, retention: Retention, **redis_options: Any) -> Backend:
    """``memory://name`` → :class:`MemoryBackend`; ``redis://``, ``rediss://``, ``unix://``, ``redis+sentinel://``,
    ``rediss+sentinel://`` → :class:`RedisBackend`; ``redis+cluster://``, ``rediss+cluster://`` →
    :class:`ClusterBackend` (see :mod:`.backends.urls`)."""
    if url.startswith("memory://"):
        return MemoryBackend(url[len("memory://") :], retention)
    if urls.is_cluster(url):
        return ClusterBackend(url, retention, **redis_options)
    if url.startswith(urls.SCHEMES):
        return RedisBackend(url, retention, **redis_options)
    raise ValueError(f"unsupported bus URL {urls.redact(url)!r}: expected {urls.EXPECTED}")


def publish_result(event: AnyEvent, outcome: PublishOutcome) -> PublishResult:
    """The result of publishing ``event``, or :class:`PublishError` when Redis refused it (``outcome.error``:
    nothing of it was stored or sent). One rule for :class:`EventBus` and :class:`~.sync.SyncPublisher`."""
    if outcome.error is not None:
        raise PublishError(f"Redis refused event {event.id} of tenant {event.tenant_id}: {outcome.error}")
    return PublishResult(event.id, outcome.position, outcome.duplicate)


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
        check_interval: float = CHECK_INTERVAL_S,
    ) -> None:
        self.url = url or "memory://"
        self.registry = registry or default_registry
        self.retention = retention.validate()
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
        self._handler_queue_size = handler_queue_size
        self._on_gap = on_gap
        self._on_revocation: OnRevocation | None = None
        self._check_interval = check_interval
        self._reads: dict[tuple[str, str | None, int], asyncio.Future[HistoryPage]] = {}
        self._feeds: dict[Handler, FeedCursor] = {}  # global handlers, when the global feed has several shards
        self._subscriber: Subscriber | None = None  # needs a running loop: made on connect
        self._publisher = PublishBatcher(self.backend.publish, self.stats, max_batch=max_batch)
        self._state = "new"  # new → connected → closed
        self._connect_lock: asyncio.Lock | None = None

    @property
    def on_gap(self) -> OnGap | None:
        return self._on_gap

    @on_gap.setter
    def on_gap(self, callback: OnGap | None) -> None:
        self._on_gap = callback
        if self._subscriber is not None:
            self._subscriber.on_gap = callback

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
                subscriber = Subscriber(
                    self.backend, self.registry, self.stats, self.backoff, self._handler_queue_size, self._on_gap
                )
                subscriber.on_revocation = self._on_revocation
                subscriber.check_interval = self._check_interval
                self.backend.set_listener(subscriber)
                await self.backend.connect()
                if self._state == "closed":  # shut down while connecting
                    await self.backend.close()
                    raise BusClosedError("the event bus was shut down")
                self._subscriber = subscriber
                self._state = "connected"
                log.info("event bus connected", extra={"url": self.backend.safe_url})
        return self

    async def listen(self) -> None:
        """Open the connection that receives live events now, rather than on the first subscribe: a service
        finds out at startup that it cannot receive (a TLS or ACL problem), and :attr:`live` reports on it
        from then on. Raises :class:`BackendUnavailableError`."""
        await self._ready()
        await self.backend.listen()

    @property
    def live(self) -> bool:
        """False while the connection that receives live events is down (the bus is reconnecting it)."""
        return self.backend.live()

    async def primary(self) -> bool:
        """Ask the backend now whether it is the writable primary (see :attr:`writable`)."""
        await self._ready()
        return await self.backend.primary()

    @property
    def writable(self) -> bool:
        """False when the last check found the backend is not the writable primary (a demoted Redis answers
        ``READONLY`` to every publish)."""
        return self.backend.writable()

    async def _ready(self) -> Subscriber:
        if self._state != "connected":
            await self.connect()
        assert self._subscriber is not None
        return self._subscriber

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
        await self._publisher.drain(drain_timeout)
        if self._subscriber is not None:
            await self._subscriber.close(drain_timeout)
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
        outcome = await self._publisher.submit(PublishItem(parsed.tenant_id, parsed.id, data))
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
        return publish_result(parsed, outcome)

    async def publish_many(self, events: Iterable[AnyEvent | Mapping[str, Any]]) -> list[PublishResult]:
        """Validate every event first (nothing is sent if one is invalid), then publish them in one round trip
        per ``max_batch`` events. Results are in input order. Raises :class:`PublishError` when Redis is
        unreachable or refused one of them (the message names which; the others were published)."""
        prepared = []
        for index, event in enumerate(events):
            try:
                prepared.append(self.registry.prepare(event))
            except EventValidationError as exc:
                raise EventValidationError(exc.event_type, exc.field, f"events[{index}]: {exc.detail}") from None
        await self._ready()
        results: list[PublishResult] = []
        size = self._publisher.max_batch
        for start in range(0, len(prepared), size):
            chunk = prepared[start : start + size]
            outcomes = await self._publisher.send([PublishItem(e.tenant_id, e.id, data) for e, data in chunk])
            results += [publish_result(e, o) for (e, _), o in zip(chunk, outcomes, strict=True)]
        return results

    # -- subscribing -----------------------------------------------------------------------------
    async def subscribe_tenant(self, tenant_id: str, handler: Handler) -> None:
        """Call ``handler`` (sync or async) with every event of ``tenant_id`` published from now on."""
        await (await self._ready()).add(validate_tenant_id(tenant_id), handler)

    async def subscribe_global(self, handler: Handler) -> None:
        """Call ``handler`` with every event of every tenant published from now on.

        On a Redis Cluster the global feed is split into shards (``backend.global_streams``): each is followed,
        with its own recovery and gap reports (``Gap.stream`` names the shard), and each keeps its tenants'
        order. The handler is given each event with a composite position — every shard's last position it was
        given (see :mod:`.global_feed`) — which :meth:`global_history` takes as ``since``."""
        subscriber = await self._ready()
        streams = self.backend.global_streams
        if len(streams) == 1:
            await subscriber.add(streams[0], handler)
            return
        feed = self._feeds.get(handler)
        if feed is None:
            feed = self._feeds[handler] = FeedCursor(handler, len(streams))
        for lane, stream in enumerate(streams):
            await subscriber.add(stream, feed.lanes[lane])
            sub = subscriber.streams.get(stream)
            if feed.parts[lane] is None and sub is not None:
                feed.parts[lane] = sub.cursor  # where this shard's delivery to the handler starts

    async def unsubscribe_tenant(self, tenant_id: str, handler: Handler) -> None:
        if self._subscriber is not None:
            await self._subscriber.remove(validate_tenant_id(tenant_id), handler)

    async def unsubscribe_global(self, handler: Handler) -> None:
        if self._subscriber is None:
            return
        streams = self.backend.global_streams
        if len(streams) == 1:
            await self._subscriber.remove(streams[0], handler)
            return
        feed = self._feeds.pop(handler, None)
        if feed is not None:
            for stream, lane_handler in zip(streams, feed.lanes, strict=True):
                await self._subscriber.remove(stream, lane_handler)

    # -- history ---------------------------------------------------------------------------------
    async def history(self, tenant_id: str, since: str | None = None, limit: int = 100) -> HistoryPage:
        """Events of ``tenant_id`` after position ``since`` (oldest retained when None), oldest first.

        ``reaches_back`` is False — and ``events`` empty — when retention no longer reaches back to
        ``since``: a partial replay is never presented as complete.
        """
        return await self._history(validate_tenant_id(tenant_id), since, limit)

    async def global_history(self, since: str | None = None, limit: int = 100) -> HistoryPage:
        """Every tenant's events after ``since``, oldest first. On a Redis Cluster, the global feed's shards
        merged by position (see :mod:`.global_feed`): ``since`` and every position are composites."""
        return await self._history(GLOBAL, since, limit)

    async def history_before(
        self, tenant_id: str, before: str | None = None, limit: int = 100, *, inclusive: bool = False
    ) -> HistoryPage:
        """Events of ``tenant_id`` before position ``before`` (at or before it when ``inclusive``; the newest when
        None), **newest first**: what an inbox shows, paging back. ``position`` is where the next page starts
        (pass it as ``before``); ``has_more`` whether it may have more. ``reaches_back`` is always True."""
        return await self._history_before(validate_tenant_id(tenant_id), before, limit, inclusive)

    async def global_history_before(
        self, before: str | None = None, limit: int = 100, *, inclusive: bool = False
    ) -> HistoryPage:
        """:meth:`history_before` of the global feed (one Redis or Sentinel: on a Redis Cluster its shards have no
        order to read back in, and :class:`BusError` says so)."""
        return await self._history_before(GLOBAL, before, limit, inclusive)

    async def _history_before(self, stream: str, before: str | None, limit: int, inclusive: bool) -> HistoryPage:
        if self._lanes(stream) > 1:
            raise BusError("the global feed of a Redis Cluster cannot be read backwards (its shards have no one order)")
        self._check_since(stream, before)
        if not 1 <= limit <= 10_000:
            raise EventValidationError(None, "limit", "limit must be between 1 and 10000")
        await self._ready()
        streams = self.backend.global_streams if stream == GLOBAL else (stream,)
        read = await self.backend.history_before(streams[0], before, limit, inclusive)
        events = [e for entry in read.entries if (e := self._parse_stored(stream, entry.position, entry.payload))]
        return HistoryPage(events, True, read.last or before, read.full)

    def _lanes(self, stream: str) -> int:
        """How many shards ``stream``'s positions are composed of (1: plain positions)."""
        return len(self.backend.global_streams) if stream == GLOBAL else 1

    def _check_since(self, stream: str, since: str | None) -> None:
        if since is None:
            return
        lanes = self._lanes(stream)
        if lanes == 1:
            if not is_position(since):
                raise EventValidationError(None, "since", f"invalid position {since!r}: expected '<ms>-<seq>'")
            return
        try:
            parse_composite(since, lanes)
        except ValueError as exc:
            raise EventValidationError(None, "since", f"{exc} (the global feed of a Redis Cluster)") from None

    async def _history(self, stream: str, since: str | None, limit: int) -> HistoryPage:
        self._check_since(stream, since)
        if not 1 <= limit <= 10_000:
            raise EventValidationError(None, "limit", "limit must be between 1 and 10000")
        await self._ready()
        # Concurrent reads of the same page share one round trip: after a restart, the clients of a tenant
        # resume together, most from the same last position.
        key = (stream, since, limit)
        pending = self._reads.get(key)
        if pending is None:
            pending = self._reads[key] = asyncio.ensure_future(self._read_history(stream, since, limit))
            pending.add_done_callback(lambda _: self._reads.pop(key, None))
        return await asyncio.shield(pending)

    async def _read_history(self, stream: str, since: str | None, limit: int) -> HistoryPage:
        if self._lanes(stream) > 1:
            return await self._read_feed(since, limit)
        read = await self.backend.history(stream, since, limit)
        events = [e for entry in read.entries if (e := self._parse_stored(stream, entry.position, entry.payload))]
        return HistoryPage(events, read.reaches_back, read.last or since, read.full)

    def _parse_stored(self, stream: str, position: str, payload: bytes) -> AnyEvent | None:
        parsed = parse_message(self.registry, stream, frame_with_position(position, payload))
        if isinstance(parsed, Malformed):
            self.stats.malformed += 1
            logs.client_fault(log, "malformed_event", "malformed event in history", stream=stream, position=position)
            return None
        return parsed

    async def _read_feed(self, since: str | None, limit: int) -> HistoryPage:
        """The global feed of several shards: each read after its part of ``since``, merged."""
        streams = self.backend.global_streams
        parts = parse_composite(since).parts if since is not None else (None,) * len(streams)
        reads = await asyncio.gather(
            *(self.backend.history(stream, part, limit) for stream, part in zip(streams, parts, strict=True))
        )
        if not all(read.reaches_back for read in reads):
            return HistoryPage([], False, since, False)  # never a partial replay presented as complete
        page = merge(parts, reads, limit)
        events = []
        for position, entry in page.entries:
            stream = streams[parse_composite(position).lane or 0]
            parsed = self._parse_stored(stream, entry.position, entry.payload)
            if parsed is not None:
                events.append(msgspec.structs.replace(parsed, position=position))
        return HistoryPage(events, True, page.position, page.has_more)

    async def latest_position(self, tenant_id: str) -> str:
        """The position of the newest event retained for ``tenant_id`` — what a subscription starts after."""
        await self._ready()
        return await self.backend.top(validate_tenant_id(tenant_id))

    def known_position(self, stream: str) -> str | None:
        """The last position this bus delivered for a stream it is subscribed to (a tenant id or ``"global"``),
        without a round trip; None when it is not subscribed, or is filling a gap right now.

        Every event after it reaches this bus's handlers. A service that hands a client "start after this
        position" can use it instead of :meth:`latest_position`, which asks Redis."""
        if self._lanes(stream) > 1:
            parts = [self.known_position(shard) for shard in self.backend.global_streams]
            return compose(parts) if all(parts) else None
        sub = self._subscriber.streams.get(stream) if self._subscriber is not None else None
        if sub is None or sub.catchup.catching_up or not sub.ready.done():
            return None
        return sub.cursor

    async def settled_position(self, stream: str, timeout: float = 1.0) -> str | None:
        """:meth:`known_position`, after waiting (at most ``timeout`` seconds) for the stream's subscription to be
        made and the catch-up read that follows it to finish. None when the stream is not subscribed here, or
        does not settle in time (e.g. Redis is unreachable): then ask :meth:`latest_position`.

        Many clients subscribing to a stream at once would otherwise each ask Redis while the bus catches up."""
        if self._lanes(stream) > 1:
            shards = self.backend.global_streams
            parts = await asyncio.gather(*(self.settled_position(shard, timeout) for shard in shards))
            return compose(parts) if all(parts) else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (position := self.known_position(stream)) is None:
            sub = self._subscriber.streams.get(stream) if self._subscriber is not None else None
            if sub is None:
                return None
            pending = sub.recovery if sub.ready.done() else sub.ready
            remaining = deadline - loop.time()
            if pending is None or pending.done() or remaining <= 0:
                return None  # buffering with nothing under way (waiting to reconnect), or out of time
            await asyncio.wait([pending], timeout=remaining)
        return position

    async def latest_global_position(self) -> str:
        """The global feed's newest position (on a Redis Cluster, the composite of every shard's)."""
        await self._ready()
        streams = self.backend.global_streams
        if len(streams) == 1:
            return await self.backend.top(streams[0])
        return compose(await asyncio.gather(*(self.backend.top(stream) for stream in streams)))

    # -- read state ------------------------------------------------------------------------------
    async def mark_read(
        self, tenant_id: str, user_id: str, event_id: str, announce: AnyEvent | Mapping[str, Any] | None = None
    ) -> bool:
        """Record that ``user_id`` has read event ``event_id`` of ``tenant_id``; True when that is new.

        Read state is kept beside the tenant's history, never in it: a mark costs the history nothing and can
        never push an event out of it. Marks last as long as events are retained (``Retention.max_age_s``),
        at most ``Retention.max_events`` per user and tenant (the oldest go first). When the mark is new and
        ``announce`` is given, that event is delivered live — not stored, without a position — to the
        tenant's subscribers on every instance (how a user's other devices learn of it at once)."""
        announcement = b""
        if announce is not None:
            parsed, announcement = self.registry.prepare(announce)
            if parsed.tenant_id != tenant_id:
                raise EventValidationError(parsed.type, "tenantId", "an announcement goes to the tenant it is about")
        await self._ready()
        return await self.backend.mark_read(validate_tenant_id(tenant_id), user_id, event_id, announcement)

    async def read_marks(self, tenant_id: str, user_id: str, event_ids: Sequence[str]) -> list[bool]:
        """For each of ``event_ids``, whether ``user_id`` has read it (see :meth:`mark_read`)."""
        await self._ready()
        return await self.backend.read_marks(validate_tenant_id(tenant_id), user_id, event_ids)

    async def read_since(self, tenant_id: str, user_id: str, since: str) -> list[str]:
        """The event ids ``user_id`` marked read at or after the time of position ``since`` (a position's first
        part is the stream's clock in ms): what a client resuming from ``since`` may have missed."""
        if not is_position(since):
            raise EventValidationError(None, "since", f"invalid position {since!r}: expected '<ms>-<seq>'")
        await self._ready()
        return await self.backend.read_since(validate_tenant_id(tenant_id), user_id, parse_position(since)[0])

    async def latest_read(self, tenant_id: str) -> int | None:
        """When anyone of the tenant last marked something read (unix ms, Redis's clock); None: never, within
        retention. One read shared by concurrent callers."""
        await self._ready()
        return await self.backend.latest_read(validate_tenant_id(tenant_id))

    # -- revocations -----------------------------------------------------------------------------
    @property
    def on_revocation(self) -> OnRevocation | None:
        """Called on the event loop with every :class:`Revocation` any bus on this Redis records (from the
        moment this bus listens: see :meth:`listen`), and with all of them again after a reconnect."""
        return self._on_revocation

    @on_revocation.setter
    def on_revocation(self, callback: OnRevocation | None) -> None:
        self._on_revocation = callback
        if self._subscriber is not None:
            self._subscriber.on_revocation = callback

    async def revoke(self, user_id: str, tenant_id: str | None = None) -> Revocation:
        """Record that ``user_id``'s tokens issued up to now (Redis's clock) are revoked — for ``tenant_id``
        only, or everywhere — and announce it to every listening bus. Kept ``Retention.revocation_window_s``."""
        if not isinstance(user_id, str) or not 1 <= len(user_id) <= 256:
            raise EventValidationError(None, "userId", "a user id is a string of 1 to 256 characters")
        if tenant_id is not None:
            validate_tenant_id(tenant_id)
        await self._ready()
        return await self.backend.revoke(user_id, tenant_id)

    async def revocations(self) -> list[Revocation]:
        """Every revocation kept (within ``Retention.revocation_window_s``), oldest first."""
        await self._ready()
        return await self.backend.revocations()

    # -- instances ------------------------------------------------------------------------------
    async def announce(self, instance_id: str, document: bytes, ttl_s: float = 5.0) -> None:
        """Tell every bus on this Redis that ``instance_id`` is alive, with its figures (kept ``ttl_s``)."""
        await self._ready()
        await self.backend.announce(instance_id, document, int(ttl_s * 1000))

    async def instances(self) -> list[bytes]:
        """The figures of every instance that announced itself within its TTL (this one's too)."""
        await self._ready()
        return await self.backend.instances()

    async def dead_letters(self, count: int = 100) -> list[DeadLetter]:
        await self._ready()
        return await self.backend.dead_letters(count)


_default_bus: EventBus | None = None


def get_event_bus() -> EventBus:
    """The process-wide bus, configured from ``ARDA_REDIS_URL`` (``memory://`` when unset). It connects on
    first use; call ``await get_event_bus().connect()`` at startup to fail fast."""
    global _default_bus
    if _default_bus is None or _default_bus._state == "closed":
        _default_bus = EventBus(os.environ.get("ARDA_REDIS_URL") or None)
    return _default_bus
