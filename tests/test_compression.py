"""permessage-deflate (RFC 7692): the negotiation matrix, compression once per event, bounded inflation (a deflate
bomb is refused with 1009), and over real sockets with a raw client, python-websockets and aiohttp."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect as ws_connect

from arda.notifications import codes, config, frames
from arda.notifications.deflate import TAIL, Compression, Deflater, accept, inflate, negotiate
from arda.notifications.errors import ConfigError, FrameError, FrameTooLarge
from arda.notifications.framing import TOO_LARGE, Failure, Framing, InboundBudget, Message
from conftest import order
from raw_ws import client_frame, message, read_close, read_raw_frame, upgrade
from ws_client import Running, running_service, token

AGREED = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"


def deflate(data: bytes, window_bits: int = 15) -> bytes:
    """What a client sends for ``data`` as one compressed message (no context takeover)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -window_bits)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


async def hang_up(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


def big_order(tenant: str = "tenant-001", n: int = 1, lines: int = 60) -> dict[str, Any]:
    """An order.created whose notification is several KiB (its lines travel in ``data``)."""
    rows = [{"partId": f"part-{i:04d}", "quantity": i + 1, "partName": f"Hex bolt M{i % 12 + 3}"} for i in range(lines)]
    return order(tenant, n, lines=rows)


# -- the negotiation, pure --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "window", "response"),
    [
        ("permessage-deflate", 15, AGREED),
        ("permessage-deflate; client_max_window_bits", 15, AGREED),  # what browsers offer
        ("permessage-deflate; client_max_window_bits=10", 15, AGREED),
        ("permessage-deflate; server_no_context_takeover; client_no_context_takeover", 15, AGREED),
        ("permessage-deflate; server_max_window_bits=10", 10, AGREED + "; server_max_window_bits=10"),
        ('permessage-deflate; server_max_window_bits="12"', 12, AGREED + "; server_max_window_bits=12"),
        ("Permessage-Deflate ;Client_Max_Window_Bits", 15, AGREED),  # names are case-insensitive
        ("x-webkit-deflate-frame, permessage-deflate", 15, AGREED),  # another extension first: skipped
        # the first offer declined, the second accepted
        ("permessage-deflate; server_max_window_bits=8, permessage-deflate", 15, AGREED),
        (
            "permessage-deflate; foo, permessage-deflate; server_max_window_bits=9",
            9,
            AGREED + "; server_max_window_bits=9",
        ),
    ],
)
def test_an_acceptable_offer_is_answered_without_context_takeover_either_way(
    header: str, window: int, response: str
) -> None:
    agreement = negotiate(header)
    assert agreement is not None
    assert (agreement.window_bits, agreement.response) == (window, response)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "x-webkit-deflate-frame",
        "permessage-deflate; server_max_window_bits=8",  # zlib cannot honour an 8-bit window for raw deflate
        "permessage-deflate; server_max_window_bits",  # a value is required
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=1x",
        "permessage-deflate; server_max_window_bits=\u00b2",  # a digit to str.isdigit, not to int()
        "permessage-deflate; server_max_window_bits=0012",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",  # repeated
        "permessage-deflate; mystery",
        "permessage-deflate;",
        'permessage-deflate; server_max_window_bits="10',
        "permessage-deflatex",
    ],
)
def test_an_offer_that_cannot_be_accepted_as_sent_is_declined(header: str | None) -> None:
    assert negotiate(header) is None


