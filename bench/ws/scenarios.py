"""The five scenarios. Each group runs against a fresh `arda serve` (same Redis, flushed in between):
latency and throughput share one set of connections; memory, subscribe_storm and reconnect_storm get their
own service, so each starts from a clean process."""

from __future__ import annotations

import socket
import threading
import time
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .clients import REJOIN_JITTER_S
from .fleet import Fleet, FleetError
from .harness import (
    Service,
    Stack,
    core_busy,
    core_times,
    cpu_seconds,
    listen_backlog,
    listen_overflows,
    open_fds_limit,
    rss_kib,
)
from .report import merge, percentiles

DRAIN_IDLE_S = 3.0  # a phase's drain ends when nothing more arrives for this long...
DRAIN_MAX_S = 30.0  # ...or after this long at most
REJOIN_GIVE_UP_S = 60.0  # reconnect_storm: clients not subscribed again this long after the restart give up
REJOIN_ATTEMPT_GRACE_S = 12.0  # ...their attempt under way then may still finish (it times out after 10 s)


@dataclass(frozen=True)
class Settings:
    connections: int
    tenants: int
    duration: float
    rate: float
    memory_connections: int
    storm_connections: int
    processes: int
    batch: int  # connections opened at once (all processes together)
    window: int  # throughput: deliveries allowed in flight (0: open loop)
    flood_batch: int  # throughput: events per publish_many call
    reconnect_connections: int = 10_000  # reconnect_storm: clients
    filters: int = 0  # arda: connections spread over this many distinct subscription filters (0: none)
    large_connections: int = 2000  # large_events: connections per mode (with and without permessage-deflate)
    large_events: int = 200  # large_events: ~8 KiB events per mode


def say(text: str) -> None:
    print(text, flush=True)


# -- helpers ------------------------------------------------------------------------------------------
def open_connections(fleet: Fleet, count: int, subscribe: bool, batch: int, label: str) -> dict[str, Any]:
    """Open ``count`` connections (user i → tenant i % T), ``batch`` at a time over all processes; each
    authenticates and, with ``subscribe``, subscribes to its tenant."""
    processes = len(fleet.pipes)
    per_tenant = [0] * fleet.tenants
    failures: dict[str, int] = {}
    retries: dict[str, int] = {}
    overflows = listen_overflows()
    started = time.perf_counter()
    next_print = started + 1.0
    for first in range(0, count, batch):
        chunk = list(range(first, min(count, first + batch)))
        replies = fleet.call_all(
            "open", [{"indices": chunk[p::processes], "subscribe": subscribe} for p in range(processes)]
        )
        for reply in replies:
            per_tenant = [a + b for a, b in zip(per_tenant, reply["per_tenant"], strict=True)]
            for what, n in reply["failures"].items():
                failures[what] = failures.get(what, 0) + n
            for what, n in reply["retries"].items():
                retries[what] = retries.get(what, 0) + n
        if first == 0 and not sum(per_tenant):
            raise FleetError(f"{label}: not one of the first {len(chunk)} connections could be opened: {failures}")
        if time.perf_counter() >= next_print or first + batch >= count:
            next_print = time.perf_counter() + 1.0
            failed = sum(failures.values())
            retried = sum(retries.values())
            say(
                f"  {label}: opened {sum(per_tenant):,} of {count:,}"
                + (f", {failed:,} failed" if failed else "")
                + (f", {retried:,} subscribe retries" if retried else "")
            )
    seconds = time.perf_counter() - started
    return {
        "opened": sum(per_tenant),
        "per_tenant": per_tenant,
        "failures": failures,
        "subscribe_retries": retries,
        "seconds": seconds,
        "listen_overflows": listen_overflows() - overflows,
    }


@dataclass
class Phase:
    totals: dict[str, Any]
    samples: array[float]
    seconds: float  # from the first publish until everything arrived (or the drain gave up)
    publisher: dict[str, Any]
    server_cpu_s: float
    cores_busy: dict[str, float]


