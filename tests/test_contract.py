"""The bus contract, run against both backends (``memory://`` and a real private redis-server)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from arda.events import (
    AnyEvent,
    BusClosedError,
    CardTransition,
    EventBus,
    EventValidationError,
    Gap,
    GenericEvent,
    LoopParametersChanged,
    OrderCreated,
    OrderStatusChanged,
    RelowisaRecommendation,
    UnknownEventTypeError,
    default_registry,
)
from conftest import Collector, eventually, order

ONE_OF_EACH: list[dict[str, Any]] = [
    {
        "type": "card.transition",
        "tenantId": "tenant-001",
        "cardId": "card-123",
        "loopId": "loop-456",
        "fromStage": "todo",
        "toStage": "in-progress",
        "method": "drag-drop",
        "userId": "user-789",
    },
    {
        "type": "order.created",
        "tenantId": "tenant-001",
        "orderId": "ord-1",
        "orderNumber": "PO-1042",
        "orderType": "purchase",
        "loopId": "loop-456",
        "cardIds": ["card-123"],
        "supplierId": "sup-1",
        "supplierName": "Acme",
        "lines": [{"partId": "M8", "quantity": 500.0, "unit": "pcs", "partName": "M8 bolt"}],
        "totalAmount": 129.5,
        "currency": "EUR",
        "expectedAt": "2026-12-01T00:00:00Z",
        "recipients": ["u-1", "u-2"],
        "userId": "buyer-1",
    },
    {
        "type": "order.status_changed",
        "tenantId": "tenant-001",
        "orderId": "ord-1",
        "orderNumber": "PO-1042",
        "fromStatus": "submitted",
        "toStatus": "confirmed",
        "reason": "supplier confirmed",
    },
    {
        "type": "loop.parameters_changed",
        "tenantId": "tenant-001",
        "loopId": "loop-456",
        "loopName": "M8 bolts",
        "changes": [{"parameter": "numberOfCards", "oldValue": 4, "newValue": 5}],
        "reason": "demand up",
    },
    {
        "type": "relowisa.recommendation",
        "tenantId": "tenant-001",
        "recommendationId": "rec-1",
        "loopId": "loop-456",
        "kind": "resize_loop",
        "summary": "Add one card",
        "confidence": 0.9,
        "suggestedChanges": [{"parameter": "numberOfCards", "oldValue": 4, "newValue": 5}],
        "expiresAt": "2026-12-01T00:00:00Z",
    },
]
CLASSES = [CardTransition, OrderCreated, OrderStatusChanged, LoopParametersChanged, RelowisaRecommendation]


async def test_round_trip_of_every_type_field_for_field(bus: EventBus, collector: Collector) -> None:
    await bus.subscribe_tenant("tenant-001", collector)
    results = [await bus.publish(raw) for raw in ONE_OF_EACH]
    received = await collector.wait_for(len(ONE_OF_EACH))
    for raw, result, event, cls in zip(ONE_OF_EACH, results, received, CLASSES, strict=True):
        assert isinstance(event, cls)
        assert event.id == result.id
        assert event.position == result.position
        wire = json.loads(default_registry.encode(event))
        for key, value in raw.items():
            assert wire[key] == value, key
        assert wire["version"] == 1


async def test_positions_grow_in_publish_order(bus: EventBus, collector: Collector) -> None:
    await bus.subscribe_tenant("tenant-001", collector)
    results = await bus.publish_many([order(n=n) for n in range(50)])
    received = await collector.wait_for(50)
    assert [e.id for e in received] == [r.id for r in results]
    positions = [tuple(map(int, r.position.split("-"))) for r in results]
    assert positions == sorted(positions)
    assert len(set(positions)) == 50


async def test_tenants_are_isolated_and_global_sees_all(bus: EventBus) -> None:
    a, b, g = Collector(), Collector(), Collector()
    await bus.subscribe_tenant("tenant-a", a)
    await bus.subscribe_tenant("tenant-b", b)
    await bus.subscribe_global(g)
    await bus.publish_many([order("tenant-a", n) for n in range(10)] + [order("tenant-b", n) for n in range(7)])
    await a.wait_for(10)
    await b.wait_for(7)
    await g.wait_for(17)
    await a.settle()
    assert {e.tenant_id for e in a.events} == {"tenant-a"}
    assert len(a.events) == 10
    assert {e.tenant_id for e in b.events} == {"tenant-b"}
    assert len(b.events) == 7
    assert sorted(e.tenant_id for e in g.events) == ["tenant-a"] * 10 + ["tenant-b"] * 7
    assert all(e.position for e in g.events)


async def test_many_concurrent_publishers_all_land(bus: EventBus, collector: Collector) -> None:
    await bus.subscribe_tenant("tenant-001", collector)
    results = await asyncio.gather(*(bus.publish(order(n=n)) for n in range(300)))
    await collector.wait_for(300)
    assert sorted(collector.ids) == sorted(r.id for r in results)


async def test_invalid_events_raise_before_anything_is_sent(bus: EventBus, collector: Collector) -> None:
    await bus.subscribe_tenant("tenant-001", collector)
    with pytest.raises(EventValidationError) as info:
        await bus.publish_many([order(n=1), order(n=2, orderNumber=None)])
    assert info.value.field == "orderNumber"
    assert "events[1]" in str(info.value)
    with pytest.raises(EventValidationError):
        await bus.publish(order("global"))
    with pytest.raises(UnknownEventTypeError):
        await bus.publish({"type": "made.up", "tenantId": "tenant-001"})
    await collector.settle()
    assert collector.events == []
    assert (await bus.history("tenant-001")).events == []


async def test_duplicate_id_is_stored_and_delivered_once(bus: EventBus, collector: Collector) -> None:
    await bus.subscribe_tenant("tenant-001", collector)
    event = OrderCreated(tenant_id="tenant-001", order_id="o", order_number="PO-1")
    first = await bus.publish(event)
    again = await bus.publish(event)
    many = await bus.publish_many([event, order(n=2)])
    assert not first.duplicate
    assert again.duplicate
    assert again.position == first.position
    assert many[0].duplicate
    assert not many[1].duplicate
    await collector.wait_for(2)
    await collector.settle()
    assert collector.ids == [event.id, many[1].id]
    assert len((await bus.history("tenant-001")).events) == 2
    assert bus.stats.duplicates == 2


async def test_history_since_a_position_and_paging(bus: EventBus) -> None:
    results = await bus.publish_many([order(n=n) for n in range(25)])
    page = await bus.history("tenant-001", since=results[9].position, limit=10)
    assert page.reaches_back
    assert [e.id for e in page.events] == [r.id for r in results[10:20]]
    assert [e.position for e in page.events] == [r.position for r in results[10:20]]
    assert page.has_more
    rest = await bus.history("tenant-001", since=page.position, limit=10)
    assert [e.id for e in rest.events] == [r.id for r in results[20:]]
    assert not rest.has_more
    everything = await bus.history("tenant-001", limit=100)
    assert len(everything.events) == 25
    nothing_new = await bus.history("tenant-001", since=results[-1].position)
    assert nothing_new.reaches_back
    assert nothing_new.events == []
    assert (await bus.history("tenant-002")).events == []
    with pytest.raises(EventValidationError):
        await bus.history("tenant-001", since="not-a-position")


async def test_history_trimmed_past_the_position_cannot_be_recovered(bus_url: str) -> None:
    from arda.events import Retention

    async with EventBus(bus_url, retention=Retention(max_events=5, global_max_events=5)) as bus:
        results = await bus.publish_many([order(n=n) for n in range(300)])
        page = await bus.history("tenant-001", since=results[0].position)
        assert not page.reaches_back
        assert page.events == []  # never a partial replay
        recent = await bus.history("tenant-001", since=results[-2].position)
        assert recent.reaches_back
        assert [e.id for e in recent.events] == [results[-1].id]


async def test_raising_and_slow_handlers_do_not_disturb_others(bus: EventBus) -> None:
    fast = Collector()
    slow_seen: list[str] = []
    release = asyncio.Event()

    def broken(event: AnyEvent) -> None:
        raise RuntimeError("handler bug")

    async def slow(event: AnyEvent) -> None:
        await release.wait()
        slow_seen.append(event.id)

    await bus.subscribe_tenant("tenant-001", broken)
    await bus.subscribe_tenant("tenant-001", slow)
    await bus.subscribe_tenant("tenant-001", fast)
    results = await bus.publish_many([order(n=n) for n in range(20)])
    await fast.wait_for(20, timeout=3)
    assert fast.ids == [r.id for r in results]
    assert slow_seen == []
    assert bus.stats.handler_failures == 20
    release.set()
    await eventually(lambda: len(slow_seen) >= 20, timeout=3)
    assert slow_seen == [r.id for r in results]


async def test_full_handler_queue_drops_oldest_and_reports_a_gap(bus_url: str) -> None:
    gaps: list[Gap] = []
    release = asyncio.Event()
    started: list[str] = []
    seen: list[str] = []

    async def stuck(event: AnyEvent) -> None:
        started.append(event.id)
        await release.wait()
        seen.append(event.id)

    async with EventBus(bus_url, handler_queue_size=5, on_gap=gaps.append) as bus:
        await bus.subscribe_tenant("tenant-001", stuck)
        first = await bus.publish(order(n=0))
        await eventually(lambda: bool(started), timeout=3)
        results = await bus.publish_many([order(n=n) for n in range(1, 12)])
        await eventually(lambda: bus.stats.handler_dropped >= 6, timeout=3)
        release.set()
        await eventually(lambda: len(seen) >= 6, timeout=3)
        # the one in the handler when the queue filled, then the 5 newest; the 6 oldest queued were dropped
        assert seen == [first.id] + [r.id for r in results[6:]]
        # one report per overflow episode, from the last event the handler took: history(since=…) refills it
        assert gaps == [Gap("tenant-001", "handler_overflow", first.position)]
        assert bus.stats.handler_dropped == 6


async def test_raw_publish_from_another_service_is_delivered(bus: EventBus, collector: Collector) -> None:
    await bus.subscribe_tenant("tenant-001", collector)
    raw = json.dumps(order(n=9, id="from-go-service")).encode()
    await bus.backend.publish_raw("tenant-001", raw)
    (event,) = await collector.wait_for(1)
    assert isinstance(event, OrderCreated)
    assert event.id == "from-go-service"
    assert event.position is None


async def test_unknown_type_from_the_channel_arrives_as_generic(bus: EventBus, collector: Collector) -> None:
    await bus.subscribe_tenant("tenant-001", collector)
    await bus.backend.publish_raw("tenant-001", b'{"type":"inventory.low","tenantId":"tenant-001","partId":"p"}')
    (event,) = await collector.wait_for(1)
    assert isinstance(event, GenericEvent)
    assert event.type == "inventory.low"
    assert event.fields == {"partId": "p"}


async def test_malformed_messages_are_dead_lettered_and_the_reader_goes_on(bus: EventBus, collector: Collector) -> None:
    await bus.subscribe_tenant("tenant-001", collector)
    bad = [
        b"{not json",
        b'{"tenantId":"tenant-001"}',
        json.dumps(order("tenant-002")).encode(),
        json.dumps(order(orderNumber=5)).encode(),
    ]
    for payload in bad:
        await bus.backend.publish_raw("tenant-001", payload)
    good = await bus.publish(order(n=1))
    (event,) = await collector.wait_for(1)
    assert event.id == good.id
    await eventually(lambda: bus.stats.dead_lettered >= 4, timeout=3)
    letters = await bus.dead_letters(10)
    assert [letter.reason for letter in reversed(letters)] == [
        "invalid_json",
        "invalid_event",
        "tenant_mismatch",
        "invalid_event",
    ]
    assert [letter.payload for letter in reversed(letters)] == bad
    assert all(letter.channel == "arda:events:tenant-001" for letter in letters)
    assert "orderNumber" in letters[0].detail
    assert bus.stats.malformed == 4


async def test_unsubscribe_stops_delivery(bus: EventBus) -> None:
    kept, dropped = Collector(), Collector()
    await bus.subscribe_tenant("tenant-001", kept)
    await bus.subscribe_tenant("tenant-001", dropped)
    await bus.publish(order(n=1))
    await dropped.wait_for(1)
    await bus.unsubscribe_tenant("tenant-001", dropped)
    await bus.publish(order(n=2))
    await kept.wait_for(2)
    await dropped.settle()
    assert len(dropped.events) == 1


async def test_events_published_while_subscribing_are_not_missed(bus_url: str) -> None:
    async with EventBus(bus_url) as publisher, EventBus(bus_url) as subscriber:
        collector = Collector()
        stop = asyncio.Event()
        sent: list[str] = []

        async def publish_continuously() -> None:
            n = 0
            while not stop.is_set():
                sent.append((await publisher.publish(order(n=n))).id)
                n += 1

        task = asyncio.create_task(publish_continuously())
        await asyncio.sleep(0.05)
        await subscriber.subscribe_tenant("tenant-001", collector)
        first_after = len(sent)
        await asyncio.sleep(0.1)
        stop.set()
        await task
        # one publish may have been stored before subscribing yet returned after: allow for it
        await collector.wait_for(len(sent) - first_after - 1)
        await collector.settle()
        ids = collector.ids
        assert len(ids) == len(set(ids))
        start = sent.index(ids[0])
        assert ids == sent[start:]  # contiguous, in order, up to the last one sent
        assert start <= first_after + 1  # nothing published after subscribe_tenant() returned is missed


async def test_handlers_can_be_sync_or_async(bus: EventBus) -> None:
    got: list[str] = []

    async def async_handler(event: AnyEvent) -> None:
        await asyncio.sleep(0)
        got.append("async:" + event.id)

    await bus.subscribe_tenant("tenant-001", async_handler)
    await bus.subscribe_tenant("tenant-001", lambda e: got.append("sync:" + e.id))
    result = await bus.publish(order())
    await eventually(lambda: len(got) >= 2, timeout=3)
    assert sorted(got) == sorted([f"async:{result.id}", f"sync:{result.id}"])


async def test_known_position_follows_what_the_bus_delivered(bus: EventBus, collector: Collector) -> None:
    assert bus.known_position("tenant-001") is None  # not subscribed
    await bus.subscribe_tenant("tenant-001", collector)
    results = await bus.publish_many([order(n=n) for n in range(3)])
    await collector.wait_for(3)
    await eventually(lambda: bus.known_position("tenant-001") == results[-1].position)
    assert bus.known_position("tenant-001") == await bus.latest_position("tenant-001")


async def test_settled_position_waits_for_a_subscription_being_made(bus: EventBus, collector: Collector) -> None:
    assert await bus.settled_position("tenant-001") is None  # not subscribed: nothing to wait for
    first = await bus.publish(order(n=1))
    subscribing = asyncio.ensure_future(bus.subscribe_tenant("tenant-001", collector))
    await asyncio.sleep(0)  # the subscription is under way, its catch-up read not done
    assert await bus.settled_position("tenant-001") == first.position
    await subscribing
    second = await bus.publish(order(n=2))
    await collector.wait_for(1)
    assert await bus.settled_position("tenant-001") == second.position == bus.known_position("tenant-001")


# -- read state ------------------------------------------------------------------------------------------
async def test_read_marks_are_kept_beside_history_and_announced_live(bus_url: str) -> None:
    from arda.events import Retention

    async with EventBus(bus_url, retention=Retention(max_events=3)) as bus:
        got = Collector()
        await bus.subscribe_tenant("tenant-001", got)
        published = await bus.publish_many([order(n=i) for i in range(3)])
        await got.wait_for(3)
        announce = OrderStatusChanged(
            tenant_id="tenant-001", order_id="o-1", order_number="PO-1", from_status="a", to_status="b"
        )
        assert await bus.mark_read("tenant-001", "u-1", published[0].id, announce=announce) is True
        assert await bus.mark_read("tenant-001", "u-1", published[0].id, announce=announce) is False  # known
        live = (await got.wait_for(4))[3]
        assert (live.type, live.position) == ("order.status_changed", None)  # delivered live, unstored
        assert [m.id for m in await got.settle()] == [*(p.id for p in published), live.id]  # announced once
        assert await bus.read_marks("tenant-001", "u-1", [p.id for p in published]) == [True, False, False]
        assert await bus.read_marks("tenant-001", "u-2", [published[0].id]) == [False]  # per user
        page = await bus.history("tenant-001")
        assert [e.id for e in page.events] == [p.id for p in published]  # history untouched
        for item in (published[1].id, published[2].id, "x-1", "x-2"):  # past max_events: the oldest go first
            await asyncio.sleep(0.002)  # (marks are timed to the millisecond; within one, the order is Redis's)
            await bus.mark_read("tenant-001", "u-1", item)
        assert await bus.read_since("tenant-001", "u-1", "0-0") == [published[2].id, "x-1", "x-2"]
        assert await bus.read_since("tenant-001", "u-1", f"{2**63}-0") == []
        with pytest.raises(EventValidationError):
            await bus.read_since("tenant-001", "u-1", "yesterday")
        with pytest.raises(EventValidationError):
            await bus.mark_read("tenant-002", "u-1", "e", announce=announce)  # announcement of another tenant


async def test_a_bus_connects_on_first_use_and_refuses_every_use_after_shutdown() -> None:
    bus = EventBus("memory://test-first-use")
    first = await bus.publish(order(n=1))  # no connect(): the first use connects
    assert first.position
    await bus.shutdown()
    with pytest.raises(BusClosedError, match="shut down"):
        await bus.publish(order(n=2))
    with pytest.raises(BusClosedError):
        await bus.history("tenant-001")
    with pytest.raises(BusClosedError):
        await bus.connect()