PIECES = st.sampled_from(
    [
        "permessage-deflate",
        "server_max_window_bits",
        "client_max_window_bits",
        "server_no_context_takeover",
        "client_no_context_takeover",
        ";",
        ",",
        "=",
        '"',
        " ",
        "8",
        "9",
        "15",
        "16",
        "\u00b2",
        "x",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(PIECES, max_size=12).map("".join) | st.text(max_size=60))
def test_negotiation_never_raises_and_answers_only_what_it_can_honour(header: str) -> None:
    agreement = negotiate(header)
    if agreement is not None:
        assert 9 <= agreement.window_bits <= 15
        assert agreement.response.startswith(AGREED)


def test_accept_takes_one_offer_only() -> None:
    assert accept("permessage-deflate, permessage-deflate") is None
    assert accept("permessage-deflate") is not None


# -- outbound: once per frame, shared ------------------------------------------------------------------------------
def test_a_frame_is_compressed_once_however_many_connections_it_goes_to() -> None:
    payload = json.dumps({"type": "notification", "payload": {"data": ["x" * 20] * 200}}).encode()
    plain = frames.text_frame(payload)
    deflater = Compression(1024).negotiate("permessage-deflate")
    assert deflater is not None
    shared = deflater[0]
    outs = [shared.frame(plain) for _ in range(500)]
    assert shared.compressed == 1
    assert all(out is outs[0] for out in outs)
    out = outs[0]
    assert out[0] == 0x80 | frames.RSV1 | frames.TEXT
    assert len(out) < len(plain) / 5
    assert inflate(frames.payload_of(out), 1 << 20) == payload
    # another connection with the same parameters gets the same deflater
    again = Compression(1024)
    assert again.negotiate("permessage-deflate")[0] is again.negotiate("permessage-deflate; client_max_window_bits")[0]  # type: ignore[index]


def test_compression_counts_its_frames_deliveries_and_the_bytes_it_saved() -> None:
    compression = Compression(1024)
    agreed = compression.negotiate("permessage-deflate")
    assert agreed is not None
    deflater = agreed[0]
    big = frames.text_frame(json.dumps({"lines": ["order line"] * 300}).encode())
    small = frames.text_frame(b'{"type":"pong"}')
    noise = frames.frame(frames.BINARY, os.urandom(4096))
    for _ in range(3):
        deflater.frames([big, small, noise])
    compressed = deflater.frame(big)
    stats = compression.stats()
    assert stats.frames == 1  # big only: small is under the minimum, noise did not get smaller
    assert stats.deliveries == 4  # big, to each of four connections
    assert stats.saved_bytes == 4 * (len(big) - len(compressed)) > 0
    windowed = compression.negotiate("permessage-deflate; server_max_window_bits=10")
    assert windowed is not None
    assert windowed[0] is not deflater
    windowed[0].frame(big)
    assert compression.stats().frames == 2
    assert compression.stats().deliveries == 5


def test_small_control_and_incompressible_frames_go_as_they_are() -> None:
    deflater = Deflater(15, min_bytes=1024)
    small = frames.text_frame(b'{"type":"pong"}' + b" " * 900)
    assert deflater.frame(small) is small
    everything = Deflater(15, min_bytes=0)
    assert everything.frame(frames.PING_FRAME) is frames.PING_FRAME
    close = frames.close_frame(1000, "bye")
    assert everything.frame(close) is close
    noise = frames.frame(frames.BINARY, os.urandom(4096))
    assert everything.frame(noise) is noise  # not made smaller: sent plain
    assert everything.compressed == 0
    tiny = frames.text_frame(b"a" * 64)
    assert everything.frame(tiny)[0] & frames.RSV1  # min 0: even small ones


def test_a_smaller_window_is_honoured() -> None:
    payload = (b"abcdefghij" * 50 + os.urandom(8).hex().encode()) * 40
    out = Deflater(9, min_bytes=0).frame(frames.text_frame(payload))
    data = frames.payload_of(out)
    assert zlib.decompressobj(-9).decompress(data + TAIL) == payload  # a decoder with a 512-byte window follows


# -- inbound: bounded inflation ---------------------------------------------------------------------------------
def test_a_deflate_bomb_is_refused_before_it_is_inflated_past_the_limit() -> None:
    bomb = deflate(b"\0" * (50 << 20))  # 50 MiB of zeros in ~50 KB
    assert len(bomb) < 60_000
    with pytest.raises(FrameTooLarge):
        inflate(bomb, 65536)
    assert inflate(deflate(b"{}" * 100), 200) == b"{}" * 100  # exactly the limit is fine
    with pytest.raises(FrameTooLarge):
        inflate(deflate(b"{}" * 100), 199)


def test_data_that_is_not_deflate_is_a_clear_error() -> None:
    with pytest.raises(FrameError) as info:
        inflate(b"\xff\xfe\xfd not deflate", 65536)
    assert info.value.close_code == codes.INVALID_DATA


def _framing(limit: int = 65536) -> Framing:
    framing = Framing(InboundBudget(preauth=1000, rate=1000), limit)
    framing.inflate = True
    return framing


def test_framing_inflates_compressed_messages_whole_or_fragmented() -> None:
    framing = _framing()
    body = json.dumps({"type": "ping", "messageId": "x" * 3000}).encode()
    data = deflate(body)
    whole = client_frame(frames.TEXT, data, rsv=frames.RSV1)
    parts = client_frame(frames.TEXT, data[:10], fin=False, rsv=frames.RSV1) + client_frame(
        frames.CONTINUATION, data[10:]
    )
    plain = client_frame(frames.TEXT, b'{"type":"ping"}')  # a client may send any message uncompressed
    assert framing.receive(whole + parts + plain, 0.0) == [Message(body), Message(body), Message(b'{"type":"ping"}')]


def test_inflated_bytes_are_charged_to_the_budget() -> None:
    body = b"[" + b"0," * 30000 + b"0]"  # 60 KiB that compress to a few hundred bytes
    plain_cost = Framing(InboundBudget(preauth=1000, rate=1000), 65536)
    compressed = _framing()
    wire = client_frame(frames.BINARY, deflate(body), rsv=frames.RSV1)
    assert compressed.receive(wire, 0.0) == [Message(body)]
    plain_cost.receive(client_frame(frames.BINARY, deflate(body)), 0.0)
    assert 1000 - compressed.budget > (1000 - plain_cost.budget) + 55  # the ~59 KiB inflated were charged


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (client_frame(frames.TEXT, b"a", fin=False) + client_frame(frames.CONTINUATION, b"b", rsv=frames.RSV1), "RSV1"),
        (client_frame(frames.PING, b"", rsv=frames.RSV1), "RSV1"),
        (client_frame(frames.TEXT, deflate(b"x"), rsv=0x20), "reserved bits"),
        (client_frame(frames.TEXT, b"\xff\xfe not deflate", rsv=frames.RSV1), "not valid deflate"),
        (client_frame(frames.TEXT, deflate(b"\xff\xfe"), rsv=frames.RSV1), "UTF-8"),  # checked once inflated
    ],
)
def test_framing_refuses_misused_compression(wire: bytes, reason: str) -> None:
    (failure,) = _framing().receive(wire, 0.0)
    assert isinstance(failure, Failure)
    assert reason in failure.reason


