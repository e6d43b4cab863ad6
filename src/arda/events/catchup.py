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
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

Key = tuple[int, int]
T = TypeVar("T")


class Catchup(Generic[T]):
    __slots__ = ("after", "held")

    def __init__(self, after: Key | None = None, *, live: bool = False) -> None:
        #: Live items held during the replay, with their keys; None once live.
        self.held: deque[tuple[Key | None, T]] | None = None if live else deque()
        #: What was delivered last (replayed, or where the subscription starts): later items at or before it are
        #: repeats. None: nothing to skip.
        self.after: Key | None = after

    @property
    def catching_up(self) -> bool:
        return self.held is not None

    def hold(self, key: Key | None, item: T) -> int:
        """Hold a live item during the replay; returns how many are held (the caller's bound decides)."""
        held = self.held
        assert held is not None
        held.append((key, item))
        return len(held)

    def drop_oldest(self) -> None:
        """Overflow policy of a holder whose held items also come back from history (the bus's)."""
        if self.held:
            self.held.popleft()

    def replayed(self, key: Key) -> None:
        """The replay delivered the item at ``key``."""
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
            if key is None or last is None or key > last:
                out.append(item)
                if key is not None:
                    last = key
        self.after = last
        return out

    def admit(self, key: Key | None) -> bool:
        """Live: whether the item at ``key`` is new (False: a repeat of what was delivered)."""
        after = self.after
        if after is None or key is None:
            return True
        if key <= after:
            return False
        self.after = None  # the stream is ordered: nothing older follows
        return True


__all__ = ["Catchup", "Key"]
