"""A private Sentinel setup for tests: one primary, two replicas and three Sentinels, all ``redis-server``
processes on free ports in temporary directories (each Sentinel rewrites its own config file).

``down-after-milliseconds`` is 1 s and ``failover-timeout`` 3 s, so a killed primary is replaced within a few
seconds. :meth:`SentinelSetup.failover` asks for a failover without a fault (``SENTINEL FAILOVER``).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from .redis_server import RedisServer, free_port

MASTER = "arda"


class SentinelSetup:
    def __init__(self, replicas: int = 2, sentinels: int = 3, master: str = MASTER) -> None:
        self.master = master
        self.primary = RedisServer()
        self.replicas = [RedisServer() for _ in range(replicas)]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.dir = Path(tempfile.mkdtemp(prefix="arda-sentinel-"))
        self.sentinels: list[subprocess.Popen[bytes]] = []
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: run `make test`, which installs it")
        self.binary = binary

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.master}/0"

    @property
    def nodes(self) -> list[RedisServer]:
        return [self.primary, *self.replicas]

    def start(self, timeout: float = 20.0) -> SentinelSetup:
        self.primary.start()
        for replica in self.replicas:
            replica.args = ("--replicaof", "127.0.0.1", str(self.primary.port))
            replica.start()
        for i, port in enumerate(self.sentinel_ports):
            conf = self.dir / f"sentinel-{i}.conf"
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"sentinel monitor {self.master} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {self.master} 1000\n"
                f"sentinel failover-timeout {self.master} 3000\n"
                f"sentinel parallel-syncs {self.master} 2\n"
            )
            self.sentinels.append(
                subprocess.Popen(
                    [self.binary, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        self.wait_until(self._settled, timeout, "the Sentinels did not find every replica and each other")
        return self

    def sentinel(self, index: int = 0) -> redis.Redis:
        return redis.Redis(port=self.sentinel_ports[index], socket_timeout=2)

    def primary_port(self) -> int:
        """Where the Sentinels say the primary is."""
        with self.sentinel() as s:
            _, port = s.sentinel_get_master_addr_by_name(self.master)
            return int(port)

    def node(self, port: int) -> RedisServer:
        return next(n for n in self.nodes if n.port == port)

    def _settled(self) -> bool:
        try:
            for i in range(len(self.sentinel_ports)):
                with self.sentinel(i) as s:
                    state = s.sentinel_master(self.master)
                    if state["num-slaves"] < len(self.replicas):
                        return False
                    if state["num-other-sentinels"] < len(self.sentinel_ports) - 1:
                        return False
            for replica in self.replicas:
                if replica.client().info("replication").get("master_link_status") != "up":
                    return False
        except (redis.RedisError, OSError):
            return False
        return True

    def failover(self, timeout: float = 20.0) -> int:
        """``SENTINEL FAILOVER``; returns the new primary's port once every Sentinel agrees on it."""
        old = self.primary_port()
        with self.sentinel() as s:
            s.execute_command("SENTINEL", "FAILOVER", self.master)
        return self.wait_for_new_primary(old, timeout)

    def wait_for_new_primary(self, old: int, timeout: float = 20.0) -> int:
        def moved() -> bool:
            try:
                ports = set()
                for i in range(len(self.sentinel_ports)):
                    with self.sentinel(i) as s:
                        ports.add(int(s.sentinel_get_master_addr_by_name(self.master)[1]))
                if len(ports) != 1 or old in ports:
                    return False
                (port,) = ports
                return bool(self.node(port).client().info("replication")["role"] == "master")
            except (redis.RedisError, OSError):
                return False

        self.wait_until(moved, timeout, "no new primary")
        return self.primary_port()

    @staticmethod
    def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"sentinel setup: {what} within {timeout:g} s")
            time.sleep(0.05)

    def close(self) -> None:
        for proc in self.sentinels:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        for node in self.nodes:
            node.close()
        shutil.rmtree(self.dir, ignore_errors=True)
