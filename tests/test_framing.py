"""Inbound framing, sans I/O (``arda.notifications.framing``): bytes in, events out; the budget and the close
handshake. No sockets."""

from __future__ import annotations

import pytest

from arda.notifications import frames
from arda.notifications.framing import (
    DISCARD_KIB,
    FLOODED,
    PROTOCOL_ERROR,
    TOO_LARGE,
    CloseReceived,
    Failure,
    Framing,
    Inbound,
    InboundBudget,
    Message,
    Ping,
)
from raw_ws import client_frame

LIMIT = 100
BUDGET = InboundBudget(preauth=5.0, rate=2.0)  # burst 8 once authenticated
T0 = 1_000.0
TEXT, BINARY, CONT = frames.TEXT, frames.BINARY, frames.CONTINUATION
EMPTY_PONG = client_frame(frames.PONG, b"")  # 6 bytes: one unit and 6/1024 of one


AMPLE = InboundBudget(preauth=1000.0, rate=1000.0)


def framing() -> Framing:
    return Framing(AMPLE, LIMIT)


def kinds(events: list[Inbound]) -> list[tuple[str, int]]:
    """Failures as (kind, close code)."""
    return [(e.kind, e.close_code.code) for e in events if isinstance(e, Failure)]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (client_frame(TEXT, b'{"type":"ping"}'), [Message(b'{"type":"ping"}')]),
        (client_frame(BINARY, b"\x00\xff"), [Message(b"\x00\xff")]),
        (client_frame(TEXT, b""), [Message(b"")]),
        (client_frame(TEXT, b"a") + client_frame(TEXT, b"b"), [Message(b"a"), Message(b"b")]),
        (
            client_frame(TEXT, "h\u00e9".encode()[:2], fin=False) + client_frame(CONT, "h\u00e9".encode()[2:]),
            [Message("h\u00e9".encode())],  # UTF-8 is checked on the whole message, not per fragment
        ),
        (
            client_frame(TEXT, b"ab", fin=False) + client_frame(CONT, b"cd", fin=False) + client_frame(CONT, b"ef"),
            [Message(b"abcdef")],
        ),
        (
            client_frame(TEXT, b"ab", fin=False) + client_frame(frames.PING, b"hi") + client_frame(CONT, b"cd"),
            [Ping(frames.frame(frames.PONG, b"hi")), Message(b"abcd")],  # a control frame between fragments
        ),
        (client_frame(TEXT, b"x" * LIMIT), [Message(b"x" * LIMIT)]),  # at the limit
        (client_frame(frames.PONG, b"alive"), []),  # a sign of life only
    ],
)
def test_bytes_to_events(data: bytes, expected: list[Inbound]) -> None:
    f = framing()
    assert f.receive(data, T0) == expected
    assert f.pending is None
    assert f.fragments is None
    assert not f.deaf


def test_a_frame_split_across_reads_is_kept_until_complete() -> None:
    data = client_frame(TEXT, b"x" * 60) + client_frame(TEXT, b"next")
    for cut in (1, 2, 5, 30, 65):
        f = framing()
        assert f.receive(data[:cut], T0) == []
        assert f.pending is not None
        assert bytes(f.pending) == data[:cut]
        assert f.receive(data[cut:], T0) == [Message(b"x" * 60), Message(b"next")]
        assert f.pending is None


def test_a_frame_split_after_a_complete_one_keeps_only_the_rest() -> None:
    first, second = client_frame(TEXT, b"one"), client_frame(TEXT, b"two")
    f = framing()
    assert f.receive(first + second[:3], T0) == [Message(b"one")]
    assert f.pending is not None
    assert bytes(f.pending) == second[:3]
    assert f.receive(second[3:5], T0) == []
    assert f.pending is not None
    assert bytes(f.pending) == second[:5]
    assert f.receive(second[5:], T0) == [Message(b"two")]
    assert f.pending is None


def test_a_fragmented_message_keeps_its_parts_between_reads() -> None:
    f = framing()
    assert f.receive(client_frame(TEXT, b"ab", fin=False), T0) == []
    assert f.fragments is not None
    assert f.receive(client_frame(CONT, b"cd"), T0) == [Message(b"abcd")]
    assert f.fragments is None


