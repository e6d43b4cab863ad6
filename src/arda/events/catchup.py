"""Catching up: live items held while history is replayed, then merged — each item once, in position order.

One routine for the two places that replay a stream while it is live: the bus's recovery after subscribing or
reconnecting (:mod:`.subscriptions`, items are events) and a WebSocket client's resume
(:mod:`arda.notifications.session`, items are notification frames). Pure: no I/O, no clock.

While catching up (:attr:`Catchup.held` is a list), live items are held with their position keys. The replay
notes what it delivered (:meth:`Catchup.replayed`); :meth:`Catchup.finish` returns the held items that are newer
than that, in order, and goes live. Once live, an item at or before what was delivered is a repeat (a live
message still in flight that history already gave): :meth:`Catchup.admit` says so, until the first newer one
passes — the stream is ordered, nothing older follows it.

Items without a position (a raw publish that was not stored) are never repeats.

A composite stream (a Redis Cluster's global feed: several shards, each ordered on its own, see
:mod:`.positions`) has keys ``(shard, ms, seq)``: what was delivered is then noted per shard (:class:`Lanes`), an
item is a repeat when it is at or before its own shard's mark, and each shard goes live on its own.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

from .positions import fast_key, parse_composite

Key = tuple[int, int]
#: ``(shard, ms, seq)``: a position in one shard of a composite stream.
LaneKey = tuple[int, int, int]
AnyKey = Key | LaneKey
T = TypeVar("T")


class Lanes:
    """What was delivered last on each shard of a composite stream (shards with no mark skip nothing)."""

    __slots__ = ("marks",)

    def __init__(self, marks: dict[int, Key] | None = None) -> None:
        self.marks: dict[int, Key] = marks if marks is not None else {}

    def newer(self, key: LaneKey) -> bool:
        mark = self.marks.get(key[0])
        return mark is None or (key[1], key[2]) > mark

    def note(self, key: LaneKey) -> None:
        self.marks[key[0]] = (key[1], key[2])


def mark_of(position: str) -> Key | Lanes | None:
    """What a subscription starting at ``position`` (validated; plain or composite) has delivered already."""
    if not position.startswith("g"):
        return fast_key(position)
    parts = parse_composite(position).parts
    lanes = Lanes({k: fast_key(p) for k, p in enumerate(parts) if p is not None})
    return lanes if lanes.marks else None


class Catchup(Generic[T]):
    __slots__ = ("after", "held")

    def __init__(self, after: Key | Lanes | None = None, *, live: bool = False) -> None:
        #: Live items held during the replay, with their keys; None once live.
        self.held: deque[tuple[AnyKey | None, T]] | None = None if live else deque()
        #: What was delivered last (replayed, or where the subscription starts): later items at or before it are
        #: repeats (per shard for a composite stream). None: nothing to skip.
        self.after: Key | Lanes | None = after

    @property
    def catching_up(self) -> bool:
        return self.held is not None

    def hold(self, key: AnyKey | None, item: T) -> int:
        """Hold a live item during the replay; returns how many are held (the caller's bound decides)."""
        held = self.held
        assert held is not None
        held.append((key, item))
        return len(held)

    def drop_oldest(self) -> None:
        """Overflow policy of a holder whose held items also come back from history (the bus's)."""
        if self.held:
            self.held.popleft()

    def replayed(self, key: AnyKey) -> None:
        """The replay delivered the item at ``key``."""
        if len(key) == 3:
            lanes = self.after if isinstance(self.after, Lanes) else Lanes()
            lanes.note(key)
            self.after = lanes
        else:
            self.after = key

    def pause(self) -> None:
        """Hold live items again (the stream must be caught up again: a reconnect, a loss of history)."""
        if self.held is None:
            self.held = deque()

    def finish(self) -> list[T]:
        """Go live: the held items newer than what the replay delivered, in order (each once)."""
        held, self.held = self.held or (), None
        last = self.after
        out: list[T] = []
        for key, item in held:
            if key is None:
                out.append(item)
            elif len(key) == 3:
                lanes = last if isinstance(last, Lanes) else Lanes()
                if lanes.newer(key):
                    out.append(item)
                    lanes.note(key)
                last = lanes
            elif last is None or key > last:  # type: ignore[operator]  # two plain keys
                out.append(item)
                last = key
        self.after = last
        return out

    def admit(self, key: AnyKey | None) -> bool:
        """Live: whether the item at ``key`` is new (False: a repeat of what was delivered)."""
        after = self.after
        if after is None or key is None:
            return True
        if isinstance(after, Lanes):
            if len(key) != 3 or key[0] not in after.marks:
                return True
            if not after.newer(key):
                return False
            del after.marks[key[0]]  # this shard is ordered: nothing older of it follows
            if not after.marks:
                self.after = None
            return True
        if key <= after:
            return False
        self.after = None  # the stream is ordered: nothing older follows
        return True


__all__ = ["AnyKey", "Catchup", "Key", "LaneKey", "Lanes", "mark_of"]
