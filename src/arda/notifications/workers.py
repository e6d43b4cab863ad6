"""``arda serve --workers N``: N worker processes on one host, each a whole service with its own bus connection,
sharing both ports (``SO_REUSEPORT``: the kernel spreads connections over them), under a supervisor.

* **The supervisor** (:func:`supervise`) only manages processes: it starts the workers, restarts one that dies
  (backoff 0.5 s doubling to 10 s, reset after 30 s up), and on SIGTERM/SIGINT passes the signal on and waits
  for all of them (``shutdown_timeout_s`` + 5 s, then SIGKILL). Clients of a dead worker reconnect — the kernel
  hands them to the others — and resume from their position.
* **The workers** find each other through a run directory (``ARDA_WORKER_DIR``): each writes its private HTTP
  port (127.0.0.1, an ephemeral port) to ``<dir>/<pid>.port``. ``/metrics``, ``/healthz`` and ``/readyz`` on the
  shared port answer for the whole service: the worker that gets the request asks its siblings' private
  ports (``?local=1``) and merges — metrics summed series by series, ready only if every worker is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import aiohttp
from prometheus_client import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from ..events.backoff import Backoff
from .config import Settings

log = logging.getLogger("arda.notifications.workers")
SIBLING_TIMEOUT_S = 2.0
STABLE_AFTER_S = 30.0


# -- the workers -------------------------------------------------------------------------------------------
def announce(directory: str, port: int) -> Path:
    """Write this worker's private HTTP port where its siblings look for it; returns the file."""
    path = Path(directory) / f"{os.getpid()}.port"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(port))
    tmp.replace(path)
    return path


def sibling_ports(directory: str) -> dict[int, int]:
    """pid → private HTTP port of every other worker that announced itself and is alive."""
    found: dict[int, int] = {}
    for path in Path(directory).glob("*.port"):
        try:
            pid, port = int(path.stem), int(path.read_text())
        except (OSError, ValueError):
            continue
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass
        found[pid] = port
    return found


class Answer(NamedTuple):
    pid: int
    status: int  # 0: no answer
    body: bytes


async def ask_siblings(directory: str, path: str) -> list[Answer]:
    """``GET <path>?local=1`` on every sibling's private port, concurrently, within :data:`SIBLING_TIMEOUT_S`."""
    ports = sibling_ports(directory)
    if not ports:
        return []
    timeout = aiohttp.ClientTimeout(total=SIBLING_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(pid: int, port: int) -> Answer:
            try:
                async with session.get(f"http://127.0.0.1:{port}{path}?local=1") as resp:
                    return Answer(pid, resp.status, await resp.read())
            except (aiohttp.ClientError, TimeoutError, OSError):
                return Answer(pid, 0, b"")

        return list(await asyncio.gather(*(one(pid, port) for pid, port in ports.items())))


#: Gauges whose workers' values are not summed but the least of them taken: a timestamp per process.
EARLIEST = frozenset({"process_start_time_seconds"})


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def merge_metrics(texts: Sequence[str]) -> str:
    """Prometheus text expositions of several processes merged into one, written by prometheus_client: each
    series summed over them (counts, sums, buckets, gauges of connections and bytes alike — process memory and
    CPU too: the host's total; the start time is the earliest), HELP and TYPE kept once, ``_created`` left out
    (a timestamp per process: no sum of them means anything). Pure."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
                values[family.name] = {}
            series = values[family.name]
            earliest = family.name in EARLIEST
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                known = series.get(key)
                if known is None:
                    series[key] = sample.value
                else:
                    series[key] = min(known, sample.value) if earliest else known + sample.value
    for name, merged in families.items():
        merged.samples = [Sample(sample, dict(labels), value) for (sample, labels), value in values[name].items()]
    return generate_latest(_Families(list(families.values()))).decode()


# -- the supervisor ----------------------------------------------------------------------------------------
def _worker_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` of ``arda serve`` without ``--workers`` (the workers get ``ARDA_WORKERS=1``)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--workers":
            skip = True
            continue
        if arg.startswith("--workers="):
            continue
        out.append(arg)
    return out


def supervise(settings: Settings, argv: Sequence[str], on_ready: Callable[[], None] | None = None) -> int:
    """Run ``settings.worker_count`` workers of ``arda serve <argv>`` until SIGTERM/SIGINT; exit status 0 after a
    graceful stop (1 if the workers had to be killed). ``on_ready`` is called once every worker is listening.
    A worker that exits before they all were (a port in use, Redis unreachable: it said why) stops the others,
    and the supervisor exits with that worker's status."""
    count = settings.worker_count
    directory = tempfile.mkdtemp(prefix="arda-workers-")
    command = [sys.executable, "-m", "arda", "serve", *_worker_argv(argv)]
    env = {**os.environ, "ARDA_WORKERS": "1", "ARDA_WORKER_DIR": directory}
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    backoff = Backoff(base=0.5, cap=10.0)
    procs: list[subprocess.Popen[bytes] | None] = [None] * count
    started = [0.0] * count
    failures = [0] * count
    due = [0.0] * count  # when a dead worker is started again
    log.info("supervisor: starting workers", extra={"workers": count, "dir": directory})
    ready = False
    try:
        while not stopping:
            now = time.monotonic()
            if not ready and len(list(Path(directory).glob("*.port"))) >= count:
                ready = True
                if on_ready is not None:
                    on_ready()
            for i in range(count):
                proc = procs[i]
                if proc is not None and proc.poll() is not None and not ready:
                    log.info("supervisor: a worker could not start; stopping", extra={"status": proc.returncode})
                    _stop_all([p for p in procs if p is not None and p is not proc], settings.shutdown_timeout_s + 5)
                    return proc.returncode or 1
                if proc is not None and proc.poll() is not None:
                    lived = now - started[i]
                    failures[i] = 0 if lived >= STABLE_AFTER_S else failures[i] + 1
                    due[i] = now + backoff.delay(failures[i])
                    log.warning(
                        "supervisor: worker died; restarting",
                        extra={"pid": proc.pid, "status": proc.returncode, "in_s": round(due[i] - now, 2)},
                    )
                    with contextlib.suppress(OSError):
                        (Path(directory) / f"{proc.pid}.port").unlink()
                    procs[i] = None
                if procs[i] is None and now >= due[i]:
                    procs[i] = subprocess.Popen(command, env=env)
                    started[i] = now
            time.sleep(0.1)
        return _stop_all([p for p in procs if p is not None], settings.shutdown_timeout_s + 5)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _stop_all(procs: list[subprocess.Popen[bytes]], timeout: float) -> int:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    killed = False
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            killed = True
    log.info("supervisor: workers stopped", extra={"killed": killed})
    return 1 if killed else 0
