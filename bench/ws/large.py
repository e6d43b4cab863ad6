"""The large-event scenario: notifications of ~8 KiB to N subscribed connections, once with clients that do not
offer permessage-deflate and once with clients that do, each against a fresh `arda serve`: bytes on the wire per
delivery, server CPU per delivery, and server RSS per idle connection in each mode.

The load is one client process (pinned to the load core) of raw asyncio connections: they count every byte the
socket delivers after the upgrade (frame headers included: what crosses the wire, short of TCP/IP headers) and
inflate what arrives compressed to check it is the notification. Events are published straight to Redis by
:class:`~arda.events.SyncPublisher` from this process, so the service's CPU is delivery only: reading the event,
mapping it once, compressing it once (with deflate), fan-out and writes.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import time
import zlib
from multiprocessing.connection import Connection
from typing import Any

import jwt

from arda.events import SyncPublisher
from arda.events.models import OrderCreated, OrderLine
from arda.notifications.frames import unmask

from .clients import source_address
from .harness import LOAD_CORE, Stack, cpu_seconds, pin, raise_nofile, rss_kib
from .wire import tenant_name

OFFER = "permessage-deflate; client_max_window_bits"  # what browsers send
TAIL = b"\x00\x00\xff\xff"
WORDS = ("hex", "bolt", "nut", "washer", "bracket", "gasket", "bearing", "seal", "spring", "shaft", "pin", "clip")


def large_order(tenant: str, seq: int, rng: random.Random, lines: int = 88) -> OrderCreated:
    """An order.created whose notification is ~8 KiB of JSON: realistic lines (varied ids, names, quantities),
    so deflate's ratio is not that of repeated bytes."""
    rows = [
        OrderLine(
            part_id=f"P-{rng.randrange(10**7):07d}",
            quantity=rng.randrange(1, 500),
            part_name=" ".join(rng.choice(WORDS) for _ in range(3)).title() + f" M{rng.randrange(3, 24)}",
            unit=rng.choice(("pcs", "kg", "m", "box")),
        )
        for _ in range(lines)
    ]
    return OrderCreated(
        tenant_id=tenant,
        order_id=f"o-{seq}",
        order_number=f"PO-{seq:06d}",
        supplier_name=f"Supplier {rng.randrange(1000)}",
        lines=rows,
    )


def _client_frame(payload: bytes) -> bytes:
    key = os.urandom(4)
    n = len(payload)
    head = bytes((0x81, 0x80 | n)) if n < 126 else bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    return head + key + unmask(key, payload)


class Tally:
    __slots__ = ("compressed", "negotiated", "notes", "plain_bytes", "ready", "wire_bytes")

    def __init__(self) -> None:
        self.negotiated = 0
        self.ready = 0
        self.reset()

    def reset(self) -> None:
        self.wire_bytes = 0  # every byte read after the upgrade
        self.plain_bytes = 0  # the notifications' JSON, inflated
        self.notes = 0
        self.compressed = 0


