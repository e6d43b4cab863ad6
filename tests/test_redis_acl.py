"""The Redis ACL of docs/service.md, as production would use it: the bus, SyncPublisher, the service and the
CLI run as a Redis user with exactly the documented ACL (taken from the doc), Redis refuses nothing, and
every command the ACL grants is used (it is minimal)."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from arda.events import EventBus, PublishError, SyncPublisher
from arda.events.layout import CLUSTER
from arda.testing.cluster import ClusterSetup
from arda.testing.redis_server import RedisServer
from conftest import Collector, eventually, order
from service_process import ARDA
from ws_client import running_service

DOC = Path(__file__).resolve().parent.parent / "docs" / "service.md"
PASSWORD = "acl-test-password"


def documented_acl() -> list[str]:
    """The words of the ``ACL SETUSER`` line under ``<!-- redis-acl -->`` in docs/service.md."""
    text = DOC.read_text()
    block = re.search(r"<!-- redis-acl -->\s*```\s*\n(ACL SETUSER [^\n]+)\n```", text)
    assert block is not None, "docs/service.md lost its ACL block"
    return block.group(1).replace("CHANGE-ME", PASSWORD).split()


@pytest.fixture
def acl_redis() -> Iterator[tuple[RedisServer, str]]:
    server = RedisServer().start()
    words = documented_acl()
    assert words[:3] == ["ACL", "SETUSER", "arda"]
    server.command(*words)
    server.command("CONFIG", "RESETSTAT")
    yield server, f"redis://arda:{PASSWORD}@127.0.0.1:{server.port}/0"
    server.close()


def granted_commands() -> list[str]:
    return [w[1:].lower() for w in documented_acl() if w.startswith("+")]


async def test_the_bus_the_service_and_the_cli_run_with_exactly_the_documented_acl(
    acl_redis: tuple[RedisServer, str], tmp_path: Path
) -> None:
    server, url = acl_redis
    # the bus: subscribe (an empty stream: its anchor), publish, history (also from the empty-stream cursor),
    # raw publishes and dead letters, read state, unsubscribe
    async with EventBus(url) as bus:
        got = Collector()
        start = await bus.latest_position("tenant-a")  # an anchor: the empty stream's position is a real entry
        await bus.subscribe_tenant("tenant-a", got)
        results = await bus.publish_many([order("tenant-a", n) for n in range(3)])
        await got.wait_for(3)
        assert (await bus.history("tenant-a", since=start)).reaches_back is True
        assert len((await bus.history("tenant-a", since=results[0].position)).events) == 2
        await bus.backend.publish_raw("tenant-a", b"not json")
        await asyncio.sleep(0.2)
        assert len(await bus.dead_letters()) == 1
        assert await bus.mark_read("tenant-a", "u-1", results[0].id) is True
        assert await bus.read_marks("tenant-a", "u-1", [results[0].id]) == [True]
        assert await bus.read_since("tenant-a", "u-1", "0-0") == [results[0].id]
        assert (await bus.revoke("u-9")).user_id == "u-9"
        assert [r.user_id for r in await bus.revocations()] == ["u-9"]
        await bus.unsubscribe_tenant("tenant-a", got)
        await bus.backend.ping()
    # SyncPublisher
    with SyncPublisher(url) as sync:
        assert sync.publish(order("tenant-a", 9)).position
    # the service: authenticate, subscribe, resume, acknowledge
    async with running_service(url, tmp_path) as svc:
        status, body, _ = await svc.http("GET", "/readyz", auth=None)
        assert status == 200, body
        async with svc.user("u-1", ["tenant-a"]) as c:
            sub = await c.subscribe("tenant-a", since=results[0].position)
            assert sub["recovered"] is True
            replayed = await c.notifications(3)
            await c.send("acknowledge", {"notificationId": replayed[0]["id"]}, "k")
            await c.expect("acknowledged")
            (published,) = await svc.publish(order("tenant-a", 10))
            assert (await c.notifications(1))[0]["eventId"] == published["id"]
    # the CLI
    for command in (
        ["demo", "--redis-url", url],
        ["publish", "--redis-url", url, "--sample", "order.created"],
        ["history", "tenant-a", "--redis-url", url],
        ["dlq", "--redis-url", url],
    ):
        out = subprocess.run([ARDA, *command], capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, (command, out.stderr)

    # a promotion: a replica of this Redis becomes the primary (its floors are raised: SCAN)
    replica = RedisServer().start()
    try:
        replica.command("REPLICAOF", "127.0.0.1", str(server.port))
        await eventually(lambda: replica.client().info("replication")["master_link_status"] == "up", timeout=10)
        await eventually(lambda: replica.client().exists("arda:primary") == 1, timeout=10)
        replica.command("REPLICAOF", "NO", "ONE")
        replica.command(*documented_acl())  # ACL users are not replicated
        async with EventBus(f"redis://arda:{PASSWORD}@127.0.0.1:{replica.port}/0") as promoted:
            assert await promoted.primary() is True
            assert (await promoted.history("tenant-a", since=results[-1].position)).reaches_back is False
        assert replica.client().acl_log() == []
        replica_stats = replica.client().info("commandstats")
    finally:
        replica.close()

    admin = server.client()
    assert admin.acl_log() == [], "Redis refused a command the documented ACL does not grant"
    stats = admin.info("commandstats")
    for name, counts in replica_stats.items():  # what the promoted replica ran counts too
        stats.setdefault(name, {"calls": 0})["calls"] += counts.get("calls", 0)
    unused = [c for c in granted_commands() if stats.get(f"cmdstat_{c}", {}).get("calls", 0) == 0]
    assert unused == [], f"the documented ACL grants commands nothing used: {unused}"
    assert all(v.get("rejected_calls", 0) == 0 for v in stats.values()), stats


async def test_without_one_of_the_scripts_commands_publishing_fails_clearly(
    acl_redis: tuple[RedisServer, str],
) -> None:
    """The audit's finding: with `TYPE`/`TIME` missing every publish failed. Take one away again: the publish
    fails with an error that names the refusal (so an incomplete ACL is found at once)."""
    server, url = acl_redis
    server.command("ACL", "SETUSER", "arda", "-time")
    async with EventBus(url) as bus:
        with pytest.raises(PublishError, match="can't run this command"):
            await bus.publish(order("tenant-a"))


# -- on a Redis Cluster ----------------------------------------------------------------------------------------
CLUSTER_DOC = Path(__file__).resolve().parent.parent / "docs" / "cluster.md"


def documented_cluster_acl() -> list[str]:
    """The words of the ``ACL SETUSER`` line under ``<!-- redis-cluster-acl -->`` in docs/cluster.md."""
    block = re.search(r"<!-- redis-cluster-acl -->\s*```\s*\n(ACL SETUSER [^\n]+)\n```", CLUSTER_DOC.read_text())
    assert block is not None, "docs/cluster.md lost its ACL block"
    return block.group(1).replace("CHANGE-ME", PASSWORD).split()


@pytest.fixture
def acl_cluster() -> Iterator[ClusterSetup]:
    """A cluster of the test's own (it fails one primary over)."""
    with ClusterSetup() as setup:
        yield setup


