"""The fault suite: real processes under load, a fault injected, and an offline check of the delivery invariant.

For each fault: a private Redis (single, persistent with ``appendfsync always``/``everysec``, or none; behind a
silent proxy; or 1 primary + 2 replicas + 3 Sentinels), one or two ``arda serve`` instances, a publisher that
retries every event (same id) until it is accepted and records it, and clients that reconnect (to the next
instance, as a load balancer would) and resume with ``since``, recording what they receive. After the run
:func:`arda.testing.invariant.check` holds every client to the invariant — for every event accepted while it
was subscribed it saw it exactly once after dedupe by id, or it was told (``recovered: false``) after it; it
never saw another tenant's event; it saw its tenant's events in position order — and one table is printed:
fault → events checked, silent gaps, duplicates (dropped by id), clients told, recovery time p50/p99/max
(from the fault to each client's next notification).

Run: ``make chaos`` (every fault, and a 20-minute soak that samples RSS, file descriptors, tasks and Redis keys);
``--quick`` (``make test``: every fault, short, no soak, ≤ 3 minutes); ``--only NAME`` (repeatable);
``--soak-minutes N``. Exit status 1 on any silent gap, foreign or reordered event. Stops by itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import base64  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import jwt  # noqa: E402

from arda.events import EventBus, Retention  # noqa: E402
from arda.events.layout import CLUSTER  # noqa: E402
from arda.testing.cluster import ClusterSetup  # noqa: E402
from arda.testing.invariant import Accepted, ClientLog, Verdict, check, recovery_times  # noqa: E402
from arda.testing.recorder import RecordingClient, publish_until_accepted, start_recording  # noqa: E402
from arda.testing.redis_server import RedisServer, free_port  # noqa: E402
from arda.testing.sentinel import SentinelSetup  # noqa: E402
from arda.testing.tcp_proxy import TcpProxy  # noqa: E402

TENANTS = ("tenant-a", "tenant-b")
CLIENTS_PER_TENANT = 4


class Instance:
    """One ``arda serve`` process on fixed ports (restartable on the same ones)."""

    def __init__(self, redis_url: str, secret: str, api_key: str, log_dir: Path, name: str) -> None:
        self.redis_url, self.secret, self.api_key = redis_url, secret, api_key
        self.port, self.http_port = free_port(), free_port()
        self.log = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout: float = 20.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARDA_")}
        env |= {
            "ARDA_REDIS_URL": self.redis_url,
            "ARDA_JWT_SECRET": self.secret,
            "ARDA_API_KEY": self.api_key,
            "ARDA_DEV": "false",
            "ARDA_CHECK_INTERVAL_S": "1",
            "ARDA_LOG_LEVEL": "warning",
            "ARDA_SHUTDOWN_TIMEOUT_S": "5",
        }
        args = [sys.executable, "-m", "arda", "serve", "--port", str(self.port), "--http-port", str(self.http_port)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(args, env=env, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"arda serve did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/readyz", timeout=2) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def metrics(self) -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as resp:
                return str(resp.read().decode())
        except (urllib.error.URLError, OSError):
            return ""

    def stop(self) -> None:
        self.signal(signal.SIGTERM)
        self.wait()


@dataclass
class Run:
    """One scenario's processes and recordings."""

    tmp: Path
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(40))
    api_key: str = field(default_factory=lambda: secrets.token_urlsafe(20))
    redis: RedisServer | None = None
    sentinel: SentinelSetup | None = None
    cluster: ClusterSetup | None = None
    proxy: TcpProxy | None = None
    service_url: str = ""  # what the instances use
    publish_url: str = ""  # what the publisher uses
    instances: list[Instance] = field(default_factory=list)
    clients: list[RecordingClient] = field(default_factory=list)
    accepted: list[Accepted] = field(default_factory=list)
    paused: asyncio.Event = field(default_factory=asyncio.Event)  # set: the publisher waits (idle)
    padding: int = 0
    fault_at: float = 0.0
    notes: list[str] = field(default_factory=list)
    retention: Retention = field(default_factory=Retention)

    def token(self, user: str) -> str:
        now = int(time.time())
        return jwt.encode({"sub": user, "tenants": list(TENANTS), "iat": now, "exp": now + 3600}, self.secret)


Fault = Callable[[Run], Awaitable[None]]


