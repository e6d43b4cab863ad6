"""Recording load for fault tests: WebSocket clients that reconnect and resume like the browser client, and a
publisher that retries every event (same id) until it is accepted; what they record is checked offline by
:mod:`arda.testing.invariant`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp

from ..events import EventBus, EventValidationError, OrderCreated, OrderLine
from .invariant import Accepted, ClientLog, Seen, Told


class RecordingClient:
    """Connects, authenticates and subscribes to ``log.tenant``; on any loss reconnects (after 0.1 s; to the next
    of ``ws_url``'s comma-separated URLs, as a load balancer would) and resumes with ``since`` = the last position
    it saw. ``read_delay`` makes it a slow reader (seconds per message)."""

    def __init__(self, ws_url: str, jwt: str, log: ClientLog, read_delay: float = 0.0) -> None:
        self.urls = ws_url.split(",")
        self.jwt = jwt
        self.log = log
        self.read_delay = read_delay
        self.position: str | None = None
        self.connections = 0
        self.closes: list[int | None] = []
        self.paused = asyncio.Event()  # set: disconnected on purpose until cleared

    async def run(self, stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                while self.paused.is_set() and not stop.is_set():  # noqa: ASYNC110 - two conditions
                    await asyncio.sleep(0.05)
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, ConnectionError):
                    await self._once(session, stop)
                self.connections += 1
                await asyncio.sleep(0.1)
        self.log.until = time.monotonic()

    async def _once(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        url = self.urls[self.connections % len(self.urls)]
        async with session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=2), max_msg_size=0) as ws:
            await ws.send_str(json.dumps({"type": "authenticate", "payload": {"token": self.jwt}}))
            payload: dict[str, Any] = {"tenantId": self.log.tenant}
            if self.position is not None:
                payload["since"] = self.position
            await ws.send_str(json.dumps({"type": "subscribe", "payload": payload}))
            connection = self.connections
            while not stop.is_set() and not self.paused.is_set():
                try:
                    msg = await ws.receive(timeout=0.5)
                except TimeoutError:
                    continue
                if self.read_delay:
                    await asyncio.sleep(self.read_delay)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    self.closes.append(ws.close_code)
                    return
                body = json.loads(msg.data)
                kind, p = body["type"], body.get("payload") or {}
                if kind == "subscribed":
                    self.log.subscribed = min(self.log.subscribed, time.monotonic())
                    if "since" in payload and not p["recovered"]:
                        self.log.told.append(Told(time.monotonic(), p["position"]))
                    self.position = p["position"] or self.position
                elif kind == "notification":
                    self.log.seen.append(Seen(p["eventId"], p["tenantId"], p["position"], connection, time.monotonic()))
                    self.position = p["position"] or self.position
                elif kind == "error" and p.get("code") == "internal_error":
                    return  # subscribing failed (the bus is failing over): reconnect and try again


async def start_recording(
    clients: list[RecordingClient], stop: asyncio.Event, timeout: float = 15.0
) -> list[asyncio.Task[None]]:
    """Run ``clients`` until ``stop`` is set; return their tasks once every one is subscribed (TimeoutError, the
    tasks cancelled, if that takes longer than ``timeout``)."""
    tasks = [asyncio.create_task(c.run(stop)) for c in clients]
    deadline = time.monotonic() + timeout
    while not all(c.log.subscribed < float("inf") for c in clients):
        if time.monotonic() > deadline:
            for task in tasks:
                task.cancel()
            raise TimeoutError(f"not every client subscribed within {timeout:g} s")
        await asyncio.sleep(0.05)
    return tasks


async def publish_until_accepted(
    bus: EventBus, tenant: str, n: int, accepted: list[Accepted], padding: int = 0
) -> None:
    """Publish event ``n`` of ``tenant`` (``padding`` bytes bigger), retrying (the same id) until it is accepted;
    record it. An invalid event is not retried: it raises."""
    lines = [OrderLine(part_id=f"p{i}", quantity=1, part_name="x" * 2000) for i in range((padding + 1999) // 2000)]
    event = OrderCreated(tenant_id=tenant, order_id=f"o-{n}", order_number=f"PO-{n}", lines=lines or None)
    while True:
        try:
            result = await bus.publish(event)  # the same event (same id) on every try: idempotent
        except EventValidationError:
            raise
        except Exception:  # any other failure: try again (a failover is under way)
            await asyncio.sleep(0.1)
            continue
        accepted.append(Accepted(result.id, tenant, result.position, time.monotonic()))
        return