class Conn(asyncio.Protocol):
    """One connection: upgrade (offering deflate or not), authenticate, subscribe, then count."""

    def __init__(self, tally: Tally, offer: bool, token: str, tenant: str, subscribed: asyncio.Future[None]) -> None:
        self.tally = tally
        self.offer = offer
        self.token = token
        self.tenant = tenant
        self.subscribed = subscribed
        self.buf = bytearray()
        self.upgraded = False
        self.transport: asyncio.WriteTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        extension = f"Sec-WebSocket-Extensions: {OFFER}\r\n" if self.offer else ""
        self.transport = transport
        transport.write(
            (
                "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {os.urandom(16).hex()[:22]}==\r\nSec-WebSocket-Version: 13\r\n{extension}\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            if not head.startswith(b"http/1.1 101"):
                raise RuntimeError(f"upgrade refused: {head[:80]!r}")
            self.upgraded = True
            self.tally.negotiated += b"permessage-deflate" in head
            del buf[: end + 4]
            self._send("authenticate", {"token": self.token})
        else:
            self.tally.wire_bytes += len(data)
        start = 0
        while len(buf) - start >= 2:
            b0, n = buf[start], buf[start + 1] & 0x7F
            offset = start + 2
            if n == 126:
                n, offset = int.from_bytes(buf[offset : offset + 2], "big"), offset + 2
            elif n == 127:
                n, offset = int.from_bytes(buf[offset : offset + 8], "big"), offset + 8
            if len(buf) < offset + n:
                break
            payload = bytes(buf[offset : offset + n])
            start = offset + n
            if b0 & 0x40:
                payload = zlib.decompressobj(-15).decompress(payload + TAIL)
                self.tally.compressed += 1
            if b0 & 0x0F == 0x1:
                self._message(payload)
        del buf[:start]

    def _message(self, payload: bytes) -> None:
        if payload.startswith(b'{"type":"notification"'):
            self.tally.notes += 1
            self.tally.plain_bytes += len(payload)
            return
        kind = json.loads(payload)["type"]
        if kind == "authenticated":
            self._send("subscribe", {"tenantId": self.tenant})
        elif kind == "subscribed" and not self.subscribed.done():
            self.tally.ready += 1
            self.subscribed.set_result(None)

    def _send(self, kind: str, payload: dict[str, Any]) -> None:
        assert self.transport is not None
        body = json.dumps({"type": kind, "messageId": "m", "payload": payload}).encode()
        self.transport.write(_client_frame(body))


async def _clients(port: int, secret: str, tenants: int, count: int, offer: bool, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    tally = Tally()
    transports: list[asyncio.BaseTransport] = []
    now = int(time.time())
    for first in range(0, count, 100):
        waits = []
        for i in range(first, min(count, first + 100)):
            tenant = tenant_name(i % tenants)
            token = jwt.encode({"sub": f"u-{i}", "tenants": [tenant], "exp": now + 3600}, secret, algorithm="HS256")
            done: asyncio.Future[None] = loop.create_future()
            transport, _ = await loop.create_connection(
                lambda t=token, n=tenant, d=done: Conn(tally, offer, t, n, d),  # type: ignore[misc]
                "127.0.0.1",
                port,
                local_addr=(source_address(i), 0),
            )
            transports.append(transport)
            waits.append(done)
        await asyncio.wait_for(asyncio.gather(*waits), 60)
    pipe.send({"opened": len(transports), "ready": tally.ready, "negotiated": tally.negotiated})
    readable = asyncio.Event()
    loop.add_reader(pipe.fileno(), readable.set)
    while True:
        await readable.wait()
        readable.clear()
        if not pipe.poll():
            continue
        command = pipe.recv()
        if command == "reset":
            tally.reset()
            pipe.send("ok")
        elif command == "tally":
            pipe.send(
                {
                    "notes": tally.notes,
                    "wire_bytes": tally.wire_bytes,
                    "plain_bytes": tally.plain_bytes,
                    "compressed": tally.compressed,
                }
            )
        else:
            for open_transport in transports:
                open_transport.close()
            await asyncio.sleep(0.2)
            pipe.send("closed")
            return


def client_main(port: int, secret: str, tenants: int, count: int, offer: bool, pipe: Connection) -> None:
    pin(0, LOAD_CORE)
    raise_nofile()
    asyncio.run(_clients(port, secret, tenants, count, offer, pipe))


def _phase(stack: Stack, offer: bool, connections: int, tenants: int, events: int, rate: float) -> dict[str, Any]:
    service = stack.service("large-deflate" if offer else "large-plain")
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.Process(
        target=client_main, args=(service.port, stack.secret, tenants, connections, offer, child), daemon=True
    )
    time.sleep(1.0)
    rss_before = rss_kib(service.pid)
    proc.start()
    try:
        if not parent.poll(120):
            raise RuntimeError("the large-event clients did not open their connections in 120 s")
        opened = parent.recv()
        time.sleep(2.0)
        rss_after = rss_kib(service.pid)
        parent.send("reset")
        parent.recv()
        rng = random.Random(7)
        per_tenant = [sum(1 for i in range(connections) if i % tenants == t) for t in range(tenants)]
        expected = sum(per_tenant[seq % tenants] for seq in range(events))
        publisher = SyncPublisher(stack.redis_url)
        batch = [large_order(tenant_name(seq % tenants), seq, rng) for seq in range(events)]
        cpu_before = cpu_seconds(service.pid)
        started = time.perf_counter()
        for seq, event in enumerate(batch):
            publisher.publish(event)
            pause = started + (seq + 1) / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        deadline = time.monotonic() + 30
        tally: dict[str, Any] = {}
        while time.monotonic() < deadline:
            parent.send("tally")
            tally = parent.recv()
            if tally["notes"] >= expected:
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(service.pid) - cpu_before
        publisher.close()
        parent.send("close")
        parent.recv()
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
        service.stop()
    notes = int(tally.get("notes", 0))
    return {
        "connections": opened["opened"],
        "negotiated": opened["negotiated"],
        "events": events,
        "expected": expected,
        "received": notes,
        "lost": max(0, expected - notes),
        "compressed": tally.get("compressed", 0),
        "notification_bytes": tally["plain_bytes"] / notes if notes else float("nan"),
        "wire_bytes_per_delivery": tally["wire_bytes"] / notes if notes else float("nan"),
        "server_cpu_s": cpu,
        "seconds": seconds,
        "server_us_per_delivery": cpu / notes * 1e6 if notes else float("nan"),
        "kib_per_connection": (rss_after - rss_before) / opened["opened"] if opened["opened"] else float("nan"),
    }


def large_events(stack: Stack, connections: int, tenants: int, events: int, rate: float) -> dict[str, Any]:
    """Both modes: ``{"plain": …, "deflate": …, "lost": …, "wrong_negotiation": …}`` — the last two for the
    correctness check (``--quick``): every delivery arrived, and deflate was agreed with exactly the clients that
    offered it, and used."""
    plain = _phase(stack, False, connections, tenants, events, rate)
    deflate = _phase(stack, True, connections, tenants, events, rate)
    wrong = plain["negotiated"] + plain["compressed"] + (deflate["connections"] - deflate["negotiated"])
    wrong += deflate["received"] - deflate["compressed"]  # every ~8 KiB notification goes compressed
    return {"plain": plain, "deflate": deflate, "lost": plain["lost"] + deflate["lost"], "wrong_negotiation": wrong}
