"""The notification service over real WebSocket connections: the protocol, every error code, isolation,
resume, recipients, masking, acknowledgements, rate limits and slow consumers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis

import raw_ws
from arda.events import Event, Retention
from arda.notifications.acks import NotificationAcknowledged
from conftest import eventually, order
from service_process import ARDA
from ws_client import API_KEY, Running, running_service, token


@pytest.fixture
async def svc(bus_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with running_service(bus_url, tmp_path) as running:
        yield running


@pytest.fixture
async def mem(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_service(f"memory://svc-{uuid.uuid4().hex}", tmp_path) as running:
        yield running


def card(tenant: str = "tenant-001", **extra: Any) -> dict[str, Any]:
    return {
        "type": "card.transition",
        "tenantId": tenant,
        "cardId": "card-1",
        "loopId": "loop-1",
        "fromStage": "todo",
        "toStage": "in-progress",
        "method": "drag-drop",
        "userId": "u-9",
        **extra,
    }


# -- each message type ------------------------------------------------------------------------------
async def test_authenticate_subscribe_notify_unsubscribe_ping(svc: Running) -> None:
    async with svc.client() as c:
        await c.send("authenticate", {"token": token("u-1", ["tenant-001"])}, "a1")
        auth = await c.expect("authenticated")
        assert auth["messageId"] == "a1"
        assert auth["payload"]["userId"] == "u-1"
        assert auth["payload"]["tenants"] == ["tenant-001"]
        assert auth["payload"]["expiresAt"].endswith("Z")
        await c.send("subscribe", {"tenantId": "tenant-001"}, "s1")
        sub = await c.expect("subscribed")
        assert sub["messageId"] == "s1"
        assert sub["payload"]["tenantId"] == "tenant-001"
        assert sub["payload"]["recovered"] is True
        (published,) = await svc.publish(order(n=42))
        (n,) = await c.notifications(1)
        assert n["eventId"] == published["id"]
        assert n["id"] == f"tenant-001:{published['id']}"
        assert n["position"] == published["position"]
        assert n["eventType"] == "order.created"
        assert n["title"] == "Order PO-42 created"
        assert n["severity"] == "success"
        assert n["data"]["orderId"] == "o-42"
        await c.send("ping", None, "p1")
        assert await c.expect("pong") == {"type": "pong", "messageId": "p1"}
        await c.send("unsubscribe", {"tenantId": "tenant-001"}, "u1")
        unsub = await c.expect("unsubscribed")
        assert unsub == {"type": "unsubscribed", "payload": {"tenantId": "tenant-001"}, "messageId": "u1"}
        await svc.publish(order(n=43))
        assert [m for m in await c.quiet() if m["type"] == "notification"] == []


async def test_every_event_type_maps_to_a_readable_notification(mem: Running) -> None:
    from test_contract import ONE_OF_EACH

    async with mem.user() as c:
        await c.subscribe()
        await mem.publish(*ONE_OF_EACH)
        got = await c.notifications(5)
    assert [n["eventType"] for n in got] == [e["type"] for e in ONE_OF_EACH]
    assert got[0]["message"] == "Card card-123 moved from To do to In progress"
    for n, raw in zip(got, ONE_OF_EACH, strict=True):
        assert n["title"]
        assert n["severity"] in ("info", "success", "warning", "error")
        for key, value in raw.items():
            if key not in ("recipients",):
                assert n["data"][key] == value, key


async def test_acknowledge_reaches_the_users_other_connections(svc: Running) -> None:
    async with svc.user("u-1") as a, svc.user("u-1") as b, svc.user("u-2") as other:
        for c in (a, b, other):
            await c.subscribe()
        await svc.publish(order())
        (n,) = await a.notifications(1)
        await b.notifications(1)
        await other.notifications(1)
        await a.send("acknowledge", {"notificationId": n["id"]}, "k1")
        ack = await a.expect("acknowledged")
        assert ack == {"type": "acknowledged", "payload": {"notificationId": n["id"]}, "messageId": "k1"}
        other_tab = await b.expect("acknowledged")
        assert other_tab["payload"]["notificationId"] == n["id"]
        assert [m for m in await other.quiet() if m["type"] == "acknowledged"] == []
        assert [m for m in await a.quiet() if m["type"] == "acknowledged"] == []  # not told twice


# -- each error code -------------------------------------------------------------------------------
async def test_error_codes(mem: Running) -> None:
    async with mem.client() as c:
        await c.send("subscribe", {"tenantId": "tenant-001"}, "early")
        err = await c.expect("error")
        assert (err["payload"]["code"], err["messageId"]) == ("unauthorized", "early")
        await c.login("u-1", ["tenant-001"])
        cases: list[tuple[Any, str]] = [
            ("{not json", "invalid_message"),
            ('{"type":"subscribe","messageId":"x1"}', "invalid_message"),
            ('{"type":"subscribe","payload":{"tenantId":"a b"},"messageId":"x2"}', "invalid_message"),
            (
                '{"type":"subscribe","payload":{"tenantId":"tenant-001","since":"yesterday"},"messageId":"x3"}',
                "invalid_message",
            ),
            ('{"type":"teleport","messageId":"x4"}', "unknown_type"),
            ('{"type":"subscribe","payload":{"tenantId":"tenant-002"},"messageId":"x5"}', "forbidden"),
            ('{"type":"subscribe","payload":{"tenantId":"global"},"messageId":"x6"}', "forbidden"),
            ('{"type":"unsubscribe","payload":{"tenantId":"tenant-001"},"messageId":"x7"}', "not_subscribed"),
            ('{"type":"acknowledge","payload":{"notificationId":"tenant-001:e"},"messageId":"x8"}', "not_subscribed"),
            ('{"type":"acknowledge","payload":{"notificationId":"nonsense"},"messageId":"x9"}', "invalid_message"),
        ]
        for raw, code in cases:
            await c.send_raw(raw)
            err = await c.expect("error")
            assert err["payload"]["code"] == code, (raw, err)
            assert err["payload"]["message"]
            if '"messageId"' in raw:
                assert err["messageId"] == json.loads(raw)["messageId"]


async def test_token_expired_on_authenticate_closes_with_4002(mem: Running) -> None:
    async with mem.client() as c:
        await c.send("authenticate", {"token": token("u-1", ["tenant-001"], ttl=-120)}, "a")
        err = await c.expect("error")
        assert err["payload"]["code"] == "token_expired"
        assert await c.closed_with() == 4002


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda: token("u-1", ["tenant-001"], secret="another-secret-0123456789abcdef0123"), "signature"),
        (lambda: _alg_none(), "alg"),
        (
            lambda: (
                token(
                    "u-1",
                    ["tenant-001"],
                    aud="someone-else",
                )
                + "x"
            ),
            "signature",
        ),
        (lambda: token("u-1", None), "tenant"),
        (lambda: "not-a-jwt", "malformed"),
    ],
)
async def test_bad_tokens_get_unauthorized_and_4001(mem: Running, make_token: Any, reason: str) -> None:
    async with mem.client() as c:
        await c.send("authenticate", {"token": make_token()}, "a")
        err = await c.expect("error")
        assert err["payload"]["code"] == "unauthorized"
        assert err["messageId"] == "a"
        assert await c.closed_with() == 4001


def _alg_none() -> str:
    import base64

    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64({'sub': 'u-1', 'tenants': ['tenant-001'], 'exp': 9999999999})}."


async def test_wrong_issuer_and_audience_are_refused(tmp_path: Path) -> None:
    url = f"memory://svc-{uuid.uuid4().hex}"
    async with running_service(url, tmp_path, jwt_issuer="https://id.arda", jwt_audience="arda-realtime") as svc:
        wrong: list[dict[str, Any]] = [
            {"iss": "https://evil", "aud": "arda-realtime"},
            {"iss": "https://id.arda", "aud": "x"},
        ]
        for claims in wrong:
            async with svc.client() as c:
                await c.send("authenticate", {"token": token("u-1", ["tenant-001"], **claims)})
                assert (await c.expect("error"))["payload"]["code"] == "unauthorized"
        async with svc.client() as c:
            await c.send(
                "authenticate", {"token": token("u-1", ["tenant-001"], iss="https://id.arda", aud="arda-realtime")}
            )
            await c.expect("authenticated")


async def test_token_in_header_or_query(mem: Running) -> None:
    async with mem.client(headers={"Authorization": f"Bearer {token('u-7', ['tenant-001'])}"}) as c:
        auth = await c.expect("authenticated")
        assert auth["payload"]["userId"] == "u-7"
    async with mem.client(path=f"/ws?token={token('u-8', ['tenant-001'])}") as c:
        assert (await c.expect("authenticated"))["payload"]["userId"] == "u-8"
    async with mem.client(path="/?token=garbage") as c:
        assert (await c.expect("error"))["payload"]["code"] == "unauthorized"
        assert await c.closed_with() == 4001


async def test_unauthenticated_connections_are_closed_after_the_deadline(tmp_path: Path) -> None:
    async with running_service(f"memory://svc-{uuid.uuid4().hex}", tmp_path, auth_timeout_s=0.3) as svc:
        async with svc.client() as c:
            await c.send("ping")
            await c.expect("pong")  # ping is served before authentication
            assert await c.closed_with(3) == 4003


async def test_token_expiring_mid_connection_without_and_with_refresh(tmp_path: Path) -> None:
    async with running_service(f"memory://svc-{uuid.uuid4().hex}", tmp_path, token_grace_s=0.5) as svc:
        async with svc.client() as lazy, svc.client() as diligent:
            for c in (lazy, diligent):
                await c.send("authenticate", {"token": token("u-1", ["tenant-001"], ttl=1.2)})
                await c.expect("authenticated")
                await c.subscribe()
            assert (await lazy.expect("error", 4))["payload"]["code"] == "token_expired"
            assert (await diligent.expect("error", 4))["payload"]["code"] == "token_expired"
            await diligent.send("authenticate", {"token": token("u-1", ["tenant-001"], ttl=3600)}, "refresh")
            assert (await diligent.expect("authenticated"))["messageId"] == "refresh"
            assert await lazy.closed_with(3) == 4002
            await svc.publish(order())
            assert len(await diligent.notifications(1)) == 1  # still subscribed, still receiving


async def test_refresh_with_fewer_tenants_ends_those_subscriptions(mem: Running) -> None:
    async with mem.user("u-1", ["tenant-001", "tenant-002"]) as c:
        await c.subscribe("tenant-001")
        await c.subscribe("tenant-002")
        await c.send("authenticate", {"token": token("u-1", ["tenant-001"])})
        ended = await c.expect("unsubscribed")
        assert ended["payload"]["tenantId"] == "tenant-002"
        await c.expect("authenticated")
        await mem.publish(order("tenant-002"), order("tenant-001"))
        (n,) = await c.notifications(1)
        assert n["tenantId"] == "tenant-001"
        await c.send("authenticate", {"token": token("u-other", ["tenant-001"])})
        assert (await c.expect("error"))["payload"]["code"] == "unauthorized"
        assert await c.closed_with() == 4001


async def test_monitor_role_may_subscribe_to_global(mem: Running) -> None:
    async with mem.user("ops", [], roles=["monitor"]) as monitor, mem.user("u-1") as user:
        g = await monitor.subscribe("global")
        assert g["tenantId"] == "global"
        await user.subscribe()
        await mem.publish(order("tenant-001"), order("tenant-777"))
        got = await monitor.notifications(2)
        assert sorted(n["tenantId"] for n in got) == ["tenant-001", "tenant-777"]
        assert len(await user.notifications(1)) == 1


async def test_a_monitor_resumes_the_global_feed_on_another_instance(
    svc: Running, bus_url: str, tmp_path: Path
) -> None:
    """Every topology, the cluster's sharded global feed included: the last position a monitor saw resumes on
    another instance with exactly what it missed, each tenant in order, then live — nothing twice."""
    tenants = [f"mon-{i}" for i in range(6)]
    await svc.publish(*[order(t, n) for n in range(2) for t in tenants])  # before: never replayed
    async with svc.user("ops", [], roles=["monitor"]) as monitor:
        assert (await monitor.subscribe("global"))["recovered"] is True
        second = await svc.publish(*[order(t, n) for n in range(2, 4) for t in tenants])
        seen = await monitor.notifications(len(second))
    assert {n["eventId"] for n in seen} == {e["id"] for e in second}
    missed_events = [order(t, n) for n in range(4, 6) for t in tenants]
    missed = await svc.publish(*missed_events)
    tmp_b = tmp_path / "b"
    tmp_b.mkdir()
    async with running_service(bus_url, tmp_b) as other, other.user("ops", [], roles=["monitor"]) as again:
        resumed = await again.subscribe("global", since=seen[-1]["position"])
        assert resumed["recovered"] is True
        got = await again.notifications(len(missed))
        assert sorted(n["eventId"] for n in got) == sorted(e["id"] for e in missed)
        for tenant in tenants:
            mine = [n["eventId"] for n in got if n["tenantId"] == tenant]
            assert mine == [r["id"] for r, e in zip(missed, missed_events, strict=True) if e["tenantId"] == tenant]
        live = await other.publish(order(tenants[0], 99))
        (n,) = await again.notifications(1)
        assert n["eventId"] == live[0]["id"]
        assert [m for m in await again.quiet() if m["type"] == "notification"] == []


# -- isolation, recipients, masking ------------------------------------------------------------------
async def test_tenants_never_cross(svc: Running) -> None:
    clients = []
    try:
        for i in range(20):
            tenant = f"tenant-{i % 2}"
            cm = svc.user(f"u-{i}", [tenant])
            c = await cm.__aenter__()
            clients.append((cm, c, tenant))
            await c.subscribe(tenant)
        await svc.publish(*[order(f"tenant-{n % 2}", n) for n in range(30)])
        for _, c, tenant in clients:
            got = await c.notifications(15)
            assert {n["tenantId"] for n in got} == {tenant}
            assert [m for m in await c.quiet(0.1) if m["type"] == "notification"] == []
    finally:
        for cm, _, _ in clients:
            await cm.__aexit__(None, None, None)


async def test_recipients_limit_delivery_to_the_named_users(mem: Running) -> None:
    async with mem.user("u-1") as one, mem.user("u-2") as two:
        await one.subscribe()
        await two.subscribe()
        await mem.publish(order(n=1, recipients=["u-2"]), order(n=2))
        assert [n["data"]["orderId"] for n in await two.notifications(2)] == ["o-1", "o-2"]
        assert [n["data"]["orderId"] for n in await one.notifications(1)] == ["o-2"]


async def test_sensitive_fields_are_masked(mem: Running) -> None:
    async with mem.user() as c:
        await c.subscribe()
        # a type this service does not know (published raw by another service): every field reaches `data`
        event = {
            "type": "customer.updated",
            "tenantId": "tenant-001",
            "id": "e-1",
            "contactEmail": "buyer@example.com",
            "payment": {"cardNumber": "4111111111111111", "cardId": "kanban-card-7"},
        }
        await mem.service.bus.backend.publish_raw("tenant-001", json.dumps(event).encode())
        (n,) = await c.notifications(1)
        assert n["title"] == "Customer updated"
        assert n["data"]["payment"]["cardId"] == "kanban-card-7"
        assert n["data"]["contactEmail"] == "[masked]"
        assert n["data"]["payment"]["cardNumber"] == "[masked]"
        assert "buyer@example.com" not in json.dumps(n)


# -- resume --------------------------------------------------------------------------------------------
async def test_resume_replays_exactly_what_was_missed_then_goes_live(svc: Running) -> None:
    first = await svc.publish(*[order(n=n) for n in range(5)])
    async with svc.user() as c:
        sub = await c.subscribe(since=first[1]["position"])
        assert sub["recovered"] is True
        assert sub["position"] == first[1]["position"]
        later = await svc.publish(order(n=5))
        got = await c.notifications(4)
        assert [n["eventId"] for n in got] == [e["id"] for e in first[2:]] + [later[0]["id"]]
        assert [m for m in await c.quiet() if m["type"] == "notification"] == []


async def test_resume_while_events_keep_coming_has_no_gap_and_no_duplicate(svc: Running) -> None:
    sent: list[str] = []
    stop = asyncio.Event()

    async def publisher() -> None:
        n = 0
        while not stop.is_set():
            sent.extend(e["id"] for e in await svc.publish(order(n=n)))
            n += 1

    task = asyncio.create_task(publisher())
    await eventually(lambda: len(sent) >= 10)
    since_index = 4
    async with svc.user() as c:
        position = None
        page = await svc.service.bus.history("tenant-001", limit=5)
        position = page.events[since_index].position
        await c.subscribe(since=position)
        await asyncio.sleep(0.3)
        stop.set()
        await task
        got = await c.notifications(len(sent) - since_index - 1, timeout=10)
        assert [n["eventId"] for n in got] == sent[since_index + 1 :]
        assert [m for m in await c.quiet() if m["type"] == "notification"] == []


async def test_resume_from_trimmed_history_says_recovered_false(tmp_path: Path, bus_url: str) -> None:
    from arda.events import EventBus
    from arda.notifications import config
    from arda.notifications.service import NotificationService

    settings = config.load(
        {"ARDA_PORT": "0", "ARDA_HTTP_PORT": "0", "ARDA_JWT_SECRET": "x" * 40, "ARDA_API_KEY": "k", "ARDA_DEV": "false"}
    )
    bus = EventBus(bus_url, retention=Retention(max_events=5, global_max_events=5))
    service = NotificationService(settings, bus=bus)
    await service.start()
    svc = Running(service)
    try:
        results = await bus.publish_many([order(n=n) for n in range(300)])
        async with svc.client() as c:
            await c.send("authenticate", {"token": token("u-1", ["tenant-001"], secret="x" * 40)})
            await c.expect("authenticated")
            sub = await c.subscribe(since=results[0].position)
            assert sub["recovered"] is False
            assert sub["position"] == results[-1].position
            assert [m for m in await c.quiet() if m["type"] == "notification"] == []  # never a partial replay
            after = await bus.publish(order(n=999))
            (n,) = await c.notifications(1)
            assert n["eventId"] == after.id
    finally:
        await service.stop()


async def test_resume_longer_than_the_outbound_message_cap(tmp_path: Path, bus_url: str) -> None:
    async with running_service(bus_url, tmp_path, outbound_max_messages=50) as svc:
        published = await svc.publish(*[order(n=n) for n in range(121)])
        async with svc.user() as c:
            sub = await c.subscribe(since=published[0]["position"])
            assert sub["recovered"] is True
            got = await c.notifications(120, timeout=10)
            assert [n["eventId"] for n in got] == [p["id"] for p in published[1:]]


async def test_resumes_while_the_node_holds_the_tenant_learn_every_new_read_mark(mem: Running) -> None:
    """A resume answered without Redis (the node knows nobody marked anything since) must not hide a mark made
    afterwards — by a connection here, or announced by another instance."""
    async with mem.user("holder") as holder, mem.user("u-1") as a:  # holder keeps the tenant subscribed here
        await holder.subscribe()
        await a.subscribe()
        (first,) = await mem.publish(order())
        (n,) = await a.notifications(1)
        for _ in range(2):  # the second resume is answered from what the first learned
            async with mem.user("u-1") as idle:
                await idle.subscribe(since=first["position"])
                assert [m["type"] for m in await idle.quiet()] == []
        await a.send("acknowledge", {"notificationId": n["id"]}, "k")
        await a.expect("acknowledged")
        async with mem.user("u-1") as back:
            await back.subscribe(since=first["position"])
            assert (await back.expect("acknowledged"))["payload"]["notificationId"] == n["id"]
        async with mem.user("u-2") as b:
            await b.subscribe(since=first["position"])
            assert [m["type"] for m in await b.quiet()] == []  # u-2 read nothing; now "known" for the tenant
        elsewhere = NotificationAcknowledged(  # as another instance records and announces it
            tenant_id="tenant-001", user_id="u-2", recipients=["u-2"], notification_id=n["id"], origin="other"
        )
        await mem.service.bus.mark_read("tenant-001", "u-2", first["id"], announce=elsewhere)
        async with mem.user("u-2") as again:
            await again.subscribe(since=first["position"])
            assert (await again.expect("acknowledged"))["payload"]["notificationId"] == n["id"]


async def test_resume_replays_acknowledgements_as_acknowledged_for_that_user_only(mem: Running) -> None:
    async with mem.user("u-1") as a, mem.user("u-2") as b:
        await a.subscribe()
        await b.subscribe()
        (first,) = await mem.publish(order())
        (n,) = await a.notifications(1)
        await b.notifications(1)
        await a.send("acknowledge", {"notificationId": n["id"]}, "k")
        await a.expect("acknowledged")
        await a.send("acknowledge", {"notificationId": n["id"]}, "k2")  # twice: stored once
        await a.expect("acknowledged")
    page = await mem.service.bus.history("tenant-001")
    assert [e.type for e in page.events] == ["order.created"]  # read state is kept beside history (issue 9.2)
    assert await mem.service.bus.read_since("tenant-001", "u-1", "0-0") == [first["id"]]  # marked once
    async with mem.user("u-1") as again, mem.user("u-2") as other:
        await again.subscribe(since=first["position"])
        assert (await again.expect("acknowledged"))["payload"]["notificationId"] == n["id"]
        await other.subscribe(since=first["position"])
        assert [m["type"] for m in await other.quiet()] == []


async def test_a_client_leaving_while_subscribing_leaks_no_bus_subscription(mem: Running) -> None:
    async with mem.client() as c:
        await c.login()
        await c.send("subscribe", {"tenantId": "tenant-001"})
        await c.ws.close()
    await eventually(lambda: not mem.service.node.streams)
    await asyncio.sleep(0.1)
    async with mem.user() as fresh:
        await fresh.subscribe()
        await mem.publish(order())
        await fresh.notifications(1)
        assert [m for m in await fresh.quiet() if m["type"] == "notification"] == []  # once, not twice


async def test_resume_never_crosses_tenants_or_recipients(mem: Running) -> None:
    published = await mem.publish(
        order("tenant-001", 0),
        order("tenant-002", 1),
        order("tenant-001", 2, recipients=["u-2"]),
        order("tenant-001", 3),
    )
    async with mem.user("u-1", ["tenant-001"]) as c:
        await c.subscribe(since=published[0]["position"])
        got = await c.notifications(1)
        assert [n["eventId"] for n in got] == [published[3]["id"]]
        assert [m for m in await c.quiet() if m["type"] == "notification"] == []


# -- limits --------------------------------------------------------------------------------------------
async def test_rate_limit_answers_rate_limited_then_closes(tmp_path: Path) -> None:
    url = f"memory://svc-{uuid.uuid4().hex}"
    async with running_service(url, tmp_path, client_rate=5, client_burst=5) as svc, svc.user() as c:
        for i in range(30):
            await c.send("ping", None, f"p{i}")
        replies = []
        code = None
        try:
            while True:
                replies.append(await c.recv(2))
        except ConnectionError:
            code = c.ws.close_code
        codes = [r["payload"]["code"] for r in replies if r["type"] == "error"]
        assert "rate_limited" in codes
        assert sum(1 for r in replies if r["type"] == "pong") <= 6
        assert code == 4005


async def test_oversized_messages_close_with_1009(mem: Running) -> None:
    async with mem.user() as c:
        await c.send("ping", {"pad": "x" * 70_000}, "big")
        err = await c.expect("error")
        assert err["payload"]["code"] == "message_too_large"
        assert await c.closed_with() == 1009  # and no pong for the oversized ping


async def test_client_chosen_close_codes_do_not_become_metric_labels(mem: Running) -> None:
    async with mem.user() as c:
        await c.ws.close(code=4711)
    await eventually(lambda: 'arda_disconnects_total{code="other"} 1.0' in mem.service.metrics.render().decode())
    assert 'code="4711"' not in mem.service.metrics.render().decode()


async def test_an_expired_token_serves_nothing_but_authenticate_and_ping(tmp_path: Path) -> None:
    async with running_service(f"memory://svc-{uuid.uuid4().hex}", tmp_path, token_grace_s=5) as svc:
        async with svc.client() as c:
            await c.send("authenticate", {"token": token("u-1", ["tenant-001"], ttl=1.6)})
            await c.expect("authenticated")
            await c.expect("error", 3)  # the sweep's token_expired
            await c.send("subscribe", {"tenantId": "tenant-001"}, "late")
            err = await c.expect("error")
            assert (err["payload"]["code"], err["messageId"]) == ("token_expired", "late")
            await c.send("ping", None, "p")
            assert (await c.expect("pong"))["messageId"] == "p"


async def test_connections_per_ip_are_capped(tmp_path: Path) -> None:
    async with running_service(f"memory://svc-{uuid.uuid4().hex}", tmp_path, max_connections_per_ip=2) as svc:
        async with svc.client() as a, svc.client() as b, svc.client() as c:
            await a.send("ping")
            await b.send("ping")
            await a.expect("pong")
            await b.expect("pong")
            assert await c.closed_with() == 1013


async def test_origin_is_checked_when_configured(tmp_path: Path) -> None:
    import aiohttp

    url = f"memory://svc-{uuid.uuid4().hex}"
    async with running_service(url, tmp_path, allowed_origins="https://app.arda.io") as svc:
        async with svc.client(headers={"Origin": "https://app.arda.io"}) as ok:
            await ok.send("ping")
            await ok.expect("pong")
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            async with svc.client(headers={"Origin": "https://evil.example"}):
                pass
        assert info.value.status == 403


async def test_a_client_that_stops_reading_is_closed_and_others_keep_receiving(tmp_path: Path) -> None:
    url = f"memory://svc-{uuid.uuid4().hex}"
    async with running_service(url, tmp_path, outbound_max_bytes=256 * 1024) as svc, svc.user() as healthy:
        await healthy.subscribe()
        stuck = await _raw_socket_client(svc.service.ws_port, token("u-slow", ["tenant-001"]))
        try:
            await eventually(lambda: len(svc.service.hub.tenants.get("tenant-001", {})) == 2)
            lines = [{"partId": f"p{i}", "quantity": 1, "partName": "x" * 2000} for i in range(10)]  # ~20 KB
            for batch in range(10):
                await svc.publish(*[order(n=batch * 50 + i, lines=lines) for i in range(50)])
                got = await healthy.notifications(50, timeout=5)  # the healthy client keeps receiving
                assert len(got) == 50
            await eventually(lambda: len(svc.service.hub.tenants.get("tenant-001", {})) == 1, timeout=5)
            metrics = svc.service.metrics.render().decode()
            assert 'arda_failures_total{reason="slow_consumer"} 1.0' in metrics
        finally:
            stuck.close()


async def test_a_stalled_reader_is_closed_with_4004_soon_after_passing_the_default_bound(tmp_path: Path) -> None:
    """Issue 10.6: the kernel soaked up megabytes a stalled reader never read, the service's count stayed
    under its 1 MiB bound, and the heartbeat (not 4004) dropped it after 30 s. With the send buffer capped,
    what it does not take piles up where the bound sees it."""
    url = f"memory://svc-{uuid.uuid4().hex}"
    async with running_service(url, tmp_path) as svc:
        stuck = await _raw_socket_client(svc.service.ws_port, token("u-slow", ["tenant-001"]))
        try:
            await eventually(lambda: len(svc.service.hub.tenants.get("tenant-001", {})) == 1)
            lines = [{"partId": f"p{i}", "quantity": 1, "partName": "x" * 2000} for i in range(10)]  # ~20 KB
            (conn,) = svc.service.node.connections
            sent = 0
            started = time.monotonic()
            while not conn.closed and sent < 4_000_000:  # 4 MB at most
                await svc.publish(*[order(n=i, lines=lines) for i in range(10)])
                sent += 10 * 20_000
                await asyncio.sleep(0.02)
            assert conn.close_code == 4004
            assert sent <= 2_000_000, f"closed only after {sent:,} bytes"  # 1 MiB + the capped kernel buffers
            assert time.monotonic() - started < 5
            metrics = svc.service.metrics.render().decode()
            assert 'arda_failures_total{reason="slow_consumer"} 1.0' in metrics
            await eventually(lambda: not svc.service.hub.tenants.get("tenant-001"), timeout=5)  # gone after 2 s
        finally:
            stuck.close()


async def _raw_socket_client(port: int, jwt_token: str) -> asyncio.StreamWriter:
    """A client that completes the handshake, subscribes, and then never reads again (small buffers)."""
    _, writer = await raw_ws.connect(port, rcvbuf=4096)
    writer.write(raw_ws.message("authenticate", {"token": jwt_token}))
    writer.write(raw_ws.message("subscribe", {"tenantId": "tenant-001"}))
    await writer.drain()
    return writer


async def test_a_token_past_exp_but_within_the_leeway_is_not_accepted(mem: Running) -> None:
    async with mem.client() as c:
        await c.send("authenticate", {"token": token("u-1", ["tenant-001"], ttl=-5)}, "a")
        err = await c.expect("error")
        assert (err["payload"]["code"], err["messageId"]) == ("token_expired", "a")
        assert await c.closed_with() == 4002


async def test_a_subscribe_storm_on_a_fresh_tenant_asks_redis_once_and_misses_nothing(svc: Running) -> None:
    """Clients subscribing together to a tenant nobody here was subscribed to share the bus subscription and
    its position: the bus reads the stream's top once (not once per client), and every client gets the next
    event; a later subscriber is answered from the bus's position at once."""
    await svc.publish(card())  # the stream has history: its top is a real position
    backend = svc.service.bus.backend
    reads: list[str] = []
    top = backend.top

    async def counting_top(stream: str) -> str:
        reads.append(stream)
        return await top(stream)

    backend.top = counting_top  # type: ignore[method-assign]
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(svc.user(f"u-{i}")) for i in range(30)]
        replies = await asyncio.gather(*(c.subscribe() for c in clients))
        assert reads.count("tenant-001") == 1
        assert len({r["position"] for r in replies}) == 1
        assert all(r["recovered"] for r in replies)
        late = await stack.enter_async_context(svc.user("u-late"))
        assert (await late.subscribe())["position"] == replies[0]["position"]
        assert reads.count("tenant-001") == 1
        published = await svc.publish(card(cardId="after"))
        for c in [*clients, late]:
            (note,) = await c.notifications(1)
            assert note["data"]["cardId"] == "after"
            assert note["position"] == published[0]["position"]


