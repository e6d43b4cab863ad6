"""The WebSocket edge: one :class:`Connection` — an ``asyncio.Protocol`` on the event loop's own TCP transport —
per client, a thin pump: bytes → the upgrade (:mod:`.handshake`) → frames (:class:`~.framing.Framing`) → the
:class:`Host` (the node, which gives messages to the connection's :class:`~.session.Session`) → bytes. What the
bytes mean is decided by those pure parts; this module only carries out their transport side: writes, the
half-close, the two timers, pausing the reads.

Purpose-built to keep an idle connection small (``docs/benchmarks.md``): after the handshake a connection is
this object (slotted), its transport, its framing state and its session — no read buffer (uvloop reads into
one buffer per loop; a partial frame is the only thing kept between reads), no per-connection logger, and no
task or timer while it is open. Deadlines (authentication, token expiry, heartbeats) are checked by one
periodic sweep over all sessions (:meth:`~.session.Session.tick`); the two short-lived exceptions are a timer
for the upgrade's deadline (cancelled once upgraded) and one for the close handshake's (after a close frame).

Overflow policies: a request head over 8 KiB is refused (431); inbound frames are bounded by
:class:`~.framing.Framing` (size, and a budget of frames and bytes: 4005); outbound bytes are bounded by the
hub (slow consumer, 4004). Sockets count toward the per-IP cap from the moment they are accepted, upgraded or
not.

Refusals reach the client: after a refusal (an HTTP error, a close frame sent with the client's input given
up) the server half-closes — FIN after what it wrote — and goes on reading and discarding what the client
sends until the client closes too, for at most :data:`CLOSE_TIMEOUT_S` and :data:`~.framing.DISCARD_KIB` KiB.
Closing with the client's data unread would make the kernel send RST, and the client would often lose the
reason.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
from collections.abc import Callable
from typing import Protocol, cast

from . import codes, frames
from .codes import CloseCode
from .deflate import Compression, Deflater
from .errors import HandshakeError
from .framing import CloseReceived, Failure, Framing, Inbound, Message, Ping
from .handshake import Request, RequestReader, bearer_token, error_response, validate
from .session import Session

_ids = itertools.count(1)
#: Connection ids are unique across instances (acknowledgements name the connection that made them).
_INSTANCE = os.urandom(4).hex()
#: After the server's close frame, how long the client has to answer with its own before the TCP
#: connection is dropped.
CLOSE_TIMEOUT_S = 2.0
#: The upgrade deadline of a socket accepted beyond the per-IP cap (it is only told 1013).
OVER_CAP_TIMEOUT_S = 1.0


class Host(Protocol):
    """What a connection needs of the node that runs it (:class:`~.node.Node`)."""

    clock: Callable[[], float]
    compression: Compression | None  # None: permessage-deflate is never negotiated (ARDA_COMPRESSION=off)

    def accepted(self, conn: Connection, peer: str) -> bool: ...

    def upgraded(self, conn: Connection, request: Request, peer: str) -> bool: ...

    def refused(self, conn: Connection, exc: HandshakeError) -> None: ...

    def opened(self, conn: Connection, token: str | None) -> None: ...

    def inbound(self, conn: Connection, event: Message | Failure) -> None: ...

    def send(self, conn: Connection, frame: bytes) -> None: ...

    def lost(self, conn: Connection) -> None: ...


class Connection(asyncio.Protocol):
    """One client. ``out``/``dirty``/``closed`` are the hub's (:class:`~.hub.Peer`)."""

    __slots__ = (
        "closed",
        "deflater",
        "dirty",
        "framing",
        "host",
        "id",
        "ip",
        "out",
        "over_cap",
        "reader",
        "sent",
        "session",
        "timer",
        "transport",
    )

    def __init__(self, host: Host, framing: Framing, session: Session) -> None:
        self.host = host
        self.framing = framing
        self.session = session
        self.id = session.id
        self.transport: asyncio.Transport | None = None
        self.ip = ""  # the client's address, once known (a trusted proxy's socket: from its request)
        self.out: list[bytes] = []
        self.sent = 0  # messages written to the socket (counted per write by the hub)
        self.dirty = False
        self.closed = False  # no more writes: a close frame was sent or received (mirrors the framing's, for fan-out)
        self.over_cap = False  # accepted beyond the per-IP cap: answered 1013 once upgraded
        self.deflater: Deflater | None = None  # permessage-deflate negotiated: the shared compressor of its window
        # The handshake: the request reader, and the deadline's timer (both dropped once upgraded).
        self.reader: RequestReader | None = RequestReader()
        self.timer: asyncio.TimerHandle | None = None

    @staticmethod
    def new_id() -> str:
        return f"{_INSTANCE}-{next(_ids)}"

    @property
    def close_code(self) -> int:
        return self.framing.close_code

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.over_cap = not self.host.accepted(self, str(peer[0]) if peer else "")
        self._deadline(OVER_CAP_TIMEOUT_S if self.over_cap else self.session.rules.auth_timeout_s)  # the upgrade

    def data_received(self, data: bytes) -> None:
        framing = self.framing
        if framing.deaf:
            framing.receive(data, 0.0)  # discarded
            if framing.discarded_enough and self.transport is not None:
                self.transport.pause_reading()  # enough: the deadline drops it (the RST no longer hides anything)
            return
        if self.reader is not None:
            self._handshake(self.reader, data)
            return
        now = self.host.clock()
        self.session.last_seen = now
        for event in framing.receive(data, now):
            self._inbound(event)

    def _inbound(self, event: Inbound) -> None:
        if isinstance(event, Ping):
            self.host.send(self, event.pong)  # through the hub: a client that pings without reading hits 4004
        elif isinstance(event, CloseReceived):
            transport = self.transport
            if event.reply is not None and transport is not None:
                self._flush()
                transport.write(event.reply)
            self.closed = True
            self._hang_up()
        else:
            self.host.inbound(self, event)

    def eof_received(self) -> bool | None:
        return None  # the client half-closed: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.framing.lost()
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.host.lost(self)

    # -- handshake ----------------------------------------------------------------------------------
    def _handshake(self, reader: RequestReader, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        try:
            parsed = reader.feed(data)
            if parsed is None:
                return
            request, rest = parsed
            compression = self.host.compression
            agreed = compression.negotiate(request.headers.get("sec-websocket-extensions")) if compression else None
            response = validate(request, agreed[1] if agreed is not None else None)
            peer = transport.get_extra_info("peername")
            admitted = self.host.upgraded(self, request, str(peer[0]) if peer else "")  # Origin, the per-IP cap
        except HandshakeError as exc:
            self.reader = None
            self.host.refused(self, exc)
            self.framing.closed = self.closed = True
            transport.write(error_response(exc))
            self.framing.give_up_input()
            self._hang_up()
            return
        self.reader = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        transport.write(response)
        if agreed is not None:
            self.deflater = agreed[0]
            self.framing.inflate = True
        if not admitted:
            self.close(codes.TRY_AGAIN_LATER, "too many connections from this address")
            return
        self.host.opened(self, bearer_token(request))
        if rest and not self.closed:
            self.data_received(rest)

    # -- output -------------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not self.closed and not transport.is_closing():
            transport.write(data)

    def write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def ping(self) -> None:
        self.write(frames.PING_FRAME)

    def _flush(self) -> None:
        """Write what the hub queued this turn now (before a close frame)."""
        if self.out:
            data = b"".join(self.out if self.deflater is None else self.deflater.frames(self.out))
            self.out.clear()
            self.write(data)

    def close(self, code: CloseCode, reason: str = "") -> None:
        """Flush what is queued, send a close frame with ``code``, and drop the connection if the client does
        not complete the close handshake within :data:`CLOSE_TIMEOUT_S` (at once, after the frame, when the
        client's input was given up)."""
        transport = self.transport
        if self.closed or transport is None:
            return
        self._flush()
        close_frame = self.framing.close(code.code, reason or code.name)
        self.closed = True
        if transport.is_closing() or close_frame is None:
            return
        transport.write(close_frame)
        if self.framing.deaf:
            self._hang_up()  # "fail the connection" (RFC 6455 §7.1.7): its input is not read any more
        else:
            self._deadline(CLOSE_TIMEOUT_S)  # for the client's close frame

    def _hang_up(self) -> None:
        """Half-close: FIN once what is queued is sent, then wait (still reading, discarding) for the client to
        close too — or drop the connection after :data:`CLOSE_TIMEOUT_S`."""
        transport = self.transport
        if transport is None:
            return
        if transport.can_write_eof():
            transport.write_eof()  # the client's FIN then ends it (eof_received)
        else:
            transport.close()
        self._deadline(CLOSE_TIMEOUT_S)

    def _deadline(self, seconds: float) -> None:
        """Abort the connection in ``seconds`` unless it is gone by then (one timer per connection at most)."""
        if self.timer is not None:
            self.timer.cancel()
        if self.transport is not None:
            self.timer = asyncio.get_running_loop().call_later(seconds, self.transport.abort)

    def abort(self, code: CloseCode) -> None:
        """Drop at once (the client is not reading; a close frame would never arrive)."""
        self.framing.closed = self.closed = True
        self.framing.close_code = code.code
        if self.transport is not None:
            self.transport.abort()


async def serve(
    factory: Callable[[], Connection], host: str, port: int, send_buffer: int, reuse_port: bool
) -> asyncio.Server:
    """Listen for WebSocket clients on ``host:port`` (``/ws`` and ``/``).

    The kernel's send buffer of each connection is capped (``send_buffer`` bytes, set on the listening socket:
    accepted sockets inherit it): left to autotuning it grows to megabytes, which the outbound bound
    (``outbound_max_bytes``, counted in the transport's own buffer) never sees — a reader that stopped would
    soak up megabytes of stale data before being closed. With the cap, what a stalled reader does not take
    piles up where it is counted, and it is closed with 4004 soon after passing the bound."""
    loop = asyncio.get_running_loop()
    # reconnect storms: a backlog of 100 overflows, and each dropped SYN costs its client a second
    server = await loop.create_server(factory, host, port, backlog=4096, reuse_port=reuse_port or None)
    for sock in server.sockets:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    return server


__all__ = ["CLOSE_TIMEOUT_S", "Connection", "Host", "serve"]
