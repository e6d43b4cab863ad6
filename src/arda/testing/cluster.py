"""A private Redis Cluster for tests: N primaries with R replicas each (3 and 1 by default), all ``redis-server``
processes with ``--cluster-enabled yes`` on free ports in one temporary directory, joined by
``redis-cli --cluster create``.

Starting takes about 2.5 s (a primary reports ``cluster_state:ok`` no sooner than 2 s after it started).
``cluster-node-timeout`` is 1 s, so a killed primary is replaced by its replica in 2.3–3 s (:meth:`ClusterSetup.kill`
then :meth:`ClusterSetup.wait_promoted`): about 1.7 s until the others mark it FAIL, then the replica's election
delay of 0.5–1 s. :meth:`ClusterSetup.failover` swaps a
replica and its primary without a fault (``CLUSTER FAILOVER``), :meth:`ClusterSetup.migrate_slot` moves one slot
and its keys to another primary. Every helper returns once every live node reports ``cluster_state:ok`` and all
of them agree on the slot map.

Each node logs to ``<dir>/<port>/redis.log`` (and ``redis-cli`` to ``<dir>/create.log``). :meth:`ClusterSetup.stop`
deletes the directory, unless a helper timed out (its error names the directory) or ``keep_logs`` is set.
"""

from __future__ import annotations

import shutil
import signal as signals
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import redis

from .redis_server import free_port, port_is_free
from .tls import TlsFiles

SLOTS = 16384
NODE_TIMEOUT_MS = 1000
MAX_PORT = 65535 - 10000  # the cluster bus listens on port + 10000

Role = Literal["primary", "replica"]
SlotMap = tuple[tuple[int, int, str, frozenset[str]], ...]  # (first, last, primary id, replica ids), sorted


def _crc16_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CRC16 = _crc16_table()


def crc16(data: bytes) -> int:
    """CRC16/XMODEM (polynomial 0x1021, initial value 0, no reflection): Redis Cluster's key hash."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[((crc >> 8) ^ byte) & 0xFF]
    return crc


def key_slot(key: str | bytes) -> int:
    """The slot of ``key``, as ``CLUSTER KEYSLOT`` computes it: if the key has a ``{`` followed later by a ``}``
    with at least one byte between the first ``{`` and the first ``}`` after it, only those bytes are hashed (the
    hash tag); otherwise the whole key is. ``{}x`` and ``x{}{y}`` hash whole, ``a{b}c`` and ``{b}{c}`` hash ``b``."""
    data = key.encode() if isinstance(key, str) else key
    start = data.find(b"{")
    if start != -1:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1 : end]
    return crc16(data) % SLOTS


def cluster_ports(count: int, taken: Iterable[int] = ()) -> list[int]:
    """``count`` free ports below 55536 whose cluster bus port (port + 10000) is free too, none of them (nor their
    bus ports) equal to another's or to one in ``taken``."""
    used = set(taken)
    ports: list[int] = []
    for _ in range(10_000):
        if len(ports) == count:
            return ports
        port = free_port()
        if port > MAX_PORT or {port, port + 10000} & used or not port_is_free(port + 10000):
            continue
        ports.append(port)
        used |= {port, port + 10000, port - 10000}
    raise RuntimeError(f"cluster setup: no {count} free port pairs (port, port + 10000)")


@dataclass(eq=False)
class ClusterNode:
    """One ``redis-server`` of the cluster. ``role``, ``primary_id`` (a replica's primary) and ``slots`` are the
    cluster's view when a :class:`ClusterSetup` helper last saw it agree; a killed node keeps its last ones."""

    host: str
    port: int
    dir: Path
    role: Role = "primary"
    node_id: str = ""
    primary_id: str = ""
    slots: list[tuple[int, int]] = field(default_factory=list)  # inclusive ranges, a primary's only
    process: subprocess.Popen[bytes] | None = None
    tls_port: int = 0  # with TLS: where clients connect with TLS (the plain port stays, for the admin client)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log(self) -> Path:
        return self.dir / "redis.log"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def owns(self, slot: int) -> bool:
        return any(first <= slot <= last for first, last in self.slots)

    def __repr__(self) -> str:
        state = "" if self.alive else ", down"
        return f"<ClusterNode {self.address} {self.role} {self.node_id[:8]}{state}>"