# -- schema evolution: a tolerant reader -------------------------------------------------------------------------
async def test_fields_the_service_does_not_know_reach_the_browser_in_data(redis_url: str, tmp_path: Path) -> None:
    """A newer publisher adds ``note`` and a nested object to card.transition: through the bus, the HTTP API and a
    raw PUBLISH, the notification's ``data`` carries them (masked like every field), live and replayed."""
    extra: dict[str, Any] = {"note": "night shift", "meta": {"line": {"n": 3}, "password": "hunter2"}}
    async with running_service(redis_url, tmp_path) as svc, svc.user() as c:
        sub = await c.subscribe()
        await svc.service.bus.publish(card(id="e-bus", **extra))
        await svc.publish(card(id="e-http", **extra))
        raw = json.dumps(card(id="e-raw", **extra)).encode()
        await asyncio.to_thread(redis.Redis.from_url(redis_url).publish, "arda:events:tenant-001", raw)
        got = await c.notifications(3)
        assert [n["eventId"] for n in got] == ["e-bus", "e-http", "e-raw"]
        for n in got:
            assert n["data"]["note"] == "night shift"
            assert n["data"]["meta"]["line"] == {"n": 3}
            assert n["data"]["meta"]["password"] != "hunter2"  # masked like every field
        async with svc.user() as again:
            await again.subscribe(since=sub["position"])
            replayed = await again.notifications(2)  # the two stored ones (a raw PUBLISH is live only)
            assert [n["data"]["note"] for n in replayed] == ["night shift", "night shift"]
        page = await svc.service.bus.history("tenant-001")
        assert [e.extra if isinstance(e, Event) else None for e in page.events] == [extra, extra]


