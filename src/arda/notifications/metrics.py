"""Prometheus metrics of the service (the design document's Key Metrics), in prometheus_client's exposition.

No label takes unbounded values: event types are the registered ones (others count as ``other``), failure
reasons and close codes are fixed sets. Every series of a labelled family exists from the start, at zero, so
dashboards and alerts see zeros rather than absent series. No ``_created`` series (a timestamp per series that
no dashboard reads and that doubles the counters' output): the service's registry leaves them out of what it
collects, so an application that embeds the service keeps its own (prometheus_client's switch,
``disable_created_metrics()``, is process-wide).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from ..events.stats import BusStats
from . import codes
from .deflate import NO_COMPRESSION, CompressionStats

#: The media type of :meth:`Metrics.render` (and of the workers' merge): prometheus_client's text format.
CONTENT_TYPE = CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DURATION_BUCKETS = (1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)

#: Every ``reason`` of ``arda_failures_total`` (docs/service.md explains each; tests/test_docs.py checks that
#: this is what the code counts).
FAILURE_REASONS: tuple[str, ...] = (
    "unauthorized",
    "token_expired",
    "forbidden",
    "invalid_message",
    "unknown_type",
    "rate_limited",
    "message_too_large",
    "slow_consumer",
    "auth_timeout",
    "heartbeat_timeout",
    "revoked",
    "bus_outage",
    "too_many_connections",
    "origin_rejected",
    "handshake_refused",
    "protocol_error",
    "inbound_budget",
    "internal_error",
    "mapping",
    "bus_gap",
)

#: Every ``code`` of ``arda_disconnects_total``: the protocol's close codes, 1005 (a close frame without a code)
#: and 1006 (no close frame), and ``other`` for any other code a client sends.
DISCONNECT_CODES: tuple[str, ...] = (
    *(str(c.code) for c in sorted(codes.CLOSE_CODES, key=lambda c: c.code)),
    "1005",
    "1006",
    "other",
)

#: The event type label of types that are not registered.
OTHER_TYPE = "other"

#: HELP of each ``arda_bus_<name>_total`` (:class:`~arda.events.stats.BusStats`' counters).
BUS_COUNTERS: dict[str, str] = {
    "published": "Events the bus stored and published (duplicates excluded).",
    "duplicates": "Publishes the bus answered from its idempotency window (an event id already published).",
    "publish_failures": "Events whose publish failed (PublishError): not stored, the publisher retries.",
    "received": "Valid events the bus received, live or read from history, counted per stream subscription.",
    "replayed": "Events the bus read from history to fill a gap (included in received).",
    "delivered": "Handler calls that returned (one per event per handler).",
    "handler_failures": "Handler calls that raised.",
    "handler_dropped": "Events dropped because a handler's queue was full (oldest first).",
    "malformed": "Messages on the bus that were not valid events for their channel.",
    "dead_lettered": "Malformed messages written to the dead-letter stream arda:dlq.",
    "dead_letter_dropped": "Dead letters lost: the dead-letter queue was full, or Redis unavailable.",
    "reconnects": "Reconnections of the bus's subscriber connection to Redis.",
    "gaps": "Gaps in delivery reported to on_gap (history no longer reached back, or a handler overflowed).",
}


#: The family types whose samples include a ``<name>_created`` timestamp in prometheus_client.
_WITH_CREATED = frozenset({"counter", "histogram", "summary", "gauge_histogram"})


class _Registry(CollectorRegistry):
    """The service's registry: what it collects has no ``_created`` samples (see the module's docstring)."""

    def collect(self) -> Iterator[Metric]:
        for family in super().collect():
            if family.type in _WITH_CREATED:
                created = family.name + "_created"
                family.samples = [sample for sample in family.samples if sample.name != created]
            yield family


class _Counters(Collector):
    """Counters kept elsewhere (the bus's, the compressor's), read when scraped: ``<prefix><name>_total`` for
    each name and value ``read`` returns, with its HELP from ``helps``."""

    def __init__(self, prefix: str, helps: Mapping[str, str], read: Callable[[], Mapping[str, int]]) -> None:
        self._prefix = prefix
        self._helps = helps
        self._read = read

    def collect(self) -> Iterable[Metric]:
        for name, value in self._read().items():
            family = CounterMetricFamily(self._prefix + name, self._helps.get(name, f"Counter {name}."))
            family.add_metric([], value)
            yield family


#: ``arda_compression_<name>_total``: each :class:`~.deflate.CompressionStats` field and its HELP.
COMPRESSION_COUNTERS: dict[str, str] = {
    "frames": "Distinct frames compressed with permessage-deflate: the CPU it costs (once per event and window "
    "size, however many connections it reaches).",
    "deliveries": "Frames sent compressed to WebSocket connections (permessage-deflate; one per connection).",
    "saved_bytes": "Bytes permessage-deflate kept off the wire: the uncompressed minus the compressed sizes of "
    "the frames sent compressed.",
}


def _task_count() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # no running loop (rendered outside the service)
        return 0.0


class Metrics:
    def __init__(
        self,
        bus_stats: Callable[[], BusStats],
        known_types: Callable[[], Iterable[str]],
        compression: Callable[[], CompressionStats] = lambda: NO_COMPRESSION,
    ) -> None:
        self.registry = _Registry()
        r = self.registry
        self._known_types = known_types
        self.events_received = Counter(
            "arda_events_received",
            'Events this instance received from the bus, by event type; types not registered count as "other".',
            ["type"],
            registry=r,
        )
        self.deliveries = Counter(
            "arda_deliveries",
            "Notifications queued to WebSocket connections (one per connection an event reaches).",
            registry=r,
        )
        self.failures = Counter(
            "arda_failures",
            "Failures, by reason: refused tokens and messages, connections closed for what they did, internal "
            "errors (docs/service.md#failure-reasons lists the reasons).",
            ["reason"],
            registry=r,
        )
        self.connected = Gauge("arda_connected_clients", "WebSocket connections open now.", registry=r)
        self.authenticated = Gauge(
            "arda_authenticated_clients", "WebSocket connections open now that have authenticated.", registry=r
        )
        self.subscriptions = Gauge(
            "arda_tenant_subscriptions",
            "Streams (tenants, and the global feed) this instance receives from the bus now.",
            registry=r,
        )
        self.connection_duration = Histogram(
            "arda_connection_duration_seconds",
            "How long WebSocket connections lasted, in seconds (observed when each one closes).",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.disconnects = Counter(
            "arda_disconnects",
            "WebSocket connections closed, by close code (1005: a close frame without one, 1006: no close frame; "
            'codes the protocol does not define count as "other").',
            ["code"],
            registry=r,
        )
        self.latency = Histogram(
            "arda_publish_to_delivery_seconds",
            "Seconds from an event's timestamp to its notification being queued to connections (once per event).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_bytes = Gauge(
            "arda_outbound_queue_bytes",
            "Bytes queued for WebSocket connections and not yet sent, over all connections (sampled every sweep).",
            registry=r,
        )
        self.published = Counter(
            "arda_http_published",
            "Events accepted by POST /v1/events (and POST /dev/events), duplicates included.",
            registry=r,
        )
        self.tasks = Gauge(
            "arda_event_loop_tasks",
            "Asyncio tasks alive in the service's event loop (sampled when scraped).",
            registry=r,
        )
        self.tasks.set_function(_task_count)
        r.register(_Counters("arda_bus_", BUS_COUNTERS, lambda: bus_stats().snapshot()))
        # read when scraped: no counting on the hot path
        r.register(_Counters("arda_compression_", COMPRESSION_COUNTERS, lambda: compression()._asdict()))
        ProcessCollector(registry=r)  # process_resident_memory_bytes, cpu seconds, open fds
        for reason in FAILURE_REASONS:
            self.failures.labels(reason)
        for code in DISCONNECT_CODES:
            self.disconnects.labels(code)
        self._types_seen: frozenset[str] = frozenset()
        self._zero_types()

    def _zero_types(self) -> None:
        """A series for every registered type (and ``other``): registered later, it appears at the next scrape."""
        types = frozenset(self._known_types())
        if types != self._types_seen:
            for event_type in [*sorted(types - self._types_seen), OTHER_TYPE]:
                self.events_received.labels(event_type)
            self._types_seen = types

    def event_type_label(self, event_type: str) -> str:
        return event_type if event_type in self._known_types() else OTHER_TYPE

    def render(self) -> bytes:
        """This process's metrics in the text format of :data:`CONTENT_TYPE`."""
        self._zero_types()
        return generate_latest(self.registry)
