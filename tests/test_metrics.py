"""``GET /metrics``: prometheus_client's exposition and content type, no ``_created`` series, every labelled family
present from the start with a zero series for each of its label values, HELP texts, docs/observability.md
listing exactly the families served — on a fresh ``arda serve``, and merged over ``--workers 2``."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from arda.events import default_registry
from arda.events.stats import BusStats
from arda.notifications import node
from arda.notifications.metrics import (
    BUS_COUNTERS,
    DISCONNECT_CODES,
    FAILURE_REASONS,
    OTHER_TYPE,
    Metrics,
)
from arda.notifications.workers import merge_metrics
from service_process import serve, wait_ready
from ws_client import API_KEY

ROOT = Path(__file__).resolve().parent.parent

#: Each labelled family and the label values it has from the start.
ZERO_SERIES = {
    "arda_events_received": ("type", {*default_registry.types, OTHER_TYPE}),
    "arda_failures": ("reason", set(FAILURE_REASONS)),
    "arda_disconnects": ("code", set(DISCONNECT_CODES)),
}


def families(text: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def exposed(family: Metric) -> str:
    """The family's name as the text format writes it (a counter's with ``_total``)."""
    return f"{family.name}_total" if family.type == "counter" else family.name


def check_fresh(text: str) -> dict[str, Metric]:
    """What every fresh scrape is: no ``_created``, HELP for all, each labelled family's zeros; the families."""
    found = families(text)
    assert "_created" not in text
    assert not [f.name for f in found.values() if not f.documentation], "a family without HELP"
    for name, (label, values) in ZERO_SERIES.items():
        series = {s.labels[label]: s.value for s in found[name].samples if s.name == f"{name}_total"}
        assert set(series) == values, name
        assert set(series.values()) == {0.0}, name
    return found


async def scrape(url: str) -> tuple[str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        assert resp.status == 200
        return resp.headers["Content-Type"], await resp.text()


@pytest.fixture
async def workers(redis_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """``arda serve --workers 2``: the shared HTTP port's base URL once both workers answer."""
    proc, _, http = serve(tmp_path, "--workers", "2", ARDA_REDIS_URL=redis_url, ARDA_SHUTDOWN_TIMEOUT_S="2")
    base = f"http://127.0.0.1:{http}"
    try:
        await wait_ready(http, proc, timeout=20)
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                async with session.get(base + "/healthz") as resp:
                    if len((await resp.json()).get("workers", [])) == 2:
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the second worker did not come up")
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.communicate, None, 30)


# -- a fresh service ---------------------------------------------------------------------------------------
async def test_a_fresh_service_serves_prometheus_clients_exposition_with_every_zero(
    redis_url: str, tmp_path: Path
) -> None:
    proc, _, http = serve(tmp_path, ARDA_REDIS_URL=redis_url)
    try:
        await wait_ready(http, proc)
        content_type, text = await scrape(f"http://127.0.0.1:{http}/metrics")
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.communicate, None, 20)
    assert content_type == CONTENT_TYPE_LATEST
    found = check_fresh(text)
    assert {"arda_deliveries", "arda_connection_duration_seconds", "process_resident_memory_bytes"} <= set(found)
    assert served(found) == documented(), "docs/observability.md lists other families than the service serves"
    for name, help_text in BUS_COUNTERS.items():
        assert found[f"arda_bus_{name}"].documentation == help_text
    # the histograms' buckets are there at zero too, and the gauges read as they should on an idle service
    buckets = [s for s in found["arda_publish_to_delivery_seconds"].samples if s.name.endswith("_bucket")]
    assert len(buckets) == 13
    assert {s.value for s in buckets} == {0.0}
    assert found["arda_connected_clients"].samples[0].value == 0.0


def test_leaving_out_created_is_the_services_own_choice() -> None:
    """An application that embeds the service keeps prometheus_client's ``_created`` series on its own registry."""
    Metrics(BusStats, lambda: {"order.created"}).deliveries.inc()
    theirs = CollectorRegistry()
    Counter("app_orders", "The application's own counter.", registry=theirs).inc()
    Histogram("app_seconds", "The application's own histogram.", registry=theirs).observe(0.1)
    names = {sample.name for family in theirs.collect() for sample in family.samples}
    assert {"app_orders_created", "app_seconds_created"} <= names


def test_the_disconnect_codes_are_the_ones_the_node_labels() -> None:
    assert {str(code) for code in node.KNOWN_CLOSE_CODES} | {"other"} == set(DISCONNECT_CODES)


def test_every_bus_counter_has_its_help() -> None:
    assert set(BUS_COUNTERS) == set(BusStats().snapshot())