# -- the inbox: backlog, read state, history -------------------------------------------------------------------
async def _inbox_fixture(svc: Running) -> list[dict[str, Any]]:
    """Nine events of tenant-001: u-1 may see six of them (three are for u-2 only); u-1 has read the second."""
    events = []
    for n in range(9):
        extra: dict[str, Any] = {"recipients": ["u-2"]} if n % 3 == 2 else {}
        events.append(order(n=n, **extra))
    published = await svc.publish(*events)
    mine = [p for n, p in enumerate(published) if n % 3 != 2]
    async with svc.user() as c:
        await c.subscribe()
        await c.send("acknowledge", {"notificationId": f"tenant-001:{mine[1]['id']}"}, "k")
        await c.expect("acknowledged")
    return mine


async def test_a_backlog_gives_the_newest_the_user_may_see_with_read_state_then_live(svc: Running) -> None:
    mine = await _inbox_fixture(svc)
    async with svc.user() as c:
        sub = await c.subscribe(backlog=5)
        assert sub["backlog"] == 5
        assert sub["recovered"] is True
        got = await c.notifications(5)
        assert [n["eventId"] for n in got] == [p["id"] for p in mine[1:]]  # the newest five, oldest first
        assert [n["read"] for n in got] == [True, False, False, False, False]
        (later,) = await svc.publish(order(n=99))
        (live,) = await c.notifications(1)
        assert live["eventId"] == later["id"]
        assert live["read"] is False
        assert [m for m in await c.quiet() if m["type"] == "notification"] == []  # nothing twice
    async with svc.user("u-9") as stranger:
        sub = await stranger.subscribe(backlog=50)
        assert sub["backlog"] == 7  # what u-9 may see: the events for everybody (not u-2's), the later one too
        assert len(await stranger.notifications(7)) == 7


