"""The WebSocket opening handshake (RFC 6455 §4.2) for a server. Pure logic, no I/O.

:class:`RequestReader` collects an HTTP/1.1 request head with ``httptools`` (llhttp, the parser uvicorn
uses) until the headers end, refusing heads over ``MAX_HEAD_BYTES``; :func:`validate` checks it is a
WebSocket upgrade the service accepts and gives the ``101`` response to write. Anything refused raises
:class:`~.errors.HandshakeError` with the HTTP status and a plain-text explanation, written back before closing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

import httptools

from .errors import HandshakeError

MAX_HEAD_BYTES = 8192
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
ROUTES = (b"/", b"/ws")
_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}


def error_response(exc: HandshakeError) -> bytes:
    """The HTTP response refusing an upgrade (the connection is closed after it)."""
    body = (str(exc) + "\n").encode()
    head = [f"HTTP/1.1 {exc.status} {_REASONS.get(exc.status, 'Error')}"]
    head += [f"{name}: {value}" for name, value in exc.headers]
    head += ["Content-Type: text/plain; charset=utf-8", f"Content-Length: {len(body)}", "Connection: close"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@dataclass(slots=True)
class Request:
    method: bytes
    target: bytes  # path and query, as sent
    version: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its values joined with ", "
    upgrade: bool

    @property
    def route(self) -> bytes:
        return self.target.split(b"?", 1)[0]

    def query(self, name: str) -> str | None:
        if b"?" not in self.target:
            return None
        values = parse_qs(self.target.split(b"?", 1)[1].decode("latin-1")).get(name)
        return values[0] if values else None

    def redacted_target(self) -> str:
        """The target without its query string (it may hold a token)."""
        target = self.target.decode("latin-1")
        return target.split("?", 1)[0] + ("?[redacted]" if "?" in target else "")


class RequestReader:
    """Collects one request head. :meth:`feed` returns ``(request, rest)`` once the headers are complete —
    ``rest`` being bytes that followed them — or None while more is needed. The parser never sees more than
    ``MAX_HEAD_BYTES + 1`` bytes in all, however much one read brings."""

    __slots__ = ("_complete", "_headers", "_parser", "_size", "_target")

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._headers: dict[str, list[str]] = {}
        self._target = b""
        self._size = 0  # bytes given to the parser so far
        self._complete = False

    # httptools callbacks (anything after the first request's end is not part of it: ignored)
    def on_url(self, url: bytes) -> None:
        if not self._complete:
            self._target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._complete:
            self._headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))

    def on_message_complete(self) -> None:
        self._complete = True

    def feed(self, data: bytes) -> tuple[Request, bytes] | None:
        room = MAX_HEAD_BYTES + 1 - self._size
        chunk = data if len(data) <= room else data[:room]
        before = self._size
        self._size += len(chunk)
        upgrade = False
        rest = b""
        try:
            self._parser.feed_data(chunk)
        except httptools.HttpParserUpgrade as exc:
            offset = int(exc.args[0])  # where the head ended, in `chunk` and so in `data`
            upgrade = True
            rest = data[offset:]
            self._size = before + offset
        except httptools.HttpParserError as exc:
            raise HandshakeError(400, f"malformed HTTP request: {exc}") from None
        if self._size > MAX_HEAD_BYTES:
            raise HandshakeError(431, f"request head over {MAX_HEAD_BYTES} bytes")
        if not upgrade and not self._complete:
            return None
        if len(self._headers.get("host", ())) > 1:
            raise HandshakeError(400, "more than one Host header")  # RFC 9112 §3.2
        parser = self._parser
        headers = {name: ", ".join(values) for name, values in self._headers.items()}
        request = Request(parser.get_method(), self._target, parser.get_http_version(), headers, upgrade)
        return request, rest


def _tokens(value: str | None) -> set[str]:
    return {part.strip().lower() for part in value.split(",")} if value else set()


def validate(request: Request, extensions: str | None = None) -> bytes:
    """The ``101 Switching Protocols`` response for a valid WebSocket upgrade to one of :data:`ROUTES` (with
    ``Sec-WebSocket-Extensions: extensions`` when an extension was agreed); raises
    :class:`~.errors.HandshakeError` (404, 405, 426, 400) otherwise."""
    if request.route not in ROUTES:
        raise HandshakeError(404, "not found: the WebSocket endpoint is /ws")
    if request.method != b"GET":
        raise HandshakeError(405, "WebSocket upgrades use GET", (("Allow", "GET"),))
    headers = request.headers
    if (
        not request.upgrade
        or "websocket" not in _tokens(headers.get("upgrade"))
        or "upgrade" not in _tokens(headers.get("connection"))
    ):
        raise HandshakeError(
            426,
            "this port speaks WebSocket (Upgrade: websocket); the HTTP API is on its own port",
            (("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13")),
        )
    if request.version != "1.1":
        raise HandshakeError(400, "WebSocket upgrades need HTTP/1.1")
    if "host" not in headers:
        raise HandshakeError(400, "missing Host header")
    if headers.get("content-length", "0").strip() != "0" or "transfer-encoding" in headers:
        raise HandshakeError(400, "an upgrade request has no body")
    if headers.get("sec-websocket-version", "").strip() != "13":
        raise HandshakeError(426, "unsupported Sec-WebSocket-Version: 13 is", (("Sec-WebSocket-Version", "13"),))
    key = headers.get("sec-websocket-key", "").strip()
    try:
        valid_key = len(base64.b64decode(key, validate=True)) == 16
    except (binascii.Error, ValueError):
        valid_key = False
    if not valid_key:
        raise HandshakeError(400, "missing or invalid Sec-WebSocket-Key")
    return accept_response(key, extensions)


def accept_response(key: str, extensions: str | None = None) -> bytes:
    accept = base64.b64encode(hashlib.sha1(key.encode("ascii") + GUID, usedforsecurity=False).digest())
    agreed = b"Sec-WebSocket-Extensions: " + extensions.encode("ascii") + b"\r\n" if extensions else b""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n" + agreed + b"\r\n"
    )


def bearer_token(request: Request) -> str | None:
    """A token from ``Authorization: Bearer …`` or the ``token`` query parameter (never logged)."""
    header = request.headers.get("authorization")
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.query("token")


def client_address(request: Request, peer: str, is_trusted: Callable[[str], bool]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy — then the rightmost address in
    ``X-Forwarded-For`` that is not a trusted proxy itself (what a proxy appends cannot be forged by the
    client; what the client sent sits to its left)."""
    if not is_trusted(peer):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not is_trusted(hop):
            return hop[:64]
    return peer


class TrustedProxies:
    """Which peers are proxies whose ``X-Forwarded-For`` is believed (``ARDA_TRUSTED_PROXIES``)."""

    __slots__ = ("_networks",)

    def __init__(self, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> None:
        self._networks = networks

    def __call__(self, address: str) -> bool:
        if not self._networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)
