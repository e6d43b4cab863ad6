"""The catch-up merge (``arda.events.catchup``): live items held while history is replayed, then merged — each
once, in position order. Pure."""

from __future__ import annotations

import pytest

from arda.events.catchup import Catchup, Key

Held = list[tuple[Key | None, str]]


def catchup(held: Held, after: Key | None = None) -> Catchup[str]:
    c: Catchup[str] = Catchup(after)
    for key, item in held:
        c.hold(key, item)
    return c


@pytest.mark.parametrize(
    ("after", "held", "replayed", "released", "last"),
    [
        (None, [], [], [], None),
        (None, [((1, 0), "a"), ((2, 0), "b")], [], ["a", "b"], (2, 0)),  # nothing replayed: all of it
        (None, [((1, 0), "a"), ((2, 0), "b"), ((3, 0), "c")], [(2, 0)], ["c"], (3, 0)),
        (None, [((2, 0), "b"), ((2, 0), "b"), ((3, 0), "c"), ((3, 0), "c")], [(1, 0)], ["b", "c"], (3, 0)),
        (None, [((1, 0), "a"), (None, "raw"), ((3, 0), "c")], [(2, 0)], ["raw", "c"], (3, 0)),
        (None, [(None, "x"), (None, "y")], [(9, 0)], ["x", "y"], (9, 0)),  # positionless: always kept
        (None, [((4, 0), "d")], [(5, 0)], [], (5, 0)),
        (None, [((5, 0), "e"), ((5, 1), "e1")], [(5, 0)], ["e1"], (5, 1)),  # the sequence counts
        ((5, 0), [((4, 0), "d"), ((5, 0), "e"), ((6, 0), "f")], [], ["f"], (6, 0)),  # where it starts
        ((5, 0), [((3, 0), "c"), ((4, 0), "d")], [(3, 0)], ["d"], (4, 0)),  # the replay's last one decides
        (None, [((3, 0), "c"), ((2, 0), "b")], [], ["c"], (3, 0)),  # an older one after a newer: a repeat
    ],
)
def test_finish(after: Key | None, held: Held, replayed: list[Key], released: list[str], last: Key | None) -> None:
    c = catchup(held, after)
    assert c.catching_up
    for key in replayed:
        c.replayed(key)
    assert c.finish() == released
    assert c.after == last
    assert not c.catching_up
    assert c.held is None


def test_hold_counts_what_is_held() -> None:
    c: Catchup[str] = Catchup()
    assert [c.hold((i, 0), str(i)) for i in range(1, 4)] == [1, 2, 3]
    assert c.hold(None, "raw") == 4


def test_finish_when_live_already_releases_nothing() -> None:
    c: Catchup[str] = Catchup((7, 0), live=True)
    assert not c.catching_up
    assert c.finish() == []
    assert c.after == (7, 0)


@pytest.mark.parametrize(
    ("after", "keys", "admitted"),
    [
        ((5, 0), [(4, 0), (5, 0), (6, 0), (5, 0)], [False, False, True, True]),  # newer passed: no filter left
        ((5, 0), [None, (5, 0), (5, 1)], [True, False, True]),
        ((5, 0), [(7, 0), (6, 0)], [True, True]),
        (None, [(1, 0), (1, 0)], [True, True]),  # nothing to skip
    ],
)
def test_admit(after: Key | None, keys: list[Key | None], admitted: list[bool]) -> None:
    c: Catchup[str] = Catchup(after, live=True)
    assert [c.admit(key) for key in keys] == admitted


def test_admit_after_finish_drops_repeats_until_the_first_newer() -> None:
    c = catchup([((2, 0), "b"), ((3, 0), "c")])
    c.replayed((2, 0))
    assert c.finish() == ["c"]
    assert [c.admit(k) for k in [(2, 0), (3, 0), (4, 0)]] == [False, False, True]
    assert c.after is None


def test_pause_holds_again_and_keeps_what_is_held() -> None:
    c = catchup([((1, 0), "a")])
    c.pause()  # catching up already: what is held stays
    assert c.held is not None
    assert list(c.held) == [((1, 0), "a")]
    assert c.finish() == ["a"]
    c.pause()  # live: holds again, from nothing
    assert c.held is not None
    assert list(c.held) == []
    c.hold((2, 0), "b")
    assert c.finish() == ["b"]


def test_drop_oldest() -> None:
    c = catchup([((1, 0), "a"), ((2, 0), "b"), ((3, 0), "c")])
    c.drop_oldest()
    assert c.held is not None
    assert [item for _, item in c.held] == ["b", "c"]
    c.drop_oldest()
    c.drop_oldest()
    c.drop_oldest()  # empty: nothing to drop
    assert c.finish() == []
    c.drop_oldest()  # live: nothing to drop either
    assert c.held is None
