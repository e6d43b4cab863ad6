"""The :class:`NotificationService`: wires the bus, the node (:mod:`.node`: sessions, hub, bus subscriptions)
and the two servers, and runs them.

* It watches the bus: an outage closes subscribed clients after ``bus_outage_s`` (1013), a gap closes the
  stream's clients (4006), a revocation those it covers (4009).
* ``stop()`` (SIGTERM): stop accepting, close every client with 1001 (going away — reconnect), flush,
  unsubscribe, close Redis; bounded by ``shutdown_timeout_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import msgspec

from ..events import BusError, EventBus, Gap, Revocation
from . import codes, protocol
from .auth import Authenticator, JwtSettings
from .config import Settings
from .deflate import NO_COMPRESSION, CompressionStats
from .devcreds import load_or_create
from .errors import ConfigError, ListenError
from .http_api import HttpApi
from .mapper import NotificationMapper
from .metrics import Metrics
from .node import Node
from .revocations import Revocations
from .webapp import DevSessions
from .websocket import serve

log = logging.getLogger("arda.notifications")


ANNOUNCE_INTERVAL_S = 1.0
ANNOUNCE_TTL_S = 5.0


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
        self.metrics = Metrics(lambda: self.bus.stats, lambda: self.bus.registry.types, self._compression_stats)
        self.node = Node(settings, self.bus, self.authenticator, self.metrics, self.mapper)
        self.hub = self.node.hub
        self.http = HttpApi(
            settings,
            self.bus,
            self.authenticator,
            self.metrics,
            api_key,
            render=self.mapper.map,
            dev=DevSessions(self.jwt.secret, lambda: self.ws_port) if settings.is_dev else None,
            connections=self.node,
            figures=self.figures,
        )
        #: This instance on the dashboard: host and process (several workers, several hosts).
        self.instance_id = f"{socket.gethostname()}:{os.getpid()}"
        self.started_at = time.time()
        self._announcer: asyncio.Task[None] | None = None
        self._ws_server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        # Set by stop() as it cancels the sweep and the announcements: they end on it too, since on Python 3.11 a
        # redis-py command can lose a cancellation (its writes go through asyncio.wait_for, which drops one that
        # arrives as the write completes).
        self._ending = False
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
        reuse = s.worker_dir is not None  # --workers: every worker listens on the same port
        try:
            self._ws_server = await serve(self.node.connection, s.host, s.port, s.send_buffer_bytes, reuse)
        except OSError as exc:
            raise listen_error(exc, s.host, s.port, "ARDA_PORT / --port, the WebSocket port") from None
        self.ws_port = self._ws_server.sockets[0].getsockname()[1]
        try:
            self.http_port = await self.http.start(s.host, s.http_port)
        except OSError as exc:
            raise listen_error(exc, s.host, s.http_port, "ARDA_HTTP_PORT / --http-port, the HTTP API's port") from None
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="arda-sweep")
        self._announcer = asyncio.create_task(self._announce_forever(), name="arda-announce")
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
        self.node.accepting = False
        if self._ws_server is not None:
            self._ws_server.close()
        self.node.close_all(codes.GOING_AWAY, "server shutting down: reconnect")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self.node.all_closed.wait(), max(0.1, deadline - 2 - asyncio.get_running_loop().time())
            )
        self.node.abort_all(codes.GOING_AWAY)  # whoever did not complete the close handshake in time
        self._ending = True  # the loops end on it, not only on cancellation (see __init__)
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._announcer is not None:
            self._announcer.cancel()
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

    def figures(self) -> dict[str, Any]:
        """This instance's live figures, as ``GET /v1/stats`` shows them (without the other instances)."""
        now = time.time()
        return {
            "instance": self.instance_id,
            "at": protocol.iso(now),
            "uptimeSeconds": round(now - self.started_at, 1),
            **self.node.figures(),
        }

    async def _announce_forever(self) -> None:
        """Every second: this instance's figures, through Redis, for the dashboards of every instance (kept 5 s:
        an instance that stops announcing drops out)."""
        while not self._ending:
            try:
                await self.bus.announce(self.instance_id, msgspec.json.encode(self.figures()), ttl_s=ANNOUNCE_TTL_S)
            except BusError as exc:
                log.debug("announcement failed", extra={"error": str(exc)})
            await asyncio.sleep(ANNOUNCE_INTERVAL_S)

    async def _sweep_forever(self) -> None:
        while not self._ending:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                self.node.sweep()
                self.metrics.queue_bytes.set(sum(c.write_buffer_size() for c in self.node.connections))
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
        closed = self.node.bus_outage()
        log.warning("bus outage: subscribed clients told to reconnect", extra={"clients": closed})

    def _on_revocation(self, revocation: Revocation) -> None:
        """A revocation, recorded by any instance: refuse the tokens it covers, close their connections here."""
        self.revocations.add(revocation)
        closed = self.node.revoke(revocation, self.revocations.applies)
        if closed:
            log.info("connections closed: access revoked", extra={"userId": revocation.user_id, "count": closed})

    def _compression_stats(self) -> CompressionStats:
        compression = self.node.compression
        return compression.stats() if compression is not None else NO_COMPRESSION

    def _on_gap(self, gap: Gap) -> None:
        self.metrics.failures.labels("bus_gap").inc()
        self.node.resync(gap.stream)


def listen_error(exc: OSError, host: str, port: int, setting: str) -> ListenError:
    """The one line that says why ``host:port`` (the port of ``setting``) cannot be listened on."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        reason = "the port is in use (another `arda serve`?): stop that process or choose another port"
    elif exc.errno == errno.EACCES:
        reason = "permission denied (ports below 1024 need privileges)"
    elif isinstance(exc, socket.gaierror):
        reason = f"unknown host ({exc.strerror})"
    return ListenError(f"cannot listen on {host}:{port} ({setting}): {reason}")


async def run(settings: Settings, on_listening: Callable[[NotificationService], None] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully. ``on_listening`` is called once both ports are bound
    (``service.ws_port`` and ``service.http_port`` are the ports bound, also when 0 was asked for). Raises what
    :meth:`NotificationService.start` raises (:class:`ListenError`, :class:`BackendUnavailableError`…), after
    closing what was started."""
    import signal

    service = NotificationService(settings)
    try:
        await service.start()
    except BaseException:
        await service.stop()
        raise
    if on_listening is not None:
        on_listening(service)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("[NotificationService] signal received: stopping")
    await service.stop()
