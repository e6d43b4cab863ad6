"""The WebSocket connection after the upgrade, sans I/O: inbound framing, its budget, and the close handshake.

:class:`Framing` takes the bytes a client sent (and the time) and returns what they mean — messages, pings,
the client's close, or a failure — keeping only what a connection must between reads: the start of an
incomplete frame and the parts of a fragmented message (None when there is none: an idle connection keeps
nothing). It decides the close handshake too: :meth:`Framing.close` gives the close frame to send (once), a
close received gives the answer, and after either no more messages are handled. The
:class:`~.websocket.Connection` pumps bytes through it and carries out the rest (writes, half-close, timers).

Overflow policies: a frame or fragmented message over ``max_message_bytes`` is a :data:`TOO_LARGE` failure
before its payload is read, and so is a compressed message (permessage-deflate, :mod:`.deflate`) as soon as
inflating it would pass that size; every frame — data, continuation, ping, pong, close — and every KiB of them is
charged to the connection's budget (:class:`InboundBudget`) — a compressed message's KiB once more as
inflated — and beyond it the failure is :data:`FLOODED`
(the service closes with 4005). After a failure or a close the input is given up: what the client still sends
is read and discarded, up to :data:`DISCARD_KIB`, then reading pauses.
"""

from __future__ import annotations

from typing import NamedTuple

from . import codes, frames
from .deflate import inflate
from .errors import FrameError, FrameTooLarge
from .frames import CLOSE, CONTINUATION, PING, PONG, RSV1, TEXT

#: After a refusal, how much more input is read and discarded (KiB) before reading stops until the deadline.
DISCARD_KIB = 1024


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


class Message(NamedTuple):
    """A complete data message (text is valid UTF-8)."""

    data: bytes


class Ping(NamedTuple):
    """The client pinged: answer ``pong`` (through the outbound bounds, like any other frame)."""

    pong: bytes


class CloseReceived(NamedTuple):
    """The client sent its close frame: ``reply`` is ours to send (None: the client answered ours), then hang up."""

    code: int
    reply: bytes | None


class Failure(NamedTuple):
    """The input is given up: close with ``close_code``. ``kind`` is ``protocol_error``, ``too_large`` or
    ``flooded``."""

    kind: str
    close_code: codes.CloseCode
    reason: str


Inbound = Message | Ping | CloseReceived | Failure
PROTOCOL_ERROR = "protocol_error"
TOO_LARGE = "too_large"
FLOODED = "flooded"


