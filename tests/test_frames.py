"""WebSocket framing and the opening handshake: the pure parts of the service's edge (no sockets)."""

from __future__ import annotations

import base64
import os

import pytest

from arda.notifications import codes, frames, handshake
from arda.notifications.errors import FrameError, FrameTooLarge, HandshakeError
from raw_ws import client_frame

LIMIT = 65_536


def test_unmask_matches_the_per_byte_definition() -> None:
    mask = os.urandom(4)
    for n in [*range(0, 20), 125, 126, 1000, 65_537]:
        data = os.urandom(n)
        assert frames.unmask(mask, data) == bytes(b ^ mask[i % 4] for i, b in enumerate(data))


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536])
def test_a_masked_frame_parses_back_with_its_offset(size: int) -> None:
    payload = os.urandom(size)
    data = b"junk" + client_frame(frames.BINARY, payload) + client_frame(frames.TEXT, b"next")
    parsed = frames.parse_frame(data, 4, LIMIT)
    assert parsed is not None
    frame, end = parsed
    assert frame == frames.Frame(True, frames.BINARY, payload)
    second = frames.parse_frame(data, end, LIMIT)
    assert second is not None
    assert second[0].payload == b"next"
    assert second[1] == len(data)


def test_an_incomplete_frame_is_none_at_every_cut() -> None:
    data = client_frame(frames.TEXT, b"x" * 300)  # 16-bit length: header, extended length, mask, payload
    for cut in range(len(data)):
        assert frames.parse_frame(data[:cut], 0, LIMIT) is None
    assert frames.parse_frame(bytearray(data), 0, LIMIT) is not None


def test_a_frame_over_the_limit_is_refused_from_its_header_alone() -> None:
    header = client_frame(frames.TEXT, b"x" * 70_000)[:14]  # no payload yet
    with pytest.raises(FrameTooLarge) as info:
        frames.parse_frame(header, 0, LIMIT)
    assert info.value.size == 70_000


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (client_frame(frames.TEXT, b"hi", mask=False), "must be masked"),
        (client_frame(frames.TEXT, b"hi", rsv=0x40), "reserved bits"),
        (client_frame(0x3, b"hi"), "unknown opcode 0x3"),
        (client_frame(frames.PING, b"hi", fin=False), "must not be fragmented"),
        (client_frame(frames.PING, b"x" * 126), "at most 125 bytes"),
        (bytes((0x81, 0xFF)) + (1 << 63).to_bytes(8, "big") + b"mask", "most significant bit"),
        # RFC 6455 §5.2: lengths in their shortest encoding only (finding 9.11)
        (bytes((0x81, 0xFE)) + (5).to_bytes(2, "big") + b"mask" + b"hello", "shortest encoding"),
        (bytes((0x81, 0xFE)) + (125).to_bytes(2, "big") + b"mask", "shortest encoding"),
        (bytes((0x81, 0xFF)) + (200).to_bytes(8, "big") + b"mask", "shortest encoding"),
        (bytes((0x81, 0xFF)) + (65_535).to_bytes(8, "big") + b"mask", "shortest encoding"),
    ],
)
def test_framing_violations_are_protocol_errors(data: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason) as info:
        frames.parse_frame(data, 0, LIMIT)
    assert info.value.close_code is codes.PROTOCOL_ERROR


def test_close_payloads() -> None:
    assert frames.parse_close(b"") == (1005, "")
    assert frames.parse_close((4004).to_bytes(2, "big") + "slow — bye".encode()) == (4004, "slow — bye")
    for code in (1000, 1011, 1014, 3000, 4999):
        assert frames.parse_close(code.to_bytes(2, "big"))[0] == code
    for code in (0, 999, 1004, 1005, 1006, 1015, 2000, 2999, 5000):
        with pytest.raises(FrameError, match=f"close code {code}"):
            frames.parse_close(code.to_bytes(2, "big"))
    with pytest.raises(FrameError, match="one-byte"):
        frames.parse_close(b"\x03")
    with pytest.raises(FrameError) as info:
        frames.parse_close((1000).to_bytes(2, "big") + b"\xff\xfe")
    assert info.value.close_code is codes.INVALID_DATA


@pytest.mark.parametrize(("size", "header"), [(125, 2), (126, 4), (65_535, 4), (65_536, 10)])
def test_server_frames_use_the_shortest_length_encoding(size: int, header: int) -> None:
    data = frames.text_frame(b"x" * size)
    assert len(data) == header + size
    assert data[0] == 0x81
    assert data[1] == min(size, 126 if size < 65_536 else 127)


def test_close_frames_fit_a_control_frame_and_cut_reasons_on_character_boundaries() -> None:
    data = frames.close_frame(4004, "é" * 200)
    assert data[0] == 0x88
    assert data[1] <= 125
    code, reason = int.from_bytes(data[2:4], "big"), data[4:].decode("utf-8")  # decodes: nothing cut in half
    assert code == 4004
    assert reason == "é" * (len(reason))
    assert len(reason) == 61


