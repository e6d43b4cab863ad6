"""UUIDv7 event ids (RFC 9562): unique and sortable by creation time. Pure: time and randomness passed in."""

from __future__ import annotations

import os
import time
import uuid


def uuid7(unix_ms: int | None = None, rand: bytes | None = None) -> str:
    """Return a UUIDv7 string: 48 bits of Unix milliseconds, version 7, 74 random bits, variant 10."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    r = os.urandom(10) if rand is None else rand
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(r, "big") & ((1 << 80) - 1)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant 10
    return str(uuid.UUID(int=value))


def uuid7_time_ms(event_id: str) -> int:
    """The creation time in Unix milliseconds carried by a UUIDv7 string."""
    return uuid.UUID(event_id).int >> 80