@dataclass
class Scenario:
    name: str
    fault: Fault
    topology: str = "single"  # single | always | everysec | proxy | sentinel | cluster
    instances: int = 1
    retention: Retention | None = None
    after: float = 0.0  # load after the fault, when it needs longer than the default


def say(text: str) -> None:
    print(f"chaos: {text}", file=sys.stderr, flush=True)


# -- faults --------------------------------------------------------------------------------------------------
async def kill_service(run: Run) -> None:
    run.instances[0].signal(signal.SIGKILL)
    run.instances[0].wait()
    await asyncio.sleep(1)
    await asyncio.to_thread(run.instances[0].start)


async def kill_one_of_two(run: Run) -> None:
    run.instances[0].signal(signal.SIGKILL)
    run.instances[0].wait()


async def sigterm_service(run: Run) -> None:
    run.instances[0].signal(signal.SIGTERM)
    await asyncio.to_thread(run.instances[0].wait)
    await asyncio.to_thread(run.instances[0].start)


async def kill_redis(run: Run) -> None:
    assert run.redis is not None
    run.redis.kill()
    await asyncio.sleep(1)
    await asyncio.to_thread(run.redis.start)


async def flushall_then_idle(run: Run) -> None:
    assert run.redis is not None
    run.paused.set()  # nothing published: the loss must be noticed anyway (the periodic check)
    run.redis.client().flushall()
    await asyncio.sleep(4)
    run.paused.clear()


async def client_kill_pubsub(run: Run) -> None:
    assert run.redis is not None
    for _ in range(3):
        run.redis.client().client_kill_filter(_type="pubsub")
        await asyncio.sleep(1.5)


async def half_open(run: Run) -> None:
    assert run.proxy is not None
    run.proxy.freeze()  # the instances' Redis connections go silent: no FIN, no data


async def output_buffer_cut(run: Run) -> None:
    assert run.redis is not None
    client = run.redis.client()
    client.config_set("client-output-buffer-limit", "pubsub 16kb 8kb 0")
    run.padding = 8000  # bigger events: the subscribers' output buffers pass the limit and are cut
    await asyncio.sleep(2)
    run.padding = 0
    client.config_set("client-output-buffer-limit", "pubsub 32mb 8mb 60")
    reconnects = _counter(run.instances[0].metrics(), "arda_bus_reconnects_total")
    run.notes.append(f"subscriber cut and reconnected {reconnects:.0f}×")


def _counter(metrics: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith(name))


async def sentinel_failover(run: Run) -> None:
    assert run.sentinel is not None
    await asyncio.to_thread(run.sentinel.failover)


async def sentinel_failover_lagging(run: Run) -> None:
    """The replicas stop taking the stream for a second, then the primary dies: the promoted one lacks it."""
    setup = run.sentinel
    assert setup is not None
    old = setup.primary_port()
    replicas = [n for n in setup.nodes if n.port != old]
    for node in replicas:
        assert node.proc is not None
        os.kill(node.proc.pid, signal.SIGSTOP)
    await asyncio.sleep(1.0)
    setup.node(old).kill()
    for node in replicas:
        assert node.proc is not None
        os.kill(node.proc.pid, signal.SIGCONT)
    await asyncio.to_thread(setup.wait_for_new_primary, old)


def _owner(run: Run, tenant: str) -> tuple[ClusterSetup, int]:
    """The cluster, and the slot of ``tenant``'s keys."""
    assert run.cluster is not None
    return run.cluster, run.cluster.slot_of(CLUSTER.stream_key(tenant))


async def cluster_kill_primary(run: Run) -> None:
    """``kill -9`` of the primary owning the first tenant's slot; its replica is promoted."""
    setup, slot = _owner(run, TENANTS[0])
    victim = setup.node_for_slot(slot)
    setup.kill(victim)
    promoted = await asyncio.to_thread(setup.wait_promoted, victim)
    run.notes.append(f"replica :{promoted.port} promoted for :{victim.port}")


async def cluster_kill_primary_lagging(run: Run) -> None:
    """The replica of the first tenant's primary is cut off for a second, then the primary dies: the promoted
    replica lacks what was accepted meanwhile (the first tenant's clients must be told)."""
    setup, slot = _owner(run, TENANTS[0])
    victim = setup.node_for_slot(slot)
    (replica,) = setup.replicas_of(victim)
    setup.kill(replica, signal.SIGSTOP)  # frozen, and cut off: what the primary accepts now never reaches it
    setup.command(victim, "CLIENT", "KILL", "TYPE", "replica")
    await asyncio.sleep(1.0)
    setup.kill(victim)
    setup.kill(replica, signal.SIGCONT)
    await asyncio.to_thread(setup.wait_promoted, victim)


