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
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ..events import AnyEvent, EventBus, PublishError, validate_tenant_id
from ..events.errors import InvalidTenantError
from ..events.positions import fast_key
from . import codes, protocol
from .acks import NotificationAcknowledged, tenant_of
from .auth import Authenticator, Identity
from .codes import ErrorCode
from .config import Settings
from .errors import AuthError, ProtocolError
from .hub import Hub, Subscription
from .metrics import Metrics
from .protocol import Acknowledge, Authenticate, Ping, Subscribe, Unsubscribe
from .websocket import Connection

log = logging.getLogger("arda.notifications")
GLOBAL = "global"
REPLAY_PAGE = 1000


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Sessions:
    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        authenticator: Authenticator,
        hub: Hub,
        metrics: Metrics,
        frame_for: Callable[[str, AnyEvent], bytes],
        acquire: Callable[[str], Awaitable[None]],
        release: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.authenticator = authenticator
        self.hub = hub
        self.metrics = metrics
        self.frame_for = frame_for  # (stream, event) -> the notification frame, as fan-out builds it
        self.acquire = acquire  # make sure the bus delivers a stream's events here
        self.release = release
        self.clock = clock
        self.connections: dict[Connection, None] = {}
        self.per_ip: dict[str, int] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.accepting = True
        self.all_closed = asyncio.Event()  # set whenever no connection is open
        self.all_closed.set()

    # -- connection lifecycle ---------------------------------------------------------------------
    def connected(self, conn: Connection) -> None:
        if not self.accepting:
            conn.close(codes.GOING_AWAY, "server shutting down")
            return
        count = self.per_ip.get(conn.ip, 0)
        if count >= self.settings.max_connections_per_ip:
            self.metrics.failures.labels("too_many_connections").inc()
            conn.close(codes.TRY_AGAIN_LATER, "too many connections from this address")
            return
        self.per_ip[conn.ip] = count + 1
        self.connections[conn] = None
        self.all_closed.clear()
        self.metrics.connected.inc()
        log.debug("[NotificationService] Client connected", extra={"clientId": conn.id, "ip": conn.ip})
        if conn.token is not None:
            token, conn.token = conn.token, None
            self._spawn(self._authenticate(conn, token, None))

    def disconnected(self, conn: Connection) -> None:
        if conn not in self.connections:
            return  # never admitted
        del self.connections[conn]
        if not self.connections:
            self.all_closed.set()
        remaining = self.per_ip.get(conn.ip, 1) - 1
        if remaining > 0:
            self.per_ip[conn.ip] = remaining
        else:
            self.per_ip.pop(conn.ip, None)
        for tenant in list(conn.subs):
            self._drop(conn, tenant)
        m = self.metrics
        m.connected.dec()
        if conn.identity is not None:
            m.authenticated.dec()
        handshake = conn.transport.close_handshake if conn.transport is not None else None
        code = conn.close_code
        if not code and handshake is not None and handshake.recv is not None:
            received: Any = handshake.recv.code
            code = int(received)
        m.disconnects.labels(str(code or 1006)).inc()
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
            self._reply(conn, protocol.encode("pong", None, mid))
        elif isinstance(message, Authenticate):
            identity = self.authenticator.verify_cached(message.payload.token)
            if identity is not None:
                self._authenticated(conn, identity, mid)
            else:
                self._in_order(conn, self._authenticate(conn, message.payload.token, mid))
        elif conn.identity is None:
            self.metrics.failures.labels("unauthorized").inc()
            self._reply(conn, protocol.error(ErrorCode.UNAUTHORIZED, "authenticate first", mid))
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
        log.warning("slow consumer closed", extra={"clientId": conn.id, "userId": conn.user_id})
        conn.close(codes.SLOW_CONSUMER, "slow consumer: reconnect and resume")

    def _reply(self, conn: Connection, message: bytes) -> None:
        self.hub.send(conn, protocol.text_frame(message))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- authenticate -------------------------------------------------------------------------------
    async def _authenticate(self, conn: Connection, token: str, mid: str | None) -> None:
        try:
            identity = await self.authenticator.verify(token)
        except AuthError as exc:
            self.metrics.failures.labels(exc.error_code.value).inc()
            if conn.closed:
                return
            self._reply(conn, protocol.error(exc.error_code, str(exc), mid))
            if conn.identity is None:  # a refresh that fails leaves the current token in force until it ends
                close = codes.TOKEN_EXPIRED if exc.error_code is ErrorCode.TOKEN_EXPIRED else codes.UNAUTHORIZED
                conn.close(close, str(exc)[:100])
            return
        if not conn.closed:
            self._authenticated(conn, identity, mid)

    def _authenticated(self, conn: Connection, identity: Identity, mid: str | None) -> None:
        previous = conn.identity
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
        for tenant in list(conn.subs):
            if not identity.may_subscribe(tenant):  # the refreshed token no longer allows it
                self._drop(conn, tenant)
                self._reply(
                    conn, protocol.encode("unsubscribed", {"tenantId": tenant, "reason": "not allowed by the token"})
                )
        payload = {
            "userId": identity.user_id,
            "tenants": sorted(identity.tenants),
            "expiresAt": iso(identity.expires_at),
        }
        self._reply(conn, protocol.encode("authenticated", payload, mid))

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
            self._reply(
                conn, protocol.encode("subscribed", {"tenantId": tenant, "position": None, "recovered": True}, mid)
            )
            return
        if len(conn.subs) >= self.settings.max_subscriptions:
            self._reply(conn, protocol.error(ErrorCode.FORBIDDEN, "subscription limit reached", mid))
            return
        sub = conn.subs[tenant] = Subscription()  # buffers live frames until the replay is done
        self.hub.subscribe(conn, tenant)
        self._in_order(conn, self._start(conn, tenant, sub, message.payload.since, mid))

    async def _start(
        self, conn: Connection, tenant: str, sub: Subscription, since: str | None, mid: str | None
    ) -> None:
        try:
            await self.acquire(tenant)
            recovered, position, replay = await self._read_missed(conn, tenant, since)
        except Exception as exc:
            log.exception("subscribe failed", extra={"clientId": conn.id, "tenantId": tenant})
            if conn.subs.get(tenant) is sub:
                self._drop(conn, tenant)
            self.metrics.failures.labels("internal_error").inc()
            self._reply(conn, protocol.error(ErrorCode.INTERNAL_ERROR, f"subscribe failed: {type(exc).__name__}", mid))
            return
        if conn.closed:
            return
        if conn.subs.get(tenant) is not sub:  # unsubscribed while this was under way
            return
        self._reply(
            conn, protocol.encode("subscribed", {"tenantId": tenant, "position": position, "recovered": recovered}, mid)
        )
        last = fast_key(position) if position is not None else None
        for key, frame in replay:
            self.hub.send(conn, frame)
            last = key
        buffered, sub.buffer = sub.buffer or [], None
        for key, frame in buffered:
            if key is None or last is None or key > last:
                self.hub.send(conn, frame)
                if key is not None:
                    last = key
        sub.after = last  # frames still on their way from the bus may repeat what was replayed

    async def _read_missed(
        self, conn: Connection, tenant: str, since: str | None
    ) -> tuple[bool, str | None, list[tuple[tuple[int, int] | None, bytes]]]:
        """(recovered, position to report, frames to replay). Never a partial replay."""
        is_global = tenant == GLOBAL
        if since is None:
            top = await (self.bus.latest_global_position() if is_global else self.bus.latest_position(tenant))
            return True, top, []
        frames: list[tuple[tuple[int, int] | None, bytes]] = []
        cursor = since
        user = conn.user_id
        while True:
            if is_global:
                page = await self.bus.global_history(since=cursor, limit=REPLAY_PAGE)
            else:
                page = await self.bus.history(tenant, since=cursor, limit=REPLAY_PAGE)
            if not page.reaches_back:
                top = await (self.bus.latest_global_position() if is_global else self.bus.latest_position(tenant))
                return False, top, []
            for event in page.events:
                if not is_global and event.recipients is not None and user not in event.recipients:
                    continue
                assert event.position is not None
                frames.append((fast_key(event.position), self.frame_for(tenant, event)))
            if not page.has_more:
                return True, since, frames
            cursor = page.position or cursor

    def _unsubscribe(self, conn: Connection, tenant: str, mid: str | None) -> None:
        if tenant not in conn.subs:
            self._reply(conn, protocol.error(ErrorCode.NOT_SUBSCRIBED, f"not subscribed to {tenant}", mid))
            return
        self._drop(conn, tenant)
        self._reply(conn, protocol.encode("unsubscribed", {"tenantId": tenant}, mid))

    def _drop(self, conn: Connection, tenant: str) -> None:
        if self.hub.unsubscribe(conn, tenant):
            self.release(tenant)

    # -- acknowledge --------------------------------------------------------------------------------
    async def _acknowledge(self, conn: Connection, notification_id: str, mid: str | None) -> None:
        tenant = tenant_of(notification_id)
        if tenant is None:
            self._reply(conn, protocol.error(ErrorCode.INVALID_MESSAGE, "not a notification id", mid))
            return
        if tenant not in conn.subs or conn.user_id is None:
            self._reply(conn, protocol.error(ErrorCode.NOT_SUBSCRIBED, f"not subscribed to {tenant}", mid))
            return
        event = NotificationAcknowledged(
            tenant_id=tenant,
            user_id=conn.user_id,
            recipients=[conn.user_id],
            notification_id=notification_id,
            origin=conn.id,
        )
        try:
            await self.bus.publish(event)
        except PublishError as exc:
            self.metrics.failures.labels("internal_error").inc()
            self._reply(conn, protocol.error(ErrorCode.INTERNAL_ERROR, f"acknowledgement not recorded: {exc}", mid))
            return
        self._reply(conn, protocol.encode("acknowledged", {"notificationId": notification_id}, mid))

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

    def resync(self, stream: str) -> None:
        """The bus lost continuity for ``stream``: its subscribers reconnect and resume (4006)."""
        for conn in self.hub.subscribers(stream):
            if isinstance(conn, Connection):
                conn.close(codes.RESYNC, "continuity lost: resume from your last position")


__all__ = ["Sessions", "msgspec"]
