"""The publish batcher: every ``publish()`` of one event-loop turn goes to the backend in one round trip.

Callers await their own future. At most ``in_flight`` round trips run at once (two overlap encoding with
Redis's work); batches hold at most ``max_batch`` events. The pending list is bounded by the callers
themselves: each one awaits its result.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from .backends.base import PublishItem, PublishOutcome
from .errors import BackendUnavailableError, PublishError
from .stats import BusStats

log = logging.getLogger("arda.events")

SendBatch = Callable[[Sequence[PublishItem]], Awaitable[list[PublishOutcome]]]


class PublishBatcher:
    def __init__(self, send: SendBatch, stats: BusStats, max_batch: int = 1000, in_flight: int = 2) -> None:
        self._send_batch = send
        self._stats = stats
        self.max_batch = max_batch
        self.in_flight = in_flight
        self._pending: list[tuple[PublishItem, asyncio.Future[PublishOutcome]]] = []
        self._sends: set[asyncio.Task[None]] = set()
        self._kick_scheduled = False

    async def submit(self, item: PublishItem) -> PublishOutcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[PublishOutcome] = loop.create_future()
        self._pending.append((item, future))
        if not self._kick_scheduled:
            self._kick_scheduled = True
            loop.call_soon(self._kick)  # gather every publish of this loop turn
        return await future

    async def send(self, items: Sequence[PublishItem]) -> list[PublishOutcome]:
        """One round trip for ``items`` (used by ``publish_many``); raises :class:`PublishError`."""
        try:
            outcomes = await self._send_batch(items)
        except BackendUnavailableError as exc:
            self._failed(len(items), exc)
            raise PublishError(f"publish of {len(items)} event(s) failed: {exc}") from exc
        except PublishError as exc:
            self._failed(len(items), exc)
            raise
        failed = sum(1 for o in outcomes if o.error is not None)
        duplicates = sum(1 for o in outcomes if o.duplicate)
        self._stats.duplicates += duplicates
        self._stats.publish_failures += failed
        self._stats.published += len(outcomes) - duplicates - failed
        return outcomes

    def _failed(self, count: int, exc: Exception) -> None:
        self._stats.publish_failures += count
        log.warning("publish failed", extra={"events": count, "error": str(exc)})

    async def drain(self, timeout: float) -> None:
        """Wait (up to ``timeout`` seconds) for pending and in-flight publishes."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._sends or self._pending:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            if self._sends:
                await asyncio.wait(set(self._sends), timeout=remaining)
            else:
                await asyncio.sleep(0)

    def _kick(self) -> None:
        self._kick_scheduled = False
        while self._pending and len(self._sends) < self.in_flight:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            task = asyncio.create_task(self._round_trip(batch))
            self._sends.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._sends.discard(task)
        if self._pending:
            self._kick()

    async def _round_trip(self, batch: list[tuple[PublishItem, asyncio.Future[PublishOutcome]]]) -> None:
        try:
            outcomes = await self.send([item for item, _ in batch])
        except BaseException as exc:  # every caller must hear the outcome, whatever it is
            error = exc if isinstance(exc, PublishError) else PublishError(f"publish failed: {exc!r}")
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if isinstance(exc, asyncio.CancelledError):
                raise
            if not isinstance(exc, PublishError):
                log.exception("publish round trip failed")
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)
