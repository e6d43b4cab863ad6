"""The Redis Cluster fixture (``arda.testing.cluster``) against real ``redis-server`` processes: the cluster
comes up with three primaries and three replicas, ``slot_of`` agrees with ``CLUSTER KEYSLOT``, keys live on
their slot's owner, and each fault helper does what it says — ``kill`` + ``wait_promoted``, ``failover``,
``migrate_slot`` — with the cluster settled afterwards. Tests that change the topology start their own cluster."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest
import redis

from arda.testing.cluster import SLOTS, ClusterNode, ClusterSetup, cluster_ports, crc16, key_slot
from conftest import HASH_TAG_EDGES


def _keys(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    alphabet = "ab{}{}:xyz-é0"
    return HASH_TAG_EDGES + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(count)]


def _key_in(node: ClusterNode, prefix: str) -> str:
    """A key whose slot ``node`` owns."""
    return next(f"{prefix}-{i}" for i in range(100_000) if node.owns(key_slot(f"{prefix}-{i}")))


def _cli(node: ClusterNode, *args: str) -> str:
    """``redis-cli -c`` (following MOVED) on ``node``; its output."""
    out = subprocess.run(
        ["redis-cli", "-c", "-h", node.host, "-p", str(node.port), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return out.stdout.strip()


def _moved_to(setup: ClusterSetup, node: ClusterNode, key: str) -> str:
    """The redirect ``node`` answers a GET of ``key`` with (``"<slot> <host>:<port>"``)."""
    with pytest.raises(redis.exceptions.MovedError) as moved:
        setup.command(node, "GET", key)
    return str(moved.value)


def _read_on_replica(setup: ClusterSetup, replica: ClusterNode, key: str) -> str | None:
    with setup.client(replica) as client:
        pipe = client.pipeline(transaction=False)  # one connection: READONLY applies to the GET
        pipe.execute_command("READONLY")
        pipe.get(key)
        value: str | None = pipe.execute()[1]
        return value


def _others(setup: ClusterSetup, *nodes: ClusterNode) -> list[ClusterNode]:
    return [n for n in setup.nodes if n.alive and n not in nodes]


@pytest.fixture
def own_cluster() -> Iterator[ClusterSetup]:
    """A cluster of the test's own: it kills, fails over or moves slots."""
    with ClusterSetup() as setup:
        yield setup


def test_the_hash_slot_is_crc16_xmodem_of_the_hash_tag() -> None:
    assert crc16(b"123456789") == 0x31C3  # the CRC16/XMODEM check value
    assert key_slot("somekey") == 11058  # the examples of the CLUSTER KEYSLOT page
    assert key_slot("foo{hash_tag}") == key_slot("bar{hash_tag}") == key_slot("hash_tag") == 2515
    assert key_slot("a{b}c") == key_slot("{b}{c}") == key_slot("b")
    assert key_slot("foo{{bar}}zap") == key_slot("{bar")
    assert key_slot("{}x") == crc16(b"{}x") % SLOTS
    assert key_slot("x{}{y}") == crc16(b"x{}{y}") % SLOTS
    assert key_slot("é{ü}") == key_slot("ü".encode()) == ClusterSetup.slot_of("ü")


def test_ports_leave_room_for_the_cluster_bus_and_failures_keep_the_logs() -> None:
    ports = cluster_ports(12)
    assert all(p <= 55535 for p in ports)
    assert len({*ports, *(p + 10000 for p in ports)}) == 24
    setup = ClusterSetup(primaries=2, replicas=0)  # redis-cli --cluster create wants at least three primaries
    try:
        with pytest.raises(RuntimeError, match=r"create\.log"):
            setup.start()
        assert all(n.process is not None and n.process.poll() is not None for n in setup.nodes)
        assert "at least 3 master" in (setup.dir / "create.log").read_text()
        with pytest.raises(RuntimeError, match=re.escape(str(setup.dir))):
            setup.wait_until(lambda: False, 0.1, "nothing happened")
        assert setup.dir.is_dir()
    finally:
        shutil.rmtree(setup.dir, ignore_errors=True)


