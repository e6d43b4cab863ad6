from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from arda.events import AnyEvent, EventBus
from arda.testing.cluster import ClusterSetup
from arda.testing.redis_server import RedisServer
from arda.testing.sentinel import SentinelSetup

# keys at the hash-tag rule's edges (the first "{" and the first "}" after it, with at least one byte between),
# whose slot the cluster tests compare with CLUSTER KEYSLOT
HASH_TAG_EDGES = [
    "a{b}c",
    "{}x",
    "x{}{y}",
    "{b}",
    "{b}{c}",
    "{{b}}",
    "foo{{bar}}zap",
    "x{y}z}",
    "x}{y}",
    "}{",
    "{",
    "}",
    "{}",
    "{{}",
    "{}}",
    "a{b",
    "a}b{c}",
    "{user1000}.following",
    "{user1000}.followers",
    "user1000",
    "é{ü}ß",
    "",
    "{ }",
    "a{\n}b",
    "arda:events:{tenant-001}",
    "arda:events:{global:3}",
    "arda:stream:{tenant-001}",
]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One private redis-server for the session (no persistence); tests needing their own start one."""
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis_server.client().flushall()
    return redis_server.url


@pytest.fixture
def fresh_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, with fsync'd persistence, to kill and restart."""
    server = RedisServer(persistent=True).start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def sentinel_setup() -> Iterator[SentinelSetup]:
    """One primary, two replicas and three Sentinels for the session (tests that fail over start their own)."""
    setup = SentinelSetup().start()
    yield setup
    setup.close()


@pytest.fixture
def sentinel_url(sentinel_setup: SentinelSetup) -> str:
    sentinel_setup.node(sentinel_setup.primary_port()).client().flushall()
    return sentinel_setup.url


@pytest.fixture(scope="session")
def cluster_setup() -> Iterator[ClusterSetup]:
    """Three primaries with a replica each, for the session (it starts in about 3 s); tests that kill a node,
    fail over or move slots start their own."""
    with ClusterSetup() as setup:
        yield setup


@pytest.fixture
def cluster_url(cluster_setup: ClusterSetup) -> str:
    for primary in cluster_setup.primaries():
        cluster_setup.command(primary, "FLUSHALL")
    return cluster_setup.url


@pytest.fixture(params=["memory", "redis", "sentinel", "cluster"])
def bus_url(request: pytest.FixtureRequest) -> str:
    """The contract suite (and the service tests that take it) run against every backend and topology."""
    if request.param == "memory":
        return f"memory://test-{uuid.uuid4().hex}"
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def bus(bus_url: str) -> AsyncIterator[EventBus]:
    async with EventBus(bus_url) as b:
        yield b


class Collector:
    """A handler that records events and lets a test wait for a count."""

    def __init__(self) -> None:
        self.events: list[AnyEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: AnyEvent) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[AnyEvent]:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.events

    async def settle(self, quiet: float = 0.2) -> list[AnyEvent]:
        """Wait until nothing more arrives for ``quiet`` seconds (to check that nothing extra comes)."""
        while True:
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), quiet)
            except TimeoutError:
                return self.events

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.events]


async def eventually(predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.01) -> None:
    """Poll ``predicate`` until it is truthy; fail with TimeoutError after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polls state owned by the code under test
            await asyncio.sleep(interval)


@pytest.fixture
def collector() -> Collector:
    return Collector()


def order(tenant: str = "tenant-001", n: int = 1, **extra: Any) -> dict[str, Any]:
    """A valid order.created event in wire form."""
    return {"type": "order.created", "tenantId": tenant, "orderId": f"o-{n}", "orderNumber": f"PO-{n}", **extra}
