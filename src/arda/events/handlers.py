"""Handler queues: each handler gets its own bounded FIFO and task, so no handler delays another or the reader.

Overflow policy: when a queue holds ``limit`` events, the oldest is dropped to make room. One overflow
episode (from the first drop until the queue next runs empty) is reported once, through ``on_overflow``,
with the position of the last event the handler took before the first drop; drops are counted one by one.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from .models import AnyEvent
from .stats import BusStats

log = logging.getLogger("arda.events")

Handler = Callable[[AnyEvent], Awaitable[None] | None]
#: Called once per overflow episode with (stream, position of the last event taken before the first drop).
OnOverflow = Callable[[str, str | None], None]


class HandlerQueue:
    __slots__ = (
        "handler",
        "idle",
        "is_async",
        "last_position",
        "limit",
        "on_overflow",
        "overflowing",
        "queue",
        "stats",
        "stream",
        "task",
        "wake",
    )

    def __init__(self, stream: str, handler: Handler, limit: int, stats: BusStats, on_overflow: OnOverflow) -> None:
        self.stream = stream
        self.handler = handler
        self.is_async = inspect.iscoroutinefunction(handler)
        self.limit = limit
        self.stats = stats
        self.on_overflow = on_overflow
        self.queue: deque[AnyEvent] = deque()
        self.last_position: str | None = None  # of the last event the handler took
        self.overflowing = False
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.task = asyncio.create_task(self._run(), name=f"arda-handler-{stream}")

    def put(self, event: AnyEvent) -> None:
        queue = self.queue
        if len(queue) >= self.limit:
            queue.popleft()
            self.stats.handler_dropped += 1
            if not self.overflowing:
                self.overflowing = True
                self.on_overflow(self.stream, self.last_position)
        queue.append(event)
        if self.idle.is_set():
            self.idle.clear()
            self.wake.set()

    def cancel(self) -> None:
        self.task.cancel()

    async def _run(self) -> None:
        queue = self.queue
        stats = self.stats
        while True:
            if not queue:
                self.overflowing = False
                self.idle.set()
                self.wake.clear()
                await self.wake.wait()
                continue
            # Take what is queued now, then yield, so the reader runs even when handlers are sync.
            for _ in range(len(queue)):
                event = queue.popleft()
                self.last_position = event.position or self.last_position
                try:
                    if self.is_async:
                        await self.handler(event)  # type: ignore[misc]
                    else:
                        result = self.handler(event)
                        if result is not None and inspect.isawaitable(result):
                            await result
                    stats.delivered += 1
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise  # this queue is being stopped
                    self._failed(event)  # the handler awaited something that was cancelled
                except Exception:
                    self._failed(event)
            await asyncio.sleep(0)

    def _failed(self, event: AnyEvent) -> None:
        self.stats.handler_failures += 1
        log.exception("handler failed", extra={"eventId": event.id, "type": event.type, "stream": self.stream})
