"""The publisher process: events straight to Redis with the project's bus (`EventBus.publish_many`).

Per tenant, a sequence number from 0 (carried in the event, see :mod:`wire`); batches go out one at a time
so each tenant's events reach Redis in sequence order. Commands arrive over a pipe; each reply carries the
next sequence number of every tenant, so the parent knows exactly what clients must have received.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

from arda.events import EventBus, OrderCreated, PublishError

from .harness import LOAD_CORE, pin
from .wire import Counter, order_event, tenant_name

RETRIES = 3


class Publisher:
    def __init__(self, bus: EventBus, tenants: int, delivered: Sequence[Counter]) -> None:
        self.bus = bus
        self.tenants = [tenant_name(i) for i in range(tenants)]
        self.seqs = [0] * tenants
        self.delivered = delivered  # one counter per client process: notifications received so far
        self.turn = 0  # round robin over tenants
        self.retries = 0

    def _batch(self, count: int) -> list[OrderCreated]:
        sent_us = time.time_ns() // 1000
        events = []
        n = len(self.tenants)
        for _ in range(count):
            t = self.turn
            self.turn = (t + 1) % n
            events.append(order_event(self.tenants[t], self.seqs[t], sent_us))
            self.seqs[t] += 1
        return events

    async def _send(self, events: list[OrderCreated]) -> None:
        for attempt in range(RETRIES):
            try:
                await self.bus.publish_many(events)  # idempotent by id: a retry never duplicates
                return
            except PublishError:
                self.retries += 1
                if attempt == RETRIES - 1:
                    raise
                await asyncio.sleep(0.1)

    def _reply(self, published: int, started: float) -> dict[str, Any]:
        return {
            "seqs": list(self.seqs),
            "published": published,
            "seconds": time.perf_counter() - started,
            "retries": self.retries,
        }

    async def paced(self, rate: float, duration: float) -> dict[str, Any]:
        """``rate`` events/s in total, round robin over the tenants, for ``duration`` seconds."""
        started = time.perf_counter()
        sent = 0
        while True:
            elapsed = time.perf_counter() - started
            if elapsed >= duration:
                break
            due = int(rate * elapsed) + 1 - sent
            if due > 0:
                await self._send(self._batch(due))
                sent += due
            await asyncio.sleep(max(0.0, (sent / rate) - (time.perf_counter() - started)))
        return self._reply(sent, started)

    async def flood(self, duration: float, batch: int, window: int, fanout: Sequence[int]) -> dict[str, Any]:
        """Batches of ``batch`` events, one after the other, for ``duration`` seconds. With ``window`` > 0, wait
        while more than ``window`` deliveries are published but not yet received (closed loop); 0: open loop."""
        started = time.perf_counter()
        base = sum(c.value for c in self.delivered)
        start_seqs = list(self.seqs)
        sent = 0
        while time.perf_counter() - started < duration:
            if window > 0:
                expected = sum((s - s0) * f for s, s0, f in zip(self.seqs, start_seqs, fanout, strict=True))
                while expected - (sum(c.value for c in self.delivered) - base) > window:
                    await asyncio.sleep(0.0005)
                    if time.perf_counter() - started >= duration:
                        break
            await self._send(self._batch(batch))
            sent += batch
        return self._reply(sent, started)

    async def one_each(self) -> dict[str, Any]:
        """One event per tenant."""
        started = time.perf_counter()
        await self._send(self._batch(len(self.tenants)))
        return self._reply(len(self.tenants), started)


async def _serve(redis_url: str, tenants: int, delivered: Sequence[Counter], pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    async with EventBus(redis_url) as bus:
        publisher = Publisher(bus, tenants, delivered)
        pipe.send({"ready": True})
        while True:
            try:
                name, arg = await loop.run_in_executor(None, pipe.recv)
            except EOFError:
                return
            if name == "close":
                pipe.send({"closed": True})
                return
            try:
                if name == "paced":
                    reply = await publisher.paced(arg["rate"], arg["duration"])
                elif name == "flood":
                    reply = await publisher.flood(arg["duration"], arg["batch"], arg["window"], arg["fanout"])
                elif name == "one_each":
                    reply = await publisher.one_each()
                else:
                    reply = {"error": f"unknown command {name!r}"}
            except Exception as exc:  # reported to the parent, which fails the run
                reply = {"error": f"{type(exc).__name__}: {exc}", "seqs": list(publisher.seqs)}
            pipe.send(reply)


def publisher_main(redis_url: str, tenants: int, delivered: Sequence[Counter], pipe: Connection) -> None:
    """Process entry point (spawn): pinned with the load generator; exits when the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    pin(0, LOAD_CORE)
    import uvloop

    uvloop.run(_serve(redis_url, tenants, delivered, pipe))