@pytest.mark.parametrize(
    ("data", "kind", "close_code", "reason"),
    [
        (client_frame(CONT, b"x"), PROTOCOL_ERROR, 1002, "continuation frame without a message"),
        (client_frame(TEXT, b"a", fin=False) + client_frame(TEXT, b"b"), PROTOCOL_ERROR, 1002, "new message began"),
        (client_frame(TEXT, b"\xc3\x28"), PROTOCOL_ERROR, 1007, "not valid UTF-8"),
        (client_frame(TEXT, b"\xc3", fin=False) + client_frame(CONT, b"\x28"), PROTOCOL_ERROR, 1007, "UTF-8"),
        (client_frame(TEXT, b"x", mask=False), PROTOCOL_ERROR, 1002, "masked"),
        (client_frame(frames.CLOSE, b"\x03"), PROTOCOL_ERROR, 1002, "one-byte payload"),
        (client_frame(frames.CLOSE, (1000).to_bytes(2, "big") + b"\xff"), PROTOCOL_ERROR, 1007, "not UTF-8"),
        (client_frame(TEXT, b"x" * (LIMIT + 1)), TOO_LARGE, 1009, f"limited to {LIMIT} bytes"),
        (client_frame(TEXT, b"x" * 60, fin=False) + client_frame(CONT, b"x" * 41), TOO_LARGE, 1009, "limited"),
    ],
)
def test_failures(data: bytes, kind: str, close_code: int, reason: str) -> None:
    f = framing()
    events = f.receive(data, T0)
    assert kinds(events) == [(kind, close_code)]
    failure = events[-1]
    assert isinstance(failure, Failure)
    assert reason in failure.reason
    assert f.deaf
    assert f.pending is None
    assert f.fragments is None


def test_messages_before_a_failure_in_the_same_read_are_kept() -> None:
    f = framing()
    events = f.receive(client_frame(TEXT, b"ok") + client_frame(CONT, b"x") + client_frame(TEXT, b"lost"), T0)
    assert events[0] == Message(b"ok")
    assert kinds(events[1:]) == [(PROTOCOL_ERROR, 1002)]
    assert len(events) == 2


def test_too_large_is_known_before_the_payload_arrives() -> None:
    header = client_frame(TEXT, b"x" * 5000)[:8]  # the header, 16-bit length and mask: no payload
    f = framing()
    assert kinds(f.receive(header[:3], T0)) == []  # the length is not known yet
    assert kinds(f.receive(header[3:], T0)) == [(TOO_LARGE, 1009)]
    assert f.pending is None


def test_a_ping_is_answered_with_its_payload() -> None:
    f = framing()
    [event] = f.receive(client_frame(frames.PING, b"beat"), T0)
    assert event == Ping(b"\x8a\x04beat")


@pytest.mark.parametrize(
    ("payload", "code", "reply"),
    [
        (b"", 1005, frames.close_frame(1000)),
        ((1000).to_bytes(2, "big"), 1000, frames.close_frame(1000)),
        ((4001).to_bytes(2, "big") + b"bye", 4001, frames.close_frame(4001)),
    ],
)
def test_a_close_received_is_answered(payload: bytes, code: int, reply: bytes) -> None:
    f = framing()
    events = f.receive(client_frame(frames.CLOSE, payload) + client_frame(TEXT, b"after"), T0)
    assert events == [CloseReceived(code, reply)]  # nothing after the close is handled
    assert f.closed
    assert f.close_code == code
    assert f.deaf
    assert f.receive(client_frame(TEXT, b"later"), T0) == []


def test_after_our_close_the_clients_close_gets_no_reply() -> None:
    f = framing()
    ours = f.close(4002, "token expired")
    assert ours == frames.close_frame(4002, "token expired")
    assert f.close(1000, "again") is None  # once
    assert f.receive(client_frame(TEXT, b"late message"), T0) == []  # closing: no more messages
    assert f.receive(client_frame(frames.CLOSE, (4002).to_bytes(2, "big")), T0) == [CloseReceived(4002, None)]
    assert f.close_code == 4002