def run_phase(
    fleet: Fleet, service: Service, label: str, command: str, arg: Any, fanout: list[int], limit_s: float
) -> Phase:
    """Begin a phase in every client, run one publisher command (progress once a second), wait until every
    expected notification arrived (or nothing more comes), then tally."""
    starts = list(fleet.seqs)
    fleet.call_all("begin", {"starts": starts, "record": True})
    base = fleet.delivered()
    cpu0 = cpu_seconds(service.pid)
    cores0 = core_times()
    started = time.perf_counter()
    fleet.publish(command, arg)
    reply = None
    tick, seen = started, base
    while reply is None:
        reply = fleet.publish_done(0.2)
        now = time.perf_counter()
        if now - tick >= 1.0:
            delivered = fleet.delivered()
            rate = (delivered - seen) / (now - tick)
            say(f"  {label}: {now - started:5.1f} s  delivered {delivered - base:>12,}  ({rate:>10,.0f}/s)")
            tick, seen = now, delivered
        if now - started > limit_s:
            raise FleetError(f"{label}: the publisher did not finish within {limit_s:g} s")
        if not service.alive():
            raise FleetError(f"{label}: the service died (exit {service.stop()})\n{service.stderr_tail()}")
    ends = list(reply["seqs"])
    expected = sum((e - s) * f for s, e, f in zip(starts, ends, fanout, strict=True))
    drain_started = last_change = time.perf_counter()
    last = fleet.delivered()
    while last - base < expected:
        time.sleep(0.02)
        now = time.perf_counter()
        current = fleet.delivered()
        if current != last:
            last, last_change = current, now
        elif now - last_change > DRAIN_IDLE_S or now - drain_started > DRAIN_MAX_S:
            break
    seconds = time.perf_counter() - started
    cpu = cpu_seconds(service.pid) - cpu0
    cores = core_busy(cores0, core_times())
    totals, samples = merge(fleet.call_all("end", {"ends": ends}))
    totals["expected"] = expected
    return Phase(totals, samples, seconds, reply, cpu, cores)


def _checks(totals: dict[str, Any]) -> dict[str, Any]:
    keys = ("received", "expected", "lost", "dups", "crossing", "reorder", "late", "foreign", "open")
    return {k: totals[k] for k in keys} | {"errors": totals["errors"], "closes": totals["closes"]}


def service_report(service: Service, name: str) -> dict[str, Any]:
    """What the service said about itself: counters from /metrics, its exit code, its stderr."""
    metrics = service.metrics()
    code = service.stop()
    lines = service.stderr_lines()
    report: dict[str, Any] = {"name": name, "exit_code": code, "stderr_lines": lines, "metrics": metrics}
    report["cores"] = service.affinity or "not pinned"
    if lines:
        report["stderr_summary"] = service.stderr_summary()
        report["stderr_file"] = str(service.stderr_path)
    return report