# -- the handshake ---------------------------------------------------------------------------------
def upgrade_request(target: str = "/ws", **headers: str) -> bytes:
    fields = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    fields.update({k.replace("_", "-"): v for k, v in headers.items()})
    lines = [f"GET {target} HTTP/1.1", *(f"{k}: {v}" for k, v in fields.items() if v)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read(data: bytes) -> tuple[handshake.Request, bytes]:
    parsed = handshake.RequestReader().feed(data)
    assert parsed is not None
    return parsed


def test_the_rfc_example_handshake_is_accepted() -> None:
    request, rest = read(upgrade_request() + b"\x81\x80")
    assert rest == b"\x81\x80"  # frames sent right behind the request are kept
    response = handshake.validate(request)
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in response  # RFC 6455 §1.3
    assert response.endswith(b"\r\n\r\n")


def test_a_request_fed_byte_by_byte() -> None:
    reader = handshake.RequestReader()
    data = upgrade_request("/?token=abc")
    for i in range(len(data) - 1):
        assert reader.feed(data[i : i + 1]) is None
    parsed = reader.feed(data[-1:])
    assert parsed is not None
    request = parsed[0]
    assert request.route == b"/"
    assert handshake.bearer_token(request) == "abc"
    assert request.redacted_target() == "/?[redacted]"


def test_tokens_from_the_authorization_header() -> None:
    request, _ = read(upgrade_request(Authorization="Bearer  t0k3n "))
    assert handshake.bearer_token(request) == "t0k3n"
    request, _ = read(upgrade_request(Authorization="Basic abc"))
    assert handshake.bearer_token(request) is None


@pytest.mark.parametrize(
    ("data", "status", "text"),
    [
        (upgrade_request("/other"), 404, "not found"),
        (upgrade_request().replace(b"GET", b"PUT", 1), 405, "use GET"),
        (upgrade_request(Upgrade="", Connection="close"), 426, "speaks WebSocket"),
        (upgrade_request(Connection="keep-alive"), 426, "speaks WebSocket"),
        (upgrade_request(Sec_WebSocket_Version="8"), 426, "Sec-WebSocket-Version"),
        (upgrade_request(Sec_WebSocket_Key=""), 400, "Sec-WebSocket-Key"),
        (upgrade_request(Sec_WebSocket_Key=base64.b64encode(b"short").decode()), 400, "Sec-WebSocket-Key"),
        (upgrade_request(Sec_WebSocket_Key="not base64!"), 400, "Sec-WebSocket-Key"),
        (upgrade_request().replace(b"HTTP/1.1", b"HTTP/1.0", 1), 400, "HTTP/1.1"),
    ],
)
def test_refused_upgrades_name_the_problem(data: bytes, status: int, text: str) -> None:
    with pytest.raises(HandshakeError, match=text) as info:
        handshake.validate(read(data)[0])
    assert info.value.status == status
    response = handshake.error_response(info.value)
    assert response.startswith(f"HTTP/1.1 {status} ".encode())
    head, body = response.split(b"\r\n\r\n", 1)
    assert f"Content-Length: {len(body)}".encode() in head
    assert text.encode() in body


def test_requests_with_a_body_or_without_host_are_refused() -> None:
    with_body = upgrade_request().replace(b"\r\n\r\n", b"\r\nContent-Length: 5\r\n\r\nhello")
    with pytest.raises(HandshakeError, match="no body") as info:
        handshake.validate(read(with_body)[0])
    assert info.value.status == 400
    with pytest.raises(HandshakeError, match="Host") as info:
        handshake.validate(read(upgrade_request(Host=""))[0])
    assert info.value.status == 400


def test_several_host_headers_are_refused() -> None:
    """RFC 9112 §3.2: a request with more than one Host header gets 400 (finding 9.11)."""
    twice = upgrade_request().replace(b"\r\n\r\n", b"\r\nHost: evil.example\r\n\r\n")
    with pytest.raises(HandshakeError, match="more than one Host") as info:
        read(twice)
    assert info.value.status == 400


def test_a_second_request_in_the_same_read_is_not_merged_into_the_first() -> None:
    request, _ = read(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n" + upgrade_request())
    assert request.target == b"/x"
    assert request.headers == {"host": "a"}


def test_one_huge_read_is_refused_without_parsing_it_all() -> None:
    reader = handshake.RequestReader()
    with pytest.raises(HandshakeError) as info:
        reader.feed(b"GET /ws HTTP/1.1\r\n" + b"a: b\r\n" * 200_000)  # 1.4 MB in one read
    assert info.value.status == 431
    assert reader._size == handshake.MAX_HEAD_BYTES + 1  # what the parser was given


def test_malformed_and_oversized_request_heads() -> None:
    with pytest.raises(HandshakeError) as info:
        handshake.RequestReader().feed(b"\x16\x03\x01 not http\r\n\r\n")  # e.g. TLS sent to a plain port
    assert info.value.status == 400
    reader = handshake.RequestReader()
    assert reader.feed(b"GET /ws HTTP/1.1\r\n") is None
    with pytest.raises(HandshakeError) as info:
        reader.feed(b"X-Padding: " + b"a" * handshake.MAX_HEAD_BYTES + b"\r\n")
    assert info.value.status == 431


def test_repeated_headers_are_joined() -> None:
    data = upgrade_request().replace(b"\r\n\r\n", b"\r\nX-Seen: a\r\nX-Seen: b\r\n\r\n")
    request, _ = read(data)
    assert request.headers["x-seen"] == "a, b"