async def test_a_resume_wins_over_a_backlog(mem: Running) -> None:
    mine = await _inbox_fixture(mem)
    async with mem.user() as c:
        sub = await c.subscribe(since=mine[-2]["position"], backlog=5)
        assert sub["backlog"] == 0
        (replayed,) = await c.notifications(1)
        assert replayed["eventId"] == mine[-1]["id"]
        assert replayed["read"] is False


async def test_history_pages_back_newest_first_with_read_state(mem: Running) -> None:
    mine = await _inbox_fixture(mem)
    async with mem.user() as c:
        first = await c.history(limit=4)
        assert [n["eventId"] for n in first["notifications"]] == [p["id"] for p in reversed(mine[2:])]
        assert first["hasMore"] is True
        rest = await c.history(before=first["before"], limit=4)
        assert [n["eventId"] for n in rest["notifications"]] == [mine[1]["id"], mine[0]["id"]]
        assert [n["read"] for n in rest["notifications"]] == [True, False]
        assert rest["hasMore"] is False
        assert rest["before"] is None
        await c.send("history", {"tenantId": "tenant-001", "limit": 101}, "h2")
        assert (await c.expect("error"))["payload"]["code"] == "invalid_message"
        await c.send("history", {"tenantId": "tenant-001", "before": "yesterday"}, "h3")
        assert (await c.expect("error"))["payload"]["code"] == "invalid_message"
        await c.send("history", {"tenantId": "tenant-777"}, "h4")
        assert (await c.expect("error"))["payload"]["code"] == "forbidden"
        await c.send("subscribe", {"tenantId": "tenant-001", "backlog": 501}, "s")
        assert (await c.expect("error"))["payload"]["code"] == "invalid_message"


