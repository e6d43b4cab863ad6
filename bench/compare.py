"""arda against its peers: the WebSocket benchmark (bench/ws.py) run against arda, python-socketio and Node
Socket.IO, each several times, side by side on this machine; medians, ratios, targets, plots.

Run: ``make bench`` (or ``.venv/bin/python bench/compare.py [--runs N] [--system S ...] [--quick]``).
Runs are interleaved (run 1 of every system, then run 2, …) so slow drifts of a shared machine spread over
all systems. Progress is printed as it goes; each run ends with one JSON line (``{"benchmark":"ws",…}`` with
``"run"``). Then a table of medians, and the section "Against the peers" of docs/benchmarks.md and two plots
in docs/ are written (not with ``--quick`` or ``--no-docs``).

``--quick`` is a smoke test of the whole comparison: small sizes, every system once, exit status 1 when any
system shows a loss, duplicate, wrong-tenant delivery or reorder, or a connection that could not be opened.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WS = ROOT / "bench" / "ws.py"
NODE_PEER = ROOT / "bench" / "peers" / "node_socketio"
DOCS = ROOT / "docs"
DOC = DOCS / "benchmarks.md"
SECTION = "## Against the peers"
LATENCY_PNG = "bench-peers-latency.png"
CPU_PNG = "bench-peers-deliveries-per-cpu.png"
SYSTEMS = ("arda", "python-socketio", "node-socketio", "django-channels")
PEERS = ("python-socketio", "node-socketio", "django-channels")
#: `--quick` (a correctness smoke test, not a measurement) keeps each system within what it delivers without
#: loss: the Django Channels peer's layer drops group messages to a channel holding 100 undelivered ones (by
#: design: `group_send` skips full channels) and its server tops out near 4,500 deliveries/s here, so its smoke
#: run publishes 10 events/s (1,000 deliveries/s), in batches of 10, with at most 2,000 deliveries in flight.
#: The full runs use the same sizes for every system, and report its losses.
QUICK_LIMITS: dict[str, list[str]] = {"django-channels": ["--rate", "10", "--window", "2000", "--flood-batch", "10"]}


def say(text: str) -> None:
    print(text, flush=True)


# -- running -------------------------------------------------------------------------------------------
def run_once(system: str, label: str, extra: list[str]) -> dict[str, Any]:
    """One bench/ws.py run against ``system``: its output streamed with a prefix; its JSON line returned."""
    args = [sys.executable, str(WS), "--system", system, *extra]
    result: dict[str, Any] | None = None
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith('{"benchmark"'):
                result = json.loads(line)
            else:
                say(f"[{label}] {line.rstrip()}")
    if result is None:
        result = {"benchmark": "ws", "system": system, "error": f"no result (exit {proc.returncode})"}
    result["exit_code"] = proc.returncode
    return result


def _get(result: dict[str, Any], *path: str) -> float | None:
    value: Any = result.get("results", {})
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _cpu_rate(result: dict[str, Any]) -> float | None:
    us = _get(result, "throughput", "server_us_per_delivery")
    return 1e6 / us if us else None


def _storm_ms(result: dict[str, Any]) -> float | None:
    seconds = _get(result, "subscribe_storm", "all_received_s")
    return seconds * 1000 if seconds is not None else None


def _rejoin_s(result: dict[str, Any]) -> float | None:
    """reconnect_storm: seconds from the restarted server's port accepting until the last client re-subscribed
    (None unless every client made it)."""
    return _get(result, "reconnect_storm", "all_rejoined_s")


#: (key, label, unit, how to read it from one run's JSON line, lower is better)
METRICS: list[tuple[str, str, str, Callable[[dict[str, Any]], float | None], bool]] = [
    ("p50", "latency p50", "ms", lambda r: _get(r, "latency", "p50_ms"), True),
    ("p90", "latency p90", "ms", lambda r: _get(r, "latency", "p90_ms"), True),
    ("p99", "latency p99", "ms", lambda r: _get(r, "latency", "p99_ms"), True),
    ("max", "latency max", "ms", lambda r: _get(r, "latency", "max_ms"), True),
    ("lat_rate", "latency: deliveries/s achieved", "/s", lambda r: _get(r, "latency", "deliveries_per_s"), False),
    ("thr_rate", "throughput: deliveries/s received", "/s", lambda r: _get(r, "throughput", "deliveries_per_s"), False),
    ("us", "server CPU per delivery", "µs", lambda r: _get(r, "throughput", "server_us_per_delivery"), True),
    ("per_cpu_s", "deliveries per server CPU-second", "", _cpu_rate, False),
    ("server_share", "server core busy (throughput)", "", lambda r: _get(r, "throughput", "server_cpu_share"), False),
    ("held", "memory: connections held", "", lambda r: _get(r, "memory", "connections"), False),
    ("kib", "RSS per idle subscribed connection", "KiB", lambda r: _get(r, "memory", "kib_per_connection"), True),
    ("mem_open_s", "memory: seconds to open them", "s", lambda r: _get(r, "memory", "open_seconds"), True),
    ("storm_ms", "subscribe storm: barrier → all got the event", "ms", _storm_ms, True),
    ("storm_got", "subscribe storm: clients that got it", "", lambda r: _get(r, "subscribe_storm", "got_event"), False),
    ("rejoin_all", "reconnect storm: port accepts → all re-subscribed", "s", _rejoin_s, True),
    ("rejoin_p99", "reconnect storm: p99 re-subscribed", "ms", lambda r: _get(r, "reconnect_storm", "p99_ms"), True),
    ("rejoined", "reconnect storm: clients back", "", lambda r: _get(r, "reconnect_storm", "rejoined"), False),
    ("rejoin_cpu", "reconnect storm: server CPU", "s", lambda r: _get(r, "reconnect_storm", "server_cpu_s"), True),
]
CHECKS = ("lost", "dups", "crossing", "reorder")


def problems(result: dict[str, Any]) -> dict[str, int]:
    """Loss, duplicates, wrong-tenant deliveries, reorders and connections that failed, over all scenarios."""
    found: dict[str, int] = {}
    for name, scenario in (result.get("results") or {}).items():
        for key in CHECKS:
            if scenario.get(key):
                found[f"{name}.{key}"] = int(scenario[key])
        failed = sum((scenario.get("failures_to_open") or scenario.get("failures") or {}).values())
        if failed:
            found[f"{name}.failed_connections"] = int(failed)
    if result.get("error"):
        found["error"] = 1
    return found


def medians(results: list[dict[str, Any]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, _label, _unit, read, _lower in METRICS:
        values = [v for v in (read(r) for r in results) if v is not None]
        out[key] = statistics.median(values) if values else None
    return out


# -- the machine and the versions ----------------------------------------------------------------------
def _command(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine() -> dict[str, str]:
    model = "?"
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        model = found.group(1) if found else "?"
    except OSError:
        pass
    memory = "?"
    try:
        found = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        memory = f"{int(found.group(1)) / 1024 / 1024:.0f} GiB" if found else "?"
    except OSError:
        pass
    return {"nproc": _command(["nproc"]), "uname_r": _command(["uname", "-r"]), "cpu": model, "memory": memory}


def _node_package(name: str) -> str:
    try:
        data = json.loads((NODE_PEER / "node_modules" / name / "package.json").read_text())
        return str(data.get("version", "?"))
    except (OSError, ValueError):
        return "not installed"


def versions(redis_version: str) -> dict[str, str]:
    found = {"Python": platform.python_version(), "redis-server": redis_version, "Node.js": _command(["node", "-v"])}
    for name in (
        "arda-realtime",
        "python-socketio",
        "python-engineio",
        "aiohttp",
        "uvloop",
        "redis",
        "hiredis",
        "httptools",
        "picows",
        "channels",
        "channels-redis",
        "django",
        "uvicorn",
        "websockets",
        "msgspec",
        "pyjwt",
    ):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    for name in ("socket.io", "engine.io", "ws", "@socket.io/redis-adapter", "@socket.io/redis-emitter", "redis"):
        found[f"npm {name}"] = _node_package(name)
    try:
        lock = json.loads((NODE_PEER / "package-lock.json").read_text())
        for path, info in lock.get("packages", {}).items():
            if path in ("node_modules/ioredis", "node_modules/jsonwebtoken", "node_modules/jose"):
                found[f"npm {path.removeprefix('node_modules/')}"] = str(info.get("version", "?"))
    except (OSError, ValueError):
        pass
    return {k: v for k, v in found.items() if v != "not installed" or not k.startswith("npm ")}


# -- the report ------------------------------------------------------------------------------------------
def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit in ("ms", "µs"):
        return f"{value:,.2f} {unit}"
    if unit == "KiB":
        return f"{value:,.2f} KiB"
    if unit == "s":
        return f"{value:,.1f} s"
    if unit == "/s" or value >= 100:
        return f"{value:,.0f}" + (" /s" if unit == "/s" else "")
    if 0 < value < 1:
        return f"{value:.0%}"
    return f"{value:,.2f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def targets(med: dict[str, dict[str, float | None]], settings: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """The issue's targets: (target, what was measured, met?) — None when it could not be measured."""
    arda = med.get("arda", {})
    rows: list[tuple[str, str, bool | None]] = []
    for peer, need in (("python-socketio", 10.0), ("node-socketio", 3.0)):
        ratio = _ratio(arda.get("per_cpu_s"), med.get(peer, {}).get("per_cpu_s"))
        rows.append(
            (
                f"deliveries per server CPU-second ≥ {need:g}× {peer}",
                f"{ratio:.1f}×" if ratio else "not measured",
                None if ratio is None else ratio >= need,
            )
        )
    p99 = arda.get("p99")
    node_p99 = med.get("node-socketio", {}).get("p99")
    rows.append(
        (
            "p99 latency at 20,000 deliveries/s ≤ 5 ms",
            _fmt(p99, "ms"),
            None if p99 is None else p99 <= 5.0,
        )
    )
    rows.append(
        (
            "p99 latency below Node Socket.IO's",
            f"{_fmt(p99, 'ms')} vs {_fmt(node_p99, 'ms')}",
            None if p99 is None or node_p99 is None else p99 < node_p99,
        )
    )
    kib = arda.get("kib")
    rows.append(("RSS per idle subscribed connection ≤ 8 KiB", _fmt(kib, "KiB"), None if kib is None else kib <= 8))
    held = arda.get("held")
    want = int(settings.get("memory_connections") or 10_000)
    rows.append(
        (
            f"{want:,} connections held by one instance",
            f"{held:,.0f}" if held is not None else "not measured",
            None if held is None else held >= want,
        )
    )
    got = arda.get("storm_got")
    storm = int(settings.get("storm_connections") or 2000)
    rows.append(
        (
            f"{storm:,} simultaneous subscribes, zero loss",
            f"{got:,.0f} of {storm:,} got the next event" if got is not None else "not measured",
            None if got is None else got >= storm,
        )
    )
    return rows


