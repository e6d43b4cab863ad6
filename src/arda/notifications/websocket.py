"""The WebSocket edge: one :class:`Connection` — an ``asyncio.Protocol`` on the event loop's own TCP transport —
per client. It speaks the handshake (:mod:`.handshake`) and the framing (:mod:`.frames`) itself; frames in are
handed to the :class:`~.sessions.Sessions` logic, bytes out come from the :class:`~.hub.Hub` or a reply.

Purpose-built to keep an idle connection small (``docs/benchmarks.md``): after the handshake a connection is
this object (slotted), its transport, and the service's own state — no read buffer (uvloop reads into one
buffer per loop; a partial frame is the only thing kept between reads), no per-connection logger, and no task
or timer while it is open. Deadlines (authentication, token expiry, heartbeats) are checked by one periodic
sweep over all connections (:meth:`Sessions.sweep`); the two short-lived exceptions are a timer for the
upgrade's deadline (cancelled once upgraded) and one for the close handshake's (after a close frame).

Overflow policies: a request head over 8 KiB is refused (431); a frame or fragmented message over
``max_message_bytes`` gets ``message_too_large`` and close 1009 before its payload is read; outbound bytes
are bounded by the hub (slow consumer, 4004). Inbound, every frame — data, continuation, ping, pong, close —
and every KiB of them is charged to the connection's budget (:class:`InboundBudget`): a small fixed allowance
before authentication, a rate after it; beyond it the connection is closed (4005) and its input discarded,
so one socket flooding empty control frames cannot hold the event loop. Sockets count toward the per-IP cap
from the moment they are accepted, upgraded or not.

Refusals reach the client: after a refusal (an HTTP error, a close frame sent with the client's input given
up) the server half-closes — FIN after what it wrote — and goes on reading and discarding what the client
sends until the client closes too, for at most :data:`CLOSE_TIMEOUT_S` and :data:`DISCARD_KIB` KiB. Closing
with the client's data unread would make the kernel send RST, and the client would often lose the reason.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
from typing import TYPE_CHECKING, NamedTuple, cast

from .. import logs
from . import codes, frames
from .errors import FrameError, FrameTooLarge, HandshakeError
from .frames import CLOSE, CONTINUATION, PING, PONG, TEXT
from .handshake import Request, RequestReader, bearer_token, client_address, error_response, validate
from .hub import Subscription
from .ratelimit import TokenBucket

if TYPE_CHECKING:
    from .auth import Identity
    from .sessions import Sessions

log = logging.getLogger("arda.notifications")
_ids = itertools.count(1)
#: Connection ids are unique across instances (acknowledgements name the connection that made them).
_INSTANCE = os.urandom(4).hex()
#: After the server's close frame, how long the client has to answer with its own before the TCP
#: connection is dropped.
CLOSE_TIMEOUT_S = 2.0
#: After a refusal, how much more input is read and discarded (KiB) before reading stops until the deadline.
DISCARD_KIB = 1024
#: The upgrade deadline of a socket accepted beyond the per-IP cap (it is only told 1013).
OVER_CAP_TIMEOUT_S = 1.0


class InboundBudget(NamedTuple):
    """What one connection may send, in units: one per frame (any opcode, empty or not) plus one per KiB of it.

    Before authentication a connection has ``preauth`` units in all (no refill: it has ``auth_timeout_s`` to
    authenticate, and needs a handful of frames to do it). Once authenticated it starts with ``4 * rate``
    units and earns ``rate`` per second, saved up to ``4 * rate``. Overflow policy: the connection is closed
    with 4005 (rate_limited) and the rest of its input discarded."""

    preauth: float
    rate: float

    @property
    def burst(self) -> float:
        return 4 * self.rate


class Connection(asyncio.Protocol):
    """One client. Attributes are state read and written by the hub and the session logic."""

    __slots__ = (
        "bucket",
        "budget",
        "busy",
        "close_code",
        "closed",
        "deaf",
        "dirty",
        "expiry_warned_at",
        "fragments",
        "id",
        "identity",
        "inbox",
        "ip",
        "last_seen",
        "opened_at",
        "out",
        "over_cap",
        "pending",
        "ping_sent_at",
        "reader",
        "sessions",
        "subs",
        "timer",
        "token",
        "transport",
        "user_id",
        "violations",
    )

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.id = f"{_INSTANCE}-{next(_ids)}"
        self.token: str | None = None  # from the upgrade request (header or query); cleared once verified
        self.transport: asyncio.Transport | None = None
        self.ip = ""
        self.identity: Identity | None = None
        self.user_id: str | None = None
        self.subs: dict[str, Subscription] = {}
        self.out: list[bytes] = []
        self.dirty = False
        self.closed = False
        self.close_code = 0  # the code this connection was closed with (sent or received)
        now = sessions.clock()
        self.opened_at = now
        self.last_seen = now
        self.ping_sent_at = 0.0
        self.expiry_warned_at = 0.0
        self.bucket = TokenBucket(sessions.settings.client_rate, sessions.settings.client_burst, now)
        self.budget = sessions.budget.preauth  # inbound units left (InboundBudget); after a refusal, KiB to discard
        self.over_cap = False  # accepted beyond the per-IP cap: answered 1013 once upgraded
        self.violations = 0
        # The handshake: the request reader, and the deadline's timer (both dropped once upgraded).
        self.reader: RequestReader | None = RequestReader()
        self.timer: asyncio.TimerHandle | None = None
        # Input kept between reads: the start of an incomplete frame; the parts of a fragmented message
        # (its first byte says text or binary). None when there is none: an idle connection keeps nothing.
        self.pending: bytearray | None = None
        self.fragments: bytearray | None = None
        self.deaf = False  # input given up (a protocol violation, an oversized frame, the close handshake)
        # Messages are handled one at a time, in order: while one waits on I/O (verifying a token, reading
        # history, publishing an acknowledgement), the next ones wait here.
        self.busy = False
        self.inbox: list[bytes] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.ip = str(peer[0]) if peer else ""
        self.over_cap = not self.sessions.accepted(self)  # (a trusted proxy's socket: counted at the upgrade)
        self._deadline(OVER_CAP_TIMEOUT_S if self.over_cap else self.sessions.settings.auth_timeout_s)  # upgrade

    def data_received(self, data: bytes) -> None:
        if self.deaf:
            self._discard(len(data))
            return
        if self.reader is not None:
            self._handshake(self.reader, data)
            return
        now = self.sessions.clock()
        budget = self.budget
        if self.identity is not None:  # authenticated: earns its rate since it last sent something
            rates = self.sessions.budget
            budget = min(rates.burst, budget + (now - self.last_seen) * rates.rate)
        self.last_seen = now
        pending = self.pending
        if pending is not None:
            pending += data
            buf: bytes | bytearray = pending
        else:
            buf = data
        limit = self.sessions.settings.max_message_bytes
        start = 0
        try:
            while start < len(buf):
                fragments = self.fragments  # a message under way: its next frame may only fill what is left
                room = limit if fragments is None else limit - (len(fragments) - 1)
                parsed = frames.parse_frame(buf, start, room)
                if parsed is None:
                    break
                frame, end = parsed
                budget -= 1 + (end - start) / 1024  # a frame, of any kind, and its size
                if budget < 0:
                    self._flooded()
                    return
                self.budget = budget
                start = end
                self._frame(frame.fin, frame.opcode, frame.payload)
                if self.deaf:
                    return
        except FrameError as exc:
            self._violation(exc.close_code, str(exc))
            return
        except FrameTooLarge:
            self._give_up_input()
            if not self.closed:
                self.sessions.too_large(self)
            return
        self.budget = budget
        if start >= len(buf):
            self.pending = None
        elif pending is None:
            self.pending = bytearray(buf[start:])
        else:
            del pending[:start]

    def eof_received(self) -> bool | None:
        return None  # the client half-closed: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pending = self.fragments = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.sessions.disconnected(self)
        self.sessions.released(self)

    # -- handshake ----------------------------------------------------------------------------------
    def _handshake(self, reader: RequestReader, data: bytes) -> None:
        transport = self.transport
        assert transport is not None
        try:
            parsed = reader.feed(data)
            if parsed is None:
                return
            request, rest = parsed
            response = validate(request)
            self._check_origin(request)
        except HandshakeError as exc:
            self.reader = None
            self.sessions.metrics.failures.labels("handshake_refused").inc()
            log.debug("handshake refused", extra={"status": exc.status, "reason": str(exc), "ip": self.ip})
            self.closed = True
            transport.write(error_response(exc))
            self._give_up_input()
            self._hang_up()
            return
        self.reader = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.ip:  # through a trusted proxy: the client is the one its X-Forwarded-For names
            peer = transport.get_extra_info("peername")
            proxy = str(peer[0]) if peer else ""
            self.over_cap = not self.sessions.forwarded(self, client_address(request, proxy, self.sessions.trusted))
        self.token = bearer_token(request)
        transport.write(response)
        if self.over_cap:
            self.sessions.metrics.failures.labels("too_many_connections").inc()
            self.token = None
            self.close(codes.TRY_AGAIN_LATER, "too many connections from this address")
            return
        self.sessions.connected(self)
        if rest and not self.closed:
            self.data_received(rest)

    def _check_origin(self, request: Request) -> None:
        origins = self.sessions.settings.origins
        if origins is None:
            return
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") not in origins:
            self.sessions.metrics.failures.labels("origin_rejected").inc()
            logs.client_fault(
                log, "origin_rejected", "origin rejected", origin=origin[:200], path=request.redacted_target()
            )
            raise HandshakeError(403, "origin not allowed")

    # -- frames -------------------------------------------------------------------------------------
    def _frame(self, fin: bool, opcode: int, payload: bytes) -> None:
        if opcode == CLOSE:
            self._close_received(payload)
        elif opcode == PING:
            # through the hub: a client that pings without reading hits the outbound bounds (4004) like any other
            self.sessions.hub.send(self, frames.frame(PONG, payload))
        elif opcode == PONG:
            pass  # any frame counts as a sign of life (last_seen)
        elif self.closed:
            pass  # closing: no more messages are handled or answered
        elif opcode == CONTINUATION:
            fragments = self.fragments
            if fragments is None:
                raise FrameError(codes.PROTOCOL_ERROR, "continuation frame without a message to continue")
            fragments += payload  # within the limit: parse_frame was given the room left
            if fin:
                self.fragments = None
                self._message(fragments[0], bytes(memoryview(fragments)[1:]))
        elif self.fragments is not None:
            raise FrameError(codes.PROTOCOL_ERROR, "a new message began before the previous one ended")
        elif fin:
            self._message(opcode, payload)
        else:
            self.fragments = bytearray((opcode,)) + payload

    def _message(self, opcode: int, data: bytes) -> None:
        if opcode == TEXT:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                raise FrameError(codes.INVALID_DATA, "text message is not valid UTF-8") from None
        try:
            self.sessions.received(self, data)
        except Exception:  # a bug of ours: the client still gets a close frame (1011), never a dropped socket
            log.exception("message handling failed", extra={"clientId": self.id})
            self.sessions.metrics.failures.labels("internal_error").inc()
            self.close(codes.INTERNAL_ERROR, "internal error: reconnect")

    def _close_received(self, payload: bytes) -> None:
        transport = self.transport
        assert transport is not None
        if not self.closed:  # the client closes: answer with its code (1000 when it gave none), then hang up
            code, _ = frames.parse_close(payload)
            self._flush()
            self.closed = True
            self.close_code = code
            transport.write(frames.close_frame(1000 if code == frames.NO_STATUS else code))
        self._give_up_input()
        self._hang_up()

    def _violation(self, close_code: codes.CloseCode, reason: str) -> None:
        """The client broke the protocol: close with ``close_code`` and read nothing more from it."""
        self._give_up_input()
        if self.closed:
            return
        self.sessions.metrics.failures.labels("protocol_error").inc()
        logs.client_fault(
            log,
            "protocol_error",
            "protocol violation",
            logging.INFO,
            clientId=self.id,
            reason=reason,
            code=close_code.code,
        )
        self.close(close_code, reason)

    def _flooded(self) -> None:
        """The client sent more than its :class:`InboundBudget`: close with 4005, reading nothing more of it."""
        self._give_up_input()
        if self.closed:
            return
        self.sessions.metrics.failures.labels("inbound_budget").inc()
        logs.client_fault(log, "inbound_budget", "inbound budget exceeded", clientId=self.id, ip=self.ip)
        self.close(codes.RATE_LIMITED, "too many frames")

    def _give_up_input(self) -> None:
        """Discard whatever the client sends from now on (still reading, up to :data:`DISCARD_KIB`, so that it
        gets what the server wrote before closing, and its hanging up is noticed)."""
        if not self.deaf:
            self.deaf = True
            self.budget = DISCARD_KIB
        self.pending = self.fragments = None

    def _discard(self, size: int) -> None:
        self.budget -= size / 1024
        if self.budget < 0 and self.transport is not None:
            self.transport.pause_reading()  # enough: the deadline drops it (the RST no longer hides anything)

    # -- output -------------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not self.closed and not transport.is_closing():
            transport.write(data)

    def write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def ping(self) -> None:
        self.ping_sent_at = self.sessions.clock()
        self.write(frames.PING_FRAME)

    def _flush(self) -> None:
        """Write what the hub queued this turn now (before a close frame)."""
        if self.out:
            data = b"".join(self.out)
            self.out.clear()
            self.write(data)

    def close(self, code: codes.CloseCode, reason: str = "") -> None:
        """Flush what is queued, send a close frame with ``code``, and drop the connection if the client does
        not complete the close handshake within :data:`CLOSE_TIMEOUT_S` (at once, after the frame, when the
        client's input was given up)."""
        transport = self.transport
        if self.closed or transport is None:
            return
        self._flush()
        self.close_code = code.code
        self.closed = True
        if transport.is_closing():
            return
        transport.write(frames.close_frame(code.code, reason or code.name))
        if self.deaf:
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

    def abort(self, code: codes.CloseCode) -> None:
        """Drop at once (the client is not reading; a close frame would never arrive)."""
        self.close_code = code.code
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def close_slow(self) -> None:
        self.sessions.slow(self)


async def serve(sessions: Sessions, host: str, port: int) -> asyncio.Server:
    """Listen for WebSocket clients on ``host:port`` (``/ws`` and ``/``).

    The kernel's send buffer of each connection is capped (``send_buffer_bytes``, set on the listening socket:
    accepted sockets inherit it): left to autotuning it grows to megabytes, which the outbound bound
    (``outbound_max_bytes``, counted in the transport's own buffer) never sees — a reader that stopped would
    soak up megabytes of stale data before being closed. With the cap, what a stalled reader does not take
    piles up where it is counted, and it is closed with 4004 soon after passing the bound."""
    loop = asyncio.get_running_loop()
    # reconnect storms: a backlog of 100 overflows, and each dropped SYN costs its client a second
    reuse = sessions.settings.worker_dir is not None  # --workers: every worker listens on the same port
    server = await loop.create_server(lambda: Connection(sessions), host, port, backlog=4096, reuse_port=reuse or None)
    for sock in server.sockets:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sessions.settings.send_buffer_bytes)
    return server


__all__ = ["CLOSE_TIMEOUT_S", "Connection", "InboundBudget", "serve"]
