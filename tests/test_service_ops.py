"""Operating the service: processes and signals, Redis faults, several instances, the HTTP API, metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

import raw_ws
from arda.events import EventBus, PublishError
from arda.events.backoff import Backoff
from arda.testing.redis_server import RedisServer, free_port
from conftest import eventually, order
from service_process import ARDA, serve, wait_ready
from ws_client import API_KEY, Running, running_service, token


@pytest.fixture
async def mem(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_service(f"memory://ops-{uuid.uuid4().hex}", tmp_path) as running:
        yield running


# -- the process ---------------------------------------------------------------------------------------


async def test_sigterm_closes_clients_with_going_away_and_exits(tmp_path: Path) -> None:
    proc, ws, http = serve(tmp_path, "--shutdown-timeout-s", "5")
    try:
        await wait_ready(http, proc)
        async with aiohttp.ClientSession() as session:
            conn = await session.ws_connect(f"ws://127.0.0.1:{ws}/ws")
            await conn.send_json(
                {"type": "authenticate", "payload": {"token": token("u-1", ["tenant-001"])}, "messageId": "a"}
            )
            assert (await conn.receive_json(timeout=5))["type"] == "authenticated"
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            msg = await conn.receive(timeout=5)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert conn.close_code == 1001
        await asyncio.to_thread(proc.communicate, None, 10)
        assert proc.returncode == 0
        assert time.monotonic() - started < 6
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.communicate()


async def test_serve_fails_fast_when_redis_is_unreachable(tmp_path: Path) -> None:
    started = time.monotonic()
    proc, _, _ = serve(tmp_path, "--redis-url", f"redis://127.0.0.1:{free_port()}/0")
    _, err = await asyncio.to_thread(proc.communicate, None, 20)
    assert proc.returncode != 0
    assert time.monotonic() - started < 15
    assert "cannot reach Redis at redis://127.0.0.1:" in err


def test_invalid_configuration_is_a_clear_error() -> None:
    out = subprocess.run([ARDA, "serve", "--port", "many"], capture_output=True, text=True, timeout=20, check=False)
    assert out.returncode == 2
    assert "ARDA_PORT / --port" in out.stderr
    env = {**os.environ, "ARDA_CLIENT_RATE": "-1"}
    out = subprocess.run([ARDA, "serve"], capture_output=True, text=True, timeout=20, check=False, env=env)
    assert out.returncode == 2
    assert "ARDA_CLIENT_RATE / --client-rate: must be greater than 0" in out.stderr


# -- Redis faults and instances ----------------------------------------------------------------------------
async def test_redis_restarted_while_serving_clients_miss_nothing(fresh_redis: RedisServer, tmp_path: Path) -> None:
    async with running_service(fresh_redis.url, tmp_path) as svc, svc.user() as client:
        await client.subscribe()
        publisher = EventBus(fresh_redis.url, backoff=Backoff(base=0.02, cap=0.2), connect_timeout=1.0)
        await publisher.connect()
        sent: list[str] = []

        async def publish(n: int) -> None:
            event = order(n=n, id=f"evt-{n}")
            while True:
                try:
                    await publisher.publish(event)
                    break
                except PublishError:
                    await asyncio.sleep(0.05)
            sent.append(str(event["id"]))

        for n in range(10):
            await publish(n)
        fresh_redis.kill()
        restart = asyncio.get_running_loop().call_later(0.5, fresh_redis.start)
        for n in range(10, 20):
            await publish(n)
        for n in range(20, 30):
            await publish(n)
        got = await client.notifications(30, timeout=20)
        assert [n["eventId"] for n in got] == sent
        assert [m for m in await client.quiet() if m["type"] == "notification"] == []
        restart.cancel()
        await publisher.shutdown()


async def test_two_instances_on_one_redis_each_deliver_once(redis_url: str, tmp_path: Path) -> None:
    async with running_service(redis_url, tmp_path / "a") as a, running_service(redis_url, tmp_path / "b") as b:
        async with a.user("u-1") as on_a, b.user("u-2") as on_b, b.user("u-3", ["tenant-002"]) as other:
            await on_a.subscribe()
            await on_b.subscribe()
            await other.subscribe("tenant-002")
            published = await a.publish(*[order(n=n) for n in range(10)])
            ids = [p["id"] for p in published]
            assert [n["eventId"] for n in await on_a.notifications(10)] == ids
            assert [n["eventId"] for n in await on_b.notifications(10)] == ids
            for c in (on_a, on_b, other):
                assert [m for m in await c.quiet(0.2) if m["type"] == "notification"] == []


# -- HTTP API ------------------------------------------------------------------------------------------
async def test_publish_status_codes(tmp_path: Path) -> None:
    url = f"memory://ops-{uuid.uuid4().hex}"
    async with running_service(url, tmp_path, publish_rate=1, publish_burst=3) as svc:
        status, body, _ = await svc.http("POST", "/v1/events", body=order(n=1))
        assert status == 202
        assert body["events"][0]["position"]
        status, body, _ = await svc.http("POST", "/v1/events", body=[order(n=2), order(n=3, orderNumber=7)])
        assert status == 422
        assert body["errors"] == [
            {
                "index": 1,
                "type": "order.created",
                "field": "orderNumber",
                "message": body["errors"][0]["message"],
            }
        ]
        assert "orderNumber" in body["errors"][0]["message"]
        status, body, _ = await svc.http("POST", "/v1/events", body={"type": "made.up", "tenantId": "tenant-001"})
        assert status == 422
        assert body["errors"][0]["field"] == "type"
        status, _, _ = await svc.http("POST", "/v1/events", body=order(), auth=None)
        assert status == 401
        status, _, _ = await svc.http("POST", "/v1/events", body=order(), auth="wrong")
        assert status == 401
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
            async with session.post(svc.http_url + "/v1/events", data=b"{nope", headers=headers) as resp:
                assert resp.status == 400
                assert resp.content_type == "application/problem+json"
            headers["Content-Type"] = "text/plain"
            async with session.post(svc.http_url + "/v1/events", data=b"{}", headers=headers) as resp:
                assert resp.status == 415
                assert "Content-Type: application/json" in (await resp.json())["detail"]
        status, _, _ = await svc.http("POST", "/v1/events", body=[order(n=n) for n in range(2)])
        assert status == 202
        status, body, headers = await svc.http("POST", "/v1/events", body=order(n=9))
        assert status == 429
        assert int(headers["Retry-After"]) >= 1
        status, _, _ = await svc.http("POST", "/v1/events", body=order("tenant-002", 9))
        assert status == 202  # the limit is per tenant


async def test_history_endpoint(mem: Running) -> None:
    published = await mem.publish(order(n=0), order(n=1, recipients=["u-2"]), order(n=2), order("tenant-002", 3))
    status, body, _ = await mem.http("GET", f"/v1/tenants/tenant-001/events?since={published[0]['position']}")
    assert status == 200
    assert [e["id"] for e in body["events"]] == [published[1]["id"], published[2]["id"]]
    assert body["reachesBack"] is True
    user = token("u-1", ["tenant-001"])
    status, body, _ = await mem.http("GET", "/v1/tenants/tenant-001/events", auth=user)
    assert status == 200
    assert [n["eventId"] for n in body["notifications"]] == [published[0]["id"], published[2]["id"]]
    assert all(n["tenantId"] == "tenant-001" for n in body["notifications"])
    status, _, _ = await mem.http("GET", "/v1/tenants/tenant-002/events", auth=user)
    assert status == 403
    status, _, _ = await mem.http("GET", "/v1/tenants/tenant-001/events", auth="bad.token.here")
    assert status == 401
    status, _, _ = await mem.http("GET", "/v1/tenants/tenant-001/events", auth=None)
    assert status == 401
    status, _, _ = await mem.http("GET", "/v1/tenants/a%20b/events")
    assert status == 400
    status, _, _ = await mem.http("GET", "/v1/tenants/tenant-001/events?since=yesterday")
    assert status == 400


async def test_health_readiness_and_openapi(tmp_path: Path) -> None:
    server = RedisServer().start()
    try:
        async with running_service(server.url, tmp_path) as svc, svc.user() as c:
            await c.subscribe()
            assert (await svc.http("GET", "/healthz", auth=None))[0] == 200
            assert (await svc.http("GET", "/readyz", auth=None))[0] == 200
            status, text, _ = await svc.http("GET", "/openapi.yaml", auth=None)
            assert status == 200
            assert text.startswith("openapi: 3.1.0")
            assert "/v1/events:" in text
            server.kill()
            await eventually(lambda: not svc.service.bus.live, timeout=10)
            status, body, _ = await svc.http("GET", "/readyz", auth=None)
            assert status == 503
            assert body["problems"]
            assert (await svc.http("GET", "/healthz", auth=None))[0] == 200
    finally:
        server.close()


async def test_metrics_cover_the_key_metrics(mem: Running) -> None:
    async with mem.user() as c:
        await c.subscribe()
        await mem.publish(order(), order(n=2))
        await c.notifications(2)
        await c.send("subscribe", {"tenantId": "tenant-009"})
        await c.expect("error")
    closed = 'arda_disconnects_total{code="1000"} 1.0'  # (every code's series is there from the start, at 0)
    await eventually(lambda: closed in mem.service.metrics.render().decode())
    status, text, _ = await mem.http("GET", "/metrics", auth=None)
    assert status == 200
    for line in (
        'arda_events_received_total{type="order.created"} 2.0',
        "arda_deliveries_total 2.0",
        'arda_failures_total{reason="forbidden"} 1.0',
        "arda_connected_clients 0.0",
        'arda_disconnects_total{code="1000"} 1.0',
        "arda_publish_to_delivery_seconds_count 2.0",
        "arda_connection_duration_seconds_count 1.0",
        "arda_http_published_total 2.0",
        "arda_bus_published_total 2.0",
        "process_resident_memory_bytes",
    ):
        assert line in text, line


async def test_subscribe_while_redis_is_down_gets_internal_error(tmp_path: Path) -> None:
    server = RedisServer().start()
    try:
        async with running_service(server.url, tmp_path) as svc, svc.user("u-1", ["tenant-001", "tenant-002"]) as c:
            await c.subscribe("tenant-001")
            server.kill()
            await c.send("subscribe", {"tenantId": "tenant-002"}, "s2")
            err = await c.expect("error", timeout=15)
            assert err["payload"]["code"] == "internal_error"
            assert err["messageId"] == "s2"
            await c.send("ping", None, "p")
            assert (await c.expect("pong"))["messageId"] == "p"  # the connection goes on
    finally:
        server.close()


async def test_fragmented_message_over_the_limit_gets_message_too_large(mem: Running) -> None:
    reader, writer = await raw_ws.connect(mem.service.ws_port)
    writer.write(raw_ws.client_frame(0x1, b"x" * 40_000, fin=False))  # text, not final
    writer.write(raw_ws.client_frame(0x0, b"x" * 40_000, fin=False))  # continuation: 80,000 bytes > 65,536
    await writer.drain()
    _, payload = await raw_ws.read_frame(reader)
    assert b'"code":"message_too_large"' in payload
    assert (await raw_ws.read_close(reader))[0] == 1009
    writer.close()


async def test_page_and_development_routes(tmp_path: Path) -> None:
    url = f"memory://ops-{uuid.uuid4().hex}"
    async with running_service(url, tmp_path, dev="true", webapp_dir=str(tmp_path / "none")) as svc:
        status, text, _ = await svc.http("GET", "/", auth=None)
        assert status == 200
        assert "not built" in text
        status, text, _ = await svc.http("GET", "/dashboard", auth=None)
        assert status == 200
        assert "not built" in text
        status, session, _ = await svc.http("GET", "/dev/session?user=ana&tenant=tenant-007", auth=None)
        assert status == 200
        assert session["wsUrl"] == svc.ws_url
        async with svc.client() as c:
            await c.send("authenticate", {"token": session["token"]})
            auth = (await c.expect("authenticated"))["payload"]
            assert (auth["userId"], auth["tenants"]) == ("ana", ["tenant-007"])
            await c.subscribe("tenant-007")
            status, body, _ = await svc.http("POST", "/dev/events", body=order("tenant-007"), auth=None)
            assert status == 202
            (n,) = await c.notifications(1)
            assert n["eventId"] == body["events"][0]["id"]
    built = tmp_path / "app"
    (built / "assets").mkdir(parents=True)
    (built / "index.html").write_text("<!doctype html><title>center</title>")
    (built / "dashboard.html").write_text("<!doctype html><title>dashboard</title>")
    (built / "assets" / "app.js").write_text("console.log(1)")
    async with running_service(url, tmp_path, webapp_dir=str(built)) as svc:
        status, text, _ = await svc.http("GET", "/", auth=None)
        assert status == 200
        assert "<title>center</title>" in text
        status, text, headers = await svc.http("GET", "/dashboard", auth=None)
        assert status == 200
        assert "<title>dashboard</title>" in text
        assert headers.get("Referrer-Policy") == "no-referrer"  # the ?key= never leaves in a Referer
        assert (await svc.http("GET", "/assets/app.js", auth=None))[0] == 200
        assert (await svc.http("GET", "/dev/session", auth=None))[0] == 404  # not in production
        assert (await svc.http("POST", "/dev/events", body=order(), auth=None))[0] in (404, 405)
