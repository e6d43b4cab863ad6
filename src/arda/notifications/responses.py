"""JSON responses of the HTTP API (``{"error": …}`` problems included). Shared by :mod:`.http_api` and
:mod:`.webapp`."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

_json = msgspec.json.Encoder()


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=_json.encode(body), content_type="application/json", headers=headers)


def problem(status: int, message: str, **extra: Any) -> web.Response:
    return response(status, {"error": message, **extra})


__all__ = ["problem", "response"]