async def cluster_migrate_slot(run: Run) -> None:
    """The first tenant's slot (keys and all) moves to another primary while it is published to and followed."""
    setup, slot = _owner(run, TENANTS[0])
    source = setup.node_for_slot(slot)
    target = next(n for n in setup.primaries() if n is not source)
    await asyncio.to_thread(setup.migrate_slot, slot, target)
    run.notes.append(f"slot {slot} :{source.port} → :{target.port}")


async def cluster_client_kill_pubsub(run: Run) -> None:
    """Every primary drops its sharded subscribers, three times."""
    assert run.cluster is not None
    for _ in range(3):
        for node in run.cluster.primaries():
            run.cluster.command(node, "CLIENT", "KILL", "TYPE", "pubsub")
        await asyncio.sleep(1.5)


async def slow_and_stalled_readers(run: Run) -> None:
    """One client stops reading altogether (closed 4004), one reads slowly (closed 4004, resumes, no gap)."""
    reader, writer = await _raw_subscriber(run)
    slow = run.clients[0]
    slow.read_delay = 0.05
    run.padding = 20_000
    await asyncio.sleep(3)
    run.padding = 0
    slow.read_delay = 0.0
    closed = _counter(run.instances[0].metrics(), 'arda_failures_total{reason="slow_consumer"}')
    run.notes.append(f"slow consumers closed: {closed:.0f}")
    writer.close()
    del reader


async def _raw_subscriber(run: Run) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", run.instances[0].port)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # it never reads
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await reader.readuntil(b"\r\n\r\n")
    for message in (
        {"type": "authenticate", "payload": {"token": run.token("stalled")}},
        {"type": "subscribe", "payload": {"tenantId": TENANTS[0]}},
    ):
        body = json.dumps(message).encode()
        size = bytes((0x80 | len(body),)) if len(body) < 126 else bytes((0x80 | 126,)) + len(body).to_bytes(2, "big")
        writer.write(b"\x81" + size + b"\0\0\0\0" + body)  # masked with a zero key: the payload as is
    return reader, writer


async def retention_boundary(run: Run) -> None:
    """A client away for longer than the (small) retention resumes: it must be told, never replayed partly."""
    away = run.clients[1]
    away.paused.set()
    await asyncio.sleep(3)  # more events than the retention keeps
    away.paused.clear()


SCENARIOS = [
    Scenario("service kill -9 under load", kill_service),
    Scenario("one of two instances killed", kill_one_of_two, instances=2),
    Scenario("SIGTERM under load", sigterm_service),
    Scenario("Redis kill -9, appendfsync always", kill_redis, "always"),
    Scenario("Redis kill -9, appendfsync everysec", kill_redis, "everysec"),
    Scenario("Redis kill -9, no persistence", kill_redis),
    Scenario("FLUSHALL, then idle", flushall_then_idle),
    Scenario("CLIENT KILL TYPE pubsub", client_kill_pubsub),
    Scenario("half-open link (silent proxy)", half_open, "proxy", after=13.0),  # found within 8 s, then recovery
    Scenario("Redis output-buffer cut", output_buffer_cut),
    Scenario("Sentinel failover", sentinel_failover, "sentinel"),
    Scenario("Sentinel failover, replica lagging", sentinel_failover_lagging, "sentinel"),
    Scenario("slow and stalled readers", slow_and_stalled_readers),
    Scenario("retention boundary", retention_boundary, retention=Retention(max_events=60, global_max_events=120)),
    Scenario("cluster: one of two instances killed", kill_one_of_two, "cluster", instances=2),
    Scenario("cluster: primary kill -9, replica promoted", cluster_kill_primary, "cluster", instances=2),
    Scenario("cluster: primary kill -9, replica lagging", cluster_kill_primary_lagging, "cluster"),
    Scenario("cluster: slot migrated", cluster_migrate_slot, "cluster", instances=2),
    Scenario("cluster: CLIENT KILL TYPE pubsub on every primary", cluster_client_kill_pubsub, "cluster"),
]


