"""Prometheus metrics of the service (the design document's Key Metrics). No label takes unbounded values:
event types are the registered ones (others count as ``other``), reasons and close codes are fixed sets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from ..events.stats import BusStats

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DURATION_BUCKETS = (1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


class _BusCollector(Collector):
    def __init__(self, stats: Callable[[], BusStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        for name, value in self._stats().snapshot().items():
            family = CounterMetricFamily(f"arda_bus_{name}", f"Event bus counter {name}.")
            family.add_metric([], value)
            yield family


def _task_count() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # no running loop (rendered outside the service)
        return 0.0


class Metrics:
    def __init__(self, bus_stats: Callable[[], BusStats], known_types: Callable[[], Iterable[str]]) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._known_types = known_types
        self.events_received = Counter(
            "arda_events_received", "Events received from the bus, by type.", ["type"], registry=r
        )
        self.deliveries = Counter("arda_deliveries", "Notifications queued to connections.", registry=r)
        self.failures = Counter("arda_failures", "Failures by reason.", ["reason"], registry=r)
        self.connected = Gauge("arda_connected_clients", "Open WebSocket connections.", registry=r)
        self.authenticated = Gauge("arda_authenticated_clients", "Authenticated connections.", registry=r)
        self.subscriptions = Gauge("arda_tenant_subscriptions", "Tenants this instance is subscribed to.", registry=r)
        self.connection_duration = Histogram(
            "arda_connection_duration_seconds", "How long connections lasted.", buckets=DURATION_BUCKETS, registry=r
        )
        self.disconnects = Counter("arda_disconnects", "Disconnections by close code.", ["code"], registry=r)
        self.latency = Histogram(
            "arda_publish_to_delivery_seconds",
            "From the event's timestamp to its notification being queued to connections (once per event).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_bytes = Gauge("arda_outbound_queue_bytes", "Unsent bytes, all connections.", registry=r)
        self.published = Counter("arda_http_published", "Events accepted by POST /v1/events.", registry=r)
        self.tasks = Gauge("arda_event_loop_tasks", "Asyncio tasks alive (sampled when scraped).", registry=r)
        self.tasks.set_function(_task_count)
        r.register(_BusCollector(bus_stats))
        ProcessCollector(registry=r)  # process_resident_memory_bytes, cpu seconds, open fds

    def event_type_label(self, event_type: str) -> str:
        return event_type if event_type in self._known_types() else "other"

    def render(self) -> bytes:
        return generate_latest(self.registry)
