"""The sans-I/O session (``arda.notifications.session``): client messages, I/O results and ticks in, actions out.

No sockets, no event loop. Each test drives one :class:`Session` and reads its actions through :func:`outline`
(one short string per action) and :func:`decoded` (a Send's JSON message)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from arda.events import AnyEvent, HistoryPage, OrderCreated
from arda.events.catchup import Catchup
from arda.events.positions import fast_key
from arda.notifications import acks
from arda.notifications.acks import NotificationAcknowledged
from arda.notifications.auth import Identity
from arda.notifications.codes import ErrorCode
from arda.notifications.errors import AuthError
from arda.notifications.mapper import Notification, NotificationMapper
from arda.notifications.protocol import iso
from arda.notifications.ratelimit import KeyedBuckets
from arda.notifications.session import (
    Action,
    Authenticated,
    Close,
    Count,
    Drop,
    Join,
    Leave,
    Locate,
    Located,
    MarkRead,
    ReadMarks,
    ReadPage,
    Replay,
    Rules,
    Send,
    SendPing,
    Session,
    Verify,
)

T0 = 1_000_000.0
TENANT = "tenant-a"
OTHER = "tenant-b"
THIRD = "tenant-c"
USER = "alice"
SESSION_ID = "conn-1"
ALICE = Identity(USER, frozenset({TENANT, OTHER, THIRD}), frozenset(), T0 + 3600, T0)
MONITOR = Identity("mo", frozenset({TENANT}), frozenset({"monitor"}), T0 + 3600, T0)


def render(stream: str, event: AnyEvent, read: bool = False) -> bytes:
    return f"{stream}:{event.id}{' (read)' if read else ''}".encode()


MAPPER = NotificationMapper()


def notify(stream: str, event: AnyEvent, read: bool) -> Notification:
    return msgspec.structs.replace(MAPPER.map(event, stream), read=read)


def kind(stream: str, event: AnyEvent) -> tuple[str, str]:
    return event.type, MAPPER.map(event, stream).severity


@pytest.fixture
def rules() -> Rules:
    return Rules(
        client_rate=100.0,  # refills within a second: tests that do not test the limit step the clock
        client_burst=5.0,
        max_subscriptions=2,
        max_message_bytes=1024,
        auth_timeout_s=10.0,
        token_grace_s=30.0,
        heartbeat_interval_s=20.0,
        heartbeat_timeout_s=10.0,
        ack_limits=KeyedBuckets(0.01, 2.0),
        render=render,
        notify=notify,
        kind=kind,
    )


# -- helpers ------------------------------------------------------------------------------------------------
def msg(kind: str, payload: dict[str, Any] | None = None, mid: str | None = None) -> bytes:
    body: dict[str, Any] = {"type": kind}
    if payload is not None:
        body["payload"] = payload
    if mid is not None:
        body["messageId"] = mid
    return json.dumps(body).encode()


def unframe(frame: bytes) -> bytes:
    """The payload of one final, unmasked server text frame (fails on anything else)."""
    assert frame[0] == 0x81, f"not a final text frame: {frame[:2]!r}"
    assert not frame[1] & 0x80, "server frames are never masked"
    length, offset = frame[1] & 0x7F, 2
    if length == 126:
        length, offset = int.from_bytes(frame[2:4], "big"), 4
    elif length == 127:
        length, offset = int.from_bytes(frame[2:10], "big"), 10
    payload = frame[offset:]
    assert len(payload) == length
    return payload


def decoded(action: Action) -> dict[str, Any]:
    """The JSON message a Send carries."""
    assert isinstance(action, Send), action
    value = json.loads(unframe(action.frame))
    assert isinstance(value, dict)
    return value


def outline(actions: list[Action]) -> list[str]:
    """One short string per action: ``send error unauthorized``, ``replay tenant-a:e1``, ``Close 4001``, …"""
    out: list[str] = []
    for action in actions:
        if isinstance(action, Send):
            prefix = "replay" if action.replay else "send"
            if action.frame[:1] != b"\x81":  # a rendered notification (the test's render) or a held live frame
                out.append(f"{prefix} {action.frame.decode()}")
                continue
            message = decoded(action)
            text = f"{prefix} {message['type']}"
            if message["type"] == "error":
                text += f" {message['payload']['code']}"
            out.append(text)
        elif isinstance(action, Close):
            out.append(f"Close {action.code.code}")
        elif isinstance(action, Drop):
            out.append(f"Drop {action.code.code}")
        elif isinstance(action, Count):
            out.append(f"Count {action.reason}")
        elif isinstance(action, Join | Leave):
            out.append(f"{type(action).__name__} {action.stream}")
        elif isinstance(action, Locate):
            out.append(f"Locate {action.stream} {action.since}")
        elif isinstance(action, ReadPage):
            out.append(f"ReadPage {action.stream} {action.since}")
        elif isinstance(action, ReadMarks):
            out.append(f"ReadMarks {action.stream} {action.since}")
        elif isinstance(action, MarkRead):
            out.append(f"MarkRead {action.tenant} {action.event_id}")
        else:
            out.append(type(action).__name__)
    return out


def order(event_id: str, position: str, recipients: list[str] | None = None) -> OrderCreated:
    return OrderCreated(
        id=event_id,
        tenant_id=TENANT,
        order_id=f"o-{event_id}",
        order_number=f"PO-{event_id}",
        position=position,
        recipients=recipients,
    )


def ack_of(user: str, notification_id: str, position: str) -> NotificationAcknowledged:
    return NotificationAcknowledged(
        id=f"ack-{user}",
        tenant_id=TENANT,
        user_id=user,
        recipients=[user],
        notification_id=notification_id,
        position=position,
    )


def page(
    *events: AnyEvent, reaches_back: bool = True, has_more: bool = False, read: frozenset[str] = frozenset()
) -> Replay:
    position = events[-1].position if events else None
    return Replay(HistoryPage(list(events), reaches_back, position, has_more), read)


def authenticated(rules: Rules, identity: Identity = ALICE, now: float = T0) -> Session:
    session = Session(rules, SESSION_ID, now)
    assert session.received(msg("authenticate", {"token": "t"}, "a1"), now) == [Verify("t", "a1")]
    assert outline(session.verified(identity, "a1", now)) == ["Authenticated", "send authenticated"]
    return session


def subscribe(session: Session, stream: str, now: float, since: str | None = None, mid: str = "s1") -> Join:
    payload: dict[str, Any] = {"tenantId": stream}
    if since is not None:
        payload["since"] = since
    actions = session.received(msg("subscribe", payload, mid), now)
    assert outline(actions) == [f"Join {stream}", f"Locate {stream} {since}"]
    join = actions[0]
    assert isinstance(join, Join)
    return join


def subscribed(session: Session, stream: str, now: float) -> Join:
    """Subscribed without ``since``, the stream at 5-0."""
    join = subscribe(session, stream, now)
    assert outline(session.located(stream, Located("5-0", None), now)) == ["send subscribed"]
    return join


# -- before authenticate ------------------------------------------------------------------------------------
def test_connected_with_a_token_verifies_it_and_without_waits() -> None:
    rules_ = Rules(1, 1, 1, 1, 1, 1, 1, 1, KeyedBuckets(1, 1), render, notify, kind)
    assert Session(rules_, SESSION_ID, T0).connected("tok") == [Verify("tok", None)]
    assert Session(rules_, SESSION_ID, T0).connected(None) == []


@pytest.mark.parametrize(
    ("data", "expected", "mid"),
    [
        (msg("ping", mid="p1"), ["send pong"], "p1"),
        (msg("subscribe", {"tenantId": TENANT}, "s1"), ["Count unauthorized", "send error unauthorized"], "s1"),
        (msg("unsubscribe", {"tenantId": TENANT}, "u1"), ["Count unauthorized", "send error unauthorized"], "u1"),
        (
            msg("acknowledge", {"notificationId": f"{TENANT}:e1"}, "k1"),
            ["Count unauthorized", "send error unauthorized"],
            "k1",
        ),
        (b'{"type":"subscribe","messageId":"x1"}', ["Count invalid_message", "send error invalid_message"], "x1"),
        (msg("shout", mid="x2"), ["Count unknown_type", "send error unknown_type"], "x2"),
        (b"not json", ["Count invalid_message", "send error invalid_message"], None),
    ],
)
def test_before_authenticate_only_ping_is_served(
    rules: Rules, data: bytes, expected: list[str], mid: str | None
) -> None:
    session = Session(rules, SESSION_ID, T0)
    actions = session.received(data, T0)
    assert outline(actions) == expected
    assert decoded(actions[-1]).get("messageId") == mid
    assert session.identity is None


def test_authenticate_verifies_then_the_identity_is_announced(rules: Rules) -> None:
    session = Session(rules, SESSION_ID, T0)
    assert session.received(msg("authenticate", {"token": "jwt"}, "a1"), T0) == [Verify("jwt", "a1")]
    actions = session.verified(ALICE, "a1", T0)
    assert actions[0] == Authenticated(ALICE)
    assert decoded(actions[1]) == {
        "type": "authenticated",
        "payload": {"userId": USER, "tenants": sorted(ALICE.tenants), "expiresAt": iso(ALICE.expires_at)},
        "messageId": "a1",
    }
    assert len(actions) == 2
    assert session.user_id == USER


@pytest.mark.parametrize(
    ("error", "close_code"),
    [
        (AuthError(ErrorCode.UNAUTHORIZED, "bad signature"), 4001),
        (AuthError(ErrorCode.FORBIDDEN, "no tenants"), 4001),
        (AuthError(ErrorCode.TOKEN_EXPIRED, "token expired"), 4002),
    ],
)
def test_a_refused_first_token_closes(rules: Rules, error: AuthError, close_code: int) -> None:
    session = Session(rules, SESSION_ID, T0)
    session.received(msg("authenticate", {"token": "jwt"}, "a1"), T0)
    actions = session.verified(error, "a1", T0)
    code = error.error_code.value
    assert outline(actions) == [f"Count {code}", f"send error {code}", f"Close {close_code}"]
    assert decoded(actions[1])["messageId"] == "a1"
    close = actions[2]
    assert isinstance(close, Close)
    assert close.reason == str(error)
    assert session.identity is None


def test_a_refused_refresh_keeps_the_current_token(rules: Rules) -> None:
    session = authenticated(rules)
    session.received(msg("authenticate", {"token": "t2"}, "a2"), T0 + 1)
    actions = session.verified(AuthError(ErrorCode.UNAUTHORIZED, "revoked"), "a2", T0 + 1)
    assert outline(actions) == ["Count unauthorized", "send error unauthorized"]
    assert session.identity is ALICE
    assert outline(session.received(msg("ping", mid="p"), T0 + 2)) == ["send pong"]  # not busy any more


def test_a_refresh_for_another_user_closes_4001(rules: Rules) -> None:
    session = authenticated(rules)
    session.received(msg("authenticate", {"token": "t2"}, "a2"), T0 + 1)
    bob = Identity("bob", frozenset({TENANT}), frozenset(), T0 + 7200)
    actions = session.verified(bob, "a2", T0 + 1)
    assert outline(actions) == ["Count unauthorized", "send error unauthorized", "Close 4001"]
    assert decoded(actions[1])["messageId"] == "a2"
    assert session.user_id == USER


def test_a_refresh_that_drops_a_tenant_ends_its_subscription(rules: Rules) -> None:
    session = authenticated(rules)
    subscribed(session, TENANT, T0 + 1)
    subscribed(session, OTHER, T0 + 2)
    session.received(msg("authenticate", {"token": "t2"}, "a2"), T0 + 3)
    narrower = Identity(USER, frozenset({TENANT}), frozenset(), T0 + 7200)
    actions = session.verified(narrower, "a2", T0 + 3)
    assert outline(actions) == [f"Leave {OTHER}", "send unsubscribed", "send authenticated"]  # no Authenticated
    assert actions[0] == Leave(OTHER, USER)
    assert decoded(actions[1]) == {
        "type": "unsubscribed",
        "payload": {"tenantId": OTHER, "reason": "not allowed by the token"},
    }
    assert decoded(actions[2])["payload"]["tenants"] == [TENANT]
    assert list(session.subs) == [TENANT]
    assert session.identity is narrower


# -- subscribe ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("identity", "tenant", "expected", "text"),
    [
        (ALICE, "bad tenant!", ["send error invalid_message"], "invalid tenantId"),
        (ALICE, "tenant-z", ["Count forbidden", "send error forbidden"], "not allowed for tenant tenant-z"),
        (ALICE, "global", ["Count forbidden", "send error forbidden"], "the global channel needs the monitor role"),
    ],
)
def test_subscribe_is_refused(rules: Rules, identity: Identity, tenant: str, expected: list[str], text: str) -> None:
    session = authenticated(rules, identity)
    actions = session.received(msg("subscribe", {"tenantId": tenant}, "s9"), T0 + 1)
    assert outline(actions) == expected
    error = decoded(actions[-1])
    assert error["messageId"] == "s9"
    assert error["payload"]["message"].startswith(text)
    assert session.subs == {}
    assert not session.busy


def test_a_monitor_may_subscribe_to_global(rules: Rules) -> None:
    session = authenticated(rules, MONITOR)
    join = subscribe(session, "global", T0 + 1)
    assert join.user_id == "mo"
    assert isinstance(join.catchup, Catchup)
    assert join.catchup.catching_up


def test_the_subscription_limit(rules: Rules) -> None:
    session = authenticated(rules)
    subscribed(session, TENANT, T0 + 1)
    subscribed(session, OTHER, T0 + 2)
    actions = session.received(msg("subscribe", {"tenantId": THIRD}, "s3"), T0 + 3)
    assert outline(actions) == ["send error forbidden"]
    assert decoded(actions[0])["payload"]["message"] == "subscription limit reached"
    assert list(session.subs) == [TENANT, OTHER]


def test_subscribing_again_answers_without_joining_again(rules: Rules) -> None:
    session = authenticated(rules)
    subscribed(session, TENANT, T0 + 1)
    actions = session.received(msg("subscribe", {"tenantId": TENANT}, "s2"), T0 + 2)
    assert outline(actions) == ["send subscribed"]
    assert decoded(actions[0]) == {
        "type": "subscribed",
        "payload": {"tenantId": TENANT, "position": None, "recovered": True, "backlog": 0},
        "messageId": "s2",
    }


def test_subscribe_without_since_starts_at_the_position(rules: Rules) -> None:
    session = authenticated(rules)
    join = subscribe(session, TENANT, T0 + 1)
    join.catchup.hold(fast_key("4-0"), b"live:4")  # at or before the position: not delivered
    join.catchup.hold(fast_key("5-0"), b"live:5")
    join.catchup.hold(fast_key("6-0"), b"live:6")
    actions = session.located(TENANT, Located("5-0", None), T0 + 1)
    assert outline(actions) == ["send subscribed", "replay live:6"]
    assert decoded(actions[0])["payload"] == {"tenantId": TENANT, "position": "5-0", "recovered": True, "backlog": 0}
    assert not join.catchup.catching_up
    assert not session.busy


# -- resuming -----------------------------------------------------------------------------------------------
def test_the_full_resume_flow(rules: Rules) -> None:
    session = authenticated(rules)
    join = subscribe(session, TENANT, T0 + 1, since="100-0", mid="s1")
    assert join == Join(TENANT, join.catchup, USER)
    catchup = join.catchup
    # live frames arriving meanwhile are held by the hub through the Join's catchup
    for key, frame in [
        ("101-0", b"live:101"),  # replayed from history too
        ("103-0", b"live:103"),  # replayed from history too (on the second page)
        ("104-0", b"live:104"),
        ("104-0", b"live:104"),  # a duplicate
        (None, b"live:raw"),  # not stored: no position, never a repeat
        ("105-0", b"live:105"),
    ]:
        catchup.hold(fast_key(key) if key is not None else None, frame)

    first = page(order("e1", "101-0"), order("e2", "102-0"), has_more=True)
    actions = session.located(TENANT, Located("100-0", first), T0 + 1)
    assert outline(actions) == [
        "send subscribed",
        "replay tenant-a:e1",
        "replay tenant-a:e2",
        "ReadPage tenant-a 102-0",
    ]
    assert decoded(actions[0]) == {
        "type": "subscribed",
        "payload": {"tenantId": TENANT, "position": "100-0", "recovered": True, "backlog": 0},
        "messageId": "s1",
    }
    assert catchup.catching_up  # still replaying
    assert session.busy

    catchup.hold(fast_key("106-0"), b"live:106")
    actions = session.page(TENANT, page(order("e3", "103-0")), T0 + 2)
    assert outline(actions) == [
        "replay tenant-a:e3",
        "replay live:104",
        "replay live:raw",
        "replay live:105",
        "replay live:106",
        "ReadMarks tenant-a 100-0",
    ]
    assert actions[-1] == ReadMarks(TENANT, USER, "100-0")
    assert not catchup.catching_up
    assert catchup.after == (106, 0)  # repeats of what was delivered are dropped from now on
    assert session.busy  # the read marks are still to come

    actions = session.marks(TENANT, ["e1"], T0 + 3)
    assert outline(actions) == ["send acknowledged"]
    assert decoded(actions[0]) == {"type": "acknowledged", "payload": {"notificationId": "tenant-a:e1"}}
    assert not session.busy
    assert outline(session.received(msg("ping", mid="p"), T0 + 3)) == ["send pong"]


def test_resume_where_history_no_longer_reaches_back(rules: Rules) -> None:
    session = authenticated(rules)
    join = subscribe(session, TENANT, T0 + 1, since="100-0", mid="s1")
    join.catchup.hold(fast_key("201-0"), b"live:201")
    join.catchup.hold(None, b"live:raw")
    join.catchup.hold(fast_key("202-0"), b"live:202")
    gone = Replay(HistoryPage([], False, None, False))
    actions = session.located(TENANT, Located("200-0", gone), T0 + 1)
    assert outline(actions) == ["send subscribed", "replay live:201", "replay live:raw", "replay live:202"]
    assert decoded(actions[0])["payload"] == {"tenantId": TENANT, "position": "200-0", "recovered": False, "backlog": 0}
    assert not session.busy  # no read marks without a replay
    assert not join.catchup.catching_up


def test_resume_with_nothing_missed_reads_the_marks(rules: Rules) -> None:
    session = authenticated(rules)
    join = subscribe(session, TENANT, T0 + 1, since="100-0")
    join.catchup.hold(fast_key("100-0"), b"live:100")  # what the client had already
    join.catchup.hold(fast_key("101-0"), b"live:101")
    actions = session.located(TENANT, Located("100-0", page()), T0 + 1)
    assert outline(actions) == ["send subscribed", "replay live:101", "ReadMarks tenant-a 100-0"]


def test_resume_on_global_reads_no_marks(rules: Rules) -> None:
    session = authenticated(rules, MONITOR)
    subscribe(session, "global", T0 + 1, since="100-0")
    event = OrderCreated(id="g1", tenant_id=TENANT, order_id="o", order_number="PO", position="101-0")
    actions = session.located("global", Located("100-0", page(event)), T0 + 1)
    assert outline(actions) == ["send subscribed", "replay global:g1"]
    assert not session.busy


def test_replay_shows_each_event_as_the_user_sees_it(rules: Rules) -> None:
    session = authenticated(rules)
    join = subscribe(session, TENANT, T0 + 1, since="100-0")
    history = page(
        order("e1", "101-0", recipients=["bob"]),  # not for alice
        order("e2", "102-0", recipients=["bob", USER]),
        ack_of("bob", "tenant-a:e0", "103-0"),  # bob's read mark: not alice's business
        ack_of(USER, "tenant-a:e2", "104-0"),
        order("e5", "105-0"),
    )
    actions = session.located(TENANT, Located("100-0", history), T0 + 1)
    assert outline(actions) == [
        "send subscribed",
        "replay tenant-a:e2",
        "replay acknowledged",
        "replay tenant-a:e5",
        "ReadMarks tenant-a 100-0",
    ]
    assert decoded(actions[2]) == {"type": "acknowledged", "payload": {"notificationId": "tenant-a:e2"}}
    assert join.catchup.after == (105, 0)


def test_marks_after_unsubscribing_are_not_told(rules: Rules) -> None:
    session = authenticated(rules)
    subscribe(session, TENANT, T0 + 1, since="100-0")
    session.located(TENANT, Located("100-0", page()), T0 + 1)
    session.ended()
    assert session.marks(TENANT, ["e1"], T0 + 2) == []


@pytest.mark.parametrize("result", [BrokenPipeError("gone"), ["e1", "e2"]])
def test_marks_end_the_subscribe_either_way(rules: Rules, result: list[str] | Exception) -> None:
    session = authenticated(rules)
    subscribe(session, TENANT, T0 + 1, since="100-0")
    session.located(TENANT, Located("100-0", page()), T0 + 1)
    assert session.received(msg("ping", mid="p"), T0 + 1) == []  # waits for the marks
    actions = session.marks(TENANT, result, T0 + 2)
    expected = ["send pong"] if isinstance(result, Exception) else ["send acknowledged"] * 2 + ["send pong"]
    assert outline(actions) == expected
    if not isinstance(result, Exception):
        assert [decoded(a)["payload"]["notificationId"] for a in actions[:2]] == ["tenant-a:e1", "tenant-a:e2"]


def test_messages_wait_while_busy_and_are_answered_in_order(rules: Rules) -> None:
    session = authenticated(rules)
    subscribe(session, TENANT, T0 + 1, mid="s1")
    now = T0 + 1
    for data in [
        msg("ping", mid="p1"),
        msg("unsubscribe", {"tenantId": THIRD}, "u1"),
        msg("subscribe", {"tenantId": OTHER}, "s2"),
        msg("ping", mid="p2"),
    ]:
        assert session.received(data, now) == []
    actions = session.located(TENANT, Located("5-0", None), now)
    assert outline(actions) == [
        "send subscribed",
        "send pong",
        "send error not_subscribed",
        f"Join {OTHER}",
        f"Locate {OTHER} None",
    ]
    assert [decoded(a).get("messageId") for a in actions[:3]] == ["s1", "p1", "u1"]
    # the second subscribe is now the step under way: the last ping still waits
    actions = session.located(OTHER, Located("7-0", None), now)
    assert outline(actions) == ["send subscribed", "send pong"]
    assert [decoded(a)["messageId"] for a in actions] == ["s2", "p2"]
    assert session.inbox == []


def test_a_failed_locate_leaves_the_stream(rules: Rules) -> None:
    session = authenticated(rules)
    subscribe(session, TENANT, T0 + 1, mid="s1")
    session.received(msg("ping", mid="p1"), T0 + 1)
    actions = session.located(TENANT, ConnectionError("redis down"), T0 + 2)
    assert outline(actions) == [f"Leave {TENANT}", "Count internal_error", "send error internal_error", "send pong"]
    error = decoded(actions[2])
    assert error["messageId"] == "s1"
    assert "ConnectionError" in error["payload"]["message"]
    assert session.subs == {}


def test_a_failed_page_closes_4006(rules: Rules) -> None:
    session = authenticated(rules)
    subscribe(session, TENANT, T0 + 1, since="100-0")
    session.located(TENANT, Located("100-0", page(order("e1", "101-0"), has_more=True)), T0 + 1)
    actions = session.page(TENANT, TimeoutError(), T0 + 2)
    assert outline(actions) == ["Close 4006"]
    close = actions[0]
    assert isinstance(close, Close)
    assert "TimeoutError" in close.reason


def test_a_later_page_that_no_longer_reaches_back_is_not_a_complete_replay(rules: Rules) -> None:
    """History trimmed past the last replayed position while the client drained (the bus then answers
    ``reaches_back`` False, no events, ``position`` = since): the client was told ``recovered: true``, so the
    replay cannot be finished as if complete — that silently skips what was trimmed. Resync (4006) instead."""
    session = authenticated(rules)
    join = subscribe(session, TENANT, T0 + 1, since="100-0")
    join.catchup.hold(fast_key("150-0"), b"live:150")
    first = page(order("e1", "101-0"), has_more=True)
    assert outline(session.located(TENANT, Located("100-0", first), T0 + 1))[-1] == "ReadPage tenant-a 101-0"
    trimmed = Replay(HistoryPage([], False, "101-0", False))  # 102-0 … 149-0 are gone
    actions = session.page(TENANT, trimmed, T0 + 2)
    assert outline(actions) == ["Close 4006"]


def test_a_page_that_never_came_ends_the_step(rules: Rules) -> None:
    session = authenticated(rules)
    subscribe(session, TENANT, T0 + 1, since="100-0")
    session.located(TENANT, Located("100-0", page(order("e1", "101-0"), has_more=True)), T0 + 1)
    session.received(msg("ping", mid="p1"), T0 + 1)
    assert outline(session.page(TENANT, None, T0 + 2)) == ["send pong"]  # the node closed it as slow


def test_unsubscribe_sent_during_the_subscribe_is_answered_after_it(rules: Rules) -> None:
    session = authenticated(rules)
    subscribe(session, TENANT, T0 + 1, mid="s1")
    assert session.received(msg("unsubscribe", {"tenantId": TENANT}, "u1"), T0 + 1) == []
    actions = session.located(TENANT, Located("5-0", None), T0 + 2)
    assert outline(actions) == ["send subscribed", f"Leave {TENANT}", "send unsubscribed"]
    assert decoded(actions[2]) == {"type": "unsubscribed", "payload": {"tenantId": TENANT}, "messageId": "u1"}
    assert session.subs == {}


def test_a_late_locate_for_a_subscription_gone_meanwhile_only_handles_the_inbox(rules: Rules) -> None:
    session = authenticated(rules)
    subscribe(session, TENANT, T0 + 1)
    session.received(msg("ping", mid="p1"), T0 + 1)
    assert session.ended() == [Leave(TENANT, USER)]
    actions = session.located(TENANT, Located("5-0", None), T0 + 2)
    assert outline(actions) == ["send pong"]  # no subscribed, no replay
    assert session.subs == {}
    assert session.flow is None


# -- rate limit ---------------------------------------------------------------------------------------------
def test_rate_limit_refuses_then_closes(rules: Rules) -> None:
    session = Session(rules, SESSION_ID, T0)
    for i in range(5):  # the burst
        assert outline(session.received(msg("ping", mid=f"p{i}"), T0)) == ["send pong"]
    for i in range(4):
        actions = session.received(msg("ping", mid=f"x{i}"), T0)
        assert outline(actions) == ["Count rate_limited", "send error rate_limited"]
        assert decoded(actions[1])["messageId"] == f"x{i}"
    assert outline(session.received(msg("ping", mid="x5"), T0)) == ["Count rate_limited", "Close 4005"]


def test_rate_limit_forgives_a_client_that_slows_down(rules: Rules) -> None:
    session = Session(rules, SESSION_ID, T0)
    for _ in range(5):
        session.received(msg("ping"), T0)
    for _ in range(4):
        assert outline(session.received(msg("ping"), T0)) == ["Count rate_limited", "send error rate_limited"]
    assert outline(session.received(msg("ping"), T0 + 0.011)) == ["send pong"]  # one token earned: a violation off
    assert outline(session.received(msg("ping"), T0 + 0.011)) == ["Count rate_limited", "send error rate_limited"]
    assert outline(session.received(msg("ping"), T0 + 0.011)) == ["Count rate_limited", "Close 4005"]


def test_rate_limited_messages_do_not_reach_the_inbox(rules: Rules) -> None:
    session = authenticated(rules, now=T0)
    subscribe(session, TENANT, T0)  # busy; authenticate and subscribe spent two of the five
    for _ in range(3):
        assert session.received(msg("ping"), T0) == []
    assert outline(session.received(msg("ping"), T0)) == ["Count rate_limited", "send error rate_limited"]
    assert session.inbox is not None
    assert len(session.inbox) == 3


# -- acknowledge --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("notification_id", "code"),
    [
        ("no-colon", "invalid_message"),
        (f"{TENANT}:", "invalid_message"),
        ("global:e1", "invalid_message"),
        ("bad tenant:e1", "invalid_message"),
        (f"{OTHER}:e1", "not_subscribed"),
    ],
)
def test_acknowledge_is_refused(rules: Rules, notification_id: str, code: str) -> None:
    session = authenticated(rules)
    subscribed(session, TENANT, T0 + 1)
    actions = session.received(msg("acknowledge", {"notificationId": notification_id}, "k1"), T0 + 2)
    assert outline(actions) == [f"send error {code}"]
    assert decoded(actions[0])["messageId"] == "k1"
    assert not session.busy


def test_acknowledge_records_the_mark_then_answers(rules: Rules) -> None:
    session = authenticated(rules)
    subscribed(session, TENANT, T0 + 1)
    nid = acks.notification_id(TENANT, "e1")
    actions = session.received(msg("acknowledge", {"notificationId": nid}, "k1"), T0 + 2)
    assert outline(actions) == [f"MarkRead {TENANT} e1"]
    mark = actions[0]
    assert isinstance(mark, MarkRead)
    assert (mark.user_id, mark.notification_id, mark.message_id) == (USER, nid, "k1")
    announcement = mark.announcement
    assert (announcement.tenant_id, announcement.user_id, announcement.recipients) == (TENANT, USER, [USER])
    assert announcement.notification_id == nid
    assert announcement.origin == SESSION_ID
    assert session.received(msg("ping", mid="p1"), T0 + 2) == []  # waits for the mark
    actions = session.marked(nid, "k1", None, T0 + 3)
    assert outline(actions) == ["send acknowledged", "send pong"]
    assert decoded(actions[0]) == {"type": "acknowledged", "payload": {"notificationId": nid}, "messageId": "k1"}


def test_the_same_acknowledgement_is_announced_with_the_same_id(rules: Rules) -> None:
    first, second = authenticated(rules), authenticated(rules)
    for session in (first, second):
        subscribed(session, TENANT, T0 + 1)
    data = msg("acknowledge", {"notificationId": f"{TENANT}:e1"})
    a, b = first.received(data, T0 + 2)[0], second.received(data, T0 + 2)[0]
    assert isinstance(a, MarkRead)
    assert isinstance(b, MarkRead)
    assert a.announcement.id == b.announcement.id


def test_an_acknowledgement_not_recorded(rules: Rules) -> None:
    session = authenticated(rules)
    subscribed(session, TENANT, T0 + 1)
    session.received(msg("acknowledge", {"notificationId": f"{TENANT}:e1"}, "k1"), T0 + 2)
    actions = session.marked(f"{TENANT}:e1", "k1", ConnectionError("redis down"), T0 + 3)
    assert outline(actions) == ["Count internal_error", "send error internal_error"]
    error = decoded(actions[1])
    assert error["messageId"] == "k1"
    assert "redis down" in error["payload"]["message"]
    assert not session.busy


def test_acknowledgements_spend_the_users_own_budget_across_connections(rules: Rules) -> None:
    one, two = authenticated(rules), authenticated(rules)  # alice twice: the node's rules are shared
    bob = authenticated(rules, Identity("bob", frozenset({TENANT}), frozenset(), T0 + 3600))
    for session in (one, two, bob):
        subscribed(session, TENANT, T0 + 1)

    def ack(session: Session, n: int, now: float) -> list[str]:
        nid = f"{TENANT}:e{n}"
        actions = session.received(msg("acknowledge", {"notificationId": nid}, f"k{n}"), now)
        if actions and isinstance(actions[0], MarkRead):
            session.marked(nid, f"k{n}", None, now)
        return outline(actions)

    assert ack(one, 1, T0 + 2) == [f"MarkRead {TENANT} e1"]
    assert ack(two, 2, T0 + 3) == [f"MarkRead {TENANT} e2"]
    assert ack(one, 3, T0 + 4) == ["Count rate_limited", "send error rate_limited"]
    assert ack(two, 4, T0 + 5) == ["Count rate_limited", "send error rate_limited"]
    assert ack(bob, 5, T0 + 6) == [f"MarkRead {TENANT} e5"]  # bob's budget is his own


# -- expired tokens and deadlines ----------------------------------------------------------------------------
def test_requests_with_an_expired_token_are_refused(rules: Rules) -> None:
    short = Identity(USER, frozenset({TENANT}), frozenset(), T0 + 60)
    session = authenticated(rules, short)
    actions = session.received(msg("subscribe", {"tenantId": TENANT}, "s1"), T0 + 60)
    assert outline(actions) == ["Count token_expired", "send error token_expired"]
    assert decoded(actions[1])["messageId"] == "s1"
    assert outline(session.received(msg("ping"), T0 + 61)) == ["send pong"]


def test_auth_timeout_closes_4003(rules: Rules) -> None:
    session = Session(rules, SESSION_ID, T0)
    session.last_seen = T0 + 9.9
    assert session.tick(T0 + 9.9) == []
    assert outline(session.tick(T0 + 10)) == ["Count auth_timeout", "Close 4003"]


def test_authenticated_in_time_is_never_timed_out(rules: Rules) -> None:
    session = authenticated(rules)
    session.last_seen = T0 + 100
    assert session.tick(T0 + 100) == []


def test_expiry_warns_then_closes_after_the_grace(rules: Rules) -> None:
    session = authenticated(rules, Identity(USER, frozenset({TENANT}), frozenset(), T0 + 60))

    def tick(now: float) -> list[Action]:
        session.last_seen = now  # the client keeps reading: no heartbeat in the way
        return session.tick(now)

    assert tick(T0 + 59) == []
    actions = tick(T0 + 60)
    assert outline(actions) == ["send error token_expired"]
    assert "messageId" not in decoded(actions[0])
    assert tick(T0 + 89.9) == []  # warned once
    assert outline(tick(T0 + 90)) == ["Count token_expired", "Close 4002"]


def test_a_refresh_within_the_grace_keeps_the_connection(rules: Rules) -> None:
    session = authenticated(rules, Identity(USER, frozenset({TENANT}), frozenset(), T0 + 60))
    session.last_seen = T0 + 60
    assert outline(session.tick(T0 + 60)) == ["send error token_expired"]
    session.received(msg("authenticate", {"token": "fresh"}, "a2"), T0 + 70)
    fresh = Identity(USER, frozenset({TENANT}), frozenset(), T0 + 3600)
    assert outline(session.verified(fresh, "a2", T0 + 70)) == ["send authenticated"]
    session.last_seen = T0 + 95
    assert session.tick(T0 + 95) == []


def test_heartbeat_pings_then_drops_4008(rules: Rules) -> None:
    session = authenticated(rules)  # last_seen = T0
    assert session.tick(T0 + 19.9) == []
    assert session.tick(T0 + 20) == [SendPing()]
    assert session.tick(T0 + 25) == []  # one ping per silence
    assert session.tick(T0 + 29.9) == []
    assert outline(session.tick(T0 + 30)) == ["Count heartbeat_timeout", "Drop 4008"]


def test_heartbeat_answered_pings_again_later(rules: Rules) -> None:
    session = authenticated(rules)
    assert session.tick(T0 + 20) == [SendPing()]
    session.last_seen = T0 + 21  # the pong
    assert session.tick(T0 + 35) == []
    assert session.tick(T0 + 41) == [SendPing()]
    assert session.tick(T0 + 50.9) == []
    assert outline(session.tick(T0 + 51)) == ["Count heartbeat_timeout", "Drop 4008"]


# -- the end ------------------------------------------------------------------------------------------------
def test_ended_leaves_every_stream(rules: Rules) -> None:
    session = authenticated(rules)
    subscribed(session, TENANT, T0 + 1)
    subscribe(session, OTHER, T0 + 2)  # under way: joined already, so left too
    assert session.ended() == [Leave(TENANT, USER), Leave(OTHER, USER)]
    assert session.subs == {}
    assert session.ended() == []


def test_ended_before_authenticate_leaves_nothing(rules: Rules) -> None:
    assert Session(rules, SESSION_ID, T0).ended() == []


def test_too_large(rules: Rules) -> None:
    actions = Session(rules, SESSION_ID, T0).too_large()
    assert outline(actions) == ["Count message_too_large", "send error message_too_large", "Close 1009"]
    assert "1024 bytes" in decoded(actions[1])["payload"]["message"]
