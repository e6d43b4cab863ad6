"""Subscription filters (``arda.notifications.filters``) and their fan-out by group (``arda.notifications.hub``).
Pure; the hub with fake peers."""

from __future__ import annotations

import asyncio

import pytest

from arda.events.catchup import Catchup
from arda.notifications import filters
from arda.notifications.hub import Hub
from test_hub import FakePeer


@pytest.mark.parametrize(
    ("types", "severities", "event_type", "severity", "passes"),
    [
        (["order.*"], None, "order.created", "info", True),
        (["order.*"], None, "order.status_changed", "warning", True),
        (["order.*"], None, "orders.created", "info", False),  # a dotted prefix, not a string prefix
        (["order.*"], None, "card.transition", "info", False),
        (["card.transition"], None, "card.transition", "info", True),
        (["card.transition"], None, "card.transition_late", "info", False),
        (None, ["warning", "error"], "card.transition", "error", True),
        (None, ["warning", "error"], "card.transition", "info", False),
        (["order.*", "card.transition"], ["error"], "order.created", "error", True),
        (["order.*", "card.transition"], ["error"], "order.created", "success", False),
        (["loop.parameters.*"], None, "loop.parameters.changed", "info", True),
    ],
)
def test_a_filter_matches_types_exactly_or_by_dotted_prefix_and_severities(
    types: list[str] | None, severities: list[str] | None, event_type: str, severity: str, passes: bool
) -> None:
    chosen = filters.parse(types, severities)
    assert chosen is not None
    assert chosen.matches(event_type, severity) is passes


@pytest.mark.parametrize("bad", ["Order.*", "order", "order.", "*", "order.**", ".created", "a.b c", "order.*.x"])
def test_what_is_not_a_type_or_a_prefix(bad: str) -> None:
    with pytest.raises(ValueError, match=r"payload\.filter\.types\[0\]"):
        filters.parse([bad], None)


def test_equal_filters_are_one() -> None:
    a = filters.parse(["order.*", "card.transition", "order.*"], ["error", "warning"])
    b = filters.parse(["card.transition", "order.*"], ["warning", "error"])
    assert a == b
    assert hash(a) == hash(b)
    assert filters.parse(None, None) is None


async def test_the_hub_matches_once_per_group_and_moves_a_peer_that_refilters() -> None:
    hub = Hub(max_bytes=10_000, max_messages=100)
    orders = filters.parse(["order.*"], None)
    errors = filters.parse(None, ["error"])
    plain, o1, o2, e1 = FakePeer("plain"), FakePeer("o1"), FakePeer("o2"), FakePeer("e1")
    hub.subscribe(plain, "t", Catchup(live=True), "u-plain")
    hub.subscribe(o1, "t", Catchup(live=True), "u-o1", orders)
    hub.subscribe(o2, "t", Catchup(live=True), "u-o2", filters.parse(["order.*"], None))  # equal: the same group
    hub.subscribe(e1, "t", Catchup(live=True), "u-e1", errors)
    assert len(hub.filtered["t"]) == 2
    assert hub.fanout("t", b"order", "1-0", None, ("order.created", "info")) == 3
    assert hub.fanout("t", b"card!", "2-0", None, ("card.transition", "error")) == 2
    assert hub.fanout("t", b"for-o1", "3-0", ["u-o1", "u-e1"], ("order.created", "info")) == 1
    hub.refilter(e1, "t", None)  # subscribing again without a filter: every notification
    assert hub.fanout("t", b"card", "4-0", None, ("card.transition", "info")) == 2
    await asyncio.sleep(0)
    assert [p.writes for p in (plain, o1, o2, e1)] == [
        [b"order" + b"card!" + b"card"],
        [b"order" + b"for-o1"],
        [b"order"],
        [b"card!" + b"card"],
    ]
    assert set(hub.subscribers("t")) == {plain, o1, o2, e1}
    for peer, user in ((plain, "u-plain"), (o1, "u-o1"), (e1, "u-e1")):
        assert hub.unsubscribe(peer, "t", user) is False
    assert hub.unsubscribe(o2, "t", "u-o2") is True  # the last one: the tenant is gone from the hub
    assert hub.filtered == {}
    assert hub.tenants == {}
