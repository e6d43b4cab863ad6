"""What each client message does, and the deadlines every connection is held to.

* ``authenticate`` verifies the token (cached until it expires); a refresh must be for the same user and
  ends the subscriptions the new token no longer allows. Nothing but ``authenticate``/``ping`` is served
  before it (``unauthorized``). Unauthenticated connections are closed after ``auth_timeout_s`` (4003).
* ``subscribe`` admits only tenants of the verified token (``global`` only for ``monitor``); the tenant a
  client names is checked against the token, never trusted. With ``since`` it replays what the client missed
  — exactly the events after ``since``, in order, then live, without a gap or a duplicate between them — or
  answers ``recovered: false`` and replays nothing when history no longer reaches back.
* An expired token gets ``token_expired``; unless a fresh ``authenticate`` arrives within
  ``token_grace_s``, the connection is closed (4002).
* Inbound messages are rate limited per connection (token bucket): over the limit a message is refused with
  ``rate_limited``; a client that keeps going is closed (4005).
* Heartbeats: a connection silent for ``heartbeat_interval_s`` is pinged; silent ``heartbeat_timeout_s``
  more, it is dropped (4008).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from .. import logs
from ..events import AnyEvent, BusError, EventBus, HistoryPage, Revocation, validate_tenant_id
from ..events.errors import InvalidTenantError
from ..events.positions import fast_key
from . import acks, codes, frames, protocol
from .acks import ACK_EVENT_TYPE, NotificationAcknowledged
from .auth import Authenticator, Identity
from .codes import ErrorCode
from .config import Settings
from .errors import AuthError, ProtocolError
from .handshake import TrustedProxies
from .hub import Hub, Subscription
from .metrics import Metrics
from .protocol import Acknowledge, Authenticate, Ping, Subscribe, Unsubscribe
from .ratelimit import KeyedBuckets
from .websocket import Connection, InboundBudget

log = logging.getLogger("arda.notifications")
GLOBAL = "global"
REPLAY_PAGE = 500
ACK_NAMESPACE = uuid.UUID("0f5d7a64-3b3e-4c53-9a43-1c1d6f1f0a11")
#: Close codes used as metric labels; a client's own choice of code is counted as "other".
KNOWN_CLOSE_CODES = frozenset({c.code for c in codes.CLOSE_CODES} | {1005, 1006})


class Sessions:
    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        authenticator: Authenticator,
        hub: Hub,
        metrics: Metrics,
        frame_for: Callable[[str, AnyEvent], bytes],
        ack_frame: Callable[[NotificationAcknowledged], bytes],
        acquire: Callable[[str], Awaitable[None]],
        release: Callable[[str], None],
        acquired: Callable[[str], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.authenticator = authenticator
        self.hub = hub
        self.metrics = metrics
        self.frame_for = frame_for  # (stream, event) -> the notification frame, as fan-out builds it
        self.ack_frame = ack_frame
        # acknowledgements per user (all of the user's connections here): a budget of their own, never the tenant's
        self.ack_limits = KeyedBuckets(settings.ack_rate, settings.ack_burst)
        self.acquire = acquire  # make sure the bus delivers a stream's events here
        self.acquired = acquired  # ...and whether it already does (no await needed)
        self.release = release
        self.clock = clock
        self.connections: dict[Connection, None] = {}
        self.per_ip: dict[str, int] = {}  # sockets open per address, from accept to close
        self.trusted = TrustedProxies(settings.proxies)
        self.budget = InboundBudget(settings.preauth_budget, settings.inbound_budget)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.accepting = True
        self.all_closed = asyncio.Event()  # set whenever no connection is open
        self.all_closed.set()

    # -- connection lifecycle ---------------------------------------------------------------------
    def accepted(self, conn: Connection) -> bool:
        """A socket was accepted: count it toward its address's cap (upgraded or not, until it is gone).
        False when that passes ``max_connections_per_ip``: it is then only told 1013. A socket from a trusted
        proxy is counted once its request names the client (:meth:`forwarded`)."""
        if self.trusted(conn.ip):
            conn.ip = ""  # not counted yet
            return True
        return self._count(conn)

    def forwarded(self, conn: Connection, client: str) -> bool:
        """The request through a trusted proxy named its client: count it (False past the cap)."""
        conn.ip = client
        return self._count(conn)

    def _count(self, conn: Connection) -> bool:
        count = self.per_ip.get(conn.ip, 0) + 1
        self.per_ip[conn.ip] = count
        return count <= self.settings.max_connections_per_ip

    def released(self, conn: Connection) -> None:
        if not conn.ip:
            return  # through a proxy, gone before naming its client: never counted
        remaining = self.per_ip.get(conn.ip, 1) - 1
        if remaining > 0:
            self.per_ip[conn.ip] = remaining
        else:
            self.per_ip.pop(conn.ip, None)

    def connected(self, conn: Connection) -> None:
        if not self.accepting:
            conn.close(codes.GOING_AWAY, "server shutting down")
            return
        self.connections[conn] = None
        self.all_closed.clear()
        self.metrics.connected.inc()
        log.debug("[NotificationService] Client connected", extra={"clientId": conn.id, "ip": conn.ip})
        if conn.token is not None:
            token, conn.token = conn.token, None
            self._start_authenticate(conn, token, None)

    def disconnected(self, conn: Connection) -> None:
        if conn not in self.connections:
            return  # never admitted
        del self.connections[conn]
        if not self.connections:
            self.all_closed.set()
        for tenant in list(conn.subs):
            self._drop(conn, tenant)
        m = self.metrics
        m.connected.dec()
        if conn.identity is not None:
            m.authenticated.dec()
        code = conn.close_code
        m.disconnects.labels(str(code) if code in KNOWN_CLOSE_CODES else "other" if code else "1006").inc()
        m.connection_duration.observe(max(0.0, self.clock() - conn.opened_at))
        log.info(
            "[NotificationService] Client disconnected",
            extra={"clientId": conn.id, "userId": conn.user_id, "code": code or 1006},
        )

    # -- inbound ----------------------------------------------------------------------------------
    def received(self, conn: Connection, data: bytes) -> None:
        if conn.closed:
            return
        if not conn.bucket.take(self.clock()):
            conn.violations += 1
            self.metrics.failures.labels("rate_limited").inc()
            if conn.violations >= self.settings.client_burst:
                conn.close(codes.RATE_LIMITED, "too many messages")
            else:
                mid = protocol.message_id_of(data)
                self._reply(conn, protocol.error(ErrorCode.RATE_LIMITED, "too many messages; slow down", mid))
            return
        if conn.violations:
            conn.violations -= 1
        if conn.busy:
            if conn.inbox is None:
                conn.inbox = []
            conn.inbox.append(data)  # bounded: the rate limit admits at most `client_burst` at once
            return
        self._handle(conn, data)

    def _handle(self, conn: Connection, data: bytes) -> None:
        try:
            message = protocol.decode_client_message(data)
        except ProtocolError as exc:
            self.metrics.failures.labels(exc.error_code.value).inc()
            self._reply(conn, protocol.error(exc.error_code, str(exc), protocol.message_id_of(data)))
            return
        mid = message.message_id
        if isinstance(message, Ping):
            self._reply(conn, protocol.encode(protocol.Pong(message_id=mid)))
        elif isinstance(message, Authenticate):
            self._start_authenticate(conn, message.payload.token, mid)
        elif conn.identity is None:
            self.metrics.failures.labels("unauthorized").inc()
            self._reply(conn, protocol.error(ErrorCode.UNAUTHORIZED, "authenticate first", mid))
        elif self.clock() >= conn.identity.expires_at:
            self.metrics.failures.labels("token_expired").inc()
            self._reply(
                conn, protocol.error(ErrorCode.TOKEN_EXPIRED, "token expired: authenticate with a fresh one", mid)
            )
        elif isinstance(message, Subscribe):
            self._subscribe(conn, message)
        elif isinstance(message, Unsubscribe):
            self._unsubscribe(conn, message.payload.tenant_id, mid)
        elif isinstance(message, Acknowledge):
            self._in_order(conn, self._acknowledge(conn, message.payload.notification_id, mid))

    def _in_order(self, conn: Connection, step: Awaitable[None]) -> None:
        """Run an I/O step for ``conn``; its later messages wait until it is done."""
        conn.busy = True

        async def run() -> None:
            try:
                await step
            finally:
                conn.busy = False
                while conn.inbox and not conn.busy and not conn.closed:
                    self._handle(conn, conn.inbox.pop(0))

        self._spawn(run())

    def too_large(self, conn: Connection) -> None:
        self.metrics.failures.labels("message_too_large").inc()
        limit = self.settings.max_message_bytes
        self._reply(conn, protocol.error(ErrorCode.MESSAGE_TOO_LARGE, f"messages are limited to {limit} bytes"))
        conn.close(codes.MESSAGE_TOO_BIG)

    def slow(self, conn: Connection) -> None:
        self.metrics.failures.labels("slow_consumer").inc()
        logs.client_fault(log, "slow_consumer", "slow consumer closed", clientId=conn.id, userId=conn.user_id)
        conn.close(codes.SLOW_CONSUMER, "slow consumer: reconnect and resume")

    def _reply(self, conn: Connection, message: bytes) -> None:
        self.hub.send(conn, frames.text_frame(message))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- authenticate -------------------------------------------------------------------------------
    def _start_authenticate(self, conn: Connection, token: str, mid: str | None) -> None:
        """Verify at once when no I/O is needed (a cached token, a configured key: a reconnect storm spawns no
        task per client); else in order, with the messages after it waiting."""
        try:
            identity = self.authenticator.verify_now(token)
        except AuthError as exc:
            self._refused(conn, exc, mid)
            return
        if identity is not None:
            self._authenticated(conn, identity, mid)
        else:
            self._in_order(conn, self._authenticate(conn, token, mid))

    async def _authenticate(self, conn: Connection, token: str, mid: str | None) -> None:
        try:
            identity = await self.authenticator.verify(token)
        except AuthError as exc:
            self._refused(conn, exc, mid)
            return
        if not conn.closed:
            self._authenticated(conn, identity, mid)

    def _refused(self, conn: Connection, exc: AuthError, mid: str | None) -> None:
        self.metrics.failures.labels(exc.error_code.value).inc()
        if conn.closed:
            return
        self._reply(conn, protocol.error(exc.error_code, str(exc), mid))
        if conn.identity is None:  # a refresh that fails leaves the current token in force until it ends
            close = codes.TOKEN_EXPIRED if exc.error_code is ErrorCode.TOKEN_EXPIRED else codes.UNAUTHORIZED
            conn.close(close, str(exc)[:100])

    def _authenticated(self, conn: Connection, identity: Identity, mid: str | None) -> None:
        previous = conn.identity  # (an expired token never gets here: the authenticator refuses it)
        if previous is not None and previous.user_id != identity.user_id:
            self.metrics.failures.labels("unauthorized").inc()
            self._reply(
                conn, protocol.error(ErrorCode.UNAUTHORIZED, "a refreshed token must be for the same user", mid)
            )
            conn.close(codes.UNAUTHORIZED, "token for another user")
            return
        conn.identity = identity
        conn.user_id = identity.user_id
        conn.expiry_warned_at = 0.0
        if previous is None:
            self.metrics.authenticated.inc()
            conn.budget = self.budget.burst  # from the small pre-authentication allowance to the full budget
        for tenant in list(conn.subs):
            if not identity.may_subscribe(tenant):  # the refreshed token no longer allows it
                self._drop(conn, tenant)
                self._reply(
                    conn,
                    protocol.encode(
                        protocol.Unsubscribed(
                            payload=protocol.UnsubscribedPayload(tenant_id=tenant, reason="not allowed by the token")
                        )
                    ),
                )
        payload = protocol.AuthenticatedPayload(
            user_id=identity.user_id, tenants=sorted(identity.tenants), expires_at=protocol.iso(identity.expires_at)
        )
        self._reply(conn, protocol.encode(protocol.Authenticated(payload=payload, message_id=mid)))

    # -- subscribe / unsubscribe --------------------------------------------------------------------
    def _subscribe(self, conn: Connection, message: Subscribe) -> None:
        tenant = message.payload.tenant_id
        mid = message.message_id
        assert conn.identity is not None
        if tenant != GLOBAL:
            try:
                validate_tenant_id(tenant)
            except InvalidTenantError as exc:
                self._reply(conn, protocol.error(ErrorCode.INVALID_MESSAGE, f"invalid tenantId: {exc.detail}", mid))
                return
        if not conn.identity.may_subscribe(tenant):
            self.metrics.failures.labels("forbidden").inc()
            what = (
                "the global channel needs the monitor role" if tenant == GLOBAL else f"not allowed for tenant {tenant}"
            )
            self._reply(conn, protocol.error(ErrorCode.FORBIDDEN, what, mid))
            return
        if tenant in conn.subs:
            self._subscribed(conn, tenant, None, True, mid)
            return
        if len(conn.subs) >= self.settings.max_subscriptions:
            self._reply(conn, protocol.error(ErrorCode.FORBIDDEN, "subscription limit reached", mid))
            return
        sub = conn.subs[tenant] = Subscription()  # buffers live frames until the replay is done
        self.hub.subscribe(conn, tenant)
        since = message.payload.since
        position = self.bus.known_position(tenant) if since is None and self.acquired(tenant) else None
        if position is not None:
            # the common case, and a subscribe storm's: the bus already delivers this stream here and knows
            # its position, so there is nothing to wait for — answer now, without a task per subscribe
            sub.buffer = None
            sub.after = fast_key(position)
            self._subscribed(conn, tenant, position, True, mid)
            return
        self._in_order(conn, self._start(conn, tenant, sub, since, mid))

    async def _start(
        self, conn: Connection, tenant: str, sub: Subscription, since: str | None, mid: str | None
    ) -> None:
        """Subscribe on the bus, answer ``subscribed``, replay what was missed page by page (waiting for the
        socket to drain between pages), then deliver the live frames held meanwhile, without duplicates."""
        is_global = tenant == GLOBAL
        try:
            await self.acquire(tenant)
            if since is None:
                position: str | None = await self._latest(tenant)
                page = None
            else:
                page = await self._page(tenant, since)
                position = since if page.reaches_back else await self._latest(tenant)
        except Exception as exc:
            log.exception("subscribe failed", extra={"clientId": conn.id, "tenantId": tenant})
            if conn.subs.get(tenant) is sub:
                self._drop(conn, tenant)
            self.metrics.failures.labels("internal_error").inc()
            self._reply(conn, protocol.error(ErrorCode.INTERNAL_ERROR, f"subscribe failed: {type(exc).__name__}", mid))
            return
        if conn.closed or conn.subs.get(tenant) is not sub:
            return  # gone, or unsubscribed while this was under way (that reply went already)
        recovered = page is None or page.reaches_back
        self._subscribed(conn, tenant, position, recovered, mid)
        last = fast_key(position) if position is not None and recovered else None
        try:
            while page is not None and page.reaches_back:
                for event in page.events:
                    frame = self._replay_frame(conn, tenant, event, is_global)
                    if frame is not None:
                        self.hub.send(conn, frame, replay=True)
                    assert event.position is not None
                    last = fast_key(event.position)
                if not page.has_more or page.position is None:
                    break
                if not await self._drained(conn) or conn.subs.get(tenant) is not sub:
                    return
                page = await self._page(tenant, page.position)
        except Exception as exc:
            log.exception("replay failed", extra={"clientId": conn.id, "tenantId": tenant})
            conn.close(codes.RESYNC, f"replay failed ({type(exc).__name__}): resume again")
            return
        if conn.subs.get(tenant) is not sub:
            return
        buffered, sub.buffer = sub.buffer or [], None
        for key, frame in buffered:
            if key is None or last is None or key > last:
                self.hub.send(conn, frame, replay=True)
                if key is not None:
                    last = key
        sub.after = last  # frames still on their way from the bus may repeat what was replayed
        if since is not None and recovered and not is_global:
            await self._replay_reads(conn, tenant, since)

    async def _replay_reads(self, conn: Connection, tenant: str, since: str) -> None:
        """Tell a resuming connection what its user marked read while it was away (at or after ``since``)."""
        user = conn.user_id
        if user is None:
            return
        try:
            read = await self.bus.read_since(tenant, user, since)
        except BusError as exc:  # the notifications went out; only the read marks are missing
            log.warning("read state unavailable on resume", extra={"clientId": conn.id, "error": str(exc)})
            return
        if conn.subs.get(tenant) is None:
            return
        for event_id in read:
            self._reply(conn, protocol.acknowledged(acks.notification_id(tenant, event_id)))

    def _subscribed(
        self, conn: Connection, tenant: str, position: str | None, recovered: bool, mid: str | None
    ) -> None:
        payload = protocol.SubscribedPayload(tenant_id=tenant, position=position, recovered=recovered)
        self._reply(conn, protocol.encode(protocol.Subscribed(payload=payload, message_id=mid)))

    def _replay_frame(self, conn: Connection, tenant: str, event: AnyEvent, is_global: bool) -> bytes | None:
        """What a replayed event becomes for this connection (None: nothing)."""
        if event.type == ACK_EVENT_TYPE:
            if is_global or not isinstance(event, NotificationAcknowledged) or event.user_id != conn.user_id:
                return None
            return self.ack_frame(event)
        if not is_global and event.recipients is not None and conn.user_id not in event.recipients:
            return None
        return self.frame_for(tenant, event)

    async def _latest(self, tenant: str) -> str:
        """Where a subscription starts: the bus's own cursor when it has one (no Redis round trip per client in
        a subscribe storm), else the newest stored position."""
        # right after subscribing the bus is catching up: wait for it rather than ask Redis, once per client
        known = await self.bus.settled_position(tenant)
        if known is not None:
            return known
        return await (self.bus.latest_global_position() if tenant == GLOBAL else self.bus.latest_position(tenant))

    async def _page(self, tenant: str, since: str) -> HistoryPage:
        if tenant == GLOBAL:
            return await self.bus.global_history(since=since, limit=REPLAY_PAGE)
        return await self.bus.history(tenant, since=since, limit=REPLAY_PAGE)

    async def _drained(self, conn: Connection) -> bool:
        """Wait until the connection's socket buffer is below the outbound limit (False: it never was)."""
        self.hub.flush()
        limit = self.settings.outbound_max_bytes // 2
        deadline = self.clock() + 10.0
        while conn.write_buffer_size() > limit:
            if conn.closed or self.clock() > deadline:
                if not conn.closed:
                    self.slow(conn)
                return False
            await asyncio.sleep(0.01)
        return not conn.closed

    def _unsubscribe(self, conn: Connection, tenant: str, mid: str | None) -> None:
        if tenant not in conn.subs:
            self._reply(conn, protocol.error(ErrorCode.NOT_SUBSCRIBED, f"not subscribed to {tenant}", mid))
            return
        self._drop(conn, tenant)
        self._reply(
            conn,
            protocol.encode(
                protocol.Unsubscribed(payload=protocol.UnsubscribedPayload(tenant_id=tenant), message_id=mid)
            ),
        )

    def _drop(self, conn: Connection, tenant: str) -> None:
        if self.hub.unsubscribe(conn, tenant):
            self.release(tenant)

    # -- acknowledge --------------------------------------------------------------------------------
    async def _acknowledge(self, conn: Connection, notification_id: str, mid: str | None) -> None:
        parts = acks.split(notification_id)
        if parts is None:
            self._reply(conn, protocol.error(ErrorCode.INVALID_MESSAGE, "not a notification id", mid))
            return
        tenant, event_id = parts
        user = conn.user_id
        if tenant not in conn.subs or user is None:
            self._reply(conn, protocol.error(ErrorCode.NOT_SUBSCRIBED, f"not subscribed to {tenant}", mid))
            return
        if self.ack_limits.take(user, self.clock()):  # the user's own budget: never the tenant's publish budget
            self.metrics.failures.labels("rate_limited").inc()
            self._reply(conn, protocol.error(ErrorCode.RATE_LIMITED, "too many acknowledgements; slow down", mid))
            return
        announcement = NotificationAcknowledged(
            id=str(uuid.uuid5(ACK_NAMESPACE, f"{user}\n{notification_id}")),
            tenant_id=tenant,
            user_id=user,
            recipients=[user],
            notification_id=notification_id,
            origin=conn.id,
        )
        try:
            await self.bus.mark_read(tenant, user, event_id, announce=announcement)
        except BusError as exc:
            self.metrics.failures.labels("internal_error").inc()
            self._reply(conn, protocol.error(ErrorCode.INTERNAL_ERROR, f"acknowledgement not recorded: {exc}", mid))
            return
        self._reply(conn, protocol.acknowledged(notification_id, mid))

    # -- deadlines ----------------------------------------------------------------------------------
    def sweep(self) -> None:
        """Check every connection's deadlines (called every ``sweep_interval_s``)."""
        now = self.clock()
        s = self.settings
        for conn in list(self.connections):
            if conn.closed:
                continue
            identity = conn.identity
            if identity is None:
                if now - conn.opened_at >= s.auth_timeout_s:
                    self.metrics.failures.labels("auth_timeout").inc()
                    conn.close(codes.AUTH_TIMEOUT, "not authenticated in time")
                    continue
            elif now >= identity.expires_at:
                if not conn.expiry_warned_at:
                    conn.expiry_warned_at = now
                    self._reply(
                        conn, protocol.error(ErrorCode.TOKEN_EXPIRED, "token expired: authenticate with a fresh one")
                    )
                elif now - conn.expiry_warned_at >= s.token_grace_s:
                    self.metrics.failures.labels("token_expired").inc()
                    conn.close(codes.TOKEN_EXPIRED, "token expired")
                    continue
            idle = now - conn.last_seen
            if idle >= s.heartbeat_interval_s:
                if conn.ping_sent_at <= conn.last_seen:
                    conn.ping()
                elif now - conn.ping_sent_at >= s.heartbeat_timeout_s:
                    self.metrics.failures.labels("heartbeat_timeout").inc()
                    conn.abort(codes.HEARTBEAT_TIMEOUT)

    def revoke(self, revocation: Revocation, applies: Callable[[Revocation, Identity], bool]) -> int:
        """Close (4009) every connection whose identity ``revocation`` ``applies`` to; how many were closed."""
        closed = 0
        for conn in list(self.connections):
            if conn.identity is not None and not conn.closed and applies(revocation, conn.identity):
                self.metrics.failures.labels("revoked").inc()
                conn.close(codes.REVOKED, "access revoked")
                closed += 1
        return closed

    def bus_outage(self) -> int:
        """Close (1013) every connection with a subscription: the bus has been unable to receive for too long.
        Returns how many were closed."""
        closed = 0
        for conn in list(self.connections):
            if conn.subs and not conn.closed:
                self.metrics.failures.labels("bus_outage").inc()
                conn.close(codes.TRY_AGAIN_LATER, "the service cannot receive events right now: reconnect later")
                closed += 1
        return closed

    def resync(self, stream: str) -> None:
        """The bus lost continuity for ``stream``: its subscribers reconnect and resume (4006)."""
        for conn in self.hub.subscribers(stream):
            if isinstance(conn, Connection):
                conn.close(codes.RESYNC, "continuity lost: resume from your last position")


__all__ = ["Sessions", "msgspec"]