async def test_on_a_cluster_everything_runs_with_exactly_the_documented_cluster_acl(
    acl_cluster: ClusterSetup, tmp_path: Path
) -> None:
    cluster_setup, cluster_url = acl_cluster, acl_cluster.url
    words = documented_cluster_acl()
    assert words[:3] == ["ACL", "SETUSER", "arda"]
    for node in cluster_setup.nodes:  # ACL users are per node: every node, replicas too (they may be promoted)
        cluster_setup.command(node, *words)
        cluster_setup.command(node, "ACL", "LOG", "RESET")
        cluster_setup.command(node, "CONFIG", "RESETSTAT")
    url = cluster_url.replace("://", f"://arda:{PASSWORD}@", 1)
    tenants = [f"acl-{i}" for i in range(6)]  # over every primary
    async with EventBus(url) as bus:
        got, monitor = Collector(), Collector()
        start = await bus.latest_position(tenants[0])
        await bus.subscribe_tenant(tenants[0], got)
        await bus.subscribe_global(monitor)
        results = await bus.publish_many([order(t, n) for n in range(3) for t in tenants])
        await got.wait_for(3)
        await monitor.wait_for(len(results))
        assert (await bus.history(tenants[0], since=start)).reaches_back is True
        assert len((await bus.global_history(since=monitor.events[0].position)).events) == len(results) - 1
        await bus.backend.publish_raw(tenants[0], b"not json")
        await eventually(lambda: bus.stats.dead_lettered == 1)
        assert len(await bus.dead_letters()) == 1
        assert await bus.mark_read(tenants[0], "u-1", results[0].id) is True
        assert await bus.read_marks(tenants[0], "u-1", [results[0].id]) == [True]
        assert await bus.read_since(tenants[0], "u-1", "0-0") == [results[0].id]
        assert (await bus.revoke("u-9")).user_id == "u-9"
        assert [r.user_id for r in await bus.revocations()] == ["u-9"]
        assert await bus.primary() is True
        await bus.unsubscribe_tenant(tenants[0], got)
    with SyncPublisher(url) as sync:
        assert all(r.position for r in sync.publish_many([order(t, 9) for t in tenants]))
    async with running_service(url, tmp_path) as svc:
        status, body, _ = await svc.http("GET", "/readyz", auth=None)
        assert status == 200, body
        async with svc.user("u-1", [tenants[0]]) as c:
            sub = await c.subscribe(tenants[0], since=results[0].position)
            assert sub["recovered"] is True
            replayed = await c.notifications(3)
            await c.send("acknowledge", {"notificationId": replayed[0]["id"]}, "k")
            await c.expect("acknowledged")
    for command in (
        ["demo", "--redis-url", url],
        ["history", tenants[0], "--redis-url", url],
        ["dlq", "--redis-url", url],
    ):
        out = subprocess.run([ARDA, *command], capture_output=True, text=True, timeout=60, check=False)
        assert out.returncode == 0, (command, out.stderr)

    # a promotion: the promoted replica's streams get their floors raised (SCAN)
    victim = cluster_setup.node_for_slot(cluster_setup.slot_of(CLUSTER.stream_key(tenants[0])))
    (replica,) = cluster_setup.replicas_of(victim)
    await asyncio.to_thread(cluster_setup.failover, replica)
    async with EventBus(url) as bus:
        assert await bus.primary() is True
        assert (await bus.history(tenants[0], since=results[0].position)).reaches_back is False

    stats: dict[str, int] = {}
    for node in cluster_setup.nodes:
        assert cluster_setup.command(node, "ACL", "LOG") == [], f"node {node.port} refused a command"
        for name, counts in cluster_setup.client(node).info("commandstats").items():
            assert counts.get("rejected_calls", 0) == 0, (node.port, name, counts)
            stats[name] = stats.get(name, 0) + counts.get("calls", 0)
    granted = [w[1:].lower() for w in words if w.startswith("+")]
    unused = [c for c in granted if stats.get(f"cmdstat_{c}", 0) == 0]
    assert unused == [], f"the documented cluster ACL grants commands nothing used: {unused}"
