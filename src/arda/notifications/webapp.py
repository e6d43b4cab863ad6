"""The notification center page, served on the HTTP port (``GET /``), and its development helpers.

The page is the TypeScript client's example app, built by Vite into ``arda/notifications/webapp/``
(``make run`` builds it; ``ARDA_WEBAPP_DIR`` points elsewhere). In development mode two more routes let the
page work with no configuration — never in production:

``GET /dev/session?user=&tenant=``  the WebSocket URL and a fresh development token for that user and tenant
``POST /dev/events``                 publish like ``POST /v1/events``, without the API key
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import jwt
from aiohttp import web

from ..events import InvalidTenantError, validate_tenant_id

if TYPE_CHECKING:
    from .http_api import HttpApi

DEFAULT_DIR = Path(__file__).parent / "webapp"
_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Arda notifications</title>
<body style="font-family:system-ui;max-width:40rem;margin:4rem auto">
<h1>The notification center is not built</h1>
<p>Run <code>make run</code> (it builds the page with Vite),
or <code>cd clients/typescript && npm run build:app</code>.</p>
<p>The service itself is running: <a href="/healthz">/healthz</a>, <a href="/metrics">/metrics</a>,
<a href="/openapi.yaml">/openapi.yaml</a>.</p></body>
"""


def add_routes(api: HttpApi) -> None:
    service = api.service
    directory = Path(service.settings.webapp_dir) if service.settings.webapp_dir else DEFAULT_DIR

    async def index(request: web.Request) -> web.StreamResponse:
        page = directory / "index.html"
        if page.is_file():
            return web.FileResponse(page, headers={"Cache-Control": "no-cache"})
        return web.Response(text=_NOT_BUILT, content_type="text/html")

    routes: list[web.AbstractRouteDef] = [web.get("/", index)]
    if (directory / "assets").is_dir():
        routes.append(web.static("/assets", directory / "assets"))
    if service.settings.is_dev:

        async def session(request: web.Request) -> web.Response:
            return await dev_session(api, request)

        routes += [web.get("/dev/session", session), web.post("/dev/events", api.publish_unauthenticated)]
    api.app.add_routes(routes)


async def dev_session(api: HttpApi, request: web.Request) -> web.Response:
    from .http_api import _problem, _response

    service = api.service
    user = request.query.get("user", "u-1")[:64] or "u-1"
    tenant = request.query.get("tenant", "tenant-001")
    try:
        validate_tenant_id(tenant)
    except InvalidTenantError as exc:
        return _problem(400, f"invalid tenant: {exc.detail}")
    secret = service.jwt.secret
    if not secret:
        return _problem(404, "development sessions need an HS256 secret")
    now = int(time.time())
    token = jwt.encode({"sub": user, "tenants": [tenant], "iat": now, "exp": now + 3600}, secret, algorithm="HS256")
    host = request.url.host or "127.0.0.1"
    return _response(
        200, {"wsUrl": f"ws://{host}:{service.ws_port}/ws", "token": token, "userId": user, "tenantId": tenant}
    )
