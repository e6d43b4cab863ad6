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

from arda.events import EventBus, OrderCreated
from arda.testing.invariant import Accepted, ClientLog, Seen


class RecordingClient:
    def __init__(self, ws_url: str, jwt: str, log: ClientLog) -> None:
        self.ws_url = ws_url
        self.jwt = jwt
        self.log = log
        self.position: str | None = None
        self.connections = 0
        self.closes: list[int | None] = []

    async def run(self, stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError, ConnectionError):
                    await self._once(session, stop)
                self.connections += 1
                await asyncio.sleep(0.1)
        self.log.until = time.monotonic()

    async def _once(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        async with session.ws_connect(self.ws_url, timeout=aiohttp.ClientWSTimeout(ws_close=2)) as ws:
            await ws.send_str(json.dumps({"type": "authenticate", "payload": {"token": self.jwt}}))
            payload: dict[str, Any] = {"tenantId": self.log.tenant}
            if self.position is not None:
                payload["since"] = self.position
            await ws.send_str(json.dumps({"type": "subscribe", "payload": payload}))
            connection = self.connections
            while not stop.is_set():
                try:
                    msg = await ws.receive(timeout=0.5)
                except TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.TEXT:
                    self.closes.append(ws.close_code)
                    return
                body = json.loads(msg.data)
                kind, p = body["type"], body.get("payload") or {}
                if kind == "subscribed":
                    self.log.subscribed = min(self.log.subscribed, time.monotonic())
                    if "since" in payload and not p["recovered"]:
                        self.log.told.append(time.monotonic())
                    self.position = p["position"] or self.position
                elif kind == "notification":
                    self.log.seen.append(Seen(p["eventId"], p["tenantId"], p["position"], connection))
                    self.position = p["position"] or self.position
                elif kind == "error" and p.get("code") == "internal_error":
                    return  # subscribing failed (the bus is failing over): reconnect and try again


async def publish_until_accepted(bus: EventBus, tenant: str, n: int, accepted: list[Accepted]) -> None:
    event = OrderCreated(tenant_id=tenant, order_id=f"o-{n}", order_number=f"PO-{n}")
    while True:
        try:
            result = await bus.publish(event)  # the same event (same id) on every try: idempotent
        except Exception:
            await asyncio.sleep(0.1)
            continue
        accepted.append(Accepted(result.id, tenant, result.position, time.monotonic()))
        return
