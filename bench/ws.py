"""WebSocket load benchmark of the notification service: latency, throughput, memory, subscribe/reconnect storm,
against `arda serve` on a private redis-server (reconnect storm: the server restarts under N subscribed clients,
which reconnect and resubscribe by themselves). The service runs pinned to core 0; the load (client processes,
publisher, Redis) on core 1.

``--system arda|python-socketio|node-socketio|django-channels`` (repeatable; default arda) runs the same
scenarios against the peers in ``bench/peers/`` instead, each system with its own fresh redis-server, one JSON line
per system (with ``"system"``). ``make bench`` (bench/compare.py) runs all four several times.

Run: ``make bench-ws`` (or ``.venv/bin/python bench/ws.py [--quick] [--connections N] [--tenants T] ...``).
Prints a table and one JSON line (``{"benchmark":"ws",...}``). ``--quick`` is a correctness smoke test:
small sizes, exit status 1 on any loss, duplicate, wrong-tenant delivery or reorder. Exit status 2 when the
service or the load generator fails outright (the service's log, grouped, is printed).

``--launcher`` picks how the service is started: ``arda`` (``arda serve``, the default) or, to measure a
service that fails that way, ``python-O`` (the same program with assertions off) or ``asyncio`` (without
uvloop). Clients retry a ``subscribe`` answered with ``internal_error`` (the protocol allows it) and count it.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This script shares its name with its package's directory (bench/ws/): make `bench.ws` resolve to that
# directory, here and in the spawned load processes (which re-run this file as `__mp_main__`).
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
__path__ = [str(Path(__file__).resolve().with_suffix(""))]
sys.modules.setdefault("bench.ws", sys.modules[__name__])

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from bench.ws.fleet import FleetError  # noqa: E402
from bench.ws.harness import LAUNCHERS, LOAD_CORE, ServiceError, Stack, pin, raise_nofile  # noqa: E402
from bench.ws.large import large_events  # noqa: E402
from bench.ws.report import problems, table  # noqa: E402
from bench.ws.scenarios import (  # noqa: E402
    Settings,
    latency_and_throughput,
    memory,
    reconnect_storm,
    say,
    subscribe_storm,
)
from bench.ws.wire import SYSTEMS  # noqa: E402

SCENARIOS = ("latency", "throughput", "memory", "subscribe_storm", "reconnect_storm", "large_events")


def parse(argv: list[str] | None = None) -> tuple[argparse.Namespace, Settings]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, exit 1 on any correctness problem")
    parser.add_argument("--connections", type=int, help="latency/throughput connections (2000; quick 200)")
    parser.add_argument("--tenants", type=int, help="tenants (10; quick 2)")
    parser.add_argument("--duration", type=float, help="seconds per latency/throughput phase (10; quick 2)")
    parser.add_argument("--rate", type=float, default=100.0, help="latency: events/s in total (100)")
    parser.add_argument("--memory-connections", type=int, help="memory: idle connections (10000; quick 200)")
    parser.add_argument("--storm-connections", type=int, help="subscribe_storm: clients (2000; quick 200)")
    parser.add_argument("--reconnect-connections", type=int, help="reconnect_storm: clients (10000; quick 200)")
    parser.add_argument(
        "--large-connections", type=int, help="large_events: connections, with and without deflate (2000; quick 200)"
    )
    parser.add_argument("--large-events", type=int, help="large_events: ~8 KiB events per mode (200; quick 20)")
    parser.add_argument("--processes", type=int, default=4, help="client processes (4)")
    parser.add_argument(
        "--batch",
        type=int,
        default=100,
        help="connections opened at once, all processes together (100: the service's listen backlog)",
    )
    parser.add_argument(
        "--window", type=int, default=20_000, help="throughput: deliveries in flight at most; 0 = open loop (20000)"
    )
    parser.add_argument("--flood-batch", type=int, default=100, help="throughput: events per publish_many (100)")
    parser.add_argument(
        "--launcher",
        choices=sorted(LAUNCHERS),
        default="arda",
        help="how to start the service: arda (`arda serve`, default); python-O (same, assertions off); "
        "asyncio (`arda serve` without uvloop)",
    )
    parser.add_argument(
        "--system",
        choices=SYSTEMS,
        action="append",
        help="the system under test (repeatable, in order; default arda): " + ", ".join(SYSTEMS),
    )
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run only these scenarios (repeatable)")
    parser.add_argument(
        "--filters",
        type=int,
        default=0,
        help="arda: spread the connections over N distinct subscription filters, each passing every event (0)",
    )
    parser.add_argument(
        "--topology",
        choices=("single", "cluster"),
        default="single",
        help="arda on one redis-server (default) or on a Redis Cluster of 3 primaries (redis+cluster://)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="arda serve --workers N (> 1: the service is not pinned to a core)"
    )
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    settings = Settings(
        connections=args.connections or (200 if quick else 2000),
        tenants=args.tenants or (2 if quick else 10),
        duration=args.duration or (2.0 if quick else 10.0),
        rate=args.rate,
        memory_connections=args.memory_connections or (200 if quick else 10_000),
        storm_connections=args.storm_connections or (200 if quick else 2000),
        reconnect_connections=args.reconnect_connections or (200 if quick else 10_000),
        processes=max(1, args.processes),
        batch=max(1, args.batch),
        window=max(0, args.window),
        flood_batch=max(1, args.flood_batch),
        filters=max(0, args.filters),
        large_connections=args.large_connections or (200 if quick else 2000),
        large_events=args.large_events or (20 if quick else 200),
    )
    return args, settings


def _clean(value: Any) -> Any:
    """JSON-safe: NaN → None, floats rounded."""
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args, s = parse(argv)
    pin(0, LOAD_CORE)
    nofile = raise_nofile()  # inherited by the service and the load processes
    status = 0
    for system in args.system or ["arda"]:
        status = max(status, run_system(system, args, s, nofile))
    return status


def run_system(system: str, args: argparse.Namespace, s: Settings, nofile: int) -> int:
    """All wanted scenarios against one system on its own redis-server; prints its table and JSON line."""
    wanted = set(args.only or SCENARIOS)
    launcher = args.launcher if system == "arda" else system
    results: dict[str, dict[str, Any]] = {}
    services: list[dict[str, Any]] = []
    started = time.perf_counter()
    with Stack(args.launcher, system, args.workers, args.topology) as stack:
        say(
            f"{system} WebSocket benchmark — Python {platform.python_version()}, redis-server {stack.redis_version}, "
            f"{os.cpu_count()} cores; service on core 0, load (clients, publisher, Redis) on core 1; "
            f"RLIMIT_NOFILE {nofile}; service launcher {launcher}"
            f"{'; quick' if args.quick else ''}"
        )
        try:
            if wanted & {"latency", "throughput"}:
                lat, thr, report = latency_and_throughput(stack, s)
                results["latency"], results["throughput"] = lat, thr
                services.append(report)
                stack.flush_redis()
            if "memory" in wanted:
                results["memory"], report = memory(stack, s)
                services.append(report)
                stack.flush_redis()
            if "subscribe_storm" in wanted:
                results["subscribe_storm"], report = subscribe_storm(stack, s)
                services.append(report)
                stack.flush_redis()
            if "reconnect_storm" in wanted:
                results["reconnect_storm"], report = reconnect_storm(stack, s)
                services.append(report)
                stack.flush_redis()
            if "large_events" in wanted and system == "arda":  # permessage-deflate: arda's row only
                results["large_events"] = large_events(stack, s.large_connections, s.tenants, s.large_events, 50.0)
        except (FleetError, ServiceError) as exc:
            say(f"FAILED: {exc}")
            for service in stack.services:
                code = service.stop()
                say(f"service {service.stderr_path.name} (exit {code}), its log grouped:")
                for line in service.stderr_summary():
                    say(f"    {line}")
            say(f"service logs kept in {stack.log_dir}")
            failure = {"benchmark": "ws", "system": system, "launcher": launcher, "error": str(exc).splitlines()[0]}
            print(json.dumps(failure | {"results": results, "correct": False}), flush=True)
            return 2
        results = {k: v for k, v in results.items() if k in wanted}
        say("")
        say(table(results))
        issues = [r for r in services if r["stderr_lines"] or r["exit_code"] not in (0, None)]
        for r in services:
            counters = ", ".join(f"{k}={v:g}" for k, v in sorted(r["metrics"].items()) if "deliveries" not in k)
            say(
                f"service {r['name']} (cores {r['cores']}): exit {r['exit_code']}, {r['stderr_lines']} stderr lines; "
                f"{counters or '-'}"
            )
            for line in r.get("stderr_summary", []):
                say(f"    {line}")
        if issues:
            say(f"service logs kept in {stack.log_dir}")
        else:
            shutil.rmtree(stack.log_dir, ignore_errors=True)
    bad = {name: problems(r) for name, r in results.items() if problems(r)}
    failed_to_open = sum(
        sum(r.get(key, {}).values()) for r in results.values() for key in ("failures", "failures_to_open")
    )
    summary = {
        "benchmark": "ws",
        "system": system,
        "python": platform.python_version(),
        "redis": stack.redis_version,
        "topology": args.topology,
        "quick": bool(args.quick),
        "launcher": launcher,
        "settings": s.__dict__,
        "seconds": round(time.perf_counter() - started, 1),
        "results": results,
        "services": services,
        "correct": not bad and not failed_to_open,
    }
    print(json.dumps(_clean(summary)), flush=True)
    if bad or failed_to_open:
        say(f"correctness problems: {bad or ''} {f'{failed_to_open} connections failed' if failed_to_open else ''}")
        return 1 if args.quick else 0
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: everything stopped", file=sys.stderr)
        sys.exit(130)