def test_the_cluster_comes_up_with_three_primaries_and_three_replicas(cluster_setup: ClusterSetup) -> None:
    setup = cluster_setup
    assert setup.startup_s < 15
    primaries = setup.primaries()
    assert len(primaries) == 3
    assert len(setup.nodes) == 6
    assert all(len(setup.replicas_of(p)) == 1 for p in primaries)
    assert sorted(s for p in primaries for first, last in p.slots for s in (first, last)) == [
        0,
        5460,
        5461,
        10922,
        10923,
        16383,
    ]
    assert len({n.node_id for n in setup.nodes}) == 6
    assert all(re.fullmatch("[0-9a-f]{40}", n.node_id) for n in setup.nodes)
    assert setup.url == "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in setup.nodes)
    for node in setup.nodes:
        assert node.port <= 55535
        assert "cluster_state:ok" in setup.command(node, "CLUSTER", "INFO")
        assert len(setup.command(node, "CLUSTER", "SHARDS")) == 3
    check = subprocess.run(
        ["redis-cli", "--cluster", "check", primaries[0].address], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout
    assert "All nodes agree about slots configuration" in check.stdout
    assert "All 16384 slots covered" in check.stdout


def test_slot_of_matches_cluster_keyslot(cluster_setup: ClusterSetup) -> None:
    keys = _keys(3000)
    with cluster_setup.client(cluster_setup.nodes[0]) as client:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.execute_command("CLUSTER", "KEYSLOT", key)
        slots = pipe.execute()
    assert [cluster_setup.slot_of(k) for k in keys] == slots
    assert len(set(slots)) > 2000


def test_a_key_lives_on_its_slots_owner(cluster_setup: ClusterSetup) -> None:
    setup = cluster_setup
    for n, primary in enumerate(setup.primaries()):
        key = _key_in(primary, f"owned-{n}")
        slot = setup.slot_of(key)
        assert setup.node_for_slot(slot) is primary
        assert all(setup.node_for_slot(slot, via=other) is primary for other in setup.nodes)
        assert setup.command(primary, "SET", key, f"v{n}") is True
        assert setup.command(primary, "WAIT", 1, 2000) == 1
        for other in _others(setup, primary):
            if other.role == "primary":
                assert _moved_to(setup, other, key) == f"{slot} {primary.address}"
            assert _cli(other, "GET", key) == f"v{n}"
        (replica,) = setup.replicas_of(primary)
        assert _read_on_replica(setup, replica, key) == f"v{n}"


def test_kill_9_of_a_primary_promotes_its_replica(own_cluster: ClusterSetup) -> None:
    setup = own_cluster
    primary = setup.primaries()[1]
    (replica,) = setup.replicas_of(primary)
    slots = list(primary.slots)
    key = _key_in(primary, "killed")
    setup.command(primary, "SET", key, "kept")
    assert setup.command(primary, "WAIT", 1, 2000) == 1

    setup.kill(primary)
    assert not primary.alive
    new = setup.wait_promoted(primary)
    assert new is replica
    assert new.role == "primary"
    assert new.slots == slots
    assert primary not in setup.primaries()
    assert len(setup.primaries()) == 3
    slot = setup.slot_of(key)
    assert all(setup.node_for_slot(slot, via=n) is new for n in _others(setup))
    assert setup.command(new, "GET", key) == "kept"
    assert setup.command(new, "SET", key, "written after") is True
    for other in _others(setup, new):
        assert _cli(other, "GET", key) == "written after"
    assert "cluster_state:ok" in setup.command(new, "CLUSTER", "INFO")

    setup.restart(primary)  # the old primary comes back as its former replica's replica
    assert primary.role == "replica"
    assert primary.primary_id == new.node_id
    assert setup.replicas_of(new) == [primary]
    assert _read_on_replica(setup, primary, key) == "written after"


def test_cluster_failover_swaps_a_replica_and_its_primary(own_cluster: ClusterSetup) -> None:
    setup = own_cluster
    primary = setup.primaries()[0]
    (replica,) = setup.replicas_of(primary)
    slots = list(primary.slots)
    key = _key_in(primary, "swapped")
    setup.command(primary, "SET", key, "before")

    assert setup.failover(replica) is primary
    assert (replica.role, primary.role) == ("primary", "replica")
    assert primary.primary_id == replica.node_id
    assert replica.slots == slots
    assert primary.slots == []
    assert setup.replicas_of(replica) == [primary]
    slot = setup.slot_of(key)
    assert all(setup.node_for_slot(slot, via=n) is replica for n in setup.nodes)
    assert setup.command(replica, "GET", key) == "before"
    assert _moved_to(setup, primary, key) == f"{slot} {replica.address}"  # a replica redirects too
    setup.command(replica, "SET", key, "after")
    assert setup.command(replica, "WAIT", 1, 2000) == 1
    assert _read_on_replica(setup, primary, key) == "after"


def test_migrate_slot_moves_the_slot_with_its_keys() -> None:
    with ClusterSetup() as setup:
        slot = setup.slot_of("{moving}")
        source = setup.node_for_slot(slot)
        target = next(p for p in setup.primaries() if p is not source)
        keys = [f"{{moving}}:{i}" for i in range(250)]  # three batches of 100
        with setup.client(source) as client:
            client.mset({k: k.upper() for k in keys})
        staying = _key_in(source, "staying")
        setup.command(source, "SET", staying, "here")

        assert setup.migrate_slot(slot, target, batch=100) is source
        assert target.owns(slot)
        assert not source.owns(slot)
        assert all(setup.node_for_slot(slot, via=n) is target for n in setup.nodes)
        assert setup.command(source, "CLUSTER", "COUNTKEYSINSLOT", slot) == 0
        assert setup.command(target, "CLUSTER", "COUNTKEYSINSLOT", slot) == 250
        assert setup.command(target, "GET", keys[7]) == keys[7].upper()
        assert _moved_to(setup, source, keys[7]) == f"{slot} {target.address}"
        assert _cli(source, "GET", keys[8]) == keys[8].upper()
        assert setup.command(source, "GET", staying) == "here"
        assert setup.command(target, "WAIT", 1, 2000) == 1
        (replica,) = setup.replicas_of(target)
        assert _read_on_replica(setup, replica, keys[9]) == keys[9].upper()
        assert setup.migrate_slot(slot, target) is target  # already there: nothing to do
        processes = [n.process for n in setup.nodes]
    assert all(p is not None and p.poll() is not None for p in processes)
    assert not setup.dir.exists()