def _mark(met: bool | None) -> str:
    return "not measured" if met is None else ("**met**" if met else "**not met**")


def medians_table(med: dict[str, dict[str, float | None]], systems: list[str]) -> list[str]:
    lines = ["| metric | " + " | ".join(systems) + " |", "|---|" + "---:|" * len(systems)]
    for key, label, unit, _read, _lower in METRICS:
        cells = [_fmt(med[s].get(key), unit) for s in systems]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def ratio_rows(med: dict[str, dict[str, float | None]], systems: list[str]) -> list[str]:
    peers = [s for s in systems if s != "arda"]
    if "arda" not in systems or not peers:
        return []
    lines = ["| ratio arda / peer | " + " | ".join(peers) + " |", "|---|" + "---:|" * len(peers)]
    for key, label in (
        ("per_cpu_s", "deliveries per server CPU-second (higher is better for arda)"),
        ("p99", "p99 latency, latency scenario (below 1: arda faster)"),
        ("kib", "RSS per idle connection (below 1: arda smaller)"),
    ):
        cells = []
        for peer in peers:
            ratio = _ratio(med["arda"].get(key), med[peer].get(key))
            cells.append(f"{ratio:.3g}×" if ratio is not None else "—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def plots(med: dict[str, dict[str, float | None]], systems: list[str]) -> list[str]:
    """The two PNGs in docs/ (matplotlib, Agg); the names written, or none without matplotlib."""
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
        import matplotlib.ticker  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        say("matplotlib is not installed (pip install -e '.[bench]'): no plots")
        return []
    colors = {"arda": "#2b6cb0", "python-socketio": "#d69e2e", "node-socketio": "#38a169", "django-channels": "#805ad5"}
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    keys = ("p50", "p90", "p99", "max")
    width = 0.8 / len(systems)
    for i, system in enumerate(systems):
        values = [med[system].get(k) or 0.0 for k in keys]
        xs = [x + (i - (len(systems) - 1) / 2) * width for x in range(len(keys))]
        bars = ax.bar(xs, values, width, label=system, color=colors.get(system))
        ax.bar_label(bars, labels=[f"{v:.1f}" for v in values], fontsize=7, padding=2)
    ax.set_xticks(range(len(keys)), list(keys))
    ax.set_ylabel("publish → receive latency, ms (log scale)")
    ax.set_yscale("log")
    ax.set_title("Latency at 20,000 deliveries/s (2,000 clients, 10 tenants, 100 events/s) — medians")
    ax.title.set_fontsize(9)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(DOCS / LATENCY_PNG)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4), dpi=110)
    values = [med[s].get("per_cpu_s") or 0.0 for s in systems]
    bars = ax.bar(list(systems), values, color=[colors.get(s) for s in systems])
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=8, padding=2)
    ax.set_ylabel("deliveries per server CPU-second")
    ax.set_title(
        "Deliveries per server CPU-second, publisher as fast as delivery keeps up (server on one core) — medians"
    )
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.title.set_fontsize(9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(DOCS / CPU_PNG)
    plt.close(fig)
    return [LATENCY_PNG, CPU_PNG]


def section(
    runs: dict[str, list[dict[str, Any]]],
    med: dict[str, dict[str, float | None]],
    systems: list[str],
    info: dict[str, Any],
    pngs: list[str],
) -> str:
    first = next(r for rs in runs.values() for r in rs)
    s = first.get("settings", {})
    m = info["machine"]
    lines = [
        SECTION + " (`make bench`)",
        "",
        "`bench/compare.py` runs the WebSocket benchmark above (`bench/ws.py`, the same scenarios, sizes, clients",
        "and checks) against arda and against the systems users would otherwise pick, each a small idiomatic",
        "app in `bench/peers/`: **python-socketio** (`AsyncServer` on aiohttp + uvloop, `AsyncRedisManager`; events",
        "published with a write-only `AsyncRedisManager.emit`), **Node.js Socket.IO** (v4 with",
        "`@socket.io/redis-adapter`; events published with `@socket.io/redis-emitter` from a Node child of the",
        "publisher) and **Django Channels** (an `AsyncJsonWebsocketConsumer` on uvicorn + uvloop, the",
        "`channels_redis` `RedisChannelLayer`; events published with `channel_layer.group_send`). Each peer",
        "authenticates an HS256 JWT, joins the tenant's room or group on `subscribe` with a reply, and delivers a",
        "`notification` of ~300 bytes per frame (arda's frame is ~300 bytes too) carrying tenant, per-tenant",
        "sequence number and publish time, so the same loss / duplicate / wrong-tenant / reorder checks apply.",
        "The load clients speak Engine.IO 4 / Socket.IO 4 to the Socket.IO peers over a raw picows WebSocket",
        "(`/socket.io/?EIO=4&transport=websocket`, answering the server's pings) and arda's JSON messages to arda",
        "and to the Channels peer, decoding only those three fields. Every system gets its own fresh",
        "redis-server; the server under test runs on core 0 (pinned before exec, so all its threads), the load",
        "(clients, publisher, Redis) on core 1. Runs are",
        "interleaved (run 1 of each system, then run 2, …). The reconnect storm stops the server (SIGTERM) under",
        "N subscribed clients and starts it again on the same port; every client reconnects by itself after a",
        "random 0–500 ms pause per attempt (the same for every system), re-authenticates and re-subscribes (arda:",
        "with `since` = the last position seen); timed from the moment the new server's port accepts.",
        "",
        f"Machine: `nproc` {m['nproc']}, `uname -r` {m['uname_r']}, {m['cpu']}, {m['memory']}. "
        f"Settings: {s.get('connections', '?'):,} connections over {s.get('tenants', '?')} tenants, "
        f"{s.get('rate', 0):g} events/s, {s.get('duration', 0):g} s per phase, throughput window "
        f"{s.get('window', 0):,} deliveries in flight, memory {s.get('memory_connections', 0):,} connections, "
        f"storm {s.get('storm_connections', 0):,} clients, reconnect storm "
        f"{s.get('reconnect_connections') or 0:,} clients, {s.get('processes', '?')} client processes.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".",
        "",
        f"Medians of {info['runs']} runs (command: `make bench`, {info['minutes']:.1f} minutes in all; written "
        f"{info['date']}):",
        "",
        *medians_table(med, systems),
        "",
        *ratio_rows(med, systems),
        "",
        "Targets of the issue (arda, in the same run):",
        "",
        "| target | measured | |",
        "|---|---|---|",
        *[f"| {t} | {v} | {_mark(met)} |" for t, v, met in targets(med, s)],
        "| publishing ≥ 50,000 events/s from one process with history on | see `make bench-bus` above | — |",
        "",
        "Correctness in every run (loss / duplicates / wrong tenant / reorders, connections that failed):",
        "",
    ]
    for system in systems:
        found: dict[str, int] = {}
        for r in runs[system]:
            for k, v in problems(r).items():
                found[k] = found.get(k, 0) + v
        text = ", ".join(f"{k} {v:,}" for k, v in sorted(found.items())) or "none"
        lines.append(f"- {system}: {text}")
    lines.append("")
    lines.append("Per run (p99 ms / deliveries per CPU-second / KiB per connection / storm ms / reconnect storm s):")
    lines.append("")
    for system in systems:
        parts = []
        for r in runs[system]:
            vals = (
                _get(r, "latency", "p99_ms"),
                _cpu_rate(r),
                _get(r, "memory", "kib_per_connection"),
                _storm_ms(r),
                _rejoin_s(r),
            )
            parts.append(" / ".join("—" if v is None else f"{v:,.2f}" if v < 100 else f"{v:,.0f}" for v in vals))
        lines.append(f"- {system}: " + "; ".join(parts))
    lines.append("")
    for png in pngs:
        lines.append(f"![{png}]({png})")
        lines.append("")
    lines.append("<!-- notes: end of the generated part; text below this line up to the next section is kept -->")
    return "\n".join(lines) + "\n"


def write_doc(text: str) -> None:
    """Replace the section "Against the peers" (up to its notes marker) or append it; keep the rest."""
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    marker = "<!-- notes: end of the generated part"
    start = doc.find(SECTION)
    if start < 0:
        DOC.write_text(doc.rstrip("\n") + "\n\n" + text)
        return
    end = doc.find(marker, start)
    if end >= 0:
        end = doc.find("\n", end)
        end = len(doc) if end < 0 else end + 1
    else:
        following = doc.find("\n## ", start + len(SECTION))
        end = len(doc) if following < 0 else following + 1
    DOC.write_text(doc[:start] + text + doc[end:])


# -- main ------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, help="runs per system (3; quick 1)")
    parser.add_argument("--system", choices=SYSTEMS, action="append", help="systems (repeatable; default all)")
    parser.add_argument("--quick", action="store_true", help="smoke test: small sizes, exit 1 on any problem")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md or the plots")
    parser.add_argument("--json", type=Path, help="also append every run's JSON line to this file")
    parser.add_argument(
        "--from-json", type=Path, help="run nothing: rebuild the medians, docs and plots from a --json file"
    )
    args, extra = parser.parse_known_args(argv)  # the rest goes to bench/ws.py (e.g. --only, --duration)
    systems: list[str] = args.system or list(SYSTEMS)
    runs_wanted = max(1, args.runs or (1 if args.quick else 3))
    if args.quick:
        extra = ["--quick", *extra]
    if any(s == "node-socketio" for s in systems) and not (NODE_PEER / "node_modules").is_dir():
        say(f"installing the Node peer's packages: npm ci in {NODE_PEER.relative_to(ROOT)}")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_PEER, check=True)
    started = time.perf_counter()
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    total = runs_wanted * len(systems)
    done = 0
    if args.from_json:
        for line in args.from_json.read_text().splitlines():
            result = json.loads(line)
            if result.get("system") in runs:
                runs[result["system"]].append(result)
        runs_wanted = min(len(rs) for rs in runs.values())
        total = 0
        started -= sum(float(r.get("seconds") or 0) for rs in runs.values() for r in rs)
    for run in range(1, runs_wanted + 1 if total else 1):
        for system in systems:
            done += 1
            label = f"{done}/{total} {system} run {run}"
            say(f"=== {label} ({time.perf_counter() - started:.0f} s so far)")
            result = run_once(system, label, [*extra, *QUICK_LIMITS.get(system, [])] if args.quick else extra)
            result["run"] = run
            runs[system].append(result)
            print(json.dumps(result), flush=True)
    minutes = (time.perf_counter() - started) / 60
    if args.json:
        with args.json.open("a") as out:
            for rs in runs.values():
                for r in rs:
                    out.write(json.dumps(r) + "\n")
    med = {s: medians(rs) for s, rs in runs.items()}
    say("")
    say(f"medians of {runs_wanted} run(s), {minutes:.1f} minutes:")
    for line in [*medians_table(med, systems), "", *ratio_rows(med, systems)]:
        say(line)
    bad = {s: p for s, rs in runs.items() for r in rs if (p := problems(r))}
    if bad:
        say(f"correctness problems: {bad}")
    else:
        say("correctness: no loss, duplicate, wrong-tenant delivery or reorder in any run of any system")
    if not args.quick:
        for target, value, met in targets(med, next(iter(runs.values()))[0].get("settings", {})):
            say(f"target: {target}: {value} — {_mark(met).strip('*')}")
    if not args.quick and not args.no_docs:
        redis_version = next((str(r["redis"]) for rs in runs.values() for r in rs if r.get("redis")), "?")
        info = {
            "machine": machine(),
            "versions": versions(redis_version),
            "runs": runs_wanted,
            "minutes": minutes,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }
        pngs = plots(med, systems)
        write_doc(section(runs, med, systems, info, pngs))
        say(f"wrote the section {SECTION!r} of {DOC.relative_to(ROOT)}" + (f" and docs/{', docs/'.join(pngs)}"))
    if args.quick:
        return 1 if bad or any(r.get("exit_code") for rs in runs.values() for r in rs) else 0
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