async def test_http_history_for_a_user_says_what_the_user_read(mem: Running) -> None:
    mine = await _inbox_fixture(mem)
    status, body, _ = await mem.http("GET", "/v1/tenants/tenant-001/events", auth=token("u-1", ["tenant-001"]))
    assert status == 200, body
    assert [(n["eventId"], n["read"]) for n in body["notifications"]] == [(p["id"], n == 1) for n, p in enumerate(mine)]


# -- filters ----------------------------------------------------------------------------------------------------
async def _subscribe_filtered(c: Any, tenant: str = "tenant-001", **payload: Any) -> dict[str, Any]:
    await c.send("subscribe", {"tenantId": tenant, **payload}, "sf")
    reply: dict[str, Any] = (await c.expect("subscribed"))["payload"]
    return reply


async def test_a_filter_applies_to_live_backlog_replay_and_history(mem: Running) -> None:
    mixed = [order(n=0), card(id="c-0"), order(n=1), card(id="c-1"), order(n=2)]
    first = await mem.publish(*mixed)
    orders_only = {"types": ["order.*"]}
    async with mem.user() as c:
        sub = await _subscribe_filtered(c, backlog=10, filter=orders_only)
        assert sub["backlog"] == 3
        assert [n["eventType"] for n in await c.notifications(3)] == ["order.created"] * 3
        await mem.publish(card(id="c-live"), order(n=3))
        (live,) = await c.notifications(1)
        assert live["eventType"] == "order.created"
        assert [m for m in await c.quiet() if m["type"] == "notification"] == []
        page = await c.history(limit=10)
        assert {n["eventType"] for n in page["notifications"]} == {"order.created"}
        assert len(page["notifications"]) == 4
        # subscribing again with another filter replaces it
        again = await _subscribe_filtered(c, filter={"types": ["card.transition"]})
        assert again["position"] is None
        await mem.publish(order(n=4), card(id="c-after"))
        (swapped,) = await c.notifications(1)
        assert swapped["eventId"] == "c-after"
    async with mem.user() as resumed:
        await _subscribe_filtered(resumed, since=first[0]["position"], filter={"types": ["card.transition"]})
        replayed = await resumed.notifications(3)  # cards only, from history
        assert [n["eventId"] for n in replayed] == ["c-0", "c-1", "c-live"]