class ClusterSetup:
    """``primaries`` primaries (at least 3, as ``redis-cli --cluster create`` wants) with ``replicas`` replicas
    each. ``args``: more ``redis-server`` options for every node. Use as a context manager, or
    :meth:`start` then :meth:`stop`."""

    def __init__(
        self,
        primaries: int = 3,
        replicas: int = 1,
        *,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
        args: tuple[str, ...] = (),
        keep_logs: bool = False,
        tls: TlsFiles | None = None,
    ) -> None:
        server = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if server is None or cli is None:
            raise RuntimeError("redis-server/redis-cli not found: run `make test`, which installs them")
        self.server_binary, self.cli_binary = server, cli
        self.replicas_per_primary = replicas
        self.node_timeout_ms = node_timeout_ms
        self.args = args
        self.keep_logs = keep_logs
        self.dir = Path(tempfile.mkdtemp(prefix="arda-cluster-"))
        self.tls = tls
        self.nodes: list[ClusterNode] = []
        count = primaries * (1 + replicas)
        ports = cluster_ports(count * (2 if tls is not None else 1))
        for port, tls_port in zip(ports[:count], ports[count:] or [0] * count, strict=True):
            (self.dir / str(port)).mkdir()
            self.nodes.append(ClusterNode("127.0.0.1", port, self.dir / str(port), tls_port=tls_port))
        self.startup_s = 0.0  # how long start() took

    @property
    def url(self) -> str:
        """``redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…``: every node, as seeds."""
        return "redis+cluster://" + ",".join(n.address for n in self.nodes)

    def tls_url(self, **options: str) -> str:
        """With ``tls``: ``rediss+cluster://`` every node's TLS port, ``options`` as the query (``ssl_ca_certs=…``).
        The nodes talk TLS among themselves too, and answer ``CLUSTER SLOTS`` over TLS with their TLS ports."""
        if self.tls is None:
            raise RuntimeError("cluster setup: started without tls")
        query = "&".join(f"{k}={v}" for k, v in options.items())
        nodes = ",".join(f"{n.host}:{n.tls_port}" for n in self.nodes)
        return f"rediss+cluster://{nodes}" + (f"?{query}" if query else "")

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> ClusterSetup:
        began = time.monotonic()
        try:
            for node in self.nodes:
                self._launch(node)
            for node in self.nodes:
                self._wait_ping(node, timeout)
            create = [self.cli_binary, "--cluster", "create", *(n.address for n in self.nodes)]
            create += ["--cluster-replicas", str(self.replicas_per_primary), "--cluster-yes"]
            with (self.dir / "create.log").open("wb") as log:
                created = subprocess.run(
                    create,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                )
            if created.returncode != 0:
                self.keep_logs = True
                raise RuntimeError(f"cluster setup: redis-cli --cluster create failed, see {self.dir}/create.log")
            for node in self.nodes:
                node.node_id = self.command(node, "CLUSTER", "MYID")
            self.wait_settled(timeout - (time.monotonic() - began), "the cluster did not come up")
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - began
        return self

    def _launch(self, node: ClusterNode) -> None:
        args = [self.server_binary, "--port", str(node.port), "--bind", node.host, "--dir", str(node.dir)]
        args += ["--cluster-enabled", "yes", "--cluster-config-file", str(node.dir / "nodes.conf")]
        args += ["--cluster-node-timeout", str(self.node_timeout_ms), "--cluster-require-full-coverage", "no"]
        args += ["--appendonly", "no", "--save", "", "--logfile", str(node.log)]
        # a replica's first sync without the 5 s wait for more replicas; and a primary pinging its replicas
        # every second (not 10), which advances their replication offset: CLUSTER SLOTS and CLUSTER SHARDS leave
        # out a replica whose offset is still 0, so without it the slot maps show no replicas for ~10 s
        args += ["--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"]
        if self.tls is not None:
            args += ["--tls-port", str(node.tls_port), "--tls-cert-file", str(self.tls.cert)]
            args += ["--tls-key-file", str(self.tls.key), "--tls-ca-cert-file", str(self.tls.ca)]
            args += ["--tls-auth-clients", "no", "--tls-cluster", "yes", "--tls-replication", "yes"]
        args += self.args
        node.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _wait_ping(self, node: ClusterNode, timeout: float) -> None:
        def up() -> bool:
            if not node.alive:
                self.keep_logs = True
                raise RuntimeError(f"cluster setup: redis-server on port {node.port} exited, see {node.log}")
            try:
                return bool(self.client(node).ping())
            except (redis.RedisError, OSError):
                return False

        self.wait_until(up, timeout, f"redis-server did not start on port {node.port}")

    def restart(self, node: ClusterNode, timeout: float = 20.0) -> None:
        """Start a killed node again (same port and ``nodes.conf``); returns once the cluster has it back. A former
        primary whose slots went to a replica comes back as that replica's replica."""
        if node.alive:
            raise RuntimeError(f"cluster setup: {node!r} is running")
        self._launch(node)
        self._wait_ping(node, timeout)
        self.wait_settled(timeout, f"{node.address} did not rejoin")

    def stop(self) -> None:
        for node in self.nodes:
            if node.alive:
                assert node.process is not None
                node.process.kill()
                node.process.wait()
        if not self.keep_logs:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ClusterSetup:
        if not any(n.process is not None for n in self.nodes):
            self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        for node in getattr(self, "nodes", ()):
            if node.alive:
                assert node.process is not None
                node.process.kill()

    # -- reading -----------------------------------------------------------------------------------------------

    def client(self, node: ClusterNode) -> redis.Redis:
        """A plain (non-cluster) client of ``node``, replies decoded as ``str``."""
        return redis.Redis(
            host=node.host, port=node.port, decode_responses=True, socket_timeout=5, socket_connect_timeout=2
        )

    def command(self, node: ClusterNode, *args: Any) -> Any:
        """Run one command on ``node`` (no redirects followed: a key elsewhere raises ``redis.MovedError``)."""
        with self.client(node) as client:
            return client.execute_command(*args)

    def node(self, node_id_or_port: str | int) -> ClusterNode:
        return next(n for n in self.nodes if node_id_or_port in (n.node_id, n.port))

    def primaries(self) -> list[ClusterNode]:
        """The running primaries, by their first slot (a primary without slots last)."""
        live = [n for n in self.nodes if n.alive and n.role == "primary"]
        return sorted(live, key=lambda n: min(n.slots, default=(SLOTS, SLOTS)))

    def replicas_of(self, primary: ClusterNode) -> list[ClusterNode]:
        """The running replicas of ``primary``."""
        return [n for n in self.nodes if n.alive and n.role == "replica" and n.primary_id == primary.node_id]

    def replicas(self) -> list[ClusterNode]:
        return [n for n in self.nodes if n.alive and n.role == "replica"]

    @staticmethod
    def slot_of(key: str | bytes) -> int:
        """See :func:`key_slot`."""
        return key_slot(key)

    def node_for_slot(self, slot: int, via: ClusterNode | None = None) -> ClusterNode:
        """The primary owning ``slot`` according to ``CLUSTER SLOTS`` on ``via`` (default: a running primary)."""
        asked = via or next(n for n in self.nodes if n.alive and n.role == "primary")
        for first, last, primary_id, _ in self._slot_map(asked):
            if first <= slot <= last:
                return self.node(primary_id)
        raise LookupError(f"slot {slot} has no owner according to {asked!r}")

    def _slot_map(self, node: ClusterNode) -> SlotMap:
        ranges = []
        for first, last, primary, *replicas in self.command(node, "CLUSTER", "SLOTS"):
            ranges.append((int(first), int(last), str(primary[2]), frozenset(str(r[2]) for r in replicas)))
        return tuple(sorted(ranges))

    def _info(self, node: ClusterNode) -> dict[str, str]:
        text: str = self.command(node, "CLUSTER", "INFO")
        return dict(line.split(":", 1) for line in text.split() if ":" in line)

    def _myself(self, node: ClusterNode) -> tuple[str, Role, str]:
        """``node``'s own view of itself, from ``CLUSTER NODES``: (id, role, primary id or "")."""
        text: str = self.command(node, "CLUSTER", "NODES")
        for line in text.splitlines():
            fields = line.split()
            flags = fields[2].split(",")
            if "myself" in flags:
                if "slave" in flags:
                    return fields[0], "replica", fields[3]
                return fields[0], "primary", ""
        raise RuntimeError(f"cluster setup: no 'myself' line in CLUSTER NODES of {node!r}")

    def agreed_map(self) -> SlotMap | None:
        """The slot map if the cluster is settled, else None. Settled: every running node reports
        ``cluster_state:ok`` with every slot served and every node known, all return the same ``CLUSTER SLOTS``,
        every owner is running, every running node appears in it as itself sees itself (primary, or replica of
        that primary) and every running replica's link to its primary is up."""
        live = [n for n in self.nodes if n.alive]
        try:
            maps = set()
            for node in live:
                info = self._info(node)
                if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != str(SLOTS):
                    return None
                if info.get("cluster_known_nodes") != str(len(self.nodes)):
                    return None
                maps.add(self._slot_map(node))
            if len(maps) != 1:
                return None
            (slot_map,) = maps
            owners = {primary for _, _, primary, _ in slot_map}
            replicas_of = {primary: replicas for _, _, primary, replicas in slot_map}
            live_ids = {n.node_id for n in live}
            if not owners <= live_ids or sum(last - first + 1 for first, last, _, _ in slot_map) != SLOTS:
                return None
            for node in live:
                node_id, role, primary_id = self._myself(node)
                if node_id != node.node_id:
                    return None
                if role == "replica":
                    if node_id not in replicas_of.get(primary_id, ()):
                        return None
                    if self.client(node).info("replication").get("master_link_status") != "up":
                        return None
                elif node_id not in owners and any(node_id in r for r in replicas_of.values()):
                    return None
        except (redis.RedisError, OSError):
            return None
        return slot_map

    def wait_settled(self, timeout: float = 20.0, what: str = "the cluster did not settle") -> SlotMap:
        """Wait until :meth:`agreed_map` gives a map; update every running node's role, primary and slots."""
        found: list[SlotMap] = []

        def settled() -> bool:
            slot_map = self.agreed_map()
            if slot_map is not None:
                found.append(slot_map)
            return slot_map is not None

        self.wait_until(settled, timeout, what)
        slot_map = found[-1]
        for node in self.nodes:
            if not node.alive:
                continue
            node.slots = [(first, last) for first, last, primary, _ in slot_map if primary == node.node_id]
            primary_of = [primary for _, _, primary, replicas in slot_map if node.node_id in replicas]
            if primary_of:
                node.role, node.primary_id = "replica", primary_of[0]
            else:
                node.role, node.primary_id = "primary", ""
        return slot_map

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``condition`` every 50 ms; on timeout keep the logs and raise ``RuntimeError`` naming them."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                self.keep_logs = True
                raise RuntimeError(f"cluster setup: {what} within {timeout:g} s (node logs in {self.dir})")
            time.sleep(0.05)

    # -- faults and changes ------------------------------------------------------------------------------------

    def kill(self, node: ClusterNode, signal: int = signals.SIGKILL) -> None:
        """Send ``signal`` to ``node`` (by default ``kill -9``: no shutdown); for SIGKILL, SIGTERM and SIGINT also
        wait for the process to exit. The node keeps its role and slots (see :meth:`wait_promoted`)."""
        if node.process is None or not node.alive:
            raise RuntimeError(f"cluster setup: {node!r} is not running")
        node.process.send_signal(signal)
        if signal in (signals.SIGKILL, signals.SIGTERM, signals.SIGINT):
            node.process.wait(timeout=10)

    def wait_promoted(self, old_primary: ClusterNode, timeout: float = 20.0) -> ClusterNode:
        """After :meth:`kill` of a primary: wait until one of its replicas owns all its slots, in every running
        node's view, with the cluster ok; return that new primary."""
        old_slots = list(old_primary.slots)
        candidates = {n.node_id for n in self.nodes if n.primary_id == old_primary.node_id and n.alive}
        if not old_slots or not candidates:
            raise RuntimeError(f"cluster setup: {old_primary!r} had no slots or no running replica")
        self.wait_settled(timeout, f"no replica of {old_primary.address} took over its slots")
        owners = {self.node_for_slot(first) for first, _ in old_slots}
        new = owners.pop()
        if owners or new.node_id not in candidates:
            raise RuntimeError(f"cluster setup: {old_primary.address}'s slots went to {[new, *owners]}, not a replica")
        return new

    def failover(
        self, replica: ClusterNode, mode: Literal["", "FORCE", "TAKEOVER"] = "", timeout: float = 20.0
    ) -> ClusterNode:
        """``CLUSTER FAILOVER [mode]`` on ``replica``; returns its old primary once the replica owns the old
        primary's slots and the old primary (if running) is its replica, in every running node's view."""
        if replica.role != "replica":
            raise RuntimeError(f"cluster setup: {replica!r} is not a replica")
        old = self.node(replica.primary_id)
        self.command(replica, "CLUSTER", "FAILOVER", *([mode] if mode else []))

        def swapped() -> bool:
            return self.agreed_map() is not None and self._myself(replica)[1] == "primary"

        self.wait_until(swapped, timeout, f"{replica.address} did not take over from {old.address}")
        self.wait_settled(timeout, f"the cluster did not settle after {replica.address} took over")
        return old

    def migrate_slot(self, slot: int, to_primary: ClusterNode, batch: int = 100, timeout: float = 20.0) -> ClusterNode:
        """Move ``slot`` with its keys to ``to_primary``, as ``redis-cli --cluster reshard`` does: ``CLUSTER
        SETSLOT IMPORTING`` on it, ``MIGRATING`` on the owner, ``MIGRATE`` the keys ``batch`` at a time
        (``CLUSTER GETKEYSINSLOT``), then ``SETSLOT NODE`` on the new owner, the old one and every other primary.
        Returns the old owner once every running node agrees."""
        source = self.node_for_slot(slot)
        if source is to_primary:
            return source
        if to_primary.role != "primary" or not to_primary.alive:
            raise RuntimeError(f"cluster setup: {to_primary!r} is not a running primary")
        self.command(to_primary, "CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id)
        self.command(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", to_primary.node_id)
        deadline = time.monotonic() + timeout
        while keys := self.command(source, "CLUSTER", "GETKEYSINSLOT", slot, batch):
            if time.monotonic() > deadline:
                self.keep_logs = True
                raise RuntimeError(f"cluster setup: slot {slot}'s keys not moved within {timeout:g} s")
            self.command(source, "MIGRATE", to_primary.host, to_primary.port, "", 0, 5000, "KEYS", *keys)
        others = [n for n in self.primaries() if n not in (source, to_primary)]
        for node in (to_primary, source, *others):
            self.command(node, "CLUSTER", "SETSLOT", slot, "NODE", to_primary.node_id)

        def moved() -> bool:
            slot_map = self.agreed_map()
            return slot_map is not None and any(
                first <= slot <= last and primary == to_primary.node_id for first, last, primary, _ in slot_map
            )

        self.wait_until(moved, timeout, f"the nodes did not agree that slot {slot} moved to {to_primary.address}")
        self.wait_settled(timeout)
        return source
