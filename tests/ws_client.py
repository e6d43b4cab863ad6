"""A small WebSocket test client (aiohttp) and a running-service fixture helper for the service tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import msgspec

from arda.events import EventBus
from arda.notifications import config
from arda.notifications.service import NotificationService

SECRET = "test-secret-0123456789abcdef0123456789abcdef"
API_KEY = "test-api-key"


def token(
    user: str = "u-1",
    tenants: list[str] | None = None,
    *,
    ttl: float = 3600,
    roles: list[str] | None = None,
    secret: str = SECRET,
    **claims: Any,
) -> str:
    now = time.time()
    body: dict[str, Any] = {"sub": user, "exp": int(now + ttl), "iat": int(now)}
    if tenants is not None:
        body["tenants"] = tenants
    if roles:
        body["roles"] = roles
    body.update(claims)
    return str(jwt.encode(body, secret, algorithm="HS256"))


class Client:
    """One WebSocket connection; ``recv`` returns decoded server messages, ``closed_with`` the close code."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession) -> None:
        self.ws = ws
        self.session = session
        self._n = 0

    async def send(self, message_type: str, payload: Any = None, message_id: str | None = None) -> str:
        self._n += 1
        mid = message_id or f"m{self._n}"
        body: dict[str, Any] = {"type": message_type, "messageId": mid}
        if payload is not None:
            body["payload"] = payload
        await self.ws.send_str(json.dumps(body))
        return mid

    async def send_raw(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=timeout)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"connection closed: {self.ws.close_code} ({msg.type})")
        result: dict[str, Any] = json.loads(msg.data)
        return result

    async def expect(self, message_type: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next message of ``message_type``, skipping notifications and acknowledgements in between."""
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.recv(max(0.01, deadline - time.monotonic()))
            if msg["type"] == message_type:
                return msg
            if msg["type"] not in ("notification", "acknowledged"):
                raise AssertionError(f"expected {message_type}, got {msg}")

    async def notifications(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            msg = await self.recv(max(0.01, deadline - time.monotonic()))
            if msg["type"] == "notification":
                out.append(msg["payload"])
        return out

    async def quiet(self, seconds: float = 0.3) -> list[dict[str, Any]]:
        """Everything that arrives within ``seconds`` (to check that nothing unexpected does)."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(await self.recv(left))
            except (TimeoutError, ConnectionError):
                break
        return got

    async def closed_with(self, timeout: float = 5.0) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = await self.ws.receive(timeout=max(0.01, deadline - time.monotonic()))
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return self.ws.close_code
            if msg.type == aiohttp.WSMsgType.ERROR:
                return self.ws.close_code
        raise TimeoutError("not closed")

    async def login(self, user: str = "u-1", tenants: list[str] | None = None, **kw: Any) -> dict[str, Any]:
        await self.send("authenticate", {"token": token(user, tenants or ["tenant-001"], **kw)})
        return await self.expect("authenticated")

    async def subscribe(
        self, tenant: str = "tenant-001", since: str | None = None, *, backlog: int | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"tenantId": tenant}
        if since is not None:
            payload["since"] = since
        if backlog is not None:
            payload["backlog"] = backlog
        await self.send("subscribe", payload)
        reply: dict[str, Any] = (await self.expect("subscribed"))["payload"]
        return reply

    async def history(self, tenant: str = "tenant-001", **payload: Any) -> dict[str, Any]:
        """A ``history`` request; the reply's payload."""
        await self.send("history", {"tenantId": tenant, **payload}, "h")
        reply: dict[str, Any] = (await self.expect("history"))["payload"]
        return reply

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()


class Running:
    def __init__(self, service: NotificationService) -> None:
        self.service = service

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.service.ws_port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.service.http_port}"

    @asynccontextmanager
    async def client(self, path: str = "/ws", **kwargs: Any) -> AsyncIterator[Client]:
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(f"ws://127.0.0.1:{self.service.ws_port}{path}", autoping=True, **kwargs)
        except BaseException:
            await session.close()
            raise
        client = Client(ws, session)
        try:
            yield client
        finally:
            await client.close()

    @asynccontextmanager
    async def user(self, user: str = "u-1", tenants: list[str] | None = None, **kw: Any) -> AsyncIterator[Client]:
        async with self.client() as c:
            await c.login(user, tenants or ["tenant-001"], **kw)
            yield c

    async def http(
        self, method: str, path: str, *, body: Any = None, auth: str | None = API_KEY
    ) -> tuple[int, Any, dict[str, str]]:
        headers = {"Authorization": f"Bearer {auth}"} if auth else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        async with aiohttp.ClientSession() as session:
            data = msgspec.json.encode(body) if body is not None else None
            async with session.request(method, self.http_url + path, data=data, headers=headers) as resp:
                text = await resp.text()
                try:
                    parsed: Any = json.loads(text)
                except json.JSONDecodeError:
                    parsed = text
                return resp.status, parsed, dict(resp.headers)

    async def publish(self, *events: dict[str, Any]) -> list[dict[str, Any]]:
        status, body, _ = await self.http("POST", "/v1/events", body=list(events))
        assert status == 202, body
        result: list[dict[str, Any]] = body["events"]
        return result


@asynccontextmanager
async def running_service(bus_url: str, tmp: Path, **overrides: Any) -> AsyncIterator[Running]:
    env = {
        "ARDA_PORT": "0",
        "ARDA_HTTP_PORT": "0",
        "ARDA_JWT_SECRET": SECRET,
        "ARDA_API_KEY": API_KEY,
        "ARDA_DEV": "false",
        "ARDA_STATE_DIR": str(tmp),
        "ARDA_SWEEP_INTERVAL_S": "0.05",
        "ARDA_SHUTDOWN_TIMEOUT_S": "3",
    }
    for key, value in overrides.items():
        env["ARDA_" + key.upper()] = str(value)
    settings = config.load(env)
    bus = EventBus(bus_url, check_interval=settings.check_interval_s)
    service = NotificationService(settings, bus=bus)
    await service.start()
    try:
        yield Running(service)
    finally:
        await service.stop()
        await asyncio.sleep(0)
