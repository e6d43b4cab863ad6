"""The live figures of one instance (``GET /v1/stats``, the dashboard). Pure: the time is passed in.

:class:`Window` counts what happens per whole second — events received by type, deliveries per tenant,
disconnects by close code, slow-consumer closes — and keeps the publish→delivery latencies of the last minute.
Rates are averaged over the last :data:`RATE_SECONDS` complete seconds; latency percentiles are over the last
:data:`LATENCY_SECONDS`. Bounded: at most :data:`KEEP_SECONDS` buckets, at most :data:`MAX_LATENCIES` samples
(beyond it the oldest go first). Recording is one or two dict updates per event (not per delivery).
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

RATE_SECONDS = 5
LATENCY_SECONDS = 60
KEEP_SECONDS = 10
MAX_LATENCIES = 20_000
TOP_TENANTS = 10


class _Second:
    __slots__ = ("deliveries", "events", "second")

    def __init__(self, second: int) -> None:
        self.second = second
        self.events: Counter[str] = Counter()  # by event type
        self.deliveries: Counter[str] = Counter()  # by tenant


class Window:
    def __init__(self) -> None:
        self._seconds: deque[_Second] = deque()
        self._latencies: deque[tuple[float, float]] = deque(maxlen=MAX_LATENCIES)  # (when, ms)
        self.disconnects: Counter[str] = Counter()  # by close code, since start
        self.slow_consumers = 0

    def _bucket(self, now: float) -> _Second:
        second = int(now)
        seconds = self._seconds
        if not seconds or seconds[-1].second != second:
            seconds.append(_Second(second))
            while len(seconds) > KEEP_SECONDS:
                seconds.popleft()
        return seconds[-1]

    def event(self, event_type: str, tenant: str, deliveries: int, latency_ms: float, now: float) -> None:
        """An event reached this instance and was queued for ``deliveries`` connections."""
        bucket = self._bucket(now)
        bucket.events[event_type] += 1
        if deliveries:
            bucket.deliveries[tenant] += deliveries
        self._latencies.append((now, latency_ms))

    def disconnected(self, code: str) -> None:
        self.disconnects[code] += 1

    def slow(self) -> None:
        self.slow_consumers += 1

    def figures(self, now: float) -> dict[str, Any]:
        """Rates over the last complete seconds, latency percentiles over the last minute, totals since start."""
        current = int(now)
        recent = [b for b in self._seconds if current - RATE_SECONDS <= b.second < current]
        events: Counter[str] = Counter()
        tenants: Counter[str] = Counter()
        for bucket in recent:
            events.update(bucket.events)
            tenants.update(bucket.deliveries)
        since = now - LATENCY_SECONDS
        latencies = sorted(ms for when, ms in self._latencies if when >= since)
        return {
            "eventsPerSecond": sum(events.values()) / RATE_SECONDS,
            "eventsPerSecondByType": {t: n / RATE_SECONDS for t, n in sorted(events.items())},
            "deliveriesPerSecond": sum(tenants.values()) / RATE_SECONDS,
            "latencyMs": {"p50": _percentile(latencies, 0.5), "p99": _percentile(latencies, 0.99)},
            "disconnectsByCode": dict(sorted(self.disconnects.items())),
            "slowConsumerCloses": self.slow_consumers,
            "topTenants": [
                {"tenantId": tenant, "deliveriesPerSecond": n / RATE_SECONDS}
                for tenant, n in tenants.most_common(TOP_TENANTS)
            ],
        }


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


#: The figures summed over instances for the dashboard's total.
SUMMED = (
    "connections",
    "authenticatedConnections",
    "subscriptions",
    "eventsPerSecond",
    "deliveriesPerSecond",
    "slowConsumerCloses",
    "busReconnects",
    "gaps",
    "deadLetters",
)


def total(instances: list[dict[str, Any]]) -> dict[str, Any]:
    return {key: sum(doc.get(key) or 0 for doc in instances) for key in SUMMED}


__all__ = ["SUMMED", "Window", "total"]
