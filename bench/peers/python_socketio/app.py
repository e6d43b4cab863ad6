"""The python-socketio peer: the usual Python way to push events to browsers over Redis.

``socketio.AsyncServer`` on aiohttp (run on uvloop, the fast path aiohttp supports), WebSocket transport only,
``AsyncRedisManager`` so events published by any process (``AsyncRedisManager(url, write_only=True).emit``)
reach the rooms of every server. A client connects with ``auth={"token": <HS256 JWT>}`` and sends
``subscribe`` ``{"tenantId": t}`` (acknowledged ``{"ok": True}``) to join room ``tenant:<t>``.

Environment: ``PORT`` (3000), ``REDIS_URL`` (redis://127.0.0.1:6379/0), ``JWT_SECRET`` (required).
Prints ``listening <port>`` once accepting; SIGTERM stops it with exit status 0. ``GET /healthz`` → 200.
"""

from __future__ import annotations

import os
from typing import Any

import jwt
import socketio  # type: ignore[import-untyped, import-not-found, unused-ignore]
import uvloop
from aiohttp import web

PORT = int(os.environ.get("PORT", "3000"))
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
JWT_SECRET = os.environ["JWT_SECRET"]

sio = socketio.AsyncServer(
    async_mode="aiohttp",
    client_manager=socketio.AsyncRedisManager(REDIS_URL),
    cors_allowed_origins="*",
    transports=["websocket"],
)
app = web.Application()
sio.attach(app)


async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any] | None) -> None:
    token = auth.get("token") if isinstance(auth, dict) else None
    if not isinstance(token, str):
        raise ConnectionRefusedError("unauthorized")
    try:
        claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        raise ConnectionRefusedError("unauthorized") from None
    await sio.save_session(sid, {"sub": claims.get("sub"), "tenants": list(claims.get("tenants") or [])})


async def subscribe(sid: str, data: Any) -> dict[str, Any]:
    tenant = data.get("tenantId") if isinstance(data, dict) else None
    session = await sio.get_session(sid)
    if not isinstance(tenant, str) or tenant not in session["tenants"]:
        return {"ok": False, "error": "forbidden"}
    await sio.enter_room(sid, "tenant:" + tenant)
    return {"ok": True}


sio.on("connect", connect)
sio.on("subscribe", subscribe)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


app.router.add_get("/healthz", healthz)


def main() -> None:
    # run_app stops gracefully on SIGINT and SIGTERM and returns: exit status 0
    web.run_app(
        app,
        host="127.0.0.1",
        port=PORT,
        loop=uvloop.new_event_loop(),
        print=lambda *_: print(f"listening {PORT}", flush=True),
        access_log=None,
        shutdown_timeout=5,
    )


if __name__ == "__main__":
    main()
