"""The pages served on the HTTP port, and the notification center's development helpers.

``GET /``           the notification center (``index.html``)
``GET /dashboard``  the live dashboard (``dashboard.html``): the figures of ``GET /v1/stats``, read with the API
                    key the operator enters (kept in the page's memory only)

Both are the TypeScript client's app, built by one Vite build into ``arda/notifications/webapp/`` with their
assets shared in ``assets/`` (``make webapp``; ``make run`` builds them; ``ARDA_WEBAPP_DIR`` points elsewhere).
In development mode two more routes let the notification center work with no configuration — never in
production:

``GET /dev/session?user=&tenant=``  the WebSocket URL and a fresh development token for that user and tenant
``POST /dev/events``                 publish like ``POST /v1/events``, without the API key
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import jwt
from aiohttp import web

from ..events import InvalidTenantError, validate_tenant_id
from .responses import problem, response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DEFAULT_DIR = Path(__file__).parent / "webapp"
_NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>Arda notifications</title>
<body style="font-family:system-ui;max-width:40rem;margin:4rem auto">
<h1>The {page} is not built</h1>
<p>Run <code>make webapp</code> or <code>make run</code> (they build the pages with Vite),
or <code>cd clients/typescript && npm run build:app</code>.</p>
<p>The service itself is running: <a href="/healthz">/healthz</a>, <a href="/metrics">/metrics</a>,
<a href="/openapi.yaml">/openapi.yaml</a>.</p></body>
"""


class DevSessions:
    """``GET /dev/session``: a development token signed with the HS256 ``secret``, and the WebSocket URL (its
    port known once listening)."""

    def __init__(self, secret: str | None, ws_port: Callable[[], int]) -> None:
        self.secret = secret
        self.ws_port = ws_port

    async def handle(self, request: web.Request) -> web.Response:
        user = request.query.get("user", "u-1")[:64] or "u-1"
        tenant = request.query.get("tenant", "tenant-001")
        try:
            validate_tenant_id(tenant)
        except InvalidTenantError as exc:
            return problem(400, f"invalid tenant: {exc.detail}")
        if not self.secret:
            return problem(404, "development sessions need an HS256 secret")
        now = int(time.time())
        claims = {"sub": user, "tenants": [tenant], "iat": now, "exp": now + 3600}
        token = jwt.encode(claims, self.secret, algorithm="HS256")
        host = request.url.host or "127.0.0.1"
        body = {"wsUrl": f"ws://{host}:{self.ws_port()}/ws", "token": token, "userId": user, "tenantId": tenant}
        return response(200, body)


def add_routes(app: web.Application, webapp_dir: str | None, dev: DevSessions | None, publish: Handler) -> None:
    """The pages (from ``webapp_dir`` or the package's build), and in development mode ``/dev/session`` and
    ``POST /dev/events`` (``publish``: ``POST /v1/events`` without the key check)."""
    directory = Path(webapp_dir) if webapp_dir else DEFAULT_DIR
    routes: list[web.AbstractRouteDef] = [
        web.get("/", _page(directory, "index.html", "notification center", {})),
        # the dashboard may be opened with ?key=: no Referer carries it anywhere (the page takes it out of the
        # address at once, too)
        web.get("/dashboard", _page(directory, "dashboard.html", "dashboard", {"Referrer-Policy": "no-referrer"})),
    ]
    if (directory / "assets").is_dir():
        routes.append(web.static("/assets", directory / "assets"))
    if dev is not None:
        routes += [web.get("/dev/session", dev.handle), web.post("/dev/events", publish)]
    app.add_routes(routes)


def _page(directory: Path, filename: str, name: str, headers: dict[str, str]) -> Handler:
    """The built page ``filename`` (revalidated on every load: its assets' names change with each build), or a
    note that the ``name`` page is not built."""

    async def handle(request: web.Request) -> web.StreamResponse:
        page = directory / filename
        if page.is_file():
            return web.FileResponse(page, headers={"Cache-Control": "no-cache", **headers})
        return web.Response(text=_NOT_BUILT.replace("{page}", name), content_type="text/html", headers=headers)

    return handle
