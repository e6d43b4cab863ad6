"""The live figures (``arda.notifications.stats``, pure, the time passed in) and ``GET /v1/stats`` across two
instances on one Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from arda.notifications import stats
from conftest import order
from ws_client import running_service


def test_rates_are_over_the_last_complete_seconds_and_latency_over_the_last_minute() -> None:
    window = stats.Window()
    for second in range(100, 106):
        for _ in range(10):
            window.event("order.created", "t-a", 20, 2.0, second + 0.5)
        window.event("card.transition", "t-b", 5, 40.0, second + 0.5)
    figures = window.figures(106.2)  # seconds 101…105 complete
    assert figures["eventsPerSecond"] == 11.0
    assert figures["eventsPerSecondByType"] == {"card.transition": 1.0, "order.created": 10.0}
    assert figures["deliveriesPerSecond"] == 205.0
    assert figures["topTenants"] == [
        {"tenantId": "t-a", "deliveriesPerSecond": 200.0},
        {"tenantId": "t-b", "deliveriesPerSecond": 5.0},
    ]
    assert figures["latencyMs"] == {"p50": 2.0, "p99": 40.0}
    later = window.figures(200.0)  # nothing in the last 5 s, nor in the last minute
    assert later["eventsPerSecond"] == 0
    assert later["latencyMs"] == {"p50": None, "p99": None}
    window.disconnected("1000")
    window.disconnected("1000")
    window.slow()
    assert window.figures(200.0)["disconnectsByCode"] == {"1000": 2}
    assert window.figures(200.0)["slowConsumerCloses"] == 1


def test_the_window_stays_bounded() -> None:
    window = stats.Window()
    for n in range(stats.MAX_LATENCIES + 10):
        window.event("x.y", "t", 1, 1.0, 1000 + n / 100)
    assert len(window._latencies) == stats.MAX_LATENCIES
    assert len(window._seconds) <= stats.KEEP_SECONDS


async def test_each_instance_shows_every_live_instance_and_the_total(redis_url: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with running_service(redis_url, tmp_path / "a") as a, running_service(redis_url, tmp_path / "b") as b:
        b.service.instance_id = "host-b:2"  # (both run in this process: tell them apart)
        async with a.user("u-1") as one, a.user("u-2") as two, b.user("u-3") as three:
            for client in (one, two, three):
                await client.subscribe()

            async def figures() -> dict[str, Any]:
                status, body, _ = await a.http("GET", "/v1/stats")
                assert status == 200, body
                result: dict[str, Any] = body
                return result

            body = await figures()
            for _ in range(50):  # each instance announces itself every second
                if {d["instance"]: d["connections"] for d in body["instances"]}.get("host-b:2") == 1:
                    break
                await asyncio.sleep(0.1)
                body = await figures()
            assert body["instance"] == a.service.instance_id
            assert (body["connections"], body["authenticatedConnections"], body["subscriptions"]) == (2, 2, 2)
            assert sorted(d["instance"] for d in body["instances"]) == sorted([a.service.instance_id, "host-b:2"])
            assert body["total"]["connections"] == 3
            for n in range(20):
                await a.publish(order(n=n))
            await one.notifications(20)
            body = await figures()
            assert body["latencyMs"]["p50"] is not None
        await asyncio.sleep(1.1)  # the next whole second: the deliveries are in a complete one
        body = await figures()
        assert body["deliveriesPerSecond"] > 0
        assert body["eventsPerSecondByType"]["order.created"] > 0
        assert body["topTenants"][0]["tenantId"] == "tenant-001"
        assert body["disconnectsByCode"].get("1000", 0) >= 2  # the two clients of instance a closed
        assert body["latencyMs"]["p50"] is not None
        assert (await a.http("GET", "/v1/stats", auth="wrong"))[0] == 401