def test_framing_refuses_a_bomb_with_1009() -> None:
    framing = _framing(65536)
    (failure,) = framing.receive(client_frame(frames.TEXT, deflate(b" " * (10 << 20)), rsv=frames.RSV1), 0.0)
    assert isinstance(failure, Failure)
    assert (failure.kind, failure.close_code) == (TOO_LARGE, codes.MESSAGE_TOO_BIG)
    assert framing.pending is None
    assert framing.fragments is None


def test_compression_settings_are_checked() -> None:
    assert config.load({}).compresses
    assert not config.load({"ARDA_COMPRESSION": "off"}).compresses
    with pytest.raises(ConfigError, match="ARDA_COMPRESSION / --compression: expected on or off"):
        config.load({"ARDA_COMPRESSION": "maybe"})
    with pytest.raises(ConfigError, match="ARDA_COMPRESSION_MIN_BYTES"):
        config.load({"ARDA_COMPRESSION_MIN_BYTES": "-1"})
    assert config.load({"ARDA_COMPRESSION_MIN_BYTES": "0"}).compression_min_bytes == 0


# -- over real sockets ------------------------------------------------------------------------------------------
@pytest.fixture
async def svc(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_service(f"memory://deflate-{uuid.uuid4().hex}", tmp_path) as running:
        yield running


async def _raw_subscriber(
    svc: Running, extensions: str | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, str]]:
    headers = {"Sec-WebSocket-Extensions": extensions} if extensions else {}
    reader, writer, response = await upgrade(svc.service.ws_port, headers=headers)
    writer.write(message("authenticate", {"token": token("u-1", ["tenant-001"])}, "a"))
    writer.write(message("subscribe", {"tenantId": "tenant-001"}, "s"))
    seen: set[str] = set()
    while seen != {"authenticated", "subscribed"}:
        b0, payload = await read_raw_frame(reader)
        assert not b0 & frames.RSV1  # small replies go plain
        seen.add(json.loads(payload)["type"])
    return reader, writer, response


