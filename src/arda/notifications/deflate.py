"""permessage-deflate (RFC 7692) for the server, sans I/O: the negotiation, outbound compression shared by every
recipient, and bounded inflation of what clients send.

Memory stays bounded by design, whatever the client: the server always answers ``server_no_context_takeover`` and
``client_no_context_takeover`` (RFC 7692 §7.1.1: a server may require the latter even when it was not offered), so
no connection keeps a compressor or a decompressor between messages. Without context takeover a compressed
message depends only on its payload and the window — the same bytes for every connection that negotiated the same
``server_max_window_bits`` — so a :class:`Deflater` (one per window size, shared by the service) compresses an
event's frame once, and every recipient's outbound list holds the same compressed bytes, as it does the plain
frame. An idle connection pays one reference to the shared :class:`Deflater` (None when it did not negotiate).

What a client sends compressed is inflated with a fresh decompressor per message, never past the message limit:
:func:`inflate` asks zlib for at most ``limit + 1`` bytes, so a deflate bomb costs ``limit`` bytes of memory before
it is refused (1009), not its inflated size.

Frames under ``min_bytes`` of payload go uncompressed (deflate's header and the CPU are not worth it for a small
message), and so does a frame that compression would not make smaller. Control frames are never compressed.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import NamedTuple

from . import codes
from .errors import FrameError, FrameTooLarge
from .frames import BINARY, RSV1, TEXT, frame, payload_of

EXTENSION = "permessage-deflate"
#: The empty stored block that ends each compressed message, removed by the sender (RFC 7692 §7.2.1).
TAIL = b"\x00\x00\xff\xff"
#: zlib's default: measured on an 8 KiB notification at ~32 µs per compression (6.6 KiB → 1.2 KiB), once per event.
LEVEL = 6
#: Compressed frames remembered per window size (by frame object): one event's frame is compressed once however
#: many connections it reaches during its turn, and a replayed one again only when it has fallen out.
CACHE_SIZE = 256

#: RFC 7692 §7.1.2.1: ``%x38-39 / "1" %x30-35`` — 8 to 15, no leading zero.
_WINDOW_BITS = re.compile(r"[89]|1[0-5]")
_OFFER = re.compile(r'\s*([^\s;,="]+)\s*(?:=\s*(?:"([^"]*)"|([^\s;,"]+)))?\s*')


class Agreement(NamedTuple):
    """What one offer was accepted as: the window the server compresses with, and the response header's value."""

    window_bits: int
    response: str


def _params(offer: str) -> list[tuple[str, str | None]] | None:
    """An offer's ``name[=value]`` parameters (None: not well formed)."""
    params: list[tuple[str, str | None]] = []
    for part in offer.split(";"):
        match = _OFFER.fullmatch(part)
        if match is None:
            return None
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params.append((match.group(1).lower(), value))
    return params


def _bits(value: str | None) -> int | None:
    return int(value) if value is not None and _WINDOW_BITS.fullmatch(value) else None


def accept(offer: str) -> Agreement | None:
    """The agreement for one ``permessage-deflate`` offer, or None when it is declined: malformed, with a
    parameter unknown, repeated or out of range, or asking for an 8-bit server window (zlib cannot compress raw
    deflate with one: it silently uses 9, which a decoder bound to 8 bits may not follow)."""
    params = _params(offer)
    if not params or params[0] != (EXTENSION, None):
        return None
    seen: dict[str, str | None] = {}
    for name, value in params[1:]:
        if name in seen:
            return None
        seen[name] = value
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                return None
        elif name == "server_max_window_bits":
            if _bits(value) is None:
                return None
        elif name == "client_max_window_bits":
            if value is not None and _bits(value) is None:
                return None
        else:
            return None
    window = _bits(seen.get("server_max_window_bits")) or 15
    if window < 9:
        return None
    response = f"{EXTENSION}; server_no_context_takeover; client_no_context_takeover"
    if window < 15:
        response += f"; server_max_window_bits={window}"
    return Agreement(window, response)


def negotiate(header: str | None) -> Agreement | None:
    """The first acceptable ``permessage-deflate`` offer of a ``Sec-WebSocket-Extensions`` header (None: none).
    Offers of other extensions are declined; quoted values cannot hold commas here (window bits are digits), so
    the header splits on them."""
    if not header:
        return None
    for offer in header.split(","):
        if offer.strip().lower().startswith(EXTENSION):
            agreement = accept(offer)
            if agreement is not None:
                return agreement
    return None


