"""WebSocket framing for a server (RFC 6455 §5): parse what clients send, build what the server sends.

Pure logic, no I/O. The connection (:mod:`.websocket`) feeds the bytes it reads to :func:`parse_frame` and
writes the bytes these functions build.

What a client may send is checked strictly, as the RFC requires of a server: frames must be masked,
reserved bits clear (but RSV1 on the first frame of a data message when permessage-deflate was negotiated:
:mod:`.deflate`), opcodes known, control frames unfragmented and at most
125 bytes, lengths in their shortest encoding (RFC 6455 §5.2: "the minimal number of bytes MUST be used"), the
64-bit length's top bit clear. A violation raises :class:`~.errors.FrameError` with the close
code to send (1002; 1007 for a close reason that is not UTF-8). A frame longer than the caller's limit
raises :class:`~.errors.FrameTooLarge` as soon as its header is read, before any of its payload is buffered.

Server frames are never masked, so one frame's bytes serve every recipient (built once per event).
"""

from __future__ import annotations

from typing import NamedTuple

from . import codes
from .errors import FrameError, FrameTooLarge

CONTINUATION = 0x0
TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA
_OPCODES = frozenset({CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG})

NO_STATUS = 1005  # "no code in the close frame": never sent on the wire
RSV1 = 0x40  # "this message is compressed" under permessage-deflate (RFC 7692 §6)


class Frame(NamedTuple):
    fin: bool
    opcode: int
    payload: bytes
    compressed: bool = False  # RSV1 set (only where the caller allowed it)


def unmask(mask: bytes, data: bytes | bytearray | memoryview) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (one big-integer XOR: no Python loop per byte)."""
    n = len(data)
    if n == 0:
        return b""
    key = (mask * ((n + 3) >> 2))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def parse_frame(data: bytes | bytearray, start: int, max_payload: int, rsv1: bool = False) -> tuple[Frame, int] | None:
    """The frame beginning at ``data[start]`` and the offset after it, or None while it is incomplete.

    ``rsv1``: permessage-deflate was negotiated, so RSV1 may be set on a text or binary frame (whether it may be
    set on *this* frame — the first of its message — is the caller's to check). Raises :class:`FrameError` on a
    framing violation and :class:`FrameTooLarge` when the frame declares a payload longer than ``max_payload``
    (control frames are held to 125 bytes regardless).
    """
    available = len(data) - start
    if available < 2:
        return None
    b0 = data[start]
    b1 = data[start + 1]
    opcode = b0 & 0x0F
    if b0 & 0x70:
        if b0 & 0x30 or not rsv1:
            raise FrameError(codes.PROTOCOL_ERROR, "reserved bits set (no extension was negotiated that uses them)")
        if opcode != TEXT and opcode != BINARY:
            raise FrameError(codes.PROTOCOL_ERROR, "RSV1 set on a frame that does not begin a data message")
    if opcode not in _OPCODES:
        raise FrameError(codes.PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
    if not b1 & 0x80:
        raise FrameError(codes.PROTOCOL_ERROR, "client frames must be masked")
    length = b1 & 0x7F
    offset = start + 2
    if length == 126:
        if available < 4:
            return None
        length = int.from_bytes(data[offset : offset + 2], "big")
        if length < 126:
            raise FrameError(codes.PROTOCOL_ERROR, "payload length not in its shortest encoding")
        offset += 2
    elif length == 127:
        if available < 10:
            return None
        length = int.from_bytes(data[offset : offset + 8], "big")
        if length >> 63:
            raise FrameError(codes.PROTOCOL_ERROR, "frame length has its most significant bit set")
        if length < 65536:
            raise FrameError(codes.PROTOCOL_ERROR, "payload length not in its shortest encoding")
        offset += 8
    fin = bool(b0 & 0x80)
    if opcode >= CLOSE:
        if not fin:
            raise FrameError(codes.PROTOCOL_ERROR, "control frames must not be fragmented")
        if length > 125:
            raise FrameError(codes.PROTOCOL_ERROR, "control frames carry at most 125 bytes")
    elif length > max_payload:
        raise FrameTooLarge(length)
    end = offset + 4 + length
    if len(data) < end:
        return None
    mask = bytes(data[offset : offset + 4])
    return Frame(fin, opcode, unmask(mask, data[offset + 4 : end]), bool(b0 & RSV1)), end


def parse_close(payload: bytes) -> tuple[int, str]:
    """(code, reason) of a received close frame; (1005, "") when it carries none. Raises :class:`FrameError`
    for a payload of one byte, a code that may not be sent, or a reason that is not UTF-8."""
    if not payload:
        return NO_STATUS, ""
    if len(payload) == 1:
        raise FrameError(codes.PROTOCOL_ERROR, "close frame with a one-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if not ((1000 <= code <= 1014 and code not in (1004, 1005, 1006)) or 3000 <= code <= 4999):
        raise FrameError(codes.PROTOCOL_ERROR, f"close code {code} may not be sent")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(codes.INVALID_DATA, "close reason is not UTF-8") from None
    return code, reason


def frame(opcode: int, payload: bytes, rsv: int = 0) -> bytes:
    """A final, unmasked server frame (``rsv``: :data:`RSV1` for a compressed message)."""
    n = len(payload)
    head = 0x80 | rsv | opcode
    if n < 126:
        return bytes((head, n)) + payload
    if n < 65536:
        return bytes((head, 126)) + n.to_bytes(2, "big") + payload
    return bytes((head, 127)) + n.to_bytes(8, "big") + payload


def payload_of(server_frame: bytes) -> bytes:
    """The payload of an unmasked frame built by :func:`frame`."""
    n = server_frame[1] & 0x7F
    return server_frame[2 + (2 if n == 126 else 8 if n == 127 else 0) :]


def text_frame(payload: bytes) -> bytes:
    """A server text frame (``payload`` is UTF-8 JSON)."""
    return frame(TEXT, payload)


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame; the reason is cut to fit the 125-byte control frame limit (on a UTF-8 boundary)."""
    data = reason.encode("utf-8")[:123].decode("utf-8", "ignore").encode("utf-8")
    return frame(CLOSE, code.to_bytes(2, "big") + data)


PING_FRAME = frame(PING, b"")