async def _next_notification(reader: asyncio.StreamReader) -> tuple[bool, dict[str, Any]]:
    """(sent compressed, the message) of the next server message."""
    b0, payload = await read_raw_frame(reader)
    compressed = bool(b0 & frames.RSV1)
    data = inflate(payload, 1 << 20) if compressed else payload
    body: dict[str, Any] = json.loads(data)
    return compressed, body


@pytest.mark.parametrize(
    ("offer", "agreed"),
    [
        (None, None),
        ("permessage-deflate; client_max_window_bits", AGREED),
        ("permessage-deflate; server_max_window_bits=10", AGREED + "; server_max_window_bits=10"),
        ("permessage-deflate; server_max_window_bits=8", None),
        ("x-webkit-deflate-frame", None),
    ],
)
async def test_the_service_negotiates_and_compresses_large_notifications_only(
    svc: Running, offer: str | None, agreed: str | None
) -> None:
    reader, writer, response = await _raw_subscriber(svc, offer)
    assert response.get("sec-websocket-extensions") == agreed
    await svc.publish(big_order(n=1), order(n=2))
    big_compressed, big = await _next_notification(reader)
    small_compressed, small = await _next_notification(reader)
    assert (big_compressed, small_compressed) == (agreed is not None, False)
    assert big["payload"]["data"]["orderId"] == "o-1"
    assert len(big["payload"]["data"]["lines"]) == 60
    assert small["payload"]["data"]["orderId"] == "o-2"
    await hang_up(writer)


async def test_compression_off_never_negotiates(tmp_path: Path) -> None:
    async with running_service(f"memory://deflate-{uuid.uuid4().hex}", tmp_path, compression="off") as svc:
        reader, writer, response = await _raw_subscriber(svc, "permessage-deflate")
        assert "sec-websocket-extensions" not in response
        await svc.publish(big_order())
        compressed, body = await _next_notification(reader)
        assert not compressed
        assert body["type"] == "notification"
        await hang_up(writer)


async def test_the_minimum_size_is_configurable(tmp_path: Path) -> None:
    url = f"memory://deflate-{uuid.uuid4().hex}"
    async with running_service(url, tmp_path, compression_min_bytes=100_000) as svc:
        reader, writer, response = await _raw_subscriber(svc, "permessage-deflate")
        assert response["sec-websocket-extensions"] == AGREED
        await svc.publish(big_order())
        compressed, _ = await _next_notification(reader)
        assert not compressed  # under 100 kB: plain
        await hang_up(writer)


async def test_one_event_is_compressed_once_for_all_its_recipients(svc: Running) -> None:
    clients = [await _raw_subscriber(svc, "permessage-deflate") for _ in range(20)]
    compression = svc.service.node.compression
    assert compression is not None
    before, counted = compression.stats().frames, compression.stats()
    await svc.publish(big_order())
    received = [await _next_notification(reader) for reader, _, _ in clients]
    assert all(compressed for compressed, _ in received)
    assert len({json.dumps(body, sort_keys=True) for _, body in received}) == 1
    assert compression.stats().frames - before == 1
    for _, writer, _ in clients:
        await hang_up(writer)
    async with aiohttp.ClientSession() as session, session.get(f"{svc.http_url}/metrics") as response:
        scraped = {f.name: f for f in text_string_to_metric_families(await response.text())}
    assert scraped["arda_compression_frames"].samples[0].value == counted.frames + 1
    assert scraped["arda_compression_deliveries"].samples[0].value == counted.deliveries + 20
    saved = scraped["arda_compression_saved_bytes"].samples[0].value - counted.saved_bytes
    assert saved % 20 == 0
    assert saved / 20 > 3000


