"""A private ``redis-server`` for tests and benchmarks: a free port, a temporary directory, killed and
restarted at will. Needs the ``redis-server`` binary (Debian package ``redis-server``)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from .tls import TlsFiles

#: Where :func:`free_port` looks first: above the well-known services' ports, below the kernel's ephemeral range.
LOW_PORTS = 20_000
_pick = random.SystemRandom()  # not the global generator, which tests (hypothesis) seed


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for the local ports of outgoing connections (Linux; else the IANA range)."""
    try:
        low, high = (int(n) for n in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return 49152, 65535
    return low, high


def port_is_free(port: int) -> bool:
    """Whether a listener could bind ``port`` on 127.0.0.1 now."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port to listen on, outside the ephemeral range. A port the kernel hands out (bind to port 0) is one it
    also gives outgoing connections their local port from: between this call and the server's bind, any of the
    thousands of client sockets of a test or a benchmark could take it (seen: a benchmark peer failing with
    EADDRINUSE). Ports below and above the range are never taken that way."""
    low, high = _ephemeral_range()
    candidates: list[int] = [*range(LOW_PORTS, low), *range(high + 1, 65536)]
    for port in _pick.sample(candidates, min(len(candidates), 200)):
        if port_is_free(port):
            return port
    with socket.socket() as s:  # nothing outside the range is free: any port
        s.bind(("127.0.0.1", 0))
        found: int = s.getsockname()[1]
        return found


class RedisServer:
    """``persistent``: AOF with ``appendfsync`` = ``fsync``. ``tls``: also listen with TLS on :attr:`tls_port`
    (the plain port stays, for the test's own admin client)."""

    def __init__(
        self,
        *,
        persistent: bool = False,
        fsync: str = "always",
        tls: TlsFiles | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: run `make test`, which installs it")
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="arda-redis-")
        self.persistent = persistent
        self.fsync = fsync  # appendfsync when persistent: always, everysec or no
        self.tls = tls
        self.tls_port = free_port() if tls is not None else 0
        self.args = args  # more redis-server options, e.g. ("--replicaof", "127.0.0.1", "6379")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def tls_url(self, **options: str) -> str:
        """``rediss://127.0.0.1:<tls port>/0`` with ``options`` as the query (``ssl_ca_certs=…``)."""
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"rediss://127.0.0.1:{self.tls_port}/0" + (f"?{query}" if query else "")

    def start(self) -> RedisServer:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir, "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", self.fsync] if self.persistent else ["--appendonly", "no"]
        if self.tls is not None:
            args += ["--tls-port", str(self.tls_port), "--tls-cert-file", str(self.tls.cert)]
            args += ["--tls-key-file", str(self.tls.key), "--tls-ca-cert-file", str(self.tls.ca)]
            args += ["--tls-auth-clients", "no"]
        args += self.args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=0.5).ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save (persistence comes from the fsync'd append-only file)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)

    def command(self, *words: str) -> Any:
        """Run one command as the default user (e.g. ``command("ACL", "SETUSER", …)``); its reply."""
        with self.client() as client:
            return client.execute_command(*words)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __del__(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