# -- scenarios -------------------------------------------------------------------------------------------
def latency_and_throughput(stack: Stack, s: Settings) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    service = stack.service("latency-throughput")
    fleet = Fleet(service.url, stack.secret, stack.redis_url, s.tenants, s.processes, s.batch, stack.system, s.filters)
    try:
        fleet.start()
        say(
            f"latency: {s.connections:,} connections over {s.tenants} tenants, {s.rate:g} events/s for {s.duration:g} s"
        )
        opened = open_connections(fleet, s.connections, True, s.batch, "latency")
        fanout = opened["per_tenant"]
        phase = run_phase(
            fleet, service, "latency", "paced", {"rate": s.rate, "duration": s.duration}, fanout, s.duration + 60
        )
        published = int(phase.publisher["published"])
        pub_seconds = float(phase.publisher["seconds"])
        latency = {
            "connections": opened["opened"],
            "tenants": s.tenants,
            "failures_to_open": opened["failures"],
            "subscribe_retries": opened["subscribe_retries"],
            "open_seconds": round(opened["seconds"], 2),
            "listen_overflows": opened["listen_overflows"],
            "listen_backlog": listen_backlog(service.port),
            "seconds": round(pub_seconds, 3),
            "published": published,
            "events_per_s": published / pub_seconds,
            "deliveries_per_s": phase.totals["received"] / pub_seconds,
            **percentiles(phase.samples),
            **_checks(phase.totals),
        }
        mode = "open loop" if not s.window else f"at most {s.window:,} deliveries in flight"
        say(f"throughput: publish_many of {s.flood_batch} as fast as it can ({mode}) for {s.duration:g} s")
        arg = {"duration": s.duration, "batch": s.flood_batch, "window": s.window, "fanout": fanout}
        phase = run_phase(fleet, service, "throughput", "flood", arg, fanout, s.duration + 60)
        received = int(phase.totals["received"])
        published = int(phase.publisher["published"])
        tail = percentiles(phase.samples)
        throughput = {
            "connections": opened["opened"],
            "tenants": s.tenants,
            "window": s.window,
            "publish_batch": s.flood_batch,
            "seconds": round(phase.seconds, 3),
            "published": published,
            "events_per_s": published / float(phase.publisher["seconds"]),
            "deliveries_per_s": received / phase.seconds,
            "server_cpu_s": round(phase.server_cpu_s, 3),
            "server_cpu_share": phase.server_cpu_s / phase.seconds,
            "server_us_per_delivery": phase.server_cpu_s / received * 1e6 if received else float("nan"),
            "cores_busy": phase.cores_busy,
            "p50_ms": tail["p50_ms"],
            "p99_ms": tail["p99_ms"],
            "max_ms": tail["max_ms"],
            **_checks(phase.totals),
        }
        throughput["kept_up"] = throughput["lost"] == 0 and throughput["open"] == opened["opened"]
    finally:
        fleet.close()
    return latency, throughput, service_report(service, "latency-throughput")


