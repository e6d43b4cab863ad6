"""The load generator as a whole: client processes and the publisher process (spawned), driven over pipes."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import time
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnProcess
from typing import Any

from .clients import ClientSpec, client_main
from .publisher import publisher_main
from .wire import SOCKETIO_SYSTEMS, Counter


class FleetError(RuntimeError):
    """A load-generator process failed, timed out or died."""


class Fleet:
    def __init__(
        self,
        url: str,
        secret: str,
        redis_url: str,
        tenants: int,
        processes: int,
        concurrency: int,
        system: str = "arda",
        filters: int = 0,
    ) -> None:
        self.tenants = tenants
        self.ctx = mp.get_context("spawn")
        self.barrier = self.ctx.Event()
        self.counters: list[Counter] = [self.ctx.RawValue("q", 0) for _ in range(processes)]
        spec = ClientSpec(
            url=url,
            secret=secret,
            tenants=tenants,
            concurrency=max(1, concurrency // processes),
            protocol="socketio" if system in SOCKETIO_SYSTEMS else "arda",
            filters=filters,
        )
        self.pipes: list[Connection] = []
        self.procs: list[SpawnProcess] = []
        for counter in self.counters:
            parent, child = self.ctx.Pipe()
            proc = self.ctx.Process(target=client_main, args=(spec, counter, self.barrier, child), daemon=True)
            self.pipes.append(parent)
            self.procs.append(proc)
        parent, child = self.ctx.Pipe()
        self.publisher_pipe = parent
        self.publisher = self.ctx.Process(
            target=publisher_main, args=(redis_url, tenants, self.counters, child, system), daemon=True
        )
        self.seqs = [0] * tenants  # next sequence number of each tenant, as the publisher last reported
        self.nofile = 0

    def start(self) -> Fleet:
        for proc in [*self.procs, self.publisher]:
            proc.start()
        replies = self._collect([*self.pipes, self.publisher_pipe], 60.0)
        self.nofile = min(int(r.get("nofile", 0)) for r in replies[:-1])
        return self

    def delivered(self) -> int:
        """Notifications received so far by all client processes (running total)."""
        return sum(c.value for c in self.counters)

    # -- driving -------------------------------------------------------------------------------------
    def send_all(self, name: str, args: list[Any] | Any = None) -> None:
        for i, pipe in enumerate(self.pipes):
            pipe.send((name, args[i] if isinstance(args, list) else args))

    def collect_all(self, timeout: float) -> list[dict[str, Any]]:
        return self._collect(self.pipes, timeout)

    def call_all(self, name: str, args: list[Any] | Any = None, timeout: float = 120.0) -> list[dict[str, Any]]:
        self.send_all(name, args)
        return self.collect_all(timeout)

    def publish(self, name: str, arg: Any = None) -> None:
        self.publisher_pipe.send((name, arg))

    def publish_done(self, timeout: float) -> dict[str, Any] | None:
        """The publisher's reply, or None if it has not come within ``timeout`` seconds."""
        if not self.publisher_pipe.poll(timeout):
            self._check_alive()
            return None
        reply: dict[str, Any] = self.publisher_pipe.recv()
        if "seqs" in reply:
            self.seqs = list(reply["seqs"])
        if "error" in reply:
            raise FleetError(f"publisher: {reply['error']}")
        return reply

    def _collect(self, pipes: list[Connection], timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        replies: dict[int, dict[str, Any]] = {}
        while len(replies) < len(pipes):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FleetError(f"no reply from {len(pipes) - len(replies)} load process(es) in {timeout:g} s")
            ready = wait([p for i, p in enumerate(pipes) if i not in replies], min(remaining, 1.0))
            if not ready:
                self._check_alive()
            for pipe in ready:
                assert isinstance(pipe, Connection)
                index = pipes.index(pipe)
                try:
                    reply = pipe.recv()
                except EOFError:
                    raise FleetError("a load process exited unexpectedly") from None
                if "error" in reply:
                    raise FleetError(f"load process {index}: {reply['error']}")
                replies[index] = reply
        return [replies[i] for i in range(len(pipes))]

    def _check_alive(self) -> None:
        for proc in [*self.procs, self.publisher]:
            if proc.exitcode is not None:
                raise FleetError(f"load process {proc.name} died with exit code {proc.exitcode}")

    # -- stopping ------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close connections and end every process (politely, then by force)."""
        with contextlib.suppress(Exception):
            self.send_all("close")
            self.publish("close")
            deadline = time.monotonic() + 15
            for pipe in [*self.pipes, self.publisher_pipe]:
                if pipe.poll(max(0.0, deadline - time.monotonic())):
                    pipe.recv()
        for proc in [*self.procs, self.publisher]:
            if proc.pid is None:
                continue
            proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for pipe in [*self.pipes, self.publisher_pipe]:
            pipe.close()
