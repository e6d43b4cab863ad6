"""Bounded fuzzing (hypothesis) of what the service parses from clients: the message decoder, the JSON depth
limit, the frame parser (round trip, any split of the bytes, and a differential check against a reference
parser written from RFC 6455 §5.2) and the upgrade request reader. Whatever the input, each either gives a
result or raises its own documented error — never anything else."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arda.events import jsonlimits
from arda.notifications import frames, handshake, protocol
from arda.notifications.errors import FrameError, FrameTooLarge, HandshakeError, ProtocolError

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMIT = 1024

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def nested(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


# -- the message decoder -----------------------------------------------------------------------------------
@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_decode_to_a_message_or_a_protocol_error(data: bytes) -> None:
    try:
        message = protocol.decode_client_message(data)
    except ProtocolError as exc:
        assert exc.error_code.value in ("invalid_message", "unknown_type")  # noqa: PT017 - classifying, not expecting
    else:
        assert isinstance(
            message,
            protocol.Authenticate | protocol.Subscribe | protocol.Unsubscribe | protocol.Acknowledge | protocol.Ping,
        )
    protocol.message_id_of(data)  # never raises


@FUZZ
@given(
    st.sampled_from(["authenticate", "subscribe", "unsubscribe", "acknowledge", "ping", "other"]),
    json_values,
    st.integers(0, 80),
)
def test_json_of_any_shape_and_depth_is_a_message_or_a_protocol_error(kind: str, payload: Any, levels: int) -> None:
    data = json.dumps({"type": kind, "payload": nested(levels, payload), "messageId": "m"}).encode()
    try:
        protocol.decode_client_message(data)
    except ProtocolError as exc:
        if depth(nested(levels, payload)) + 1 > jsonlimits.MAX_DEPTH:
            assert "nested deeper" in str(exc)  # noqa: PT017


@FUZZ
@given(json_values, st.integers(0, 70), st.integers(1, 40))
def test_the_depth_check_agrees_with_the_decoded_depth(value: Any, levels: int, limit: int) -> None:
    document = nested(levels, value)
    data = json.dumps(document).encode()
    assert jsonlimits.too_deep(data, limit) == (depth(document) > limit)


@FUZZ
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_one_error(data: bytes) -> None:
    with contextlib.suppress(jsonlimits.JsonInputError):
        jsonlimits.decode_any(data)
    with contextlib.suppress(jsonlimits.JsonInputError, msgspec.ValidationError):
        jsonlimits.decode(msgspec.json.Decoder(dict[str, int]), data)


# -- the frame parser ----------------------------------------------------------------------------------------
def reference_parse(data: bytes, max_payload: int) -> tuple[str, Any]:
    """RFC 6455 §5.2 read literally, for the differential test: ("frame", (fin, opcode, payload, end)),
    ("incomplete", None), ("error", None) or ("too_large", None)."""
    if len(data) < 2:
        return "incomplete", None
    b0, b1 = data[0], data[1]
    fin, rsv, opcode = b0 >> 7, (b0 >> 4) & 7, b0 & 15
    masked, length = b1 >> 7, b1 & 127
    if rsv or opcode not in (0, 1, 2, 8, 9, 10) or not masked:
        return "error", None
    pos = 2
    if length == 126:
        if len(data) < 4:
            return "incomplete", None
        length, pos = int.from_bytes(data[2:4], "big"), 4
        if length < 126:
            return "error", None
    elif length == 127:
        if len(data) < 10:
            return "incomplete", None
        length, pos = int.from_bytes(data[2:10], "big"), 10
        if length >= 2**63 or length < 65536:
            return "error", None
    if opcode >= 8 and (not fin or length > 125):
        return "error", None
    if opcode < 8 and length > max_payload:
        return "too_large", None
    if len(data) < pos + 4 + length:
        return "incomplete", None
    key = data[pos : pos + 4]
    payload = bytes(b ^ key[i % 4] for i, b in enumerate(data[pos + 4 : pos + 4 + length]))
    return "frame", (bool(fin), opcode, payload, pos + 4 + length)


def ours(data: bytes, max_payload: int) -> tuple[str, Any]:
    try:
        parsed = frames.parse_frame(data, 0, max_payload)
    except FrameError:
        return "error", None
    except FrameTooLarge:
        return "too_large", None
    if parsed is None:
        return "incomplete", None
    frame, end = parsed
    return "frame", (frame.fin, frame.opcode, frame.payload, end)


header_bytes = st.builds(
    lambda b0, b1, ext, rest: bytes((b0, b1)) + ext + rest,
    st.integers(0, 255),
    st.integers(0, 255),
    st.sampled_from(
        [
            b"",
            b"\x00\x7d",
            b"\x00\x7e",
            b"\x04\x00",
            b"\x00" * 7 + b"\x7e",
            b"\x00\x00\x00\x00\x00\x01\x00\x00",
            b"\x80" + b"\x00" * 7,
        ]
    ),
    st.binary(max_size=64),
)


@FUZZ
@given(st.one_of(st.binary(max_size=80), header_bytes), st.sampled_from([0, 10, 125, LIMIT]))
def test_the_frame_parser_agrees_with_the_rfc_reference(data: bytes, max_payload: int) -> None:
    assert ours(data, max_payload) == reference_parse(data, max_payload)


def client_frame(opcode: int, payload: bytes, fin: bool, key: bytes) -> bytes:
    n = len(payload)
    head = bytes(((0x80 if fin else 0) | opcode,))
    if n < 126:
        head += bytes((0x80 | n,))
    elif n < 65536:
        head += bytes((0x80 | 126,)) + n.to_bytes(2, "big")
    else:
        head += bytes((0x80 | 127,)) + n.to_bytes(8, "big")
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


@FUZZ
@given(
    st.sampled_from([frames.CONTINUATION, frames.TEXT, frames.BINARY, frames.PING, frames.PONG, frames.CLOSE]),
    st.binary(max_size=300),
    st.booleans(),
    st.binary(min_size=4, max_size=4),
    st.data(),
)
def test_a_frame_split_anywhere_parses_back_whole(
    opcode: int, payload: bytes, fin: bool, key: bytes, data: st.DataObject
) -> None:
    if opcode >= frames.CLOSE:
        payload, fin = payload[:125], True
    wire = client_frame(opcode, payload, fin, key) + b"\x81"  # and the start of the next frame
    cut = data.draw(st.integers(0, len(wire) - 2))
    assert frames.parse_frame(wire[:cut], 0, LIMIT) is None
    parsed = frames.parse_frame(wire, 0, LIMIT)
    assert parsed == (frames.Frame(fin, opcode, payload), len(wire) - 1)


# -- the upgrade request reader ------------------------------------------------------------------------------
@FUZZ
@given(st.binary(max_size=400), st.integers(1, 50))
def test_any_request_bytes_read_to_a_request_or_a_handshake_error(data: bytes, chunk: int) -> None:
    reader = handshake.RequestReader()
    try:
        for start in range(0, len(data), chunk):
            parsed = reader.feed(data[start : start + chunk])
            if parsed is not None:
                with contextlib.suppress(HandshakeError):
                    handshake.validate(parsed[0])
                break
    except HandshakeError as exc:
        assert 400 <= exc.status < 500  # noqa: PT017