async def test_severity_filters_and_invalid_filters(mem: Running) -> None:
    async with mem.user() as c:
        await _subscribe_filtered(c, filter={"severity": ["warning", "error"]})
        cancelled = {
            "type": "order.status_changed",
            "tenantId": "tenant-001",
            "orderId": "o-2",
            "orderNumber": "PO-2",
            "fromStatus": "submitted",
            "toStatus": "cancelled",
        }
        await mem.publish(order(n=1), cancelled)
        got = await c.notifications(1)
        assert (got[0]["eventType"], got[0]["severity"]) == ("order.status_changed", "warning")
        assert [m for m in await c.quiet() if m["type"] == "notification"] == []
        invalid: list[dict[str, Any]] = [{"types": ["Order"]}, {"types": []}, {"severity": ["loud"]}, {"tenant": "x"}]
        for bad in invalid:
            await c.send("subscribe", {"tenantId": "tenant-001", "filter": bad}, "bad")
            assert (await c.expect("error"))["payload"]["code"] == "invalid_message"


# -- connection admin (operators) --------------------------------------------------------------------------------
async def test_operators_list_connections_and_close_one_with_4010(mem: Running) -> None:
    async with mem.user("u-1") as one, mem.user("u-2", ["tenant-001", "tenant-002"]) as two, mem.client() as anon:
        await one.subscribe()
        await two.subscribe("tenant-002")
        await mem.publish(order())
        await one.notifications(1)
        status, body, _ = await mem.http("GET", "/v1/connections")
        assert status == 200, body
        assert body["total"] == 3
        rows = {r["userId"]: r for r in body["connections"]}
        assert set(rows) == {"u-1", "u-2", None}  # the one not authenticated yet too
        assert rows["u-1"]["tenants"] == ["tenant-001"]
        assert rows["u-1"]["messagesIn"] == 2  # authenticate, subscribe
        assert rows["u-1"]["messagesOut"] >= 3  # authenticated, subscribed, the notification
        assert rows["u-1"]["remoteAddress"] == "127.0.0.1"
        assert rows["u-1"]["authenticatedUntil"].endswith("Z")
        assert rows[None]["authenticatedUntil"] is None
        status, body, _ = await mem.http("GET", "/v1/connections?tenantId=tenant-002&userId=u-2")
        assert [r["userId"] for r in body["connections"]] == ["u-2"]
        status, body, _ = await mem.http("GET", "/v1/connections?limit=1")
        assert (len(body["connections"]), body["total"]) == (1, 3)
        for bad in ("limit=0", "limit=1001", "limit=x", "tenantId=bad%20id"):
            assert (await mem.http("GET", f"/v1/connections?{bad}"))[0] == 400
        assert (await mem.http("GET", "/v1/connections", auth="wrong"))[0] == 401
        status, body, _ = await mem.http("DELETE", f"/v1/connections/{rows['u-1']['id']}")
        assert (status, body["closeCode"]) == (202, 4010)
        assert await one.closed_with() == 4010
        assert (await mem.http("DELETE", f"/v1/connections/{rows['u-1']['id']}"))[0] == 404  # closed already
        assert (await mem.http("DELETE", "/v1/connections/nope"))[0] == 404
        assert (await mem.http("DELETE", f"/v1/connections/{rows['u-2']['id']}", auth=None))[0] == 401
        await two.send("ping", None, "still")
        assert (await two.expect("pong"))["messageId"] == "still"  # the others are untouched
        assert anon is not None


async def test_arda_connections_and_arda_disconnect(mem: Running) -> None:
    def arda(*args: str) -> subprocess.CompletedProcess[str]:
        command = [ARDA, *args, "--url", mem.http_url, "--api-key", API_KEY]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    async with mem.user("u-7") as c:
        await c.subscribe()
        listed = await asyncio.to_thread(arda, "connections", "--user", "u-7")
        assert listed.returncode == 0, listed.stderr
        (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
        assert (row["userId"], row["tenants"]) == ("u-7", ["tenant-001"])
        closed = await asyncio.to_thread(arda, "disconnect", row["id"])
        assert closed.returncode == 0, closed.stderr
        assert await c.closed_with() == 4010
    missing = await asyncio.to_thread(arda, "disconnect", "nope")
    assert missing.returncode == 1
    assert "refused (404)" in missing.stderr
    assert "Traceback" not in missing.stderr