# -- running one -----------------------------------------------------------------------------------------------
async def _setup(scenario: Scenario, run: Run) -> None:
    if scenario.topology == "sentinel":
        run.sentinel = await asyncio.to_thread(lambda: SentinelSetup().start())
        run.service_url = run.publish_url = run.sentinel.url
    elif scenario.topology == "cluster":
        run.cluster = await asyncio.to_thread(lambda: ClusterSetup().start())
        run.service_url = run.publish_url = run.cluster.url
    else:
        persistent = scenario.topology in ("always", "everysec")
        fsync = "everysec" if scenario.topology == "everysec" else "always"
        run.redis = RedisServer(persistent=persistent, fsync=fsync).start()
        run.service_url = run.publish_url = run.redis.url
        if scenario.topology == "proxy":
            run.proxy = await TcpProxy(run.redis.port).start()
            run.service_url = run.proxy.url
    for i in range(scenario.instances):
        instance = Instance(run.service_url, run.secret, run.api_key, run.tmp, f"i{i}")
        await asyncio.to_thread(instance.start)
        run.instances.append(instance)


async def _teardown(run: Run) -> None:
    for instance in run.instances:
        await asyncio.to_thread(instance.stop)
    if run.proxy is not None:
        await run.proxy.close()
    if run.redis is not None:
        run.redis.close()
    if run.sentinel is not None:
        run.sentinel.close()
    if run.cluster is not None:
        run.cluster.stop()


async def _publish(run: Run, stop: asyncio.Event) -> None:
    async with EventBus(run.publish_url, retention=run.retention) as bus:
        n = 0
        while not stop.is_set():
            if run.paused.is_set():
                await asyncio.sleep(0.05)
                continue
            n += 1
            await asyncio.gather(*(publish_until_accepted(bus, t, n, run.accepted, run.padding) for t in TENANTS))
            await asyncio.sleep(0.02)


async def run_scenario(scenario: Scenario, before: float, after: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="arda-chaos-"))
    run = Run(tmp, retention=scenario.retention or Retention())
    started = time.monotonic()
    try:
        await _setup(scenario, run)
        urls = ",".join(i.ws_url for i in run.instances)
        run.clients = [
            RecordingClient(urls, run.token(f"u-{t}-{i}"), ClientLog(f"{t}/{i}", t))
            for t in TENANTS
            for i in range(CLIENTS_PER_TENANT)
        ]
        # clients start on different instances (the rotation begins at their index)
        for i, client in enumerate(run.clients):
            client.connections = i
        stop_clients, stop_publishing = asyncio.Event(), asyncio.Event()
        say("  clients subscribing")
        clients = await start_recording(run.clients, stop_clients)
        publisher = asyncio.create_task(_publish(run, stop_publishing))
        await asyncio.sleep(before)
        run.fault_at = time.monotonic()
        say(f"  fault: {scenario.name}")
        await scenario.fault(run)
        await asyncio.sleep(scenario.after or after)
        say(f"  load stops ({len(run.accepted):,} events accepted)")
        stop_publishing.set()
        await publisher
        await asyncio.sleep(2)  # what is in flight, and slow readers, arrive
        stop_clients.set()
        await asyncio.gather(*clients)
    finally:
        await _teardown(run)
    verdict = check(run.accepted, [c.log for c in run.clients])
    recovery = recovery_times([c.log for c in run.clients], run.fault_at)
    return {"name": scenario.name, "verdict": verdict, "recovery": recovery, "notes": run.notes,
            "seconds": time.monotonic() - started}  # fmt: skip


# -- the soak --------------------------------------------------------------------------------------------------
async def soak(minutes: float) -> dict[str, Any]:
    """Steady load for ``minutes``: RSS, open fds and tasks of the instance, and Redis keys, sampled each minute."""
    tmp = Path(tempfile.mkdtemp(prefix="arda-soak-"))
    run = Run(tmp)
    samples: list[dict[str, float]] = []
    await _setup(Scenario("soak", kill_service), run)
    try:
        urls = run.instances[0].ws_url
        run.clients = [RecordingClient(urls, run.token(f"s-{i}"), ClientLog(f"s{i}", TENANTS[i % 2])) for i in range(8)]
        stop_clients, stop_publishing = asyncio.Event(), asyncio.Event()
        clients = [asyncio.create_task(c.run(stop_clients)) for c in run.clients]
        publisher = asyncio.create_task(_publish(run, stop_publishing))
        end = time.monotonic() + minutes * 60
        while True:
            samples.append(_sample(run))
            if time.monotonic() >= end:
                break
            await asyncio.sleep(min(60.0, max(1.0, end - time.monotonic())))
        stop_publishing.set()
        await publisher
        await asyncio.sleep(2)
        stop_clients.set()
        await asyncio.gather(*clients)
    finally:
        await _teardown(run)
    verdict = check(run.accepted, [c.log for c in run.clients])
    return {"minutes": minutes, "verdict": verdict, "samples": samples, "accepted": len(run.accepted)}


