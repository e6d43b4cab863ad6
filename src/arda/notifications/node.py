"""The node: carries out what the sessions ask, between the bus and the connections.

* It runs the connections (:class:`~.websocket.Host`): admits sockets (the per-IP cap, counted from accept; the
  Origin check), gives each one a :class:`~.framing.Framing` and a :class:`~.session.Session`, and carries out
  the sessions' actions — sends through the hub, closes, token verification, history reads, read marks.
* It subscribes on the bus only to streams that have local clients (``global`` only while a monitor is
  subscribed), and drops a subscription when the last client of it leaves.
* Each bus event is mapped, encoded and framed once, then fanned out by the hub to whoever
  :mod:`.visibility` says sees it (no await per client).
* I/O that can be done at once is (a cached token, a stream already delivered here and its position known): a
  reconnect storm spawns no task per client. The rest runs in one task per step; the session's later messages
  wait for it.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from .. import logs
from ..events import AnyEvent, BusError, EventBus, HistoryPage, Revocation
from ..events.positions import parse_position
from . import admin, codes, frames, protocol
from .acks import NotificationAcknowledged
from .admin import ConnectionInfo
from .auth import Authenticator, Identity
from .codes import CloseCode
from .config import Settings
from .deflate import Compression
from .errors import AuthError, HandshakeError
from .filters import Filter
from .framing import FLOODED, PROTOCOL_ERROR, Failure, Framing, InboundBudget, Message
from .handshake import Request, TrustedProxies, client_address
from .hub import Hub, Peer
from .mapper import Notification, NotificationMapper
from .metrics import Metrics
from .ratelimit import KeyedBuckets
from .session import (
    Action,
    Authenticated,
    Close,
    Count,
    Drop,
    Inbox,
    Join,
    Leave,
    Locate,
    Located,
    MarkRead,
    ReadHistory,
    ReadMarks,
    ReadPage,
    Refilter,
    Replay,
    Rules,
    Send,
    SendPing,
    Session,
    Verify,
)
from .stats import Window
from .visibility import GLOBAL, As, audience
from .websocket import Connection

log = logging.getLogger("arda.notifications")
#: The actions that may need to wait for I/O.
IoAction = Verify | Locate | ReadPage | ReadHistory | ReadMarks | MarkRead
REPLAY_PAGE = 500
#: A backlog or ``history`` reads back this many events at a time, and at most INBOX_SCAN in all (events the user
#: may not see are skipped; past the bound the page ends with ``hasMore``).
INBOX_PAGE = 200
INBOX_SCAN = 5000
#: Frames kept for replays (a few MB at most).
FRAME_CACHE = 4096
#: Notifications kept mapped (for filters' matches and ``history`` replies; frames are kept apart, above).
NOTE_CACHE = 1024
#: Close codes used as metric labels; a client's own choice of code is counted as "other".
KNOWN_CLOSE_CODES = frozenset({c.code for c in codes.CLOSE_CODES} | {1005, 1006})
#: How long a replay waits for a client's socket to drain before the client counts as slow.
DRAIN_TIMEOUT_S = 10.0


class Node:
    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        authenticator: Authenticator,
        metrics: Metrics,
        mapper: NotificationMapper,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.authenticator = authenticator
        self.metrics = metrics
        self.mapper = mapper
        self.clock = clock
        self.window = Window()  # the live figures (GET /v1/stats)
        self.compression = Compression(settings.compression_min_bytes) if settings.compresses else None
        self.hub = Hub(settings.outbound_max_bytes, settings.outbound_max_messages, on_slow=self._slow)
        self.rules = Rules(
            client_rate=settings.client_rate,
            client_burst=settings.client_burst,
            max_subscriptions=settings.max_subscriptions,
            max_message_bytes=settings.max_message_bytes,
            auth_timeout_s=settings.auth_timeout_s,
            token_grace_s=settings.token_grace_s,
            heartbeat_interval_s=settings.heartbeat_interval_s,
            heartbeat_timeout_s=settings.heartbeat_timeout_s,
            ack_limits=KeyedBuckets(settings.ack_rate, settings.ack_burst),
            render=self.frame_for,
            notify=self.notification_for,
            kind=self.kind_of,
        )
        self.budget = InboundBudget(settings.preauth_budget, settings.inbound_budget)
        self.trusted = TrustedProxies(settings.proxies)
        self.connections: dict[Connection, None] = {}
        self.per_ip: dict[str, int] = {}  # sockets open per address, from accept to close
        self.accepting = True
        self.all_closed = asyncio.Event()  # set whenever no connection is open
        self.all_closed.set()
        self._encoder = msgspec.json.Encoder()
        self._frames: OrderedDict[tuple[str, str, str | None, bool], bytes] = OrderedDict()  # replay frame cache
        self._notes: OrderedDict[tuple[str, str, str | None], Notification] = OrderedDict()  # and notifications
        self._streams: dict[str, tuple[Callable[[AnyEvent], None], asyncio.Future[None]]] = {}
        # stream → when anyone of the tenant last marked something read (ms, None: never), as learned from Redis
        # while the bus kept delivering the stream here (its reconnect count then); dropped on any new mark
        self._read_at: dict[str, tuple[int | None, int]] = {}
        self._marks_seen = 0  # read announcements seen (a read of Redis that overlapped one is not kept)
        self._tasks: set[asyncio.Task[Any]] = set()

    def connection(self) -> Connection:
        """A new connection (the listener's protocol factory)."""
        session = Session(self.rules, Connection.new_id(), self.clock())
        return Connection(self, Framing(self.budget, self.settings.max_message_bytes), session)

    # -- websocket.Host: the connection lifecycle ------------------------------------------------------
    def accepted(self, conn: Connection, peer: str) -> bool:
        """A socket was accepted: count it toward its address's cap (upgraded or not, until it is gone).
        False when that passes ``max_connections_per_ip``: it is then only told 1013. A socket from a trusted
        proxy is counted once its request names the client (:meth:`upgraded`)."""
        if self.trusted(peer):
            return True  # conn.ip stays "": not counted yet
        return self._count(conn, peer)

    def upgraded(self, conn: Connection, request: Request, peer: str) -> bool:
        """A valid upgrade request: check its Origin (raises 403), count a proxied client now. False: over the
        per-IP cap (told 1013)."""
        origins = self.settings.origins
        origin = request.headers.get("origin")
        if origins is not None and origin is not None and origin.rstrip("/") not in origins:
            self.metrics.failures.labels("origin_rejected").inc()
            target = request.redacted_target()
            logs.client_fault(log, "origin_rejected", "origin rejected", origin=origin[:200], path=target)
            raise HandshakeError(403, "origin not allowed")
        if not conn.ip and not conn.over_cap:  # through a trusted proxy: the client its X-Forwarded-For names
            conn.over_cap = not self._count(conn, client_address(request, peer, self.trusted))
        if conn.over_cap:
            self.metrics.failures.labels("too_many_connections").inc()
        return not conn.over_cap

    def _count(self, conn: Connection, ip: str) -> bool:
        ip = sys.intern(ip)  # one string per address, not per connection (many share one: NAT, proxies)
        conn.ip = ip
        count = self.per_ip.get(ip, 0) + 1
        self.per_ip[ip] = count
        return count <= self.settings.max_connections_per_ip

    def refused(self, conn: Connection, exc: HandshakeError) -> None:
        self.metrics.failures.labels("handshake_refused").inc()
        log.debug("handshake refused", extra={"status": exc.status, "reason": str(exc), "ip": conn.ip})

    def opened(self, conn: Connection, token: str | None) -> None:
        if not self.accepting:
            conn.close(codes.GOING_AWAY, "server shutting down")
            return
        self.connections[conn] = None
        self.all_closed.clear()
        self.metrics.connected.inc()
        log.debug("[NotificationService] Client connected", extra={"clientId": conn.id, "ip": conn.ip})
        self.execute(conn, conn.session.connected(token))

    def inbound(self, conn: Connection, event: Message | Failure) -> None:
        if isinstance(event, Message):
            if conn.closed:
                return
            try:
                self.execute(conn, conn.session.received(event.data, self.clock()))
            except Exception:  # a bug of ours: the client still gets a close frame (1011), never a dropped socket
                log.exception("message handling failed", extra={"clientId": conn.id})
                self.metrics.failures.labels("internal_error").inc()
                conn.close(codes.INTERNAL_ERROR, "internal error: reconnect")
            return
        if conn.closed:
            return
        if event.kind == PROTOCOL_ERROR:
            self.metrics.failures.labels("protocol_error").inc()
            fields = {"clientId": conn.id, "reason": event.reason, "code": event.close_code.code}
            logs.client_fault(log, "protocol_error", "protocol violation", logging.INFO, **fields)
            conn.close(event.close_code, event.reason)
        elif event.kind == FLOODED:
            self.metrics.failures.labels("inbound_budget").inc()
            logs.client_fault(log, "inbound_budget", "inbound budget exceeded", clientId=conn.id, ip=conn.ip)
            conn.close(event.close_code, event.reason)
        else:
            self.execute(conn, conn.session.too_large())

    def send(self, conn: Connection, frame: bytes) -> None:
        self.hub.send(conn, frame)

    def lost(self, conn: Connection) -> None:
        if conn in self.connections:
            del self.connections[conn]
            if not self.connections:
                self.all_closed.set()
            self.execute(conn, conn.session.ended())
            m = self.metrics
            m.connected.dec()
            if conn.session.identity is not None:
                m.authenticated.dec()
            code = conn.close_code
            label = str(code) if code in KNOWN_CLOSE_CODES else "other" if code else "1006"
            m.disconnects.labels(label).inc()
            self.window.disconnected(label)
            m.connection_duration.observe(max(0.0, self.clock() - conn.session.opened_at))
            user = conn.session.user_id
            log.info(
                "[NotificationService] Client disconnected",
                extra={"clientId": conn.id, "userId": user, "code": code or 1006},
            )
        if conn.ip:
            remaining = self.per_ip.get(conn.ip, 1) - 1
            if remaining > 0:
                self.per_ip[conn.ip] = remaining
            else:
                self.per_ip.pop(conn.ip, None)

    def _slow(self, peer: Peer) -> None:
        self.metrics.failures.labels("slow_consumer").inc()
        self.window.slow()
        logs.client_fault(log, "slow_consumer", "slow consumer closed", clientId=peer.id)

    # -- carrying out a session's actions ---------------------------------------------------------------
    def execute(self, conn: Connection, actions: list[Action]) -> None:
        """Carry out ``actions``: at once, unless one needs I/O that cannot be done without waiting — then one
        task carries it out and whatever the session asks next, in order, until nothing is left to wait for."""
        io = self._apply(conn, actions)
        if io is not None:
            self._spawn(self._chain(conn, io))

    def _apply(self, conn: Connection, actions: list[Action]) -> IoAction | None:
        """Carry out what needs no waiting (answering the session at once where the answer is known); returns
        the I/O action left to await (a session asks for one at a time: its next messages wait for it)."""
        pending: IoAction | None = None
        for action in actions:
            if isinstance(action, Send):
                self.hub.send(conn, action.frame, replay=action.replay)
            elif isinstance(action, Close):
                conn.close(action.code, action.reason)
            elif isinstance(action, Count):
                self.metrics.failures.labels(action.reason).inc()
            elif isinstance(action, Authenticated):
                self.metrics.authenticated.inc()
                conn.framing.authenticated(conn.session.last_seen)  # (the same float: no object per connection)
            elif isinstance(action, Join):
                self.hub.subscribe(conn, action.stream, action.catchup, action.user_id, action.filter)
            elif isinstance(action, Refilter):
                self.hub.refilter(conn, action.stream, action.filter)
            elif isinstance(action, Leave):
                if self.hub.unsubscribe(conn, action.stream, action.user_id):
                    self.release(action.stream)
            elif isinstance(action, SendPing):
                conn.ping()
            elif isinstance(action, Drop):
                conn.abort(action.code)
            else:
                answer = self._now(conn, action)
                pending = action if answer is None else self._apply(conn, answer)
        return pending

    def _now(self, conn: Connection, action: IoAction) -> list[Action] | None:
        """The session's answer to ``action`` when it is known without waiting (a cached or locally verifiable
        token; a stream the bus already delivers here, at the client's own position): a reconnect storm then
        spawns no task per client. None: it needs I/O."""
        session, now = conn.session, self.clock()
        if isinstance(action, Verify):
            try:
                identity = self.authenticator.verify_now(action.token)
            except AuthError as exc:
                return session.verified(exc, action.message_id, now)
            return None if identity is None else session.verified(identity, action.message_id, now)
        if isinstance(action, Locate) and self.acquired(action.stream) and not action.backlog:
            position = self.bus.known_position(action.stream)  # every event after it reaches this node
            if position is not None and action.since is None:
                return session.located(action.stream, Located(position, None), now)
            if position is not None and action.since == position:  # up to date: nothing to replay
                located = Located(position, Replay(HistoryPage([], True, position, False)))
                return session.located(action.stream, located, now)
        if isinstance(action, ReadMarks) and self._no_marks_since(action.stream, action.since):
            return session.marks(action.stream, [], now)
        return None

    def _no_marks_since(self, stream: str, since: str) -> bool:
        """Whether nobody of the tenant can have marked anything read at or after ``since``'s time: known from
        the last read of Redis while the bus has delivered the stream here without a break since (a mark's
        announcement would have dropped the knowledge)."""
        known = self._read_at.get(stream)
        if known is None or known[1] != self.bus.stats.reconnects or not self.bus.live:
            return False
        return known[0] is None or known[0] < parse_position(since)[0]

    async def _chain(self, conn: Connection, action: IoAction | None) -> None:
        while action is not None and not conn.closed:
            answer = await self._io(conn, action)
            if conn.closed:
                return
            action = self._apply(conn, answer)

    def _spawn(self, step: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(step)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _io(self, conn: Connection, action: IoAction) -> list[Action]:
        """Carry out one I/O action; the session's answer to its result."""
        session = conn.session
        if isinstance(action, Verify):
            identity: Identity | AuthError
            try:
                identity = await self.authenticator.verify(action.token)
            except AuthError as exc:
                identity = exc
            return session.verified(identity, action.message_id, self.clock())
        if isinstance(action, Locate):
            located: Located | Exception
            try:
                await self.acquire(action.stream)
                if action.since is None:
                    position = await self._latest(action.stream)
                    backlog = None
                    if action.backlog:
                        try:
                            backlog = await self._inbox(
                                action.stream, action.user_id, position, action.backlog, True, action.filter
                            )
                        except BusError as exc:  # a cluster's global feed cannot be read back: none (it says 0)
                            if action.stream != GLOBAL:
                                raise
                            log.info("no backlog for the global feed here", extra={"error": str(exc)})
                    located = Located(position, None, backlog)
                else:
                    page = await self._page(action.stream, action.since)
                    since = action.since
                    position = since if page.reaches_back else await self._latest(action.stream)
                    located = Located(position, await self._replay(action.stream, page, conn.session.user_id))
            except Exception as exc:
                log.exception("subscribe failed", extra={"clientId": conn.id, "tenantId": action.stream})
                located = exc
            return session.located(action.stream, located, self.clock())
        if isinstance(action, ReadPage):
            read: Replay | Exception | None = None
            if await self._drained(conn):
                try:
                    page = await self._page(action.stream, action.since)
                    read = await self._replay(action.stream, page, conn.session.user_id)
                except Exception as exc:
                    log.exception("replay failed", extra={"clientId": conn.id, "tenantId": action.stream})
                    read = exc
            return session.page(action.stream, read, self.clock())
        if isinstance(action, ReadHistory):
            inbox: Inbox | Exception
            try:
                inbox = await self._inbox(
                    action.stream, action.user_id, action.before, action.limit, False, action.filter
                )
            except Exception as exc:
                log.warning(
                    "history unavailable", extra={"clientId": conn.id, "tenantId": action.stream, "error": repr(exc)}
                )
                inbox = exc
            return session.history(action.stream, inbox, action.message_id, self.clock())
        if isinstance(action, ReadMarks):
            marks: list[str] | Exception
            try:
                reconnects, seen = self.bus.stats.reconnects, self._marks_seen
                latest = await self.bus.latest_read(action.stream)
                if self.acquired(action.stream) and seen == self._marks_seen:  # no mark announced meanwhile
                    self._read_at[action.stream] = (latest, reconnects)
                if latest is None or latest < parse_position(action.since)[0]:
                    marks = []  # nobody of the tenant marked anything since: no user's set to ask
                else:
                    marks = await self.bus.read_since(action.stream, action.user_id, action.since)
            except BusError as exc:
                log.warning("read state unavailable on resume", extra={"clientId": conn.id, "error": str(exc)})
                marks = exc
            return session.marks(action.stream, marks, self.clock())
        error: Exception | None = None
        try:
            await self.bus.mark_read(action.tenant, action.user_id, action.event_id, announce=action.announcement)
        except BusError as exc:
            error = exc
        return session.marked(action.notification_id, action.message_id, error, self.clock())

    async def _latest(self, stream: str) -> str:
        """Where a subscription starts: the bus's own cursor when it has one (no Redis round trip per client in
        a subscribe storm), else the newest stored position."""
        # right after subscribing the bus is catching up: wait for it rather than ask Redis, once per client
        known = await self.bus.settled_position(stream)
        if known is not None:
            return known
        return await (self.bus.latest_global_position() if stream == GLOBAL else self.bus.latest_position(stream))

    async def _page(self, stream: str, since: str) -> HistoryPage:
        if stream == GLOBAL:
            return await self.bus.global_history(since=since, limit=REPLAY_PAGE)
        return await self.bus.history(stream, since=since, limit=REPLAY_PAGE)

    async def _replay(self, stream: str, page: HistoryPage, user: str | None) -> Replay:
        """A replay page with what of it the user has read."""
        if not page.reaches_back or not page.events or user is None:
            return Replay(page)
        return Replay(page, await self._read_of(stream, user, [e.id for e in page.events]))

    async def _read_of(self, stream: str, user: str, event_ids: list[str]) -> frozenset[str]:
        """Which of ``event_ids`` the user has read (none on the global stream: read state is per tenant)."""
        if stream == GLOBAL or not event_ids:
            return frozenset()
        marks = await self.bus.read_marks(stream, user, event_ids)
        return frozenset(e for e, read in zip(event_ids, marks, strict=True) if read)

    async def _inbox(
        self, stream: str, user: str, end: str | None, limit: int, inclusive: bool, wanted: Filter | None = None
    ) -> Inbox:
        """The newest ``limit`` notifications ``user`` may see on ``stream`` before ``end`` (at or before it when
        ``inclusive``) that pass ``wanted``, newest first, with their read state. Reads back page by page past what
        the user may not see, up to :data:`INBOX_SCAN` events; ``before`` is where the next page starts."""
        found: list[AnyEvent] = []
        scanned, before, more = 0, end, True
        while more and len(found) < limit and scanned < INBOX_SCAN:
            if stream == GLOBAL:
                page = await self.bus.global_history_before(before, INBOX_PAGE, inclusive=inclusive)
            else:
                page = await self.bus.history_before(stream, before, INBOX_PAGE, inclusive=inclusive)
            inclusive, more, before = False, page.has_more, page.position
            scanned += len(page.events)
            for event in page.events:
                if audience(stream, event).sees(user) is not As.NOTIFICATION:
                    continue
                if wanted is None or wanted.matches(*self.kind_of(stream, event)):
                    found.append(event)
                    if len(found) == limit:
                        before, more = event.position, True  # the next page starts before this one
                        break
        read = await self._read_of(stream, user, [e.id for e in found])
        return Inbox([(e, e.id in read) for e in found], more, before if more else None)

    async def _drained(self, conn: Connection) -> bool:
        """Wait until the connection's socket buffer is below half the outbound limit (False: it never was, and
        the connection was closed as a slow consumer)."""
        self.hub.flush()
        limit = self.settings.outbound_max_bytes // 2
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while conn.write_buffer_size() > limit:
            if conn.closed or time.monotonic() > deadline:
                self.hub.slow(conn)  # the overflow policy: closed with 4004 (it resumes)
                return False
            await asyncio.sleep(0.01)
        return not conn.closed

    # -- deadlines and node-wide closes -------------------------------------------------------------------
    def sweep(self) -> None:
        """Check every session's deadlines (called every ``sweep_interval_s``)."""
        now = self.clock()
        for conn in list(self.connections):
            if not conn.closed:
                self.execute(conn, conn.session.tick(now))

    def close_where(self, wanted: Callable[[Session], bool], code: CloseCode, reason: str, *, failure: str) -> int:
        """Close every open connection whose session is ``wanted``; how many were closed."""
        closed = 0
        for conn in list(self.connections):
            if not conn.closed and wanted(conn.session):
                self.metrics.failures.labels(failure).inc()
                conn.close(code, reason)
                closed += 1
        return closed

    def figures(self) -> dict[str, Any]:
        """This instance's live figures (``GET /v1/stats``): connections, subscriptions, rates, latency, closes,
        and the bus's reconnects, gaps and dead letters."""
        sessions = [conn.session for conn in self.connections]
        bus = self.bus.stats
        return {
            "connections": len(sessions),
            "authenticatedConnections": sum(s.identity is not None for s in sessions),
            "subscriptions": sum(len(s.subs) for s in sessions),
            **self.window.figures(self.clock()),
            "busReconnects": bus.reconnects,
            "gaps": bus.gaps,
            "deadLetters": bus.dead_lettered,
        }

    def connection_list(self, tenant: str | None, user: str | None, limit: int) -> tuple[list[ConnectionInfo], int]:
        """This node's connections for an operator (``GET /v1/connections``)."""
        return admin.listing(self.connections, tenant, user, limit)

    def disconnect(self, connection_id: str) -> bool:
        """Close one connection for an operator (4010, it reconnects and resumes); False: no such connection."""
        for conn in self.connections:
            if conn.id == connection_id and not conn.closed:
                conn.close(codes.CLOSED_BY_OPERATOR, "closed by an operator")
                return True
        return False

    def revoke(self, revocation: Revocation, applies: Callable[[Revocation, Identity], bool]) -> int:
        """Close (4009) every connection whose identity ``revocation`` ``applies`` to."""

        def covered(session: Session) -> bool:
            return session.identity is not None and applies(revocation, session.identity)

        return self.close_where(covered, codes.REVOKED, "access revoked", failure="revoked")

    def bus_outage(self) -> int:
        """Close (1013) every connection with a subscription: the bus has been unable to receive for too long."""
        reason = "the service cannot receive events right now: reconnect later"
        return self.close_where(lambda s: bool(s.subs), codes.TRY_AGAIN_LATER, reason, failure="bus_outage")

    def resync(self, stream: str) -> None:
        """The bus lost continuity for ``stream``: its subscribers reconnect and resume (4006)."""
        for peer in self.hub.subscribers(stream):
            peer.close(codes.RESYNC, "continuity lost: resume from your last position")

    def close_all(self, code: CloseCode, reason: str) -> None:
        for conn in list(self.connections):
            conn.close(code, reason)

    def abort_all(self, code: CloseCode) -> None:
        for conn in list(self.connections):
            conn.abort(code)

    # -- bus subscriptions ------------------------------------------------------------------------
    async def acquire(self, stream: str) -> None:
        """Make sure the bus delivers ``stream``'s events here (shared by every local subscriber)."""
        entry = self._streams.get(stream)
        if entry is None:

            def handler(event: AnyEvent) -> None:
                self.on_event(stream, event)

            subscribe = (
                self.bus.subscribe_global(handler) if stream == GLOBAL else self.bus.subscribe_tenant(stream, handler)
            )
            entry = self._streams[stream] = (handler, asyncio.ensure_future(subscribe))
            self.metrics.subscriptions.set(len(self._streams))
        elif self.acquired(stream):
            return  # made already: nothing to wait for (a storm's thousands of subscribes of one tenant)
        try:
            await asyncio.shield(entry[1])
        except Exception:
            if self._streams.get(stream) is entry:
                del self._streams[stream]
                self.metrics.subscriptions.set(len(self._streams))
            raise

    def acquired(self, stream: str) -> bool:
        """Whether the bus already delivers ``stream``'s events here (its subscription is made)."""
        entry = self._streams.get(stream)
        if entry is None or not entry[1].done():
            return False
        return not entry[1].cancelled() and entry[1].exception() is None

    @property
    def streams(self) -> list[str]:
        """The streams the bus delivers here."""
        return list(self._streams)

    def release(self, stream: str) -> None:
        """The last local subscriber of ``stream`` left: drop the bus subscription (once it is made)."""
        entry = self._streams.pop(stream, None)
        self._read_at.pop(stream, None)
        self.metrics.subscriptions.set(len(self._streams))
        if entry is None:
            return
        handler, future = entry

        async def unsubscribe() -> None:
            try:
                await future
            except Exception:
                return  # never made: nothing to undo
            if stream == GLOBAL:
                await self.bus.unsubscribe_global(handler)
            else:
                await self.bus.unsubscribe_tenant(stream, handler)

        self._spawn(unsubscribe())

    # -- events -----------------------------------------------------------------------------------
    def frame_for(self, stream: str, event: AnyEvent, read: bool = False) -> bytes:
        """The notification frame for an event on a stream (mapped, masked, encoded, framed — once per event,
        stream and read state). Kept in a small LRU, so that many clients resuming over the same events map each
        of them once."""
        key = (stream, event.id, event.position, read)
        frame = self._frames.get(key)
        if frame is not None:
            self._frames.move_to_end(key)
            return frame
        notification = self.notification_for(stream, event, read)
        frame = frames.text_frame(protocol.notification_message(self._encoder.encode(notification)))
        self._frames[key] = frame
        if len(self._frames) > FRAME_CACHE:
            self._frames.popitem(last=False)
        return frame

    def notification_for(self, stream: str, event: AnyEvent, read: bool = False) -> Notification:
        """The notification of an event on a stream (mapped once: kept in a small LRU beside the frames)."""
        key = (stream, event.id, event.position)
        notification = self._notes.get(key)
        if notification is None:
            notification = self._notes[key] = self.mapper.map(event, stream)
            if len(self._notes) > NOTE_CACHE:
                self._notes.popitem(last=False)
        else:
            self._notes.move_to_end(key)
        return msgspec.structs.replace(notification, read=True) if read else notification

    def kind_of(self, stream: str, event: AnyEvent) -> tuple[str, str]:
        """What filters match: the event's type and its notification's severity."""
        return event.type, self.notification_for(stream, event).severity

    def on_event(self, stream: str, event: AnyEvent) -> None:
        """An event from the bus: to every local subscriber of ``stream`` who sees it (:mod:`.visibility`)."""
        metrics = self.metrics
        metrics.events_received.labels(metrics.event_type_label(event.type)).inc()
        seen = audience(stream, event)
        if seen.as_ is As.ACKNOWLEDGEMENT and seen.users is not None and isinstance(event, NotificationAcknowledged):
            self._read_at.pop(stream, None)  # a new mark: read Redis again for the next resume
            self._marks_seen += 1
            frame = frames.text_frame(protocol.acknowledged(event.notification_id))
            for user in seen.users:  # the user's other connections (the one that acknowledged was answered)
                self.hub.send_to_user(stream, user, frame, skip_id=event.origin)
            return
        if seen.as_ is not As.NOTIFICATION:
            return
        try:
            frame = self.frame_for(stream, event)
            kind = self.kind_of(stream, event) if stream in self.hub.filtered else None
        except Exception:
            metrics.failures.labels("mapping").inc()
            log.exception("notification mapping failed", extra={"eventId": event.id, "type": event.type})
            return
        count = self.hub.fanout(stream, frame, event.position, seen.users, kind)
        metrics.deliveries.inc(count)
        now = time.time()
        latency = max(0.0, now - event.timestamp.timestamp())
        metrics.latency.observe(latency)
        self.window.event(event.type, event.tenant_id, count, latency * 1000, now)


__all__ = ["Node"]