def memory(stack: Stack, s: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    service = stack.service("memory")
    fleet = Fleet(service.url, stack.secret, stack.redis_url, s.tenants, s.processes, s.batch, stack.system, s.filters)
    try:
        fleet.start()
        say(f"memory: server RSS before and after {s.memory_connections:,} idle subscribed connections")
        time.sleep(1.0)
        before = rss_kib(service.pid)
        opened = open_connections(fleet, s.memory_connections, True, s.batch, "memory")
        time.sleep(2.0)
        after = rss_kib(service.pid)
        count = int(opened["opened"])
        result = {
            "requested": s.memory_connections,
            "connections": count,
            "failures": opened["failures"],
            "subscribe_retries": opened["subscribe_retries"],
            "open_seconds": round(opened["seconds"], 2),
            "listen_overflows": opened["listen_overflows"],
            "processes": stack.workers + 1 if stack.workers > 1 else 1,  # a supervisor and its workers
            "rss_before_kib": before,
            "rss_after_kib": after,
            "kib_per_connection": (after - before) / count if count else float("nan"),
            "server_nofile": open_fds_limit(service.pid),
            "client_nofile": fleet.nofile,
        }
    finally:
        fleet.close()
    return result, service_report(service, "memory")


def subscribe_storm(stack: Stack, s: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    service = stack.service("subscribe-storm")
    fleet = Fleet(service.url, stack.secret, stack.redis_url, s.tenants, s.processes, s.batch, stack.system, s.filters)
    try:
        fleet.start()
        say(f"subscribe_storm: {s.storm_connections:,} authenticated clients subscribe at once, then 1 event/tenant")
        opened = open_connections(fleet, s.storm_connections, False, s.batch, "subscribe_storm")
        fleet.send_all("subscribe_all")
        time.sleep(1.0)  # every process is waiting at the barrier
        cpu0 = cpu_seconds(service.pid)
        released = time.time()
        fleet.barrier.set()
        replies = fleet.collect_all(120.0)
        storm_cpu = cpu_seconds(service.pid) - cpu0
        subscribed = sum(int(r["subscribed"]) for r in replies)
        all_subscribed = max(float(r["done_at"]) for r in replies) - released
        retries: dict[str, int] = {}
        for reply in replies:
            for what, n in reply["retries"].items():
                retries[what] = retries.get(what, 0) + n
        retried = f", after {sum(retries.values()):,} retries ({retries})" if retries else ""
        say(f"  subscribe_storm: {subscribed:,} subscribed {all_subscribed * 1000:,.0f} ms after the barrier{retried}")
        fanout = opened["per_tenant"]
        phase = run_phase(fleet, service, "subscribe_storm", "one_each", None, fanout, 60.0)
        failures: dict[str, int] = dict(opened["failures"])
        for reply in replies:
            for what, n in reply["failures"].items():
                failures[f"subscribe: {what}"] = failures.get(f"subscribe: {what}", 0) + n
        result = {
            "connections": opened["opened"],
            "tenants": s.tenants,
            "subscribed": subscribed,
            "all_subscribed_s": all_subscribed,
            "subscribed_after_retry": sum(int(r["retried_clients"]) for r in replies),
            "server_cpu_s": storm_cpu,  # from the barrier until every client had its answer
            "subscribe_retries": retries,
            "got_event": phase.totals["got_any"],
            "all_received_s": phase.totals["last_first_at"] - released if phase.totals["got_any"] else float("nan"),
            "failures": failures,
            **_checks(phase.totals),
        }
    finally:
        fleet.close()
    return result, service_report(service, "subscribe-storm")


def _sum_counts(groups: Iterable[dict[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for group in groups:
        for key, n in group.items():
            total[key] = total.get(key, 0) + int(n)
    return total


def _wait_accepts(port: int, service: Service, limit_s: float, out: dict[str, float]) -> None:
    """Thread: poll 127.0.0.1:``port`` every 5 ms until it accepts a TCP connection; record when (``at``) and
    the server's CPU seconds then (``cpu``: its start-up)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                out["at"] = time.time()
            if service.proc is not None:
                out["cpu"] = cpu_seconds(service.pid)
            return
        except OSError:
            time.sleep(0.005)


def reconnect_storm(stack: Stack, s: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """N subscribed clients; the server is stopped (SIGTERM) and started again on the same port; every client
    reconnects by itself (a random pause of up to ``REJOIN_JITTER_S`` before each attempt), re-authenticates and
    re-subscribes (arda: with ``since`` = the last position it saw). Measured from the moment the new server's
    port accepts until each client is subscribed again; then one event per tenant must reach every client."""
    service = stack.service("reconnect-storm")
    fleet = Fleet(service.url, stack.secret, stack.redis_url, s.tenants, s.processes, s.batch, stack.system, s.filters)
    try:
        fleet.start()
        n = s.reconnect_connections
        say(
            f"reconnect_storm: {n:,} subscribed clients; the server restarts on the same port; each client "
            f"reconnects after 0–{REJOIN_JITTER_S * 1000:.0f} ms (random, per attempt) and re-subscribes"
        )
        opened = open_connections(fleet, n, True, s.batch, "reconnect_storm")
        count = int(opened["opened"])
        # Before the restart, one event per tenant: every client has a position to resume from (arda).
        run_phase(fleet, service, "reconnect_storm (before)", "one_each", None, opened["per_tenant"], 60.0)
        fleet.call_all("arm_rejoin", {"deadline": time.time() + 300.0})
        overflows = listen_overflows()
        stopping = time.time()
        stop_code = service.stop()
        stopped = time.time()
        say(f"  reconnect_storm: server stopped (exit {stop_code}) in {stopped - stopping:.2f} s; starting it again")
        ready: dict[str, float] = {}
        probe = threading.Thread(target=_wait_accepts, args=(service.port, service, 60.0, ready), daemon=True)
        probe.start()
        stack.restart(service)
        probe.join(60.0)
        if "at" not in ready:
            raise FleetError("reconnect_storm: the restarted server's port never accepted")
        ready_at = ready["at"]
        deadline = ready_at + REJOIN_GIVE_UP_S
        say(f"  reconnect_storm: port accepting {ready_at - stopped:.2f} s after the old server exited")
        progress: list[dict[str, Any]] = []
        while True:
            progress = fleet.call_all("rejoin_progress", {"deadline": deadline, "final": False})
            back = sum(int(r["rejoined"]) for r in progress)
            pending = sum(int(r["pending"]) for r in progress)
            now = time.time()
            say(f"  reconnect_storm: {now - ready_at:5.1f} s  {back:,} of {count:,} subscribed again")
            if back >= count or not pending or now > deadline + REJOIN_ATTEMPT_GRACE_S:
                break
            time.sleep(0.25 if now - ready_at < 5 else 1.0)
        cpu_end = cpu_seconds(service.pid)
        storm_overflows = listen_overflows() - overflows
        final = fleet.call_all("rejoin_progress", {"deadline": deadline, "final": True})
        times = sorted(max(0.0, float(t) - ready_at) for r in final for t in r["rejoined_at"])
        rejoined = len(times)
        failures: dict[str, int] = {}
        for reply in final:
            for what, k in reply["failures"].items():
                failures[f"reconnect: {what}"] = failures.get(f"reconnect: {what}", 0) + int(k)
        missing = count - rejoined - sum(failures.values())
        if missing > 0:
            failures["reconnect: never dropped"] = missing
        last = times[-1] if times else float("nan")
        pct = {
            f"{name}_ms": round(times[min(len(times) - 1, int(q * len(times)))] * 1000, 1) if times else None
            for name, q in (("p50", 0.5), ("p99", 0.99))
        }
        say(
            f"  reconnect_storm: {rejoined:,} of {count:,} subscribed again; all {last * 1000:,.0f} ms after the "
            f"port accepted; p50 {pct['p50_ms']} ms, p99 {pct['p99_ms']} ms"
        )
        phase = run_phase(fleet, service, "reconnect_storm", "one_each", None, opened["per_tenant"], 60.0)
        cpu_ready = ready.get("cpu", 0.0)
        result = {
            "connections": count,
            "tenants": s.tenants,
            "failures_to_open": opened["failures"],
            "subscribe_retries": opened["subscribe_retries"],
            "open_seconds": round(opened["seconds"], 2),
            "listen_overflows": opened["listen_overflows"],
            "jitter_ms": REJOIN_JITTER_S * 1000,
            "give_up_s": REJOIN_GIVE_UP_S,
            "stop_s": stopped - stopping,
            "stop_exit_code": stop_code,
            "down_s": ready_at - stopped,
            "rejoined": rejoined,
            "all_rejoined_s": last if rejoined == count else float("nan"),
            "last_rejoined_s": last,
            **pct,
            "max_ms": round(last * 1000, 1) if times else None,
            "attempts": sum(int(r["attempts"]) for r in final),
            "lost_connections": sum(int(r["lost"]) for r in final),
            "redrops": sum(int(r["redrops"]) for r in final),
            "closes_at_restart": _sum_counts(r["closes"] for r in final),
            "storm_listen_overflows": storm_overflows,
            "storm_listen_backlog": listen_backlog(service.port),
            "resumed_with_since": sum(int(r["resumed"]) for r in final),
            "recovered": sum(int(r["recovered"]) for r in final),
            "server_startup_cpu_s": round(cpu_ready, 3),
            "server_cpu_s": round(cpu_end - cpu_ready, 3),
            "failures": failures,
            "got_event": phase.totals["got_any"],
            **_checks(phase.totals),
        }
    finally:
        fleet.close()
    return result, service_report(service, "reconnect-storm")