def test_a_close_frame_reason_is_cut_to_the_control_frame_limit() -> None:
    frame = Framing(BUDGET, LIMIT).close(4000, "\u00e9" * 100)
    assert frame is not None
    assert len(frame) <= 2 + 125
    assert frame[2:4] == (4000).to_bytes(2, "big")
    assert frame[4:].decode("utf-8") == "\u00e9" * 61  # cut on a character boundary (123 bytes at most)


# -- the budget ---------------------------------------------------------------------------------------------
def test_the_preauth_allowance_is_spent_by_empty_pongs() -> None:
    f = Framing(BUDGET, LIMIT)
    for _ in range(4):
        assert f.receive(EMPTY_PONG, T0) == []
    assert kinds(f.receive(EMPTY_PONG, T0 + 100)) == [(FLOODED, 4005)]  # no refill before authenticate
    assert f.deaf


def test_the_preauth_allowance_counts_frames_in_one_read() -> None:
    f = Framing(BUDGET, LIMIT)
    events = f.receive(client_frame(TEXT, b"a") * 4 + EMPTY_PONG, T0)
    assert events[:4] == [Message(b"a")] * 4
    assert kinds(events) == [(FLOODED, 4005)]


def test_the_budget_charges_each_kib() -> None:
    f = Framing(InboundBudget(preauth=3.0, rate=1.0), 4096)
    assert f.receive(client_frame(BINARY, b"x" * 1024), T0) == [Message(b"x" * 1024)]  # 1 + 1.008 units
    assert kinds(f.receive(client_frame(BINARY, b"x" * 1024), T0)) == [(FLOODED, 4005)]


def test_authenticated_refills_with_time() -> None:
    f = Framing(BUDGET, LIMIT)
    f.receive(EMPTY_PONG * 4, T0)  # nearly all of the pre-auth allowance
    f.authenticated(T0)
    assert f.budget == BUDGET.burst
    assert f.receive(EMPTY_PONG * 7, T0) == []  # 8 - 7.04
    assert f.receive(EMPTY_PONG * 2, T0 + 1.0) == []  # earned 2
    assert f.receive(EMPTY_PONG, T0 + 100) == []  # saved up to the burst only
    assert f.budget <= BUDGET.burst
    assert kinds(f.receive(EMPTY_PONG * 8, T0 + 200)) == [(FLOODED, 4005)]


def test_authenticated_without_time_does_not_refill() -> None:
    f = Framing(BUDGET, LIMIT)
    f.authenticated(T0)
    assert f.receive(EMPTY_PONG * 7, T0) == []
    assert kinds(f.receive(EMPTY_PONG, T0)) == [(FLOODED, 4005)]


def test_authenticated_twice_does_not_refill() -> None:
    f = Framing(BUDGET, LIMIT)
    f.authenticated(T0)
    f.receive(EMPTY_PONG * 7, T0)
    f.authenticated(T0)
    assert kinds(f.receive(EMPTY_PONG, T0)) == [(FLOODED, 4005)]


# -- input given up -----------------------------------------------------------------------------------------
def test_after_a_failure_input_is_discarded_then_reading_stops() -> None:
    f = framing()
    f.receive(client_frame(CONT, b"x"), T0)
    assert f.deaf
    assert not f.discarded_enough
    assert f.receive(client_frame(TEXT, b"ignored"), T0) == []
    f = framing()
    f.receive(client_frame(CONT, b"x"), T0)
    kib = b"\x00" * 1024
    for _ in range(DISCARD_KIB):
        assert f.receive(kib, T0) == []
    assert not f.discarded_enough  # exactly DISCARD_KIB read
    assert f.receive(b"\x00", T0) == []
    assert f.discarded_enough


def test_give_up_input_drops_what_was_pending() -> None:
    f = framing()
    f.receive(client_frame(TEXT, b"ab", fin=False) + client_frame(TEXT, b"cdef")[:3], T0)
    assert f.pending is not None
    assert f.fragments is not None
    f.give_up_input()
    assert f.deaf
    assert f.pending is None
    assert f.fragments is None
    assert f.receive(client_frame(TEXT, b"x"), T0) == []


def test_authenticated_after_giving_up_keeps_the_discard_budget() -> None:
    f = Framing(BUDGET, LIMIT)
    f.give_up_input()
    f.authenticated(T0)
    assert f.budget == DISCARD_KIB
