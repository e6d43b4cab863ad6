"""The service's WebSocket edge over real sockets: the handshake, framing rules, control frames and the close
handshake, with a raw client that can break the rules on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from arda.notifications import frames
from conftest import eventually, order
from raw_ws import client_frame, connect, message, read_close, read_frame
from ws_client import Running, running_service, token


@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_service(f"memory://edge-{uuid.uuid4().hex}", tmp_path, auth_timeout_s=1) as running:
        yield running


async def reply(reader: asyncio.StreamReader) -> dict[str, Any]:
    opcode, payload = await read_frame(reader)
    assert opcode == frames.TEXT
    data: dict[str, Any] = json.loads(payload)
    return data


def failures(svc: Running, reason: str) -> float:
    for line in svc.service.metrics.render().decode().splitlines():
        if line.startswith(f'arda_failures_total{{reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def http_status(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    response = await asyncio.wait_for(reader.read(), 5)  # the server answers and closes
    writer.close()
    return int(response.split(b" ", 2)[1]), response


async def test_messages_split_anywhere_or_batched_in_one_write_are_all_handled(svc: Running) -> None:
    reader, writer = await connect(svc.service.ws_port)
    data = message("ping", message_id="p1") + message("ping", message_id="p2")
    for i in range(len(data)):  # one byte per TCP write
        writer.write(data[i : i + 1])
        await writer.drain()
        await asyncio.sleep(0)
    writer.write(message("ping", message_id="p3") + message("ping", message_id="p4"))  # two in one write
    ids = [(await reply(reader))["messageId"] for _ in range(4)]
    assert ids == ["p1", "p2", "p3", "p4"]
    writer.close()


async def test_a_message_in_the_same_packet_as_the_upgrade_is_handled(svc: Running) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", svc.service.ws_port)
    auth = message("authenticate", {"token": token("u-1", ["tenant-001"])}, "a")
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" + auth
    )
    await reader.readuntil(b"\r\n\r\n")
    answer = await reply(reader)
    assert (answer["type"], answer["messageId"]) == ("authenticated", "a")
    writer.close()


async def test_a_fragmented_message_with_a_ping_between_its_parts(svc: Running) -> None:
    reader, writer = await connect(svc.service.ws_port)
    body = json.dumps({"type": "ping", "messageId": "frag"}).encode()
    writer.write(client_frame(frames.TEXT, body[:5], fin=False))
    writer.write(client_frame(frames.PING, b"are you there"))  # control frames may come between fragments
    writer.write(client_frame(frames.CONTINUATION, body[5:10], fin=False))
    writer.write(client_frame(frames.CONTINUATION, body[10:]))
    assert await read_frame(reader) == (frames.PONG, b"are you there")
    assert (await reply(reader))["messageId"] == "frag"
    writer.close()


@pytest.mark.parametrize(
    ("data", "code", "reason"),
    [
        (client_frame(frames.TEXT, b'{"type":"ping"}', mask=False), 1002, "must be masked"),
        (client_frame(frames.TEXT, b"{}", rsv=0x40), 1002, "reserved bits"),
        (client_frame(frames.CONTINUATION, b"{}"), 1002, "without a message"),
        (client_frame(frames.TEXT, b"{", fin=False) + client_frame(frames.TEXT, b"}"), 1002, "began before"),
        (client_frame(frames.TEXT, b'{"type":"\xff"}'), 1007, "not valid UTF-8"),
        (client_frame(frames.CLOSE, (999).to_bytes(2, "big")), 1002, "close code 999"),
    ],
    ids=["unmasked", "rsv", "orphan-continuation", "interleaved-messages", "bad-utf8", "bad-close-code"],
)
async def test_protocol_violations_close_the_connection_with_the_rfc_code(
    svc: Running, data: bytes, code: int, reason: str
) -> None:
    reader, writer = await connect(svc.service.ws_port)
    writer.write(data + message("ping", message_id="after"))  # nothing after the violation is handled
    got_code, got_reason = await read_close(reader)
    assert got_code == code
    assert reason in got_reason
    assert failures(svc, "protocol_error") == 1
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # no pong; the server hung up
    assert loop.time() - started < 1.5  # at once, not after CLOSE_TIMEOUT_S (2 s): its input is not read
    writer.close()


async def test_a_declared_length_over_the_limit_is_refused_before_its_payload_arrives(svc: Running) -> None:
    reader, writer = await connect(svc.service.ws_port)
    writer.write(client_frame(frames.TEXT, b"x" * 70_000)[:14])  # the header only
    err = await reply(reader)
    assert err["payload"] == {"code": "message_too_large", "message": "messages are limited to 65536 bytes"}
    assert (await read_close(reader))[0] == 1009
    writer.close()


async def test_a_fragmented_message_is_refused_from_the_header_that_would_pass_the_limit(svc: Running) -> None:
    reader, writer = await connect(svc.service.ws_port)
    writer.write(client_frame(frames.TEXT, b"x" * 60_000, fin=False))
    writer.write(client_frame(frames.CONTINUATION, b"x" * 10_000)[:4])  # header of 60,000 + 10,000 > 65,536
    err = await reply(reader)
    assert err["payload"]["code"] == "message_too_large"
    assert (await read_close(reader))[0] == 1009
    writer.close()


async def test_a_client_that_closes_but_never_reads_is_dropped(tmp_path: Path) -> None:
    url = f"memory://edge-{uuid.uuid4().hex}"
    async with running_service(url, tmp_path, outbound_max_bytes=64 * 1024 * 1024) as svc:
        _, writer = await connect(svc.service.ws_port, rcvbuf=4096)
        writer.write(message("authenticate", {"token": token("u-1", ["tenant-001"])}))
        writer.write(message("subscribe", {"tenantId": "tenant-001"}))
        await eventually(lambda: len(svc.service.hub.tenants.get("tenant-001", {})) == 1)
        lines = [{"partId": f"p{i}", "quantity": 1, "partName": "x" * 2000} for i in range(10)]
        for batch in range(5):  # ~5 MB queued for a client that reads nothing
            await svc.publish(*[order(n=batch * 50 + i, lines=lines) for i in range(50)])
        conn = next(iter(svc.service.node.connections))
        await eventually(lambda: conn.write_buffer_size() > 0)
        writer.write(client_frame(frames.CLOSE, (1000).to_bytes(2, "big")))
        await writer.drain()
        # the server answers, cannot flush to a client that does not read, and drops it after CLOSE_TIMEOUT_S
        await eventually(lambda: not svc.service.node.connections, timeout=5)
        writer.close()


async def test_the_client_closes_and_the_server_echoes_its_code(svc: Running) -> None:
    reader, writer = await connect(svc.service.ws_port)
    writer.write(client_frame(frames.CLOSE, (4711).to_bytes(2, "big") + b"bye"))
    assert await read_frame(reader) == (frames.CLOSE, (4711).to_bytes(2, "big"))
    assert await asyncio.wait_for(reader.read(), 5) == b""  # then the server closes TCP
    writer.close()
    await eventually(lambda: not svc.service.node.connections)
    reader, writer = await connect(svc.service.ws_port)
    writer.write(client_frame(frames.CLOSE, b""))  # no code: answered with 1000
    assert await read_frame(reader) == (frames.CLOSE, (1000).to_bytes(2, "big"))
    writer.close()
    metrics = svc.service.metrics.render().decode()
    assert 'arda_disconnects_total{code="other"} 1.0' in metrics  # 4711: the client's own choice


async def test_a_client_that_never_completes_the_close_handshake_is_dropped(svc: Running) -> None:
    reader, writer = await connect(svc.service.ws_port)
    writer.write(message("subscribe", {"tenantId": "tenant-001"}))  # before authenticating: refused
    await reply(reader)
    await eventually(lambda: len(svc.service.node.connections) == 1)
    code, _ = await read_close(reader, timeout=5)  # the auth deadline (1 s here)
    assert code == 4003
    # the client never answers the close frame: the server drops it after CLOSE_TIMEOUT_S
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_an_upgrade_never_completed_is_dropped_at_the_deadline(svc: Running) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", svc.service.ws_port)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\n")  # and nothing more (slowloris)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert 0.8 < loop.time() - started < 3
    writer.close()


async def test_plain_http_and_bad_upgrades_get_clear_http_errors(svc: Running) -> None:
    port = svc.service.ws_port
    status, response = await http_status(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 404
    status, response = await http_status(port, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 426
    assert b"Upgrade: websocket" in response
    status, response = await http_status(port, b"GET /ws HTTP/1.1\r\n" + b"X: " + b"a" * 9000 + b"\r\n\r\n")
    assert status == 431
    status, response = await http_status(port, b"\x16\x03\x01\x02\x00 hello\r\n\r\n")
    assert status == 400
    assert failures(svc, "handshake_refused") == 4
    reader, writer = await connect(port)  # and the port still serves
    writer.write(message("ping", message_id="ok"))
    assert (await reply(reader))["messageId"] == "ok"
    writer.close()


async def test_a_client_that_pings_without_reading_hits_the_outbound_bounds(tmp_path: Path) -> None:
    url = f"memory://edge-{uuid.uuid4().hex}"
    # an inbound budget too large to stop it first: this is about the pongs (the budget has its own tests)
    budgets = {"preauth_budget": 1e9, "inbound_budget": 1e9}
    async with running_service(url, tmp_path, outbound_max_bytes=64 * 1024, **budgets) as svc:
        _, writer = await connect(svc.service.ws_port, rcvbuf=4096)
        await eventually(lambda: len(svc.service.node.connections) == 1)
        ping = client_frame(frames.PING, b"p" * 125)
        for _ in range(100):  # up to 13 MB of pings (past the kernel's socket buffers); the pongs are never read
            if not svc.service.node.connections:
                break
            writer.write(ping * 1000)
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.drain(), 1)
        await eventually(lambda: not svc.service.node.connections, timeout=5)
        assert failures(svc, "slow_consumer") == 1
        writer.close()
