"""The publisher process: events straight to Redis through each system's own path — arda: the project's bus
(`EventBus.publish_many`); python-socketio: ``AsyncRedisManager(url, write_only=True).emit`` per event; Node
Socket.IO: ``@socket.io/redis-emitter`` in a ``node emitter.mjs`` child fed JSON lines on stdin, each batch
followed by ``{"flush": N}`` and awaited until it answers ``flushed N`` (all earlier events reached Redis);
Django Channels: ``channel_layer.group_send`` per event on the ``channels_redis`` layer.

Per tenant, a sequence number from 0 (carried in the event, see :mod:`wire`); batches go out one at a time
so each tenant's events reach Redis in sequence order. Commands arrive over a pipe; each reply carries the
next sequence number of every tenant, so the parent knows exactly what clients must have received.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any

import msgspec

from arda.events import EventBus, PublishError

from .harness import LOAD_CORE, NODE_PEER, pin
from .wire import Counter, channels_payload, order_event, peer_payload, tenant_name

RETRIES = 3

#: One event to publish: (tenant, sequence number, publish time in unix µs).
Event = tuple[str, int, int]


class Sink(abc.ABC):
    """Where a system's events go. ``send`` returns once the batch reached Redis, in order."""

    async def __aenter__(self) -> Sink:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    @abc.abstractmethod
    async def send(self, events: list[Event]) -> None: ...


class ArdaSink(Sink):
    def __init__(self, redis_url: str) -> None:
        self.bus = EventBus(redis_url)
        self.retries = 0

    async def __aenter__(self) -> Sink:
        await self.bus.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.bus.__aexit__(None, None, None)

    async def send(self, events: list[Event]) -> None:
        batch = [order_event(tenant, seq, sent_us) for tenant, seq, sent_us in events]
        for attempt in range(RETRIES):
            try:
                await self.bus.publish_many(batch)  # idempotent by id: a retry never duplicates
                return
            except PublishError:
                self.retries += 1
                if attempt == RETRIES - 1:
                    raise
                await asyncio.sleep(0.1)


class PythonSocketioSink(Sink):
    """python-socketio's documented way to emit from an external process: a write-only Redis manager."""

    def __init__(self, redis_url: str) -> None:
        import socketio  # type: ignore[import-untyped, import-not-found, unused-ignore]

        self.manager: Any = socketio.AsyncRedisManager(redis_url, write_only=True)

    async def send(self, events: list[Event]) -> None:
        emit = self.manager.emit
        for tenant, seq, sent_us in events:
            await emit("notification", peer_payload(tenant, seq, sent_us), room="tenant:" + tenant)


class NodeEmitterSink(Sink):
    """``@socket.io/redis-emitter`` (the Socket.IO way to emit from outside a server) in a Node child process."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.proc: asyncio.subprocess.Process | None = None
        self.flushes = 0
        self.encoder = msgspec.json.Encoder()

    async def __aenter__(self) -> Sink:
        self.proc = await asyncio.create_subprocess_exec(
            "node",
            "emitter.mjs",
            cwd=NODE_PEER,
            env={**os.environ, "REDIS_URL": self.redis_url},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is None:
            return
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def send(self, events: list[Event]) -> None:
        proc = self.proc
        assert proc is not None
        assert proc.stdin is not None
        assert proc.stdout is not None
        encode = self.encoder.encode
        lines = [
            encode({"room": "tenant:" + tenant, "event": "notification", "data": peer_payload(tenant, seq, sent_us)})
            for tenant, seq, sent_us in events
        ]
        self.flushes += 1
        lines.append(encode({"flush": self.flushes}))
        proc.stdin.write(b"\n".join(lines) + b"\n")
        await proc.stdin.drain()
        expected = f"flushed {self.flushes}".encode()
        while True:
            line = await proc.stdout.readline()
            if not line:
                raise RuntimeError(f"emitter.mjs exited (status {await proc.wait()})")
            if line.strip() == expected:
                return


class ChannelsSink(Sink):
    """Django Channels' way to send to a group from any process: ``channel_layer.group_send`` on the
    ``channels_redis`` layer (``RedisChannelLayer``, as the peer's settings), one call per event."""

    def __init__(self, redis_url: str) -> None:
        from channels_redis.core import RedisChannelLayer  # type: ignore[import-untyped, import-not-found, unused-ignore]

        self.layer: Any = RedisChannelLayer(hosts=[redis_url])

    async def __aexit__(self, *exc: object) -> None:
        await self.layer.close_pools()

    async def send(self, events: list[Event]) -> None:
        group_send = self.layer.group_send
        for tenant, seq, sent_us in events:
            message = {"type": "notification", "payload": channels_payload(tenant, seq, sent_us)}
            await group_send("tenant." + tenant, message)


def make_sink(system: str, redis_url: str) -> Sink:
    if system == "django-channels":
        return ChannelsSink(redis_url)
    if system == "python-socketio":
        return PythonSocketioSink(redis_url)
    if system == "node-socketio":
        return NodeEmitterSink(redis_url)
    return ArdaSink(redis_url)


class Publisher:
    def __init__(self, sink: Sink, tenants: int, delivered: Sequence[Counter]) -> None:
        self.sink = sink
        self.tenants = [tenant_name(i) for i in range(tenants)]
        self.seqs = [0] * tenants
        self.delivered = delivered  # one counter per client process: notifications received so far
        self.turn = 0  # round robin over tenants

    def _batch(self, count: int) -> list[Event]:
        sent_us = time.time_ns() // 1000
        events = []
        n = len(self.tenants)
        for _ in range(count):
            t = self.turn
            self.turn = (t + 1) % n
            events.append((self.tenants[t], self.seqs[t], sent_us))
            self.seqs[t] += 1
        return events

    async def _send(self, events: list[Event]) -> None:
        await self.sink.send(events)

    def _reply(self, published: int, started: float) -> dict[str, Any]:
        return {
            "seqs": list(self.seqs),
            "published": published,
            "seconds": time.perf_counter() - started,
            "retries": getattr(self.sink, "retries", 0),
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


async def _serve(redis_url: str, tenants: int, delivered: Sequence[Counter], pipe: Connection, system: str) -> None:
    loop = asyncio.get_running_loop()
    async with make_sink(system, redis_url) as sink:
        publisher = Publisher(sink, tenants, delivered)
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


def publisher_main(
    redis_url: str, tenants: int, delivered: Sequence[Counter], pipe: Connection, system: str = "arda"
) -> None:
    """Process entry point (spawn): pinned with the load generator; exits when the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    pin(0, LOAD_CORE)
    import uvloop

    uvloop.run(_serve(redis_url, tenants, delivered, pipe, system))
