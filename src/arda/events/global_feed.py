"""A Redis Cluster's global feed, read as one stream: its shards merged, with composite positions.

On a cluster the global feed is :data:`~.layout.GLOBAL_SHARDS` streams (``global:0`` …), each ordered on its
own (a tenant's events all go to one shard). A monitor sees them as one feed:

* **Live**, a global handler is given each event with a composite position (:mod:`.positions`): every shard's
  last position *this handler* was given, and the event's own shard. Stored where the handler keeps its place,
  it is what :meth:`~.bus.EventBus.global_history` resumes from: nothing the handler had not been given is
  skipped, nothing it had is given again.
* **History** reads every shard after its part of ``since`` and merges them by position (the shards' clocks
  order them across shards; within a shard, order is exact), at most ``limit`` events per page.

Pure but for :class:`FeedCursor`'s call of the handler.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import msgspec

from .backends.base import HistoryRead, StoredEvent
from .handlers import Handler
from .models import AnyEvent
from .positions import compose, fast_key


class FeedPage(NamedTuple):
    """A merged page: the entries with their composite positions (merged order), where the next page starts
    (a composite), and whether more may follow."""

    entries: list[tuple[str, StoredEvent]]
    position: str
    has_more: bool


def merge(parts: Sequence[str | None], reads: Sequence[HistoryRead], limit: int) -> FeedPage:
    """Merge one history read per shard (each after its part of ``parts``) into a page of at most ``limit``."""
    candidates = sorted(
        ((fast_key(entry.position), lane, entry) for lane, read in enumerate(reads) for entry in read.entries),
        key=lambda c: (c[0], c[1]),
    )
    current = list(parts)
    entries: list[tuple[str, StoredEvent]] = []
    for _, lane, entry in candidates[:limit]:
        current[lane] = entry.position
        entries.append((compose(current, lane), entry))
    cut = {lane for _, lane, _ in candidates[limit:]}
    for lane, read in enumerate(reads):
        if lane not in cut and read.last is not None:
            current[lane] = read.last  # read to its end: continue after it (anchors included)
    return FeedPage(entries, compose(current), bool(cut) or any(read.full for read in reads))


class FeedCursor:
    """What one global handler has been given of each shard; ``lanes[k]`` is the handler of shard ``k``'s queue,
    which hands each event on with its composite position."""

    __slots__ = ("handler", "lanes", "parts")

    def __init__(self, handler: Handler, lanes: int) -> None:
        self.handler = handler
        self.parts: list[str | None] = [None] * lanes
        self.lanes = [self._lane(k) for k in range(lanes)]

    def _lane(self, lane: int) -> Handler:
        parts = self.parts
        handler = self.handler

        def call(event: AnyEvent) -> object:
            position = event.position
            if position is not None:  # (a raw publish that was not stored has none: handed on as it is)
                parts[lane] = position
                event = msgspec.structs.replace(event, position=compose(parts, lane))
            return handler(event)

        return call  # type: ignore[return-value]  # returns the handler's own result (awaited when awaitable)


__all__ = ["FeedCursor", "FeedPage", "merge"]