class Framing:
    __slots__ = (
        "budget",
        "close_code",
        "closed",
        "deaf",
        "earned_at",
        "fragments",
        "inflate",
        "inflated",
        "limit",
        "pending",
        "rates",
    )

    def __init__(self, rates: InboundBudget, max_message_bytes: int) -> None:
        self.rates = rates
        self.limit = max_message_bytes
        self.budget = rates.preauth  # inbound units left; after the input is given up, KiB left to discard
        self.earned_at: float | None = None  # authenticated: when the budget last earned its rate
        self.pending: bytearray | None = None
        self.fragments: bytearray | None = None  # a message under way (its first byte says text or binary)
        self.closed = False  # a close frame was sent or received: no more messages are handled
        self.close_code = 0  # the code the connection was closed with (sent or received)
        self.deaf = False  # input given up (a failure, or the close handshake)
        self.inflate = False  # permessage-deflate negotiated: messages with RSV1 are compressed
        self.inflated = 0  # bytes inflated by the last frame handled (charged to the budget)

    def authenticated(self, now: float) -> None:
        """From the small pre-authentication allowance to the full budget."""
        if self.earned_at is None:
            self.earned_at = now
            if not self.deaf:
                self.budget = self.rates.burst

    # -- inbound ------------------------------------------------------------------------------------
    def receive(self, data: bytes, now: float) -> list[Inbound]:
        """What ``data`` (the next bytes from the client) means, in order."""
        if self.deaf:
            self.budget -= len(data) / 1024
            return []
        budget = self.budget
        if self.earned_at is not None:  # authenticated: earns its rate since it last sent something
            rates = self.rates
            budget = min(rates.burst, budget + (now - self.earned_at) * rates.rate)
            self.earned_at = now
        pending = self.pending
        if pending is not None:
            pending += data
            buf: bytes | bytearray = pending
        else:
            buf = data
        out: list[Inbound] = []
        limit = self.limit
        start = 0
        try:
            while start < len(buf):
                fragments = self.fragments  # a message under way: its next frame may only fill what is left
                room = limit if fragments is None else limit - (len(fragments) - 1)
                parsed = frames.parse_frame(buf, start, room, self.inflate)
                if parsed is None:
                    break
                frame, end = parsed
                budget -= 1 + (end - start) / 1024  # a frame, of any kind, and its size
                if budget < 0:
                    out.append(self._fail(FLOODED, codes.RATE_LIMITED, "too many frames"))
                    return out
                self.budget = budget
                start = end
                event = self._frame(frame.fin, frame.opcode, frame.payload, frame.compressed)
                if self.inflated:
                    budget -= self.inflated / 1024  # what inflating it produced
                    self.inflated = 0
                    self.budget = budget
                if event is not None:
                    out.append(event)
                    if self.deaf:
                        return out
        except FrameError as exc:
            out.append(self._fail(PROTOCOL_ERROR, exc.close_code, str(exc)))
            return out
        except FrameTooLarge:
            out.append(self._fail(TOO_LARGE, codes.MESSAGE_TOO_BIG, f"messages are limited to {limit} bytes"))
            return out
        self.budget = budget
        if start >= len(buf):
            self.pending = None
        elif pending is None:
            self.pending = bytearray(buf[start:])
        else:
            del pending[:start]
        return out

    @property
    def discarded_enough(self) -> bool:
        """Input given up and :data:`DISCARD_KIB` read since: stop reading (the deadline drops the socket)."""
        return self.deaf and self.budget < 0

    def _frame(self, fin: bool, opcode: int, payload: bytes, compressed: bool) -> Inbound | None:
        if opcode == CLOSE:
            return self._close_received(payload)
        if opcode == PING:
            return Ping(frames.frame(PONG, payload))
        if opcode == PONG or self.closed:
            return None  # a sign of life only; or closing: no more messages are handled or answered
        if opcode == CONTINUATION:
            fragments = self.fragments
            if fragments is None:
                raise FrameError(codes.PROTOCOL_ERROR, "continuation frame without a message to continue")
            if compressed:
                raise FrameError(codes.PROTOCOL_ERROR, "RSV1 set on a continuation frame")
            fragments += payload  # within the limit: parse_frame was given the room left
            if not fin:
                return None
            self.fragments = None
            return self._message(fragments[0], bytes(memoryview(fragments)[1:]))
        if self.fragments is not None:
            raise FrameError(codes.PROTOCOL_ERROR, "a new message began before the previous one ended")
        if compressed:
            opcode |= RSV1
        if fin:
            return self._message(opcode, payload)
        self.fragments = bytearray((opcode,)) + payload
        return None

    def _message(self, opcode: int, data: bytes) -> Message:
        if opcode & RSV1:  # compressed (permessage-deflate)
            opcode &= ~RSV1
            data = inflate(data, self.limit)
            self.inflated = len(data)
        if opcode == TEXT:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                raise FrameError(codes.INVALID_DATA, "text message is not valid UTF-8") from None
        return Message(data)

    def _close_received(self, payload: bytes) -> CloseReceived:
        code, _ = frames.parse_close(payload)
        reply = None
        if not self.closed:  # the client closes: answer with its code (1000 when it gave none)
            self.closed = True
            self.close_code = code
            reply = frames.close_frame(1000 if code == frames.NO_STATUS else code)
        self.give_up_input()
        return CloseReceived(code, reply)

    def _fail(self, kind: str, close_code: codes.CloseCode, reason: str) -> Failure:
        self.give_up_input()
        return Failure(kind, close_code, reason)

    def give_up_input(self) -> None:
        """Discard whatever the client sends from now on (still reading, up to :data:`DISCARD_KIB`, so that it
        gets what the server wrote before closing, and its hanging up is noticed)."""
        if not self.deaf:
            self.deaf = True
            self.budget = DISCARD_KIB
        self.pending = self.fragments = None

    # -- closing ------------------------------------------------------------------------------------
    def close(self, code: int, reason: str) -> bytes | None:
        """Our close frame with ``code`` (None when the connection is closing already)."""
        if self.closed:
            return None
        self.closed = True
        self.close_code = code
        return frames.close_frame(code, reason)

    def lost(self) -> None:
        self.closed = True
        self.pending = self.fragments = None


__all__ = [
    "DISCARD_KIB",
    "FLOODED",
    "PROTOCOL_ERROR",
    "TOO_LARGE",
    "CloseReceived",
    "Failure",
    "Framing",
    "InboundBudget",
    "Inbound",
    "Message",
    "Ping",
]
