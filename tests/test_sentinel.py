"""Redis Sentinel: the bus, SyncPublisher, the service and the CLI find the primary through the Sentinels
and follow a failover — planned (``SENTINEL FAILOVER``) or not (``kill -9`` of the primary) — with every
accepted event delivered exactly once, or the affected clients told (issue 10). The bus contract suite runs
over Sentinel too (``bus_url``'s ``sentinel`` parameter in conftest)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arda.events import EventBus, SyncPublisher
from arda.events.backends import urls
from arda.testing.invariant import Accepted, ClientLog, check
from arda.testing.recorder import RecordingClient, publish_until_accepted, start_recording
from arda.testing.sentinel import SentinelSetup
from conftest import Collector, order
from service_process import ARDA
from ws_client import running_service, token

TENANTS = ("tenant-a", "tenant-b")


def test_sentinel_urls_are_read_whole() -> None:
    t = urls.parse_sentinel_url("rediss+sentinel://u:p%40ss@10.0.0.1:26379,[::1]:26380/mymaster/2?sentinel_password=s3")
    assert t.sentinels == [("10.0.0.1", 26379), ("::1", 26380)]
    assert (t.master, t.db, t.tls) == ("mymaster", 2, True)
    assert t.connection == {"username": "u", "password": "p@ss"}
    assert t.sentinel == {"password": "s3", "ssl": True}
    assert urls.redact("redis+sentinel://u:secret@h:1/m?sentinel_password=s3") == (
        "redis+sentinel://u:***@h:1/m?sentinel_password=***"
    )
    for bad in (
        "redis+sentinel://h:1",
        "redis+sentinel://h/m",
        "redis+sentinel://h:1/m/x",
        "redis+sentinel://h:1/a/1/2",
    ):
        with pytest.raises(ValueError, match="sentinel URL"):
            urls.parse_sentinel_url(bad)


def test_sync_publisher_and_the_cli_over_sentinel(sentinel_url: str, sentinel_setup: SentinelSetup) -> None:
    with SyncPublisher(sentinel_url) as publisher:
        position = publisher.publish(order("tenant-s")).position
    primary = sentinel_setup.node(sentinel_setup.primary_port()).client()
    assert primary.xlen("arda:stream:tenant-s") == 1
    for command in (
        ["history", "tenant-s", "--redis-url", sentinel_url],
        ["publish", "--redis-url", sentinel_url, "--sample", "order.created"],
        ["demo", "--redis-url", sentinel_url],
    ):
        out = subprocess.run([ARDA, *command], capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, (command, out.stderr)
    assert (
        position
        in subprocess.run(
            [ARDA, "history", "tenant-s", "--redis-url", sentinel_url], capture_output=True, text=True, check=True
        ).stdout
    )


@pytest.fixture
def own_sentinels() -> Iterator[SentinelSetup]:
    """A setup of the test's own: failing over changes which node is the primary."""
    setup = SentinelSetup().start()
    yield setup
    setup.close()


async def _fail_over_under_load(setup: SentinelSetup, tmp_path: Path, fault: str) -> None:
    async with running_service(setup.url, tmp_path, check_interval_s=0.5, bus_outage_s=60) as svc:
        clients = [
            RecordingClient(svc.ws_url, token(f"u-{i}", ["tenant-a", "tenant-b"]), ClientLog(f"c{i}", tenant))
            for i, tenant in enumerate(["tenant-a", "tenant-a", "tenant-b"])
        ]
        stop = asyncio.Event()
        running = await start_recording(clients, stop)
        accepted: list[Accepted] = []
        received = Collector()
        gaps: list[float] = []
        async with (
            EventBus(setup.url, check_interval=0.5) as publisher,
            EventBus(setup.url, check_interval=0.5, on_gap=lambda gap: gaps.append(time.monotonic())) as observer,
        ):
            await observer.subscribe_tenant("tenant-a", received)
            started = time.monotonic()
            n = 0
            faulted = False
            while time.monotonic() - started < 8:
                n += 1
                await asyncio.gather(*(publish_until_accepted(publisher, t, n, accepted) for t in TENANTS))
                await asyncio.sleep(0.02)
                if not faulted and time.monotonic() - started > 2:
                    faulted = True
                    old = setup.primary_port()
                    if fault == "failover":
                        await asyncio.to_thread(setup.failover)
                    else:
                        setup.node(old).kill()
                        await asyncio.to_thread(setup.wait_for_new_primary, old)
            await asyncio.sleep(3)  # what is in flight arrives
            stop.set()
            await asyncio.gather(*running)
        verdict = check(accepted, [c.log for c in clients])
        assert verdict.checked > 300, verdict
        assert verdict.ok, verdict
        # the bus's own subscriber too: every event of its tenant once, or a gap reported after it
        seen = set(received.ids)
        assert len(received.ids) == len(seen)
        missed = [a for a in accepted if a.tenant == "tenant-a" and a.event_id not in seen]
        assert all(any(g >= a.at for g in gaps) for a in missed), (len(missed), gaps)
        assert setup.primary_port() != old


async def test_sentinel_failover_while_publishing(own_sentinels: SentinelSetup, tmp_path: Path) -> None:
    await _fail_over_under_load(own_sentinels, tmp_path, "failover")


async def test_the_primary_killed_while_publishing(own_sentinels: SentinelSetup, tmp_path: Path) -> None:
    await _fail_over_under_load(own_sentinels, tmp_path, "kill")
