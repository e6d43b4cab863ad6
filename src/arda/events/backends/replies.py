"""How the Redis backends read Redis's replies and write dead letters: one reading for one Redis and for a
cluster (the same scripts, the same stream entries). Pure."""

from __future__ import annotations

from typing import Any

from ..wire import ANCHOR_FIELD, DeadLetter
from .base import HistoryRead, StoredEvent


def _field(flat: list[bytes], name: bytes) -> bytes:
    for i in range(0, len(flat) - 1, 2):
        if flat[i] == name:
            return flat[i + 1]
    return b""


def history_read(reply: Any, limit: int) -> HistoryRead:
    """The HISTORY script's ``[reachesBack, entries]``. Anchors are skipped. An entry without the field ``e``
    (written by something else) becomes an empty payload: malformed, dead-lettered by the reader like any other
    bad message."""
    ok, entries = reply
    return HistoryRead(
        [StoredEvent(position.decode(), _field(f, b"e")) for position, f in entries if f[:1] != [ANCHOR_FIELD]],
        ok == 1,
        entries[-1][0].decode() if entries else None,
        len(entries) == limit,
    )


def rows_read(rows: Any, limit: int) -> HistoryRead:
    """redis-py's ``XRANGE``/``XREVRANGE`` reply (``(id, {field: value})`` rows) read as :func:`history_read` reads
    the HISTORY script's."""
    entries = [(position, [x for pair in fields.items() for x in pair]) for position, fields in rows]
    return history_read([1, entries], limit)


def reverse_bound(end: str | None, inclusive: bool) -> str:
    """The upper bound of an ``XREVRANGE`` reading back from ``end`` (the newest when None)."""
    if end is None:
        return "+"
    return end if inclusive else "(" + end


def dead_letter_fields(letter: DeadLetter) -> dict[str, str | bytes]:
    """A dead letter as the fields of its ``arda:dlq`` entry."""
    return {
        "reason": letter.reason,
        "detail": letter.detail,
        "channel": letter.channel,
        "payload": letter.payload,
        "at": letter.at,
    }


def dead_letters(rows: Any) -> list[DeadLetter]:
    """``XREVRANGE arda:dlq``'s entries as dead letters, newest first."""
    out = []
    for _, fields in rows or ():
        f: dict[bytes, bytes] = fields
        out.append(
            DeadLetter(
                f[b"reason"].decode(), f[b"detail"].decode(), f[b"channel"].decode(), f[b"payload"], f[b"at"].decode()
            )
        )
    return out


__all__ = ["dead_letter_fields", "dead_letters", "history_read"]