class Deflater:
    """Compresses server frames for the connections that negotiated ``window_bits`` — once per frame object, as
    fan-out shares one frame among its recipients. Overflow policy of the cache: cleared when it reaches
    :data:`CACHE_SIZE` entries (a frame compressed again after that costs ~30 µs, never a wrong answer: entries are
    checked by identity)."""

    __slots__ = ("_cache", "compressed", "deliveries", "min_bytes", "saved_bytes", "window_bits")

    def __init__(self, window_bits: int, min_bytes: int) -> None:
        self.window_bits = window_bits
        self.min_bytes = min_bytes
        # id(plain frame) → (the plain frame, what goes out, the bytes that saves)
        self._cache: dict[int, tuple[bytes, bytes, int]] = {}
        self.compressed = 0  # frames compressed (once each, however many recipients)
        self.deliveries = 0  # compressed frames handed to connections (one per recipient)
        self.saved_bytes = 0  # what those deliveries did not put on the wire: plain minus compressed sizes

    def frame(self, plain: bytes) -> bytes:
        """``plain`` (a final, unmasked server frame) as it goes to a connection that negotiated compression: the
        compressed frame, or ``plain`` itself when it is a control frame, small, or not made smaller."""
        opcode = plain[0] & 0x0F
        if (opcode != TEXT and opcode != BINARY) or len(plain) - 2 < self.min_bytes:
            return plain
        hit = self._cache.get(id(plain))
        if hit is not None and hit[0] is plain:
            _, out, saved = hit
        else:
            out = self._compressed(opcode, plain)
            saved = len(plain) - len(out)
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[id(plain)] = (plain, out, saved)
        if saved:
            self.deliveries += 1
            self.saved_bytes += saved
        return out

    def _compressed(self, opcode: int, plain: bytes) -> bytes:
        """``plain`` compressed, or itself when its payload is under the minimum or would not get smaller."""
        payload = payload_of(plain)
        if len(payload) < self.min_bytes:
            return plain
        compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -self.window_bits)
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if data.endswith(TAIL):
            data = data[:-4]
        if len(data) >= len(payload):
            return plain
        self.compressed += 1
        return frame(opcode, data, RSV1)

    def frames(self, plain: Sequence[bytes]) -> list[bytes]:
        return [self.frame(f) for f in plain]


class Compression:
    """The service's compression policy (``ARDA_COMPRESSION``, ``ARDA_COMPRESSION_MIN_BYTES``): one shared
    :class:`Deflater` per window size agreed."""

    __slots__ = ("_deflaters", "min_bytes")

    def __init__(self, min_bytes: int) -> None:
        self.min_bytes = min_bytes
        self._deflaters: dict[int, Deflater] = {}

    def negotiate(self, header: str | None) -> tuple[Deflater, str] | None:
        """The deflater and the ``Sec-WebSocket-Extensions`` response value for a client's offers (None: no
        compression on this connection)."""
        agreement = negotiate(header)
        if agreement is None:
            return None
        deflater = self._deflaters.get(agreement.window_bits)
        if deflater is None:
            deflater = self._deflaters[agreement.window_bits] = Deflater(agreement.window_bits, self.min_bytes)
        return deflater, agreement.response

    def stats(self) -> CompressionStats:
        """What compression did so far, over every window size (the metrics read it when scraped)."""
        deflaters = self._deflaters.values()
        return CompressionStats(
            frames=sum(d.compressed for d in deflaters),
            deliveries=sum(d.deliveries for d in deflaters),
            saved_bytes=sum(d.saved_bytes for d in deflaters),
        )


class CompressionStats(NamedTuple):
    """Counters of outbound permessage-deflate (``arda_compression_*`` in the metrics)."""

    frames: int  # distinct frames compressed: the CPU spent (once per event and window size)
    deliveries: int  # frames that went to a connection compressed
    saved_bytes: int  # bytes those deliveries did not put on the wire


NO_COMPRESSION = CompressionStats(0, 0, 0)


def inflate(data: bytes, limit: int) -> bytes:
    """A compressed message's payload inflated, with a fresh decompressor (the client keeps no context). Raises
    :class:`~.errors.FrameTooLarge` as soon as the output would pass ``limit`` bytes (a bomb is never inflated
    further) and :class:`~.errors.FrameError` (1007) when the data is not valid deflate."""
    decompressor = zlib.decompressobj(-15)
    try:
        out = decompressor.decompress(data + TAIL, limit + 1)
    except zlib.error:
        raise FrameError(codes.INVALID_DATA, "compressed message is not valid deflate data") from None
    if len(out) > limit or decompressor.unconsumed_tail:
        raise FrameTooLarge(len(out))
    return out


__all__ = [
    "EXTENSION",
    "NO_COMPRESSION",
    "Agreement",
    "Compression",
    "CompressionStats",
    "Deflater",
    "accept",
    "inflate",
    "negotiate",
]
