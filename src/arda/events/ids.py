"""UUIDv7 event ids (RFC 9562): unique and sortable by creation time. Pure: time and randomness passed in
(the defaults read the clock and ``os.urandom``, drawn in blocks: one system call per 256 ids)."""

from __future__ import annotations

import os
import time
import uuid

_RANDOM_BLOCK = 10 * 256
_random = b""
_offset = _RANDOM_BLOCK


def _random10() -> bytes:
    global _random, _offset
    if _offset >= _RANDOM_BLOCK:
        _random, _offset = os.urandom(_RANDOM_BLOCK), 0
    start = _offset
    _offset = start + 10
    return _random[start : start + 10]


def uuid7(unix_ms: int | None = None, rand: bytes | None = None) -> str:
    """Return a UUIDv7 string: 48 bits of Unix milliseconds, version 7, 74 random bits, variant 10."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    r = _random10() if rand is None else rand
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(r, "big") & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant 10
    h = f"{value:032x}"  # the canonical 8-4-4-4-12 form, without building a uuid.UUID (3x faster)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid7_time_ms(event_id: str) -> int:
    """The creation time in Unix milliseconds carried by a UUIDv7 string."""
    return uuid.UUID(event_id).int >> 80
