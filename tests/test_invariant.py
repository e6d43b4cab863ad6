"""The offline checker of the delivery invariant (``arda.testing.invariant``): pure."""

from __future__ import annotations

from arda.testing.invariant import Accepted, ClientLog, Seen, Told, check, recovery_times


def accepted(n: int, at: float, tenant: str = "t") -> Accepted:
    return Accepted(f"e{n}", tenant, f"{n}-0", at)


def seen(n: int, connection: int = 0, tenant: str = "t", at: float = 0.0) -> Seen:
    return Seen(f"e{n}", tenant, f"{n}-0", connection, at)


def log(*items: Seen, told: tuple[Told, ...] = (), subscribed: float = 0.0, until: float = 100.0) -> ClientLog:
    return ClientLog("c", "t", subscribed, until, list(items), list(told))


def test_every_event_seen_once_holds() -> None:
    verdict = check([accepted(1, 1), accepted(2, 2)], [log(seen(1), seen(2))])
    assert verdict.ok
    assert (verdict.checked, verdict.duplicates) == (2, 0)


def test_an_event_neither_seen_nor_told_is_a_silent_gap() -> None:
    verdict = check([accepted(1, 1), accepted(2, 2)], [log(seen(1))])
    assert not verdict.ok
    assert verdict.silent_gaps == [("c", "e2")]


def test_told_after_the_event_excuses_it_but_told_before_does_not() -> None:
    assert check([accepted(2, 5)], [log(told=(Told(6, "1-0"),))]).ok
    assert check([accepted(2, 5)], [log(told=(Told(4, "1-0"),))]).silent_gaps == [("c", "e2")]


def test_told_from_a_position_covers_the_events_up_to_it_whenever_their_publish_returned() -> None:
    """Seen in `make chaos` (a cluster failover): the client was answered ``recovered: false`` at the event's
    own position, a fraction of a millisecond before the publisher heard that event accepted."""
    assert check([accepted(2, 5)], [log(told=(Told(4.9, "2-0"),))]).ok
    assert check([accepted(2, 5), accepted(3, 5.1)], [log(told=(Told(4.9, "2-0"),))]).silent_gaps == [("c", "e3")]
    assert check([accepted(2, 5)], [log(told=(Told(4.9, None),))]).silent_gaps == [("c", "e2")]


def test_events_outside_the_subscription_are_not_checked() -> None:
    verdict = check([accepted(1, 1), accepted(2, 50)], [log(subscribed=10, until=40)])
    assert (verdict.checked, verdict.ok) == (0, True)


def test_duplicates_are_counted_and_dropped_foreign_and_reordered_fail() -> None:
    assert check([accepted(1, 1)], [log(seen(1, 0), seen(1, 1))]).duplicates == 1
    foreign = check([], [log(seen(9, tenant="other"))])
    assert foreign.foreign == [("c", "e9")]
    reordered = check([accepted(1, 1), accepted(2, 2)], [log(seen(2), seen(1))])
    assert reordered.reordered == [("c", "e1")]
    assert check([accepted(1, 1), accepted(2, 2)], [log(seen(2, 0), seen(1, 1))]).ok  # another connection: fine


def test_recovery_is_the_first_notification_after_the_fault() -> None:
    clients = [log(seen(1, at=1.0), seen(2, at=5.5)), log(seen(1, at=7.0)), log(seen(1, at=2.0))]
    assert recovery_times(clients, 5.0) == [0.5, 2.0]