def test_a_type_registered_later_appears_at_the_next_scrape() -> None:
    types = {"order.created"}
    metrics = Metrics(BusStats, lambda: types)
    assert set(_series(metrics, "arda_events_received", "type")) == {"order.created", OTHER_TYPE}
    types.add("made.up")
    assert _series(metrics, "arda_events_received", "type") == {"order.created": 0.0, "made.up": 0.0, OTHER_TYPE: 0.0}
    metrics.events_received.labels(metrics.event_type_label("made.up")).inc()
    metrics.events_received.labels(metrics.event_type_label("never.registered")).inc(2)
    assert _series(metrics, "arda_events_received", "type") == {"order.created": 0.0, "made.up": 1.0, OTHER_TYPE: 2.0}


def _series(metrics: Metrics, name: str, label: str) -> dict[str, float]:
    family = families(metrics.render().decode())[name]
    return {s.labels[label]: s.value for s in family.samples if s.name == f"{name}_total"}


# -- the documentation --------------------------------------------------------------------------------------
def documented() -> dict[str, tuple[str, str]]:
    """docs/observability.md's metrics table: family → (type, labels)."""
    text = (ROOT / "docs" / "observability.md").read_text()
    section = text.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| `")]
    return {row[0].strip().strip("`"): (row[1].strip(), row[2].strip().replace("`", "")) for row in rows}


def served(found: dict[str, Metric]) -> dict[str, tuple[str, str]]:
    """Each family as the text format names it → (type, labels), as the docs' table gives them."""
    out = {}
    for family in found.values():
        labels = sorted({k for s in family.samples for k in s.labels if k != "le"})
        out[exposed(family)] = (family.type, ", ".join(labels) or "—")
    return out


def test_the_docs_table_is_read() -> None:
    table = documented()
    assert table["arda_failures_total"] == ("counter", "reason")
    assert table["process_resident_memory_bytes"] == ("gauge", "—")


# -- merged over the workers ---------------------------------------------------------------------------------
async def test_two_workers_metrics_are_one_exposition_summed_series_by_series(workers: str) -> None:
    published = 20
    for n in range(published):  # one connection each: the kernel spreads them over the workers
        async with aiohttp.ClientSession() as session:
            event = {"type": "order.created", "tenantId": "tenant-001", "orderId": f"o-{n}", "orderNumber": f"{n}"}
            headers = {"Authorization": f"Bearer {API_KEY}"}
            async with session.post(workers + "/v1/events", json=event, headers=headers) as resp:
                assert resp.status == 202
    content_type, text = await scrape(workers + "/metrics")
    assert content_type == CONTENT_TYPE_LATEST
    merged = check_fresh(text)
    assert merged["arda_http_published"].samples[0].value == published
    locals_ = [families((await scrape(workers + "/metrics?local=1"))[1]) for _ in range(20)]
    counts = {f["arda_http_published"].samples[0].value for f in locals_}
    assert max(counts) < published, counts  # each worker published some: the merged figure is their sum
    started = merged["process_start_time_seconds"].samples[0].value
    assert started == min(f["process_start_time_seconds"].samples[0].value for f in locals_)  # not a sum
    memory = merged["process_resident_memory_bytes"].samples[0].value
    assert memory > max(f["process_resident_memory_bytes"].samples[0].value for f in locals_)  # the sum


def test_merging_keeps_help_types_and_every_series_and_sums_them() -> None:
    a, b = Metrics(BusStats, lambda: {"order.created"}), Metrics(BusStats, lambda: {"order.created"})
    a.failures.labels("forbidden").inc(2)
    b.failures.labels("forbidden").inc(3)
    b.latency.observe(0.003)
    a.connected.set(4)
    b.connected.set(5)
    merged = families(merge_metrics([a.render().decode(), b.render().decode()]))
    alone = families(a.render().decode())
    assert list(merged) == list(alone)
    assert [(f.type, f.documentation) for f in merged.values()] == [(f.type, f.documentation) for f in alone.values()]
    failures = {s.labels["reason"]: s.value for s in merged["arda_failures"].samples}
    assert failures == {reason: 5.0 if reason == "forbidden" else 0.0 for reason in FAILURE_REASONS}
    assert merged["arda_connected_clients"].samples[0].value == 9.0
    latency = {s.labels.get("le"): s.value for s in merged["arda_publish_to_delivery_seconds"].samples}
    assert (latency["0.001"], latency["0.005"], latency["+Inf"]) == (0.0, 1.0, 1.0)


def test_merging_leaves_out_created_series_of_other_exporters() -> None:
    text = "# HELP x_total X.\n# TYPE x_total counter\nx_total 1.0\nx_created 1.7e9\n"
    merged = merge_metrics([text, text])
    assert re.findall(r"^x\S*", merged, re.MULTILINE) == ["x_total"]
    assert "x_total 2.0" in merged
