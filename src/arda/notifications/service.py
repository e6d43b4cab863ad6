"""The :class:`NotificationService`: wires the bus, the hub, the sessions and the two servers.

* It subscribes on the bus only to tenants that have local clients (and to ``global`` only while a monitor
  is subscribed), and drops a subscription when the last client of it leaves.
* Each event is mapped, encoded and framed once, then fanned out by the hub (no await per client).
* ``stop()`` (SIGTERM): stop accepting, close every client with 1001 (going away — reconnect), flush,
  unsubscribe, close Redis; bounded by ``shutdown_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

import msgspec

from ..events import AnyEvent, EventBus, Gap, Revocation
from . import codes, frames, protocol
from .acks import ACK_EVENT_TYPE, NotificationAcknowledged
from .auth import Authenticator, JwtSettings
from .config import Settings
from .devcreds import load_or_create
from .errors import ConfigError
from .http_api import HttpApi
from .hub import Hub
from .mapper import Notification, NotificationMapper
from .metrics import Metrics
from .revocations import Revocations
from .sessions import GLOBAL, Sessions
from .websocket import serve

log = logging.getLogger("arda.notifications")
#: Frames kept for replays (a few MB at most).
FRAME_CACHE = 4096


class NotificationService:
    def __init__(
        self, settings: Settings, *, bus: EventBus | None = None, mapper: NotificationMapper | None = None
    ) -> None:
        self.settings = settings
        self.started_at = time.time()
        secret, api_key = settings.jwt_secret, settings.api_key
        if settings.is_dev:
            if not settings.on_loopback:
                log.warning(
                    "DEVELOPMENT MODE ON A NON-LOOPBACK HOST: anyone who can reach this host can mint a token for "
                    "any user and tenant (/dev/session) and publish without a key (/dev/events). Never in production.",
                    extra={"host": settings.host},
                )
            creds = load_or_create(settings.state_dir)
            secret = secret or creds.jwt_secret
            api_key = api_key or creds.api_key
        elif not settings.has_jwt_key:
            where = "" if settings.on_loopback else f" (ARDA_HOST={settings.host} is not a loopback address)"
            raise ConfigError(
                f"no JWT key configured and development mode is off{where}: set ARDA_JWT_SECRET, "
                "ARDA_JWT_PUBLIC_KEY or ARDA_JWKS_URL (or ARDA_DEV=1 to run development mode anyway)"
            )
        self.api_key = api_key
        self.jwt = JwtSettings(
            secret=secret,
            public_key=settings.public_key_pem(),
            jwks_url=settings.jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        ).validate()
        self.bus = bus or EventBus(settings.redis_url, on_gap=self._on_gap, check_interval=settings.check_interval_s)
        if bus is not None:
            bus.on_gap = self._on_gap
        self.mapper = mapper or NotificationMapper()
        self.revocations = Revocations()
        self.authenticator = Authenticator(self.jwt, admit=self.revocations.admit)
        self.metrics = Metrics(lambda: self.bus.stats, lambda: self.bus.registry.types)
        self.hub = Hub(settings.outbound_max_bytes, settings.outbound_max_messages)
        self.sessions = Sessions(
            settings,
            self.bus,
            self.authenticator,
            self.hub,
            self.metrics,
            self.frame_for,
            self.ack_frame,
            self.acquire,
            self.release,
            self.acquired,
        )
        self.http = HttpApi(self)
        self._encoder = msgspec.json.Encoder()
        self._bus_subs: dict[str, tuple[Callable[[AnyEvent], None], asyncio.Future[None]]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._frames: OrderedDict[tuple[str, str, str | None], bytes] = OrderedDict()  # replay frame cache
        self._ws_server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._bus_down_since: float | None = None  # monotonic time the bus was first seen unable to receive
        self._bus_outage_told = False
        self.ws_port = settings.port
        self.http_port = settings.http_port

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect the bus (fail fast), then listen. Raises BackendUnavailableError / OSError."""
        await self.bus.connect()
        self.bus.on_revocation = self._on_revocation
        await self.bus.listen()  # the connection that receives: opened now, so a TLS or ACL problem stops startup
        for revocation in await self.bus.revocations():  # those recorded before this instance started
            self.revocations.add(revocation)
        s = self.settings
        self._ws_server = await serve(self.sessions, s.host, s.port)
        self.ws_port = self._ws_server.sockets[0].getsockname()[1]
        self.http_port = await self.http.start(s.host, s.http_port)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="arda-sweep")
        log.info(
            "[NotificationService] listening",
            extra={
                "ws": f"ws://{s.host}:{self.ws_port}/ws",
                "http": f"http://{s.host}:{self.http_port}",
                "bus": self.bus.backend.safe_url,
                "embedded_bus": s.redis_url is None,
                "dev": s.is_dev,
            },
        )
        if s.redis_url is None:
            log.info("no ARDA_REDIS_URL: running on the embedded in-process bus (one instance only)")
        if not self.api_key:
            log.warning("no ARDA_API_KEY: POST /v1/events is disabled")

    async def stop(self) -> None:
        """Graceful stop, bounded by ``shutdown_timeout_s``."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        deadline = asyncio.get_running_loop().time() + self.settings.shutdown_timeout_s
        self.sessions.accepting = False
        if self._ws_server is not None:
            self._ws_server.close()
        for conn in list(self.sessions.connections):
            conn.close(codes.GOING_AWAY, "server shutting down: reconnect")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self.sessions.all_closed.wait(), max(0.1, deadline - 2 - asyncio.get_running_loop().time())
            )
        for conn in list(self.sessions.connections):
            conn.abort(codes.GOING_AWAY)  # whoever did not complete the close handshake in time
        if self._sweeper is not None:
            self._sweeper.cancel()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.5, deadline - 1 - loop.time())):
                await self.http.stop()
        remaining = max(0.5, deadline - loop.time())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(remaining):
                await self.bus.shutdown(drain_timeout=min(remaining / 2, 3.0))
                await self.authenticator.close()
        log.info("[NotificationService] stopped")

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                self.sessions.sweep()
                self.metrics.queue_bytes.set(sum(c.write_buffer_size() for c in self.sessions.connections))
                self._watch_bus(time.monotonic())
            except Exception:
                log.exception("sweep failed")

    def _watch_bus(self, now: float) -> None:
        """While the bus cannot receive (Redis down, or not the primary), subscribed clients get nothing and
        would not know: after ``bus_outage_s`` of it they are closed with 1013 (try again later — reconnect with
        a longer backoff), so they show "reconnecting" and resume once the bus is back; this instance's
        ``/readyz`` says 503 meanwhile, so a load balancer sends them elsewhere."""
        if self.bus.live and self.bus.writable:
            self._bus_down_since = None
            return
        if self._bus_down_since is None:
            self._bus_down_since = now
            self._bus_outage_told = False
            return
        if self._bus_outage_told or now - self._bus_down_since < self.settings.bus_outage_s:
            return
        self._bus_outage_told = True
        closed = self.sessions.bus_outage()
        log.warning("bus outage: subscribed clients told to reconnect", extra={"clients": closed})

    # -- bus subscriptions ------------------------------------------------------------------------
    async def acquire(self, stream: str) -> None:
        """Make sure the bus delivers ``stream``'s events here (shared by every local subscriber)."""
        entry = self._bus_subs.get(stream)
        if entry is None:

            def handler(event: AnyEvent) -> None:
                self.on_event(stream, event)

            subscribe = (
                self.bus.subscribe_global(handler) if stream == GLOBAL else self.bus.subscribe_tenant(stream, handler)
            )
            entry = self._bus_subs[stream] = (handler, asyncio.ensure_future(subscribe))
            self.metrics.subscriptions.set(len(self._bus_subs))
        elif self.acquired(stream):
            return  # made already: nothing to wait for (a storm's thousands of subscribes of one tenant)
        try:
            await asyncio.shield(entry[1])
        except Exception:
            if self._bus_subs.get(stream) is entry:
                del self._bus_subs[stream]
                self.metrics.subscriptions.set(len(self._bus_subs))
            raise

    def acquired(self, stream: str) -> bool:
        """Whether the bus already delivers ``stream``'s events here (its subscription is made)."""
        entry = self._bus_subs.get(stream)
        if entry is None or not entry[1].done():
            return False
        return not entry[1].cancelled() and entry[1].exception() is None

    def release(self, stream: str) -> None:
        """The last local subscriber of ``stream`` left: drop the bus subscription (once it is made)."""
        entry = self._bus_subs.pop(stream, None)
        self.metrics.subscriptions.set(len(self._bus_subs))
        if entry is None:
            return
        handler, future = entry

        async def unsubscribe() -> None:
            with contextlib.suppress(Exception):
                await future
            if stream == GLOBAL:
                await self.bus.unsubscribe_global(handler)
            else:
                await self.bus.unsubscribe_tenant(stream, handler)

        task = asyncio.ensure_future(unsubscribe())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- events -----------------------------------------------------------------------------------
    def notification_for(self, event: AnyEvent) -> Notification:
        """The user-facing notification of an event (its id carries the tenant: see :mod:`.acks`)."""
        return self.mapper.map(event)

    def frame_for(self, stream: str, event: AnyEvent) -> bytes:
        """The notification frame for an event (mapped, masked, encoded, framed — once per event). Kept in a
        small LRU, so that many clients resuming over the same events map each of them once."""
        key = (stream, event.id, event.position)
        frame = self._frames.get(key)
        if frame is not None:
            self._frames.move_to_end(key)
            return frame
        notification = self.mapper.map(event, stream)
        frame = frames.text_frame(protocol.notification_message(self._encoder.encode(notification)))
        self._frames[key] = frame
        if len(self._frames) > FRAME_CACHE:
            self._frames.popitem(last=False)
        return frame

    def ack_frame(self, event: NotificationAcknowledged) -> bytes:
        return frames.text_frame(protocol.acknowledged(event.notification_id))

    def on_event(self, stream: str, event: AnyEvent) -> None:
        metrics = self.metrics
        metrics.events_received.labels(metrics.event_type_label(event.type)).inc()
        if event.type == ACK_EVENT_TYPE:
            if stream != GLOBAL and isinstance(event, NotificationAcknowledged) and event.user_id is not None:
                frame = frames.text_frame(protocol.acknowledged(event.notification_id))
                self.hub.send_to_user(stream, event.user_id, frame, skip_id=event.origin)
            return
        try:
            frame = self.frame_for(stream, event)
        except Exception:
            metrics.failures.labels("mapping").inc()
            log.exception("notification mapping failed", extra={"eventId": event.id, "type": event.type})
            return
        recipients = None if stream == GLOBAL else event.recipients
        count = self.hub.fanout(stream, frame, event.position, recipients)
        metrics.deliveries.inc(count)
        metrics.latency.observe(max(0.0, time.time() - event.timestamp.timestamp()))

    def _on_revocation(self, revocation: Revocation) -> None:
        """A revocation, recorded by any instance: refuse the tokens it covers, close their connections here."""
        self.revocations.add(revocation)
        closed = self.sessions.revoke(revocation, self.revocations.applies)
        if closed:
            log.info("connections closed: access revoked", extra={"userId": revocation.user_id, "count": closed})

    def _on_gap(self, gap: Gap) -> None:
        self.metrics.failures.labels("bus_gap").inc()
        self.sessions.resync(gap.stream)


async def run(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully."""
    import signal

    service = NotificationService(settings)
    await service.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("[NotificationService] signal received: stopping")
    await service.stop()