def _sample(run: Run) -> dict[str, float]:
    instance = run.instances[0]
    assert instance.proc is not None
    assert run.redis is not None
    pid = instance.proc.pid
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    metrics = instance.metrics().splitlines()
    tasks = next((float(m.rsplit(" ", 1)[1]) for m in metrics if m.startswith("arda_event_loop_tasks ")), 0.0)
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {"rss_kib": rss, "fds": fds, "tasks": tasks, "keys": run.redis.client().dbsize()}


# -- the table -------------------------------------------------------------------------------------------------
def _pct(values: list[float], q: float) -> str:
    if not values:
        return "—"
    return f"{values[min(len(values) - 1, int(q * len(values)))]:.2f}"


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| fault | events checked | silent gaps | duplicates (dropped) | clients told | recovery p50 / p99 / max (s) |"
    )
    rows = [head, "|---|---|---|---|---|---|"]
    for r in results:
        v: Verdict = r["verdict"]
        rec = r["recovery"]
        bad = "" if v.ok else f" ✗ (foreign {len(v.foreign)}, reordered {len(v.reordered)})"
        note = f" — {'; '.join(r['notes'])}" if r["notes"] else ""
        rows.append(
            f"| {r['name']}{note} | {v.checked:,} | {len(v.silent_gaps)}{bad} | {v.duplicates} | {v.told} of "
            f"{len(TENANTS) * CLIENTS_PER_TENANT} | {_pct(rec, 0.5)} / {_pct(rec, 0.99)} / {_pct(rec, 1.0)} |"
        )
    return "\n".join(rows)


async def main_async(args: argparse.Namespace) -> int:
    logging.getLogger("arda").setLevel(logging.ERROR)  # the publisher's retries are expected: not news
    before, after = (1.0, 3.0) if args.quick else (3.0, 10.0)
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    results = []
    for scenario in chosen:
        print(f"chaos: {scenario.name} …", file=sys.stderr, flush=True)
        result = await run_scenario(scenario, before, after)
        print(f"chaos: {scenario.name}: {result['verdict']} in {result['seconds']:.0f} s", file=sys.stderr, flush=True)
        results.append(result)
    print(table(results))
    failed = [r["name"] for r in results if not r["verdict"].ok]
    if not args.quick and args.soak_minutes > 0:
        print(f"chaos: soak of {args.soak_minutes:g} minutes …", file=sys.stderr, flush=True)
        result = await soak(args.soak_minutes)
        samples = result["samples"]
        warm, last = samples[min(1, len(samples) - 1)], samples[-1]  # from minute 1: the clients are all in
        print(
            f"\nsoak {args.soak_minutes:g} min: {result['accepted']:,} events, {result['verdict'].checked:,} checked, "
            f"{len(result['verdict'].silent_gaps)} silent gaps; from minute 1 to the end: RSS "
            f"{warm['rss_kib'] / 1024:.1f} → {last['rss_kib'] / 1024:.1f} MiB, fds {warm['fds']:.0f} → "
            f"{last['fds']:.0f}, tasks {warm['tasks']:.0f} → {last['tasks']:.0f}, Redis keys {warm['keys']:.0f} → "
            f"{last['keys']:.0f}"
        )
        for name, scale, unit in (("rss_kib", 1024, " MiB"), ("fds", 1, ""), ("tasks", 1, ""), ("keys", 1, "")):
            series = " ".join(f"{s[name] / scale:.1f}" if scale > 1 else f"{s[name]:.0f}" for s in samples)
            print(f"  {name} each minute{unit and f' ({unit.strip()})'}: {series}")
        if not result["verdict"].ok:
            failed.append("soak")
    if failed:
        print(f"chaos: the invariant does not hold for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="short runs, no soak (make test)")
    parser.add_argument(
        "--only", action="append", choices=[s.name for s in SCENARIOS], help="run only this fault (repeatable)"
    )
    parser.add_argument("--soak-minutes", type=float, default=20.0, help="the soak's length (20; 0: none)")
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(main_async(parser.parse_args(argv)))
    return 130


if __name__ == "__main__":
    sys.exit(main())
