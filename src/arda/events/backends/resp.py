"""A minimal RESP2 connection in subscribed mode: the bus's receive hot path.

redis-py's ``PubSub`` tops out at 66–88k messages/s on this machine; an ``asyncio.Protocol`` feeding
``hiredis.Reader`` receives ≥ 490k/s (``docs/benchmarks.md``, re-measured by ``bench/bus.py``). This
module does only what a subscriber needs: connect, AUTH, SELECT-free SUBSCRIBE/UNSUBSCRIBE, PING, and
hand each ``message`` to a callback synchronously, without an await per message.
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
            if type(reply) is list and reply[0] == b"message":
                on_message(reply[1], reply[2])
            else:
                conn._on_reply(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._conn._on_lost(exc)


class PubSubConnection:
    """One subscriber connection. ``closed`` resolves (with a reason) when it ends, for whatever cause."""

    def __init__(self, on_message: OnMessage) -> None:
        self.on_message = on_message
        self.loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[str] = self.loop.create_future()
        self.last_received = self.loop.time()
        self._transport: asyncio.Transport | None = None
        self._pending: deque[asyncio.Future[Any]] = deque()  # replies to AUTH, in order
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
                self._pending.popleft().set_exception(RespError(str(reply)))
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
            # anything else is the reply to a request (ROLE's is a list too)
        if self._pending:
            self._pending.popleft().set_result(reply)

    def _on_lost(self, exc: BaseException | None) -> None:
        reason = self._abort_reason or (f"connection lost: {exc}" if exc else "connection closed by server")
        error = ConnectionError(reason)
        for future in (*self._pending, *self._confirm.values()):
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
        self._confirm.clear()
        if not self.closed.done():
            self.closed.set_result(reason)
