"""The WebSocket edge: picows listeners, one :class:`Connection` per client. Thin: frames in are handed to
the :class:`~.sessions.Sessions` logic; bytes out come from the :class:`~.hub.Hub` or a reply.

No task and no timer per connection: deadlines (authentication, token expiry, heartbeats) are checked by
one periodic sweep over all connections (:meth:`Sessions.sweep`), which keeps an idle connection small.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)

from . import codes
from .hub import Subscription
from .ratelimit import TokenBucket

if TYPE_CHECKING:
    from .auth import Identity
    from .sessions import Sessions

log = logging.getLogger("arda.notifications")
_ids = itertools.count(1)
#: Connection ids are unique across instances (acknowledgements name the connection that made them).
_INSTANCE = os.urandom(4).hex()
PING_FRAME = b"\x89\x00"


class Connection(WSListener):
    """One client. Attributes are state read and written by the hub and the session logic."""

    __slots__ = (
        "bucket",
        "busy",
        "close_code",
        "closed",
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
        "ping_sent_at",
        "raw",
        "sessions",
        "subs",
        "token",
        "transport",
        "user_id",
        "violations",
    )

    def __init__(self, sessions: Sessions, token: str | None) -> None:
        self.sessions = sessions
        self.id = f"{_INSTANCE}-{next(_ids)}"
        self.token = token  # from the upgrade request (header or query); cleared once verified
        self.transport: WSTransport | None = None
        self.raw: asyncio.Transport | None = None
        self.ip = ""
        self.identity: Identity | None = None
        self.user_id: str | None = None
        self.subs: dict[str, Subscription] = {}
        self.out: list[bytes] = []
        self.dirty = False
        self.closed = False
        self.close_code = 0
        now = sessions.clock()
        self.opened_at = now
        self.last_seen = now
        self.ping_sent_at = 0.0
        self.expiry_warned_at = 0.0
        self.bucket = TokenBucket(sessions.settings.client_rate, sessions.settings.client_burst, now)
        self.violations = 0
        self.fragments: bytearray | None = None
        # Messages are handled one at a time, in order: while one waits on I/O (verifying a token, reading
        # history, publishing an acknowledgement), the next ones wait here.
        self.busy = False
        self.inbox: list[bytes] | None = None

    # -- picows callbacks -----------------------------------------------------------------------
    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.raw = transport.underlying_transport
        peer = self.raw.get_extra_info("peername")
        self.ip = str(peer[0]) if peer else ""
        self.sessions.connected(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if self.closed or transport.is_close_frame_sent:
            return  # closing: nothing more is handled or answered
        self.last_seen = self.sessions.clock()
        msg_type = frame.msg_type
        if msg_type == WSMsgType.TEXT or msg_type == WSMsgType.BINARY:
            if frame.fin and self.fragments is None:
                if frame.payload_size > self.sessions.settings.max_message_bytes:
                    self.sessions.too_large(self)
                    return
                self.sessions.received(self, frame.get_payload_as_bytes())
            else:
                self._fragment(frame)
        elif msg_type == WSMsgType.CONTINUATION:
            self._fragment(frame)
        elif msg_type == WSMsgType.CLOSE:
            code: Any = frame.get_close_code()
            if not int(code):
                code = 1000  # an empty close is answered with "normal", never with 0
            transport.send_close(code, frame.get_close_message())
            transport.disconnect()

    def _fragment(self, frame: WSFrame) -> None:
        if self.fragments is None:
            self.fragments = bytearray()
        self.fragments += frame.get_payload_as_bytes()
        if len(self.fragments) > self.sessions.settings.max_message_bytes:
            self.fragments = None
            self.sessions.too_large(self)
        elif frame.fin:
            data, self.fragments = bytes(self.fragments), None
            self.sessions.received(self, data)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed = True
        self.sessions.disconnected(self)

    # -- output -----------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.raw is not None and not self.closed and not self.raw.is_closing():
            self.raw.write(data)

    def write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size() if self.raw is not None else 0

    def ping(self) -> None:
        self.ping_sent_at = self.sessions.clock()
        self.write(PING_FRAME)

    def close(self, code: codes.CloseCode, reason: str = "") -> None:
        """Flush what is queued, send a close frame with ``code``, and drop the connection if the client does
        not complete the close handshake within 2 seconds."""
        if self.closed or self.transport is None:
            return
        if self.out:
            data = b"".join(self.out)
            self.out.clear()
            self.write(data)
        self.close_code = code.code
        self.transport.send_close(code.code, (reason or code.name).encode()[:120])  # type: ignore[arg-type]
        self.closed = True
        transport = self.transport
        asyncio.get_running_loop().call_later(2.0, lambda: transport.disconnect(graceful=False))

    def abort(self, code: codes.CloseCode) -> None:
        """Drop at once (the client is not reading; a close frame would never arrive)."""
        self.close_code = code.code
        self.closed = True
        if self.transport is not None:
            self.transport.disconnect(graceful=False)

    def close_slow(self) -> None:
        self.sessions.slow(self)


def extract_token(request: WSUpgradeRequest) -> str | None:
    """A token from ``Authorization: Bearer …`` or the ``token`` query parameter (never logged)."""
    header = request.headers.get("authorization")
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    path = request.path.decode("latin-1")
    if "?" in path:
        values = parse_qs(path.split("?", 1)[1]).get("token")
        if values:
            return values[0]
    return None


def redacted_path(request: WSUpgradeRequest) -> str:
    path = request.path.decode("latin-1")
    return path.split("?", 1)[0] + ("?[redacted]" if "?" in path else "")


ListenerFactory = Callable[[WSUpgradeRequest], WSListener | WSUpgradeResponseWithListener | None]


def listener_factory(sessions: Sessions) -> ListenerFactory:
    origins = sessions.settings.origins

    def factory(request: WSUpgradeRequest) -> WSListener | WSUpgradeResponseWithListener | None:
        route = request.path.split(b"?", 1)[0]
        if route not in (b"/", b"/ws"):
            return None  # 404
        if origins is not None:
            origin = request.headers.get("origin")
            if origin is not None and origin.rstrip("/") not in origins:
                sessions.metrics.failures.labels("origin_rejected").inc()
                log.warning("origin rejected", extra={"origin": origin[:200], "path": redacted_path(request)})
                return WSUpgradeResponseWithListener(
                    WSUpgradeResponse.create_error_response(403, b"origin not allowed\n"), None
                )
        return Connection(sessions, extract_token(request))

    return factory


__all__ = ["Connection", "WSCloseCode", "extract_token", "listener_factory"]
