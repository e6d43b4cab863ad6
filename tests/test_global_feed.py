"""A Redis Cluster's global feed as one stream (``arda.events.global_feed``), its composite positions
(``arda.events.positions``) and the per-shard catch-up (``arda.events.catchup.Lanes``). Pure."""

from __future__ import annotations

import pytest

from arda.events.backends.base import HistoryRead, StoredEvent
from arda.events.catchup import Catchup, Lanes, mark_of
from arda.events.global_feed import FeedCursor, merge
from arda.events.models import OrderCreated
from arda.events.positions import compose, is_composite, parse_composite, position_key


def test_a_composite_names_every_shard_and_its_event() -> None:
    text = compose(["5-0", None, "7-1"], lane=2)
    assert text == "g2:5-0,,7-1"
    read = parse_composite(text, 3)
    assert read.parts == ("5-0", None, "7-1")
    assert read.lane == 2
    assert position_key(text) == (2, 7, 1)
    assert position_key("5-3") == (5, 3)
    assert parse_composite(compose(["1-0", "2-0"])).lane is None


@pytest.mark.parametrize(
    "bad",
    ["5-0", "g", "g:", "gx:1-0", "g1:1-0", "g0:,1-0", "g:1-0,abc", "g:" + ",".join(["1-0"] * 17), "g123:1-0", "h:1-0"],
)
def test_what_is_not_a_composite(bad: str) -> None:
    assert not is_composite(bad)


def test_a_composite_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 8 shard positions, got 2"):
        parse_composite("g:1-0,2-0", 8)


def read(*positions: str, full: bool = False, last: str | None = None) -> HistoryRead:
    entries = [StoredEvent(p, b"{}") for p in positions]
    return HistoryRead(entries, True, last or (positions[-1] if positions else None), full)


def test_merge_orders_the_shards_by_position_and_continues_from_each() -> None:
    page = merge([None, "1-0"], [read("3-0", "5-0"), read("2-0", "4-0")], limit=10)
    assert [(p, e.position) for p, e in page.entries] == [
        ("g1:,2-0", "2-0"),
        ("g0:3-0,2-0", "3-0"),
        ("g1:3-0,4-0", "4-0"),
        ("g0:5-0,4-0", "5-0"),
    ]
    assert page.position == "g:5-0,4-0"
    assert not page.has_more


def test_merge_cuts_at_the_limit_and_goes_on_from_what_it_gave() -> None:
    page = merge(["1-0", "1-0"], [read("3-0", "5-0"), read("2-0", "4-0", last="9-0")], limit=2)
    assert [e.position for _, e in page.entries] == ["2-0", "3-0"]
    assert page.position == "g:3-0,2-0"  # neither shard was read to its end
    assert page.has_more
    full = merge(["1-0", "1-0"], [read("3-0", full=True), read()], limit=5)
    assert full.has_more  # a shard's read stopped at its limit: more may follow
    anchored = merge(["1-0", "1-0"], [read("3-0"), read(last="8-0")], limit=5)
    assert anchored.position == "g:3-0,8-0"  # a shard read to its end continues after its last entry


async def test_a_feed_cursor_gives_each_event_what_its_handler_was_given() -> None:
    got: list[str | None] = []
    cursor = FeedCursor(lambda e: got.append(e.position), 3)
    cursor.parts[:] = ["1-0", "1-0", "1-0"]
    event = OrderCreated(tenant_id="t", order_id="o", order_number="PO")
    for lane, position in [(1, "2-0"), (0, "3-0"), (1, "4-0")]:
        cursor.lanes[lane](event.__class__(tenant_id="t", order_id="o", order_number="PO", position=position))
    cursor.lanes[2](event)  # a raw publish without a position is handed on as it is
    assert got == ["g1:1-0,2-0,1-0", "g0:3-0,2-0,1-0", "g1:3-0,4-0,1-0", None]


def test_lanes_skip_what_each_shard_delivered_and_go_live_shard_by_shard() -> None:
    start = mark_of("g:5-0,,7-0")
    assert isinstance(start, Lanes)
    assert start.marks == {0: (5, 0), 2: (7, 0)}
    c: Catchup[str] = Catchup(start)
    c.hold((0, 4, 0), "old-0")
    c.hold((1, 1, 0), "new-1")  # a shard with no mark skips nothing
    c.hold((2, 8, 0), "new-2")
    c.replayed((0, 6, 0))
    c.hold((0, 6, 0), "replayed-0")
    c.hold((0, 9, 0), "new-0")
    assert c.finish() == ["new-1", "new-2", "new-0"]
    live: Catchup[str] = Catchup(mark_of("g:5-0,7-0"), live=True)
    assert not live.admit((0, 5, 0))  # a repeat on shard 0
    assert live.admit((1, 8, 0))  # shard 1 goes live …
    assert not live.admit((0, 4, 0))  # … while shard 0 still skips its repeats
    assert live.admit((0, 6, 0))
    assert live.after is None  # every shard live: nothing more to compare
    assert mark_of("g:,") is None
