"""The Redis backend: redis-py for commands and scripts, :mod:`.resp` for the subscriber connection.

Connection health: the subscriber sends ``PING`` once nothing has arrived for ``ping_interval`` seconds, and
drops the connection once nothing at all has arrived for ``ping_interval + ping_timeout`` — a deadline
counted from the last byte received — so a half-open connection (no FIN, no data) is dropped at most 8 s
(default 5 + 3) after it went quiet. It then reconnects with full-
jitter exponential backoff (50 ms doubling to a 5 s cap), re-subscribes every desired channel, and tells
the listener, which fills the gap from history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..backoff import Backoff
from ..errors import BackendUnavailableError, BusError, PublishError
from ..layout import SINGLE
from ..wire import (
    CHANNEL_PREFIX,
    DLQ_KEY,
    GLOBAL,
    PRIMARY_KEY,
    REVOCATIONS,
    STREAM_PREFIX,
    DeadLetter,
    Revocation,
    channel_name,
    meta_key,
    parse_revocation_message,
    read_key,
    revocation_member,
    stream_key,
)
from . import replies, scripts, urls
from .base import BackendListener, HistoryRead, PublishItem, PublishOutcome, Retention, Settled
from .commands import SharedCommands
from .resp import PubSubConnection, keepalive

log = logging.getLogger("arda.events.redis")
_REVOCATIONS = REVOCATIONS.encode()
MIN_REDIS_VERSION = (7, 0)


class RedisBackend(SharedCommands):
    def __init__(
        self,
        url: str,
        retention: Retention = Retention(),
        *,
        connect_timeout: float = 5.0,
        command_timeout: float = 5.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        backoff: Backoff | None = None,
        max_connections: int = 32,
    ) -> None:
        self.url = url
        self.max_connections = max_connections
        self.safe_url = urls.redact(url)
        self.global_streams: tuple[str, ...] = (GLOBAL,)
        self.retention = retention
        self.layout = SINGLE  # the key names (SharedCommands)
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.backoff = backoff or Backoff()
        self._params: dict[str, Any] = urls.subscriber_params(url)
        self._sentinel: Sentinel | None = None  # with a Sentinel URL: where the primary is found
        self._master = urls.parse_sentinel_url(url).master if urls.is_sentinel(url) else ""
        self._subscriber_at: tuple[str, int] | None = None  # the primary the subscriber connection reached
        self._client: aioredis.Redis | None = None
        self._listener: BackendListener | None = None
        self._desired: set[str] = set()
        self._conn: PubSubConnection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False
        self._subscribe_lock = asyncio.Lock()
        self._channel_streams: dict[bytes, str] = {}
        self.reconnects = 0
        self._writable = True
        self._latest_reads: dict[str, asyncio.Future[Any]] = {}

    def set_listener(self, listener: BackendListener) -> None:
        self._listener = listener

    def _failed(self, exc: BaseException, what: str) -> BusError:
        """A connection failure becomes :class:`BackendUnavailableError`; anything Redis refused, :class:`BusError`."""
        if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
            return self._unavailable(exc)
        return BusError(f"Redis at {self.safe_url} refused {what}: {exc}")

    def _unavailable(self, exc: BaseException) -> BackendUnavailableError:
        cause = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            cause = f"no answer within {self.connect_timeout:g} s"
        return BackendUnavailableError(f"cannot reach Redis at {self.safe_url}: {cause}")

    async def connect(self) -> None:
        # A blocking pool: a burst of commands (2,000 clients subscribing at once) waits for a free connection
        # (up to the command timeout) instead of failing with "Too many connections".
        # With Sentinels, each new connection asks them where the primary is, and a READONLY answer (a demoted
        # primary) drops the connection: the retry (publishing is idempotent) reaches the new primary.
        client, self._sentinel = urls.async_client(  # the client owns its pool and closes it
            self.url,
            max_connections=self.max_connections,
            timeout=self.command_timeout,
            socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.command_timeout,
            socket_keepalive=True,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            health_check_interval=30,
        )
        try:
            async with asyncio.timeout(self.connect_timeout):
                info = await client.info("server")
        except (RedisError, OSError, TimeoutError) as exc:
            await client.aclose()
            raise self._unavailable(exc) from None
        version = tuple(int(p) for p in str(info.get("redis_version", "0.0")).split(".")[:2])
        if version < MIN_REDIS_VERSION:
            await client.aclose()
            raise BusError(f"Redis at {self.safe_url} is {info.get('redis_version')}; Arda needs 7.0 or newer")
        self._client = client
        self._publish_script = client.register_script(scripts.PUBLISH_BATCH)
        self._history_script = client.register_script(scripts.HISTORY)
        self._top_script = client.register_script(scripts.TOP)
        self._check_script = client.register_script(scripts.CHECK)
        self._settle_script = client.register_script(scripts.SETTLE)
        self._primary_script = client.register_script(scripts.PRIMARY)
        self._mark_read_script = client.register_script(scripts.MARK_READ)
        self._revoke_script = client.register_script(scripts.REVOKE)
        try:
            await self.primary()  # which history this is (a promotion since the last connect raises floors)
        except BusError:
            await client.aclose()
            self._client = None
            raise

    async def listen(self) -> None:
        """Open the subscriber connection now (else the first subscribe does: a bus that only publishes never
        holds one). Raises :class:`BackendUnavailableError` when it cannot be opened (e.g. TLS refused)."""
        async with self._subscribe_lock:
            if self._supervisor is None:
                await self._start_subscriber()

    async def _start_subscriber(self) -> None:
        try:
            await self._open_subscriber()
        except (OSError, TimeoutError, ConnectionError) as exc:
            raise self._unavailable(exc) from None
        self._supervisor = asyncio.create_task(self._supervise(), name="arda-redis-subscriber")

    async def close(self) -> None:
        self._closing = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self._conn is not None:
            self._conn.close()
        if self._client is not None:
            await self._client.aclose()
        if self._sentinel is not None:
            for sentinel in self._sentinel.sentinels:
                await sentinel.aclose()

    # -- subscriber connection ------------------------------------------------------------------
    def _on_message(self, channel: bytes, payload: bytes) -> None:
        stream = self._channel_streams.get(channel)
        if stream is None:
            if channel == _REVOCATIONS:
                revocation = parse_revocation_message(payload)
                if revocation is not None and self._listener is not None:
                    self._listener.on_revoked(revocation)
                return
            stream = self._channel_streams[channel] = channel.decode()[len(CHANNEL_PREFIX) :]
        if self._listener is not None:
            self._listener.on_message(stream, payload)

    async def _open_subscriber(self) -> None:
        """Connect, and subscribe the revocations channel and every desired stream's channel."""
        conn = PubSubConnection(self._on_message)
        try:
            params = self._params
            if self._sentinel is not None:  # the primary, as the Sentinels see it now; checked with ROLE
                host, port = await self._sentinel.discover_master(self._master)
                params = {**params, "host": host, "port": port}
                self._subscriber_at = (str(host), int(port))
            await conn.open(params, self.connect_timeout, primary_only=self._sentinel is not None)
            async with asyncio.timeout(self.connect_timeout):
                await conn.subscribe([_REVOCATIONS, *(channel_name(s).encode() for s in self._desired)])
        except BaseException:
            conn.abort("could not open and subscribe")
            raise
        self._conn = conn

    async def _supervise(self) -> None:
        """Reconnect for as long as the backend is open. Never ends on an error: it logs and tries again."""
        while not self._closing:
            conn = self._conn
            assert conn is not None
            pinger = asyncio.create_task(keepalive(conn, self.ping_interval, self.ping_timeout))
            try:
                reason = await conn.closed
            finally:
                pinger.cancel()
            if self._closing:
                return
            log.warning("redis subscriber connection lost", extra={"reason": reason, "url": self.safe_url})
            if self._listener is not None:
                self._listener.on_connection_lost(reason)
            attempt = 0
            while not self._closing:
                await asyncio.sleep(self.backoff.delay(attempt))
                try:
                    await self._open_subscriber()
                    break
                except Exception as exc:
                    attempt += 1
                    log.info(
                        "redis reconnect failed", extra={"attempt": attempt, "error": repr(exc), "url": self.safe_url}
                    )
            if self._closing:
                return
            self.reconnects += 1
            log.info("redis subscriber reconnected", extra={"url": self.safe_url, "channels": len(self._desired)})
            with contextlib.suppress(BusError):  # else the periodic check retries it
                await self.primary()  # a promotion raises the floors before recovery reads history
            if self._listener is not None:
                self._listener.on_resubscribed()

    async def subscribe(self, streams: Collection[str]) -> None:
        async with self._subscribe_lock:
            new = [s for s in streams if s not in self._desired]
            self._desired.update(new)
            if self._supervisor is None:
                try:
                    await self._start_subscriber()  # subscribes everything desired
                except BackendUnavailableError:
                    self._desired.difference_update(new)
                    raise
                return
        conn = self._conn
        if not new or conn is None or conn.closed.done():
            return  # the supervisor subscribes everything desired when it reconnects
        try:
            async with asyncio.timeout(self.connect_timeout):
                await conn.subscribe(channel_name(s).encode() for s in new)
        except (TimeoutError, ConnectionError):
            if conn.closed.done():
                return  # lost meanwhile: the supervisor re-subscribes on reconnect
            self._desired.difference_update(new)
            raise self._unavailable(TimeoutError()) from None

    def live(self) -> bool:
        """False while the subscriber connection is down (reconnecting) — once it was opened, or while
        subscriptions are wanted."""
        if self._supervisor is None and not self._desired:
            return True
        return self._conn is not None and not self._conn.closed.done()

    async def unsubscribe(self, streams: Collection[str]) -> None:
        gone = [s for s in streams if s in self._desired]
        self._desired.difference_update(gone)
        if self._conn is not None and gone:
            self._conn.unsubscribe(channel_name(s).encode() for s in gone)

    # -- which Redis ------------------------------------------------------------------------------
    async def primary(self) -> bool:
        if self._sentinel is not None and self._conn is not None and not self._conn.closed.done():
            await self._follow_failover(self._conn)
        try:
            info: Any = await self._redis().info("replication")
            if info.get("role") != "master":
                self._writable = False
                return False
            replid2 = str(info.get("master_replid2", "0"))
            verdict: Any = await self._primary_script(keys=[PRIMARY_KEY], args=[str(info["master_replid"]), replid2])
        except (RedisError, OSError) as exc:
            if "READONLY" in str(exc):  # demoted between the two commands
                self._writable = False
                return False
            raise self._failed(exc, "the primary check") from exc
        self._writable = True
        if verdict == b"promoted":
            log.warning("redis replica promoted: its last writes may be missing; raising every stream's floor")
            await self._raise_floors()
        return True

    def writable(self) -> bool:
        return self._writable

    async def _follow_failover(self, conn: PubSubConnection) -> None:
        """Move the subscriber off its node once that node is no longer a primary — not before. After a
        failover the old primary goes on accepting writes until the Sentinels demote it, and those writes are
        then discarded: staying subscribed to it until then, this bus delivers them (so its clients see them,
        and later learn from the missing positions that they were lost) instead of nobody ever knowing.
        Once it is a replica (or unreachable), the subscriber reconnects to the primary the Sentinels name,
        where the promotion raises the floors and recovery reports the loss."""
        if self._subscriber_at is None:
            return
        host, port = self._subscriber_at
        node = urls.node_client(self._params, host, port, timeout=self.command_timeout)
        try:
            role: Any = await node.execute_command("ROLE")  # type: ignore[no-untyped-call]
        except (RedisError, OSError):
            return  # unreachable: the connection's own deadline drops it
        finally:
            await node.aclose()
        if not role or role[0] != b"master":
            conn.abort(f"{host}:{port} is no longer the primary")

    async def _raise_floors(self) -> None:
        """After a promotion: no position from before it may be resumed as complete, in any stream."""
        count = 0
        try:
            async for key in self._redis().scan_iter(match=STREAM_PREFIX + "*", count=1000):
                await self.settle(key.decode()[len(STREAM_PREFIX) :], "0-0", lost=True)
                count += 1
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "raising the floors") from exc
        log.warning("stream floors raised after a promotion", extra={"streams": count})

    # -- commands ---------------------------------------------------------------------------------
    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            raise BackendUnavailableError(f"not connected to Redis at {self.safe_url}")
        return self._client

    async def publish(self, items: Sequence[PublishItem]) -> list[PublishOutcome]:
        self._redis()
        try:
            reply = await self._publish_script(keys=[], args=scripts.publish_args(self.retention, items))
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise self._unavailable(exc) from exc
        except RedisError as exc:
            raise PublishError(f"Redis at {self.safe_url} refused the publish: {exc}") from exc
        return scripts.publish_outcomes(reply)

    async def publish_raw(self, stream: str, payload: bytes) -> int:
        try:
            return int(await self._redis().publish(channel_name(stream), payload))
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc

    async def history(self, stream: str, since: str | None, limit: int) -> HistoryRead:
        keys = [stream_key(stream), meta_key(stream)]
        try:
            reply = await self._history_script(keys=keys, args=[since or "", limit])
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc
        return replies.history_read(reply, limit)

    async def top(self, stream: str) -> str:
        try:
            newest: Any = await self._top_script(keys=[stream_key(stream)], args=[])
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc
        return str(newest.decode())

    async def check(self, cursors: Sequence[tuple[str, str]]) -> list[bool]:
        if not cursors:
            return []
        try:
            async with self._redis().pipeline(transaction=False) as pipe:
                for stream, cursor in cursors:
                    pipe.evalsha(self._check_script.sha, 2, stream_key(stream), meta_key(stream), cursor)
                replies: list[Any] = await pipe.execute(raise_on_error=False)
            if any(isinstance(r, NoScriptError) for r in replies):  # the script cache was emptied (a restart)
                await self._redis().script_load(scripts.CHECK)
                return await self.check(cursors)
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the check") from exc
        for reply in replies:
            if isinstance(reply, Exception):
                raise self._failed(reply, "the check")
        return [int(r) == 1 for r in replies]

    async def settle(self, stream: str, cursor: str, lost: bool = False) -> Settled:
        keys = [stream_key(stream), meta_key(stream)]
        try:
            newest, was_lost = await self._settle_script(keys=keys, args=[cursor, 1 if lost else 0])
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc
        return Settled(newest.decode(), int(was_lost) == 1)

    async def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        try:
            async with self._redis().pipeline(transaction=False) as pipe:
                for letter in letters:
                    fields: Any = replies.dead_letter_fields(letter)
                    pipe.xadd(DLQ_KEY, fields, maxlen=self.retention.dead_letter_max, approximate=True)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc

    async def ping(self) -> float:
        started = time.perf_counter()
        try:
            await self._redis().ping()
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc
        return time.perf_counter() - started

    # -- read state ---------------------------------------------------------------------------------
    async def mark_read(self, tenant_id: str, user_id: str, event_id: str, announcement: bytes) -> bool:
        r = self.retention
        args: list[str | int | bytes] = [
            event_id,
            r.max_events,
            int(r.max_age_s * 1000),
            channel_name(tenant_id),
            announcement,
        ]
        try:
            keys = [read_key(tenant_id, user_id), meta_key(tenant_id)]
            added: Any = await self._mark_read_script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the read mark") from exc
        return int(added) == 1

    async def latest_read(self, tenant_id: str) -> int | None:
        """When anyone of the tenant last marked something read (ms); one read shared by concurrent callers
        (a reconnect storm resumes thousands of a tenant's clients at once)."""
        pending = self._latest_reads.get(tenant_id)
        if pending is None:
            pending = self._latest_reads[tenant_id] = asyncio.ensure_future(
                self._redis().hget(meta_key(tenant_id), "read_at")
            )
            pending.add_done_callback(lambda _: self._latest_reads.pop(tenant_id, None))
        value: Any = await asyncio.shield(pending)
        return int(value) if value is not None else None

    # -- revocations --------------------------------------------------------------------------------
    async def revoke(self, user_id: str, tenant_id: str | None) -> Revocation:
        window_ms = int(self.retention.revocation_window_s * 1000)
        try:
            ms: Any = await self._revoke_script(
                keys=[REVOCATIONS], args=[revocation_member(user_id, tenant_id), window_ms]
            )
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the revocation") from exc
        return Revocation(user_id, tenant_id, int(ms) / 1000)
