"""The ``arda`` command, end to end, in a subprocess."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from arda.events import EventBus
from arda.testing.redis_server import free_port
from conftest import Collector, eventually

ARDA = str(Path(sys.executable).parent / "arda")


def arda(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARDA, *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_schema_prints_every_event_type(tmp_path: Path) -> None:
    out = arda("schema")
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)
    assert set(schema["discriminator"]["mapping"]) == {
        "card.transition",
        "order.created",
        "order.status_changed",
        "loop.parameters_changed",
        "relowisa.recommendation",
        "notification.acknowledged",  # the service's own type, registered when the CLI loads it
    }
    target = tmp_path / "events.schema.json"
    assert arda("schema", "--out", str(target)).returncode == 0
    assert json.loads(target.read_text()) == schema


def test_demo_on_the_embedded_bus_prints_what_the_subscriber_received() -> None:
    out = arda("demo")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["type"] for e in lines] == [
        "card.transition",
        "order.created",
        "order.status_changed",
        "loop.parameters_changed",
        "relowisa.recommendation",
    ]
    assert all(e["tenantId"] == "tenant-001" and e["position"] for e in lines)
    assert "memory://" in out.stderr


@pytest.fixture(params=["redis", "cluster"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The CLI's bus commands on one Redis and on a Redis Cluster."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def test_demo_and_history_against_redis(store_url: str) -> None:
    redis_url = store_url
    assert arda("demo", "--redis-url", redis_url).returncode == 0
    out = arda("history", "tenant-001", "--redis-url", redis_url)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(events) == 5
    since = events[2]["position"]
    tail = arda("history", "tenant-001", "--since", since, "--redis-url", redis_url)
    assert [json.loads(line)["id"] for line in tail.stdout.splitlines()] == [e["id"] for e in events[3:]]
    bad = arda("history", "tenant-001", "--since", "yesterday", "--redis-url", redis_url)
    assert bad.returncode == 2
    assert "since" in bad.stderr


def test_history_reports_an_unrecoverable_gap(redis_url: str) -> None:
    assert arda("demo", "--redis-url", redis_url).returncode == 0
    out = arda("history", "tenant-001", "--since", "1-0", "--redis-url", redis_url)
    assert out.returncode == 3
    assert "cannot be recovered" in out.stderr


async def test_dlq_lists_malformed_messages(store_url: str) -> None:
    redis_url = store_url
    async with EventBus(redis_url) as bus:
        await bus.subscribe_tenant("tenant-001", Collector())
        await bus.backend.publish_raw("tenant-001", b"{oops")
        await eventually(lambda: bus.stats.dead_lettered == 1)
    out = await asyncio.to_thread(arda, "dlq", "--redis-url", redis_url)
    assert out.returncode == 0, out.stderr
    (letter,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert letter["reason"] == "invalid_json"
    assert letter["payload"] == "{oops"
    assert letter["channel"] == "arda:events:tenant-001"


def test_unreachable_redis_is_a_clear_error_and_a_nonzero_exit() -> None:
    out = arda("demo", "--redis-url", f"redis://:pw@127.0.0.1:{free_port()}/0")
    assert out.returncode == 2
    assert "cannot reach Redis at redis://:***@127.0.0.1:" in out.stderr
    assert "pw@" not in out.stderr
