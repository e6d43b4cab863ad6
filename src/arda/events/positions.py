"""Positions in a stream's history.

A position is the id of the event's entry in its Redis Stream, ``"<milliseconds>-<sequence>"``, e.g.
``"1764232800123-0"``. Positions of one stream (a tenant's, or the global one) grow strictly with publish
order, so they compare as pairs of integers. ``"0-N"`` is the bus's cursor for a stream that retained
nothing when it subscribed (N events had ever been added): it sorts before every real position.
Positions are opaque to clients: they store and send back what they were given.
"""

from __future__ import annotations

import re

_POSITION = re.compile(r"^(\d{1,20})-(\d{1,20})$")


def parse_position(position: str) -> tuple[int, int]:
    """``"12-3"`` → ``(12, 3)``. Raises ``ValueError`` on anything else."""
    m = _POSITION.match(position)
    if m is None:
        raise ValueError(f"invalid position {position!r}: expected '<milliseconds>-<sequence>'")
    return int(m.group(1)), int(m.group(2))


def is_position(value: str) -> bool:
    return _POSITION.match(value) is not None


def position_after(a: str, b: str) -> bool:
    """True when position ``a`` comes strictly after ``b``."""
    return parse_position(a) > parse_position(b)


def format_position(ms: int, seq: int) -> str:
    return f"{ms}-{seq}"


def fast_key(position: str) -> tuple[int, int]:
    """:func:`parse_position` without the check, for positions already validated (the hot path)."""
    ms, _, seq = position.partition("-")
    return int(ms), int(seq)