async def test_python_websockets_with_compression_receives_the_same_payloads(svc: Running) -> None:
    """websockets compresses what it sends too (subscribe, ping): the service inflates it."""
    auth = json.dumps({"type": "authenticate", "messageId": "a", "payload": {"token": token("u-1", ["tenant-001"])}})
    subscribe = json.dumps({"type": "subscribe", "messageId": "s", "payload": {"tenantId": "tenant-001"}})
    got: dict[str, list[dict[str, Any]]] = {}

    async def listen(name: str, compression: str | None, ready: asyncio.Event) -> None:
        async with ws_connect(svc.ws_url, compression=compression) as ws:
            assert ws.response is not None
            agreed = ws.response.headers.get("Sec-WebSocket-Extensions")
            assert (agreed is not None) == (compression is not None), agreed
            await ws.send(auth)
            await ws.send(subscribe)
            while json.loads(await ws.recv())["type"] != "subscribed":
                pass
            ready.set()
            got[name] = []
            while len(got[name]) < 3:
                body = json.loads(await ws.recv())
                if body["type"] == "notification":
                    got[name].append(body["payload"])

    ready = [asyncio.Event(), asyncio.Event()]
    tasks = [
        asyncio.create_task(listen("deflate", "deflate", ready[0])),
        asyncio.create_task(listen("plain", None, ready[1])),
    ]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 5)
    await svc.publish(big_order(n=1), order(n=2), big_order(n=3, lines=200))
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert got["deflate"] == got["plain"]
    assert [n["data"]["orderId"] for n in got["deflate"]] == ["o-1", "o-2", "o-3"]
    compression = svc.service.node.compression
    assert compression is not None
    assert compression.stats().frames >= 2


async def test_aiohttp_with_compression_works_both_ways(svc: Running) -> None:
    async with svc.client(compress=15) as client:
        assert client.ws.compress == 15  # negotiated
        await client.login()
        await client.subscribe()
        await svc.publish(big_order())
        (note,) = await client.notifications(1)
        assert len(note["data"]["lines"]) == 60


async def test_a_deflate_bomb_over_the_socket_is_closed_with_1009(svc: Running) -> None:
    reader, writer, response = await upgrade(svc.service.ws_port, headers={"Sec-WebSocket-Extensions": AGREED})
    assert response["sec-websocket-extensions"] == AGREED
    bomb = deflate(json.dumps({"type": "ping", "messageId": " " * (20 << 20)}).encode())
    assert len(bomb) < 65536  # it passes the frame-size check: only inflating it would not
    writer.write(client_frame(frames.TEXT, bomb, rsv=frames.RSV1))
    code, reason = await read_close(reader)
    assert (code, reason) == (codes.MESSAGE_TOO_BIG.code, "message_too_big")
    await hang_up(writer)


async def test_compressed_frames_without_negotiation_are_a_protocol_error(svc: Running) -> None:
    reader, writer, response = await upgrade(svc.service.ws_port)
    assert "sec-websocket-extensions" not in response
    writer.write(client_frame(frames.TEXT, deflate(b'{"type":"ping"}'), rsv=frames.RSV1))
    code, reason = await read_close(reader)
    assert code == codes.PROTOCOL_ERROR.code
    assert "reserved bits" in reason
    await hang_up(writer)


async def test_connections_admin_says_which_connections_compress(svc: Running) -> None:
    _, writer, _ = await _raw_subscriber(svc, "permessage-deflate")
    _, plain_writer, _ = await _raw_subscriber(svc, None)

    async def rows() -> list[dict[str, Any]]:
        status, body, _ = await svc.http("GET", "/v1/connections")
        assert status == 200
        found: list[dict[str, Any]] = body["connections"]
        return found

    flags = sorted(str(row["compression"]) for row in await rows())
    assert flags == ["None", "permessage-deflate"]
    await hang_up(writer)
    await hang_up(plain_writer)
