"""The Django Channels peer: how a Django shop pushes events to browsers over Redis.

A Channels ``AsyncJsonWebsocketConsumer`` at ``/ws`` on uvicorn (uvloop, httptools, websockets: the fastest
ASGI server configuration), with the ``channels_redis`` channel layer (``RedisChannelLayer``, the documented
default) so events published by any process (``channel_layer.group_send``) reach the groups of every server.

The consumer speaks the same JSON messages as arda's protocol (so the benchmark's clients need no third
dialect): ``authenticate`` ``{"token": <HS256 JWT>}`` → ``authenticated`` (or ``error`` and close 4001);
``subscribe`` ``{"tenantId": t}`` → ``group_add("tenant.<t>")`` and ``subscribed`` when ``t`` is one of the
token's tenants (else ``error`` ``forbidden``); ``ping`` → ``pong``. A group message ``{"type":
"notification", "payload": {...}}`` is sent to the client as ``{"type": "notification", "payload": {...}}``.

Environment: ``PORT`` (3000), ``REDIS_URL`` (redis://127.0.0.1:6379/0), ``JWT_SECRET`` (required).
Ready when ``GET /healthz`` answers 200; SIGTERM stops it with exit status 0. Nothing is tuned: uvicorn's
defaults (backlog 2048, WebSocket pings every 20 s), the layer's defaults (capacity 100 per channel).
"""

from __future__ import annotations

import os
from typing import Any

import django
from django.conf import settings

PORT = int(os.environ.get("PORT", "3000"))
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
JWT_SECRET = os.environ["JWT_SECRET"]

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only",
    ALLOWED_HOSTS=["*"],
    INSTALLED_APPS=["channels"],
    ROOT_URLCONF=__name__,
    CHANNEL_LAYERS={
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # the one setting changed: redis-py 8's pool refuses a 101st concurrent command
            # (MaxConnectionsError), which 101 consumers joining groups at once reach
            "CONFIG": {"hosts": [{"address": REDIS_URL, "max_connections": 10_000}]},
        }
    },
)
django.setup()

import jwt  # noqa: E402
import uvicorn  # noqa: E402
from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.urls import path  # noqa: E402


class NotificationConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        self.tenants: set[str] = set()
        self.joined: list[str] = []
        await self.accept()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        mid = content.get("messageId") if isinstance(content, dict) else None
        payload = content.get("payload") or {} if isinstance(content, dict) else {}
        if kind == "authenticate":
            try:
                claims = jwt.decode(str(payload.get("token") or ""), JWT_SECRET, algorithms=["HS256"])
            except jwt.InvalidTokenError:
                await self.send_json({"type": "error", "payload": {"code": "unauthorized"}, "messageId": mid})
                await self.close(code=4001)
                return
            self.tenants = set(claims.get("tenants") or [])
            await self.send_json({"type": "authenticated", "payload": {"userId": claims["sub"]}, "messageId": mid})
        elif kind == "subscribe":
            tenant = payload.get("tenantId")
            if tenant not in self.tenants:
                await self.send_json({"type": "error", "payload": {"code": "forbidden"}, "messageId": mid})
                return
            group = "tenant." + tenant
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.append(group)
            await self.send_json({"type": "subscribed", "payload": {"tenantId": tenant}, "messageId": mid})
        elif kind == "ping":
            await self.send_json({"type": "pong", "messageId": mid})
        else:
            await self.send_json({"type": "error", "payload": {"code": "unknown_type"}, "messageId": mid})

    async def disconnect(self, code: int) -> None:
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def notification(self, event: dict[str, Any]) -> None:
        """A ``group_send`` message of type ``notification``."""
        await self.send_json({"type": "notification", "payload": event["payload"]})


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [path("healthz", healthz)]

application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": URLRouter([path("ws", NotificationConsumer.as_asgi())]),
    }
)


def main() -> None:
    config = uvicorn.Config(
        application,
        host="127.0.0.1",
        port=PORT,
        loop="uvloop",
        http="httptools",  # WebSocket: uvicorn's default implementation (websockets, sans-I/O)
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run()  # SIGTERM: graceful shutdown, exit status 0


if __name__ == "__main__":
    main()
