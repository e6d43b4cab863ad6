"""A minimal RESP2 connection in subscribed mode: the bus's receive hot path.

redis-py's ``PubSub`` tops out at 66–88k messages/s on this machine; an ``asyncio.Protocol`` feeding
``hiredis.Reader`` receives ≥ 490k/s (``docs/benchmarks.md``, re-measured by ``bench/bus.py``). This
module does only what a subscriber needs: connect, AUTH, SELECT-free SUBSCRIBE/UNSUBSCRIBE, PING, and
hand each ``message`` to a callback synchronously, without an await per message.

Sharded pub/sub (Redis 7, a cluster's ``SSUBSCRIBE``/``SPUBLISH``) on the same connection: ``ssubscribe`` and
``sunsubscribe`` name the channels of one slot per call, each ``smessage`` goes to the same callback as a
``message`` (checked second, so the unsharded path is unchanged), and a ``sunsubscribe`` the server pushes on
its own — the channel's slot migrated away, or the node was demoted — goes to ``on_sunsubscribed``. An error
answering an SSUBSCRIBE (``-MOVED``, ``-ASK``, ``-CROSSSLOT``, an ACL refusal) fails that command's future only:
the connection and its other channels stay.
"""

from __future__ import annotations

import asyncio
import socket
import ssl as _ssl
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, cast

import hiredis
from redis.asyncio.connection import SSLConnection

OnMessage = Callable[[bytes, bytes], None]
OnChannel = Callable[[bytes], None]


