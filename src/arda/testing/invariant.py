"""The delivery invariant, checked offline from what a fault test (or ``make chaos``) recorded. Pure.

For every client C of tenant T and every event E accepted (its publish returned a position) while C was
subscribed: C saw E — exactly once after dropping duplicates by id — or C was explicitly told about a range
covering E: a resume answered ``recovered: false`` with position P says "what is up to P may be missing", so
it covers E when E is at or before P, or when it came after E was accepted. C never sees another tenant's
event, and sees T's events in position order within each connection.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from ..events.positions import COMPOSITE_PREFIX, parse_position


class Accepted(NamedTuple):
    event_id: str
    tenant: str
    position: str
    at: float  # when the publish returned (monotonic clock shared by the recorder)


class Seen(NamedTuple):
    event_id: str
    tenant: str
    position: str | None
    connection: int  # which of the client's connections delivered it
    at: float = 0.0  # when it arrived (the recorder's monotonic clock)


class Told(NamedTuple):
    """A resume answered ``recovered: false``: when it arrived, and the position it gave (what may be missing
    is up to it)."""

    at: float
    position: str | None


@dataclass
class ClientLog:
    """What one client recorded. ``subscribed`` is when it first got ``subscribed`` and ``until`` when it
    stopped recording; ``told`` are the resumes it was answered ``recovered: false``."""

    name: str
    tenant: str
    subscribed: float = float("inf")
    until: float = 0.0
    seen: list[Seen] = field(default_factory=list)
    told: list[Told] = field(default_factory=list)


class Verdict(NamedTuple):
    checked: int  # (client, event) pairs the invariant applied to
    silent_gaps: list[tuple[str, str]]  # (client, event id): neither seen nor told
    duplicates: int  # deliveries beyond the first of an id (allowed: clients drop them)
    foreign: list[tuple[str, str]]  # (client, event id) of another tenant
    reordered: list[tuple[str, str]]  # (client, event id) delivered after a later position on one connection
    told: int  # clients told at least once

    @property
    def ok(self) -> bool:
        return not (self.silent_gaps or self.foreign or self.reordered)


def check(accepted: list[Accepted], clients: list[ClientLog]) -> Verdict:
    checked = 0
    silent: list[tuple[str, str]] = []
    foreign: list[tuple[str, str]] = []
    reordered: list[tuple[str, str]] = []
    duplicates = 0
    for client in clients:
        ids = Counter(s.event_id for s in client.seen)
        duplicates += sum(n - 1 for n in ids.values())
        foreign += [(client.name, s.event_id) for s in client.seen if s.tenant != client.tenant]
        last: dict[int, tuple[int, int]] = {}
        for s in client.seen:
            if s.position is None:
                continue
            key = parse_position(s.position)
            if s.connection in last and key <= last[s.connection] and ids[s.event_id] == 1:
                reordered.append((client.name, s.event_id))
            last[s.connection] = max(key, last.get(s.connection, key))
        for event in accepted:
            if event.tenant != client.tenant or not client.subscribed <= event.at <= client.until:
                continue
            checked += 1
            if event.event_id in ids:
                continue
            if not any(_covers(told, event) for told in client.told):
                silent.append((client.name, event.event_id))
    told = sum(1 for c in clients if c.told)
    return Verdict(checked, silent, duplicates, foreign, reordered, told)


def _covers(told: Told, event: Accepted) -> bool:
    """Whether being told ``told`` covers ``event``. By position, not only by time: the publisher hears its
    event accepted a moment after Redis stored it, so a client can be told (at ``P``, the newest position, which
    is the event's) before the publish returns."""
    if told.at >= event.at:
        return True
    if told.position is None or told.position.startswith(COMPOSITE_PREFIX):  # the global feed's: by time only
        return False
    return parse_position(event.position) <= parse_position(told.position)


def recovery_times(clients: list[ClientLog], fault_at: float) -> list[float]:
    """Per client, seconds from the fault to the first notification it received after it (clients that got
    none after it are left out)."""
    out = []
    for client in clients:
        after = [s.at for s in client.seen if s.at > fault_at]
        if after:
            out.append(min(after) - fault_at)
    return sorted(out)
