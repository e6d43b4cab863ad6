"""A raw-socket WebSocket client for the tests that need to send what a well-behaved client library never
would: unmasked or fragmented frames, bytes split anywhere, a client that stops reading."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from typing import Any

UPGRADE = (
    "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{headers}\r\n"
)


def client_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True, rsv: int = 0) -> bytes:
    """A client frame (masked unless told otherwise)."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | rsv | opcode
    flag = 0x80 if mask else 0
    if n < 126:
        head = bytes((b0, flag | n))
    elif n < 65_536:
        head = bytes((b0, flag | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, flag | 127)) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def message(message_type: str, payload: Any = None, message_id: str = "m") -> bytes:
    """A protocol message in one masked text frame."""
    body: dict[str, Any] = {"type": message_type, "messageId": message_id}
    if payload is not None:
        body["payload"] = payload
    return client_frame(0x1, json.dumps(body).encode())


async def upgrade(
    port: int, target: str = "/ws", *, rcvbuf: int | None = None, headers: dict[str, str] | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, str]]:
    """Open a TCP connection (with a small receive buffer if ``rcvbuf``), send the upgrade with ``headers`` added,
    and complete it: the response's headers (lower-case names)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=rcvbuf or 2**16)
    if rcvbuf is not None:
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(UPGRADE.format(target=target, key=key, headers=extra).encode())
    response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert response.startswith(b"HTTP/1.1 101 "), response
    lines = response.decode("latin-1").split("\r\n")[1:]
    fields = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines if line)}
    return reader, writer, fields


async def connect(
    port: int, target: str = "/ws", *, rcvbuf: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TCP connection (with a small receive buffer if ``rcvbuf``) and complete the upgrade."""
    reader, writer, _ = await upgrade(port, target, rcvbuf=rcvbuf)
    return reader, writer


async def read_raw_frame(reader: asyncio.StreamReader, timeout: float = 5) -> tuple[int, bytes]:
    """(first byte: FIN, RSV bits and opcode; payload) of the next server frame (server frames are unmasked)."""
    head = await asyncio.wait_for(reader.readexactly(2), timeout)
    assert not head[1] & 0x80, "server frames are never masked"
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return head[0], await asyncio.wait_for(reader.readexactly(n), timeout)


async def read_frame(reader: asyncio.StreamReader, timeout: float = 5) -> tuple[int, bytes]:
    """(opcode, payload) of the next server frame."""
    b0, payload = await read_raw_frame(reader, timeout)
    assert not b0 & 0x70, "no reserved bit without an extension"
    return b0 & 0x0F, payload


async def read_close(reader: asyncio.StreamReader, timeout: float = 5) -> tuple[int, str]:
    """Skip to the server's close frame: (code, reason)."""
    while True:
        opcode, payload = await read_frame(reader, timeout)
        if opcode == 0x8:
            return int.from_bytes(payload[:2], "big"), payload[2:].decode()
