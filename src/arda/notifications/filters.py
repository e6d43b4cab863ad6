"""Subscription filters: which notifications a subscription wants. Pure: no I/O.

A filter names event types — exactly (``card.transition``) or by dotted prefix (``order.*``: ``order.created``,
``order.status_changed``, …) — and severities (``warning``, ``error``…); a notification passes when it matches
both lists given (an absent list matches everything). Filters compare by value: the connections of a tenant
with the same filter share one :class:`Filter` and one match per event (:class:`~.hub.Hub`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

#: An event type, or a dotted prefix followed by ``.*``.
TYPE_PATTERN = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")


class Filter(NamedTuple):
    """A parsed filter (canonical: equal filters are equal, and hash alike)."""

    types: frozenset[str] | None  # exact type names
    prefixes: tuple[str, ...] | None  # "order." for "order.*", sorted
    severities: frozenset[str] | None

    def matches(self, event_type: str, severity: str) -> bool:
        if self.severities is not None and severity not in self.severities:
            return False
        if self.types is None and self.prefixes is None:
            return True
        if self.types is not None and event_type in self.types:
            return True
        return self.prefixes is not None and event_type.startswith(self.prefixes)


def parse(types: Iterable[str] | None, severities: Iterable[str] | None) -> Filter | None:
    """The filter of a ``subscribe``'s ``filter`` (None: no filter). Raises ``ValueError`` naming a bad entry."""
    exact: set[str] = set()
    prefixes: set[str] = set()
    for index, entry in enumerate(types or ()):
        if TYPE_PATTERN.fullmatch(entry) is None:
            raise ValueError(
                f"`payload.filter.types[{index}]` is {entry!r}: expected an event type (card.transition) or a "
                "dotted prefix and .* (order.*)"
            )
        if entry.endswith(".*"):
            prefixes.add(entry[:-1])
        else:
            exact.add(entry)
    chosen = frozenset(severities) if severities is not None else None
    if types is None and chosen is None:
        return None
    return Filter(
        frozenset(exact) if types is not None else None,
        tuple(sorted(prefixes)) if types is not None else None,
        chosen,
    )


__all__ = ["TYPE_PATTERN", "Filter", "parse"]
