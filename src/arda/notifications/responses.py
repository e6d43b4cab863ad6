"""JSON responses of the HTTP API, and its problems: RFC 9457 problem details (``application/problem+json``)
with the message in ``detail`` and, as before, in ``error``. Shared by :mod:`.http_api` and :mod:`.webapp`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
from aiohttp import web

PROBLEM = "application/problem+json"

_json = msgspec.json.Encoder()


def response(
    status: int, body: Any, headers: dict[str, str] | None = None, content_type: str = "application/json"
) -> web.Response:
    return web.Response(status=status, body=_json.encode(body), content_type=content_type, headers=headers)


def problem(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    """A problem: ``{"title": <the status's phrase>, "status", "detail": message, "error": message, **extra}``."""
    body = {"title": HTTPStatus(status).phrase, "status": status, "detail": message, "error": message, **extra}
    return response(status, body, headers, PROBLEM)


__all__ = ["PROBLEM", "problem", "response"]
