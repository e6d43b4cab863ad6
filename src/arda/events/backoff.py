"""Exponential backoff with full jitter. Pure: randomness is passed in."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """``delay(n)`` for attempt ``n`` (0-based): uniform in ``[0, min(cap, base * 2**n)]``."""

    def __init__(self, base: float = 0.05, cap: float = 5.0, rng: Callable[[], float] = random.random) -> None:
        if base <= 0 or cap < base:
            raise ValueError("backoff needs 0 < base <= cap")
        self.base = base
        self.cap = cap
        self._rng = rng

    def delay(self, attempt: int) -> float:
        ceiling = self.cap if attempt >= 30 else min(self.cap, self.base * (2**attempt))
        return ceiling * self._rng()
