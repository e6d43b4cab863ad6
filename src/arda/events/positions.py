"""Positions in a stream's history.

A position is the id of the event's entry in its Redis Stream, ``"<milliseconds>-<sequence>"``, e.g.
``"1764232800123-0"``. Positions of one stream (a tenant's, or the global one) grow strictly with publish
order, so they compare as pairs of integers. Every position names a real entry: an empty stream's position
is an *anchor* entry (see :mod:`.backends.scripts`). Positions are opaque to clients: they store and send
back what they were given.

Both parts are Redis stream-id parts: unsigned 64-bit integers, written in ASCII decimal digits. Anything
else — a part past 2^64 - 1, a non-ASCII digit, a trailing newline — is not a position.

On a Redis Cluster the global feed is split into shards (:mod:`.layout`), each with its own positions, and a
position in the feed is a *composite*: every shard's position, in shard order —
``"g<k>:<p0>,<p1>,…"`` — where ``<k>`` names the shard of the event it belongs to (left out when it belongs to
no event: where a subscription starts) and an empty part means "nothing of that shard yet" (its history is read
from the oldest retained). Composites are opaque to clients too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

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


COMPOSITE_PREFIX = "g"
#: A composite has 2 to this many shards (one shard has plain positions; GLOBAL_SHARDS is below it).
MAX_LANES = 16
#: The longest position text: a composite of MAX_LANES parts of two 20-digit numbers.
MAX_POSITION_CHARS = len("g15:") + MAX_LANES * 41 + MAX_LANES - 1


class Composite(NamedTuple):
    """A composite position read: each shard's position (None: nothing of it yet) and the shard of the event it
    belongs to (None: no event)."""

    parts: tuple[str | None, ...]
    lane: int | None


def compose(parts: Sequence[str | None], lane: int | None = None) -> str:
    """The composite of the shards' ``parts`` (None: nothing of that shard yet), for an event of shard ``lane``."""
    head = COMPOSITE_PREFIX + ("" if lane is None else str(lane)) + ":"
    return head + ",".join(p or "" for p in parts)


def parse_composite(value: str, lanes: int | None = None) -> Composite:
    """Read a composite position (of ``lanes`` shards when given). Raises ``ValueError`` naming what is wrong."""
    if not isinstance(value, str) or not value.startswith(COMPOSITE_PREFIX) or ":" not in value:
        raise ValueError(f"invalid position {value!r}: expected a composite 'g[<k>]:<p0>,<p1>,…'")
    head, _, body = value.partition(":")
    lane_text = head[len(COMPOSITE_PREFIX) :]
    if lane_text and not (lane_text.isascii() and lane_text.isdigit() and len(lane_text) <= 2):
        raise ValueError(f"invalid position {value!r}: the shard after 'g' must be a number")
    texts = body.split(",")
    if not 2 <= len(texts) <= MAX_LANES or (lanes is not None and len(texts) != lanes):
        expected = lanes if lanes is not None else f"2 to {MAX_LANES}"
        raise ValueError(f"invalid position {value!r}: expected {expected} shard positions, got {len(texts)}")
    for text in texts:
        if text:
            parse_position(text)
    lane = int(lane_text) if lane_text else None
    if lane is not None and (lane >= len(texts) or not texts[lane]):
        raise ValueError(f"invalid position {value!r}: shard {lane} has no position")
    return Composite(tuple(t or None for t in texts), lane)


def is_composite(value: str) -> bool:
    try:
        parse_composite(value)
    except ValueError:
        return False
    return True


def position_key(position: str) -> tuple[int, int] | tuple[int, int, int]:
    """The order key of an event's validated position: ``(ms, seq)``, or for a composite ``(shard, ms, seq)`` of
    the event's own shard (events of one shard compare; see :class:`~.catchup.Catchup`)."""
    if position[0] != COMPOSITE_PREFIX:
        return fast_key(position)
    head, _, body = position.partition(":")
    lane = int(head[len(COMPOSITE_PREFIX) :])
    ms, seq = fast_key(body.split(",")[lane])
    return lane, ms, seq