def encode_command(*args: bytes | str) -> bytes:
    """RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def ssl_context(params: dict[str, Any]) -> _ssl.SSLContext | None:
    """The TLS context redis-py's own connections use for these URL parameters (``rediss://…?ssl_ca_certs=…
    &ssl_cert_reqs=…&ssl_certfile=…&ssl_keyfile=…&ssl_check_hostname=…``), so that the subscriber connection
    honours exactly the same options, defaults included; None for a plain connection."""
    cls = params.get("connection_class")
    if not (isinstance(cls, type) and issubclass(cls, SSLConnection)):
        return None
    options = {k: v for k, v in params.items() if k.startswith("ssl_")}
    context: _ssl.SSLContext = cls(**options).ssl_context.get()  # builds the context; no I/O
    return context


class RespError(ConnectionError):
    """Redis answered the subscriber connection with an error (e.g. wrong password)."""


class RedirectError(RespError):
    """Redis answered an SSUBSCRIBE with ``-MOVED <slot> <host>:<port>`` (the slot is served elsewhere) or ``-ASK
    …`` (the slot is migrating there): this node does not serve the channels, ``host:port`` may. The connection
    stays up; only that command's channels are refused."""

    def __init__(self, message: str, kind: str, slot: int, host: str, port: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.slot = slot
        self.host = host
        self.port = port


def parse_redirect(error: str) -> tuple[str, int, str, int] | None:
    """``("MOVED", 1598, "10.0.0.2", 6379)`` for the error ``MOVED 1598 10.0.0.2:6379`` (``ASK`` alike; an IPv6
    host keeps its colons); None for any other error text."""
    parts = error.split()
    if len(parts) != 3 or parts[0] not in ("MOVED", "ASK") or not parts[1].isdigit():
        return None
    host, sep, port = parts[2].rpartition(":")
    if not sep or not port.isdigit():
        return None
    return parts[0], int(parts[1]), host.strip("[]"), int(port)


class _ShardCommand:
    """An SSUBSCRIBE or SUNSUBSCRIBE awaiting its answer: Redis answers one reply per channel named, in order
    (``answered`` counts them), or one error. ``done`` (SSUBSCRIBE only) resolves after the last one."""

    __slots__ = ("answered", "channels", "done", "verb")

    def __init__(self, verb: bytes, channels: list[bytes], done: asyncio.Future[None] | None) -> None:
        self.verb = verb
        self.channels = channels
        self.answered = 0
        self.done = done

    def fail(self, error: str) -> None:
        if self.done is None or self.done.done():
            return
        names = b", ".join(self.channels[:3]).decode(errors="replace") + (", …" if len(self.channels) > 3 else "")
        what = f"{self.verb.decode().upper()} {names} refused: {error}"
        redirect = parse_redirect(error)
        if redirect is not None:
            kind, slot, host, port = redirect
            how = "is served by" if kind == "MOVED" else "is migrating to"
            message = f"{what} (slot {slot} {how} {host}:{port}, not this node)"
            self.done.set_exception(RedirectError(message, kind, slot, host, port))
        else:
            self.done.set_exception(RespError(what))


class _Protocol(asyncio.Protocol):
    def __init__(self, conn: PubSubConnection) -> None:
        self._conn = conn
        self._reader = hiredis.Reader()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport: no isinstance check here
        self._conn._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        conn = self._conn
        conn.last_received = conn.loop.time()
        reader = self._reader
        reader.feed(data)
        on_message = conn.on_message
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:
                conn.abort(f"protocol error: {exc}")
                return
            if reply is False:
                return
            # ``message`` first: one Redis's hot path costs what it did before ``smessage`` (a cluster's) came
            if type(reply) is list and (reply[0] == b"message" or reply[0] == b"smessage"):
                on_message(reply[1], reply[2])
            else:
                conn._on_reply(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._conn._on_lost(exc)


class PubSubConnection:
    """One subscriber connection. ``closed`` resolves (with a reason) when it ends, for whatever cause.

    ``on_message(channel, payload)`` receives every ``message`` and ``smessage``; ``on_sunsubscribed(channel)``
    every ``sunsubscribe`` Redis pushes unasked (the slot moved away, the node was demoted: the channel is no
    longer subscribed here), not the ones answering our own :meth:`sunsubscribe`. Telling them apart is by
    order — a ``sunsubscribe`` of the channel our oldest unanswered SUNSUBSCRIBE expects next is its answer —
    so in one race (a push dropping a channel just as our SUNSUBSCRIBE of it is answered) the push is taken for
    the answer and the answer is reported instead: only ever for a channel the caller is leaving anyway.
    Don't mix SUBSCRIBE and SSUBSCRIBE on one connection: errors are matched to the sharded commands in order,
    and an error no command awaits ends the connection."""

    def __init__(self, on_message: OnMessage, on_sunsubscribed: OnChannel | None = None) -> None:
        self.on_message = on_message
        self.on_sunsubscribed = on_sunsubscribed
        self.loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[str] = self.loop.create_future()
        self.last_received = self.loop.time()
        self._transport: asyncio.Transport | None = None
        # replies to AUTH/ROLE and answers to SSUBSCRIBE/SUNSUBSCRIBE, in the order the commands were sent
        self._pending: deque[asyncio.Future[Any] | _ShardCommand] = deque()
        self._confirm: dict[bytes, asyncio.Future[None]] = {}
        self._abort_reason = ""

    async def open(self, params: dict[str, Any], timeout: float, *, primary_only: bool = False) -> None:
        """Connect and authenticate, within ``timeout`` seconds; with ``primary_only``, check with ``ROLE`` that
        the node is a primary (what a Sentinel says may be stale). Raises ``OSError``/``TimeoutError``/
        ``RespError``; on failure the socket is closed."""
        try:
            async with asyncio.timeout(timeout):
                await self._open(params)
                if primary_only:
                    role = await self._request("ROLE")
                    if not (type(role) is list and role and role[0] == b"master"):
                        raise RespError(f"not the primary (ROLE {role[0] if type(role) is list and role else role!r})")
        except BaseException:
            self.abort("open failed")
            raise

    async def _open(self, params: dict[str, Any]) -> None:
        path = params.get("path")
        if path:
            await self.loop.create_unix_connection(lambda: _Protocol(self), path)
        else:
            ssl_ctx = ssl_context(params)
            await self.loop.create_connection(
                lambda: _Protocol(self), params.get("host", "localhost"), params.get("port", 6379), ssl=ssl_ctx
            )
            sock = self._transport.get_extra_info("socket") if self._transport else None
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        password = params.get("password")
        if password:
            username = params.get("username")
            args = ("AUTH", username, password) if username else ("AUTH", password)
            await self._request(*args)

    async def _request(self, *args: str) -> Any:
        future: asyncio.Future[Any] = self.loop.create_future()
        self._pending.append(future)
        self._write(encode_command(*args))
        return await future

    def _write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise ConnectionError("subscriber connection is closed")
        self._transport.write(data)

    def subscribe(self, channels: Iterable[bytes]) -> asyncio.Future[list[None]]:
        """Send SUBSCRIBE; the returned future resolves when Redis has confirmed every channel."""
        names = list(channels)
        waiters = []
        for name in names:
            future = self._confirm.get(name)
            if future is None or future.done():
                future = self._confirm[name] = self.loop.create_future()
            waiters.append(future)
        if names:
            self._write(encode_command(b"SUBSCRIBE", *names))
        return asyncio.gather(*waiters)

    def unsubscribe(self, channels: Iterable[bytes]) -> None:
        names = list(channels)
        if names and self._transport is not None and not self._transport.is_closing():
            self._transport.write(encode_command(b"UNSUBSCRIBE", *names))

    def ssubscribe(self, channels: Iterable[bytes]) -> asyncio.Future[None]:
        """Send SSUBSCRIBE for channels of ONE hash slot (Redis refuses more with ``-CROSSSLOT``); the returned
        future resolves when Redis has confirmed every channel, or fails with :class:`RedirectError` (``-MOVED``
        /``-ASK``: another node serves the slot), :class:`RespError` (any other refusal) or ``ConnectionError``
        (the connection ended first). A refusal leaves the connection and its other channels as they were.
        Raises ``ConnectionError`` at once when the connection is closed."""
        names = list(channels)
        done: asyncio.Future[None] = self.loop.create_future()
        if not names:
            done.set_result(None)
            return done
        self._write(encode_command(b"SSUBSCRIBE", *names))
        self._pending.append(_ShardCommand(b"ssubscribe", names, done))
        return done

    def sunsubscribe(self, channels: Iterable[bytes]) -> None:
        """Send SUNSUBSCRIBE for channels of ONE hash slot; nothing once the connection is closed. Its answers are
        not reported to ``on_sunsubscribed``; a refusal (e.g. ``-MOVED``: the server dropped the channels already,
        with a push) is ignored."""
        names = list(channels)
        if names and self._transport is not None and not self._transport.is_closing():
            self._transport.write(encode_command(b"SUNSUBSCRIBE", *names))
            self._pending.append(_ShardCommand(b"sunsubscribe", names, None))

    def ping(self) -> None:
        self._write(b"*1\r\n$4\r\nPING\r\n")

    def abort(self, reason: str) -> None:
        """Drop the connection at once (no FIN handshake wait); ``closed`` resolves with ``reason``."""
        self._abort_reason = reason
        if self._transport is not None:
            self._transport.abort()
        else:
            self._on_lost(None)

    def close(self) -> None:
        self._abort_reason = "closed"
        if self._transport is not None:
            self._transport.close()

    def _on_reply(self, reply: Any) -> None:
        if isinstance(reply, hiredis.ReplyError):
            if self._pending:
                head = self._pending.popleft()
                if isinstance(head, _ShardCommand):
                    head.fail(str(reply))
                else:
                    head.set_exception(RespError(str(reply)))
            else:
                self.abort(f"redis error: {reply}")
            return
        if type(reply) is list and reply:
            kind = reply[0]
            if kind == b"subscribe":
                future = self._confirm.pop(reply[1], None)
                if future is not None and not future.done():
                    future.set_result(None)
                return
            if kind in (b"unsubscribe", b"pong"):
                return  # they need nothing
            if kind in (b"ssubscribe", b"sunsubscribe") and len(reply) == 3:
                self._on_shard_reply(kind, reply[1])
                return
            # anything else is the reply to a request (ROLE's is a list too)
        oldest = self._pending[0] if self._pending else None
        if oldest is not None and not isinstance(oldest, _ShardCommand):
            self._pending.popleft()
            oldest.set_result(reply)
        # else: a PING's +PONG on a connection without subscriptions, which needs nothing

    def _on_shard_reply(self, kind: bytes, channel: Any) -> None:
        head = self._pending[0] if self._pending else None
        if isinstance(head, _ShardCommand) and head.verb == kind and head.channels[head.answered] == channel:
            head.answered += 1
            if head.answered == len(head.channels):
                self._pending.popleft()
                if head.done is not None and not head.done.done():
                    head.done.set_result(None)
            return
        if kind == b"sunsubscribe" and type(channel) is bytes and self.on_sunsubscribed is not None:
            self.on_sunsubscribed(channel)  # unasked: the server dropped the channel

    def _on_lost(self, exc: BaseException | None) -> None:
        reason = self._abort_reason or (f"connection lost: {exc}" if exc else "connection closed by server")
        error = ConnectionError(reason)
        for pending in (*self._pending, *self._confirm.values()):
            future = pending.done if isinstance(pending, _ShardCommand) else pending
            if future is not None and not future.done():
                future.set_exception(error)
        self._pending.clear()
        self._confirm.clear()
        if not self.closed.done():
            self.closed.set_result(reason)


async def keepalive(conn: PubSubConnection, ping_interval: float, ping_timeout: float) -> None:
    """Watch ``conn`` with a deadline counted from the last byte received: a connection silent for
    ``ping_interval`` is sent a PING, and one silent for ``ping_interval + ping_timeout`` — since its last byte,
    whatever was sent — is dropped as half-open. So a dead link is found at most that long after it went quiet."""
    loop = asyncio.get_running_loop()
    deadline = ping_interval + ping_timeout
    pinged_at = -1.0  # loop time of the last PING (none yet)
    watched_from = loop.time()  # silence before this task started watching is not counted
    while True:
        now = loop.time()
        heard = max(conn.last_received, watched_from)
        if now - heard >= deadline:
            conn.abort(f"nothing received for {deadline:g} s, PING included (half-open connection?)")
            return
        # A PING is unanswered while nothing came at or after the time it was sent: uvloop's clock moves in whole
        # milliseconds, once per loop turn, so a PONG from a nearby Redis arrives at the very time of its PING.
        if now - heard >= ping_interval and pinged_at <= heard:
            try:
                conn.ping()
            except ConnectionError:
                return
            pinged_at = now
        due = heard + (deadline if pinged_at > heard else ping_interval)
        await asyncio.sleep(max(0.01, due - now))
