"""Positions in a stream's history.

A position is the id of the event's entry in its Redis Stream, ``"<milliseconds>-<sequence>"``, e.g.
``"1764232800123-0"``. Positions of one stream (a tenant's, or the global one) grow strictly with publish
order, so they compare as pairs of integers. Every position names a real entry: an empty stream's position
is an *anchor* entry (see :mod:`.backends.scripts`). Positions are opaque to clients: they store and send
back what they were given.

Both parts are Redis stream-id parts: unsigned 64-bit integers, written in ASCII decimal digits. Anything
else — a part past 2^64 - 1, a non-ASCII digit, a trailing newline — is not a position.
"""

from __future__ import annotations

import re

#: The largest value of either part (Redis stream ids are two unsigned 64-bit integers).
MAX_PART = 2**64 - 1
_POSITION = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")  # used with fullmatch: no trailing newline


def parse_position(position: str) -> tuple[int, int]:
    """``"12-3"`` → ``(12, 3)``. Raises ``ValueError`` on anything else."""
    m = _POSITION.fullmatch(position) if isinstance(position, str) else None
    if m is not None:
        ms, seq = int(m.group(1)), int(m.group(2))
        if ms <= MAX_PART and seq <= MAX_PART:
            return ms, seq
    raise ValueError(f"invalid position {position!r}: expected '<milliseconds>-<sequence>', each below 2^64")


def is_position(value: str) -> bool:
    try:
        parse_position(value)
    except ValueError:
        return False
    return True


def position_after(a: str, b: str) -> bool:
    """True when position ``a`` comes strictly after ``b``."""
    return parse_position(a) > parse_position(b)


def format_position(ms: int, seq: int) -> str:
    return f"{ms}-{seq}"


def fast_key(position: str) -> tuple[int, int]:
    """:func:`parse_position` without the check, for positions already validated (the hot path)."""
    ms, _, seq = position.partition("-")
    return int(ms), int(seq)
