"""Merging the client processes' tallies, percentiles, and the printed table."""

from __future__ import annotations

from array import array
from typing import Any

CHECKS = ("lost", "dups", "crossing", "reorder")
_SUMMED = ("received", "lost", "dups", "crossing", "reorder", "late", "foreign", "open", "got_any")


def merge(replies: list[dict[str, Any]]) -> tuple[dict[str, Any], array[float]]:
    """Sum the processes' ``end`` replies; return the totals and all latency samples (seconds)."""
    total: dict[str, Any] = {key: sum(int(r[key]) for r in replies) for key in _SUMMED}
    errors: dict[str, int] = {}
    closes: dict[str, int] = {}
    samples: array[float] = array("d")
    for reply in replies:
        for what, n in reply["errors"].items():
            errors[what] = errors.get(what, 0) + n
        for code, n in reply["closes"].items():
            closes[str(code)] = closes.get(str(code), 0) + n
        samples.frombytes(reply["latencies"])
    total["errors"] = errors
    total["closes"] = closes
    total["last_first_at"] = max(float(r["last_first_at"]) for r in replies)
    return total, samples


def percentiles(samples: array[float]) -> dict[str, float | None]:
    """p50/p90/p99/max in milliseconds (None without samples)."""
    if not samples:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(samples)
    n = len(ordered)

    def at(q: float) -> float:
        return round(ordered[min(n - 1, int(q * n))] * 1000, 2)

    return {"p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99), "max_ms": round(ordered[-1] * 1000, 2)}


def problems(result: dict[str, Any]) -> int:
    """Loss + duplicates + wrong-tenant deliveries + reorders of one scenario (large_events: + compression
    negotiated or used where it should not be, or not where it should)."""
    return sum(int(result.get(key) or 0) for key in (*CHECKS, "wrong_negotiation"))


def checks_text(result: dict[str, Any]) -> str:
    text = " / ".join(f"{int(result.get(key) or 0):,}" for key in CHECKS)
    extra = []
    if result.get("late"):
        extra.append(f"late {result['late']:,}")
    if result.get("closes"):
        extra.append("server closes " + ", ".join(f"{code}×{n}" for code, n in sorted(result["closes"].items())))
    if result.get("errors"):
        extra.append("errors " + ", ".join(f"{what}×{n}" for what, n in sorted(result["errors"].items())))
    return text + (f"  ({'; '.join(extra)})" if extra else "")


def _counts(*groups: dict[str, int]) -> str:
    return " / ".join(", ".join(f"{k}×{v:,}" for k, v in group.items()) or "0" for group in groups)


def _opening(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """How opening the connections went: time, accept-queue overflows, subscribe retries and failures."""
    text = f"{result['open_seconds']:.1f} s, {result['listen_overflows']:,} listen overflows"
    rows = [("", "opened in", text)]
    failures = result.get("failures_to_open", result.get("failures")) or {}
    if result.get("subscribe_retries") or failures:
        rows.append(("", "subscribe retries / failures", _counts(result["subscribe_retries"], failures)))
    return rows


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def table(results: dict[str, dict[str, Any]]) -> str:
    """The human-readable summary: one block of rows per scenario."""
    rows: list[tuple[str, str, str]] = []
    lat = results.get("latency")
    if lat:
        rows.append(("latency", "connections / tenants", f"{lat['connections']:,} / {lat['tenants']}"))
        rows.append(("", "events/s → deliveries/s", f"{lat['events_per_s']:,.0f} → {lat['deliveries_per_s']:,.0f}"))
        rows.append(("", "deliveries (expected)", f"{lat['received']:,} ({lat['expected']:,})"))
        rows.append(
            (
                "",
                "latency p50 / p90 / p99 / max",
                " / ".join(_ms(lat[k]) for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")) + " ms",
            )
        )
        rows.append(("", "loss / dup / crossing / reorder", checks_text(lat)))
        rows += _opening(lat)
    thr = results.get("throughput")
    if thr:
        mode = "open loop" if not thr["window"] else f"closed loop, ≤ {thr['window']:,} deliveries in flight"
        rows.append(("throughput", "publisher", f"as fast as it can, {mode}"))
        rows.append(("", "events published (/s)", f"{thr['published']:,} ({thr['events_per_s']:,.0f}/s)"))
        rows.append(("", "deliveries received /s", f"{thr['deliveries_per_s']:,.0f}"))
        rows.append(
            ("", "server CPU", f"{thr['server_cpu_s']:.2f} s of {thr['seconds']:.2f} s = {thr['server_cpu_share']:.0%}")
        )
        rows.append(("", "server CPU per delivery", f"{thr['server_us_per_delivery']:.2f} µs"))
        busy = ", ".join(f"{core} {share:.0%}" for core, share in thr["cores_busy"].items())
        rows.append(("", "cores busy (0: service, 1: load)", busy))
        rows.append(
            (
                "",
                "latency p50 / p99 / max",
                " / ".join(_ms(thr[k]) for k in ("p50_ms", "p99_ms", "max_ms")) + " ms",
            )
        )
        rows.append(("", "loss / dup / crossing / reorder", checks_text(thr)))
        rows.append(("", "clients kept up", "yes" if thr["kept_up"] else "NO"))
    mem = results.get("memory")
    if mem:
        rows.append(("memory", "connections (requested)", f"{mem['connections']:,} ({mem['requested']:,})"))
        processes = mem.get("processes", 1)
        rows.append(
            (
                "",
                "server RSS before → after" + (f" ({processes} processes)" if processes > 1 else ""),
                f"{mem['rss_before_kib'] / 1024:,.1f} → {mem['rss_after_kib'] / 1024:,.1f} MiB",
            )
        )
        rows.append(("", "per connection", f"{mem['kib_per_connection']:.2f} KiB"))
        rows += _opening(mem)
    storm = results.get("subscribe_storm")
    if storm:
        rows.append(("subscribe_storm", "clients", f"{storm['connections']:,} over {storm['tenants']} tenants"))
        rows.append(
            ("", "barrier → all subscribed", f"{storm['all_subscribed_s'] * 1000:,.0f} ms ({storm['subscribed']:,})")
        )
        if storm.get("server_cpu_s") is not None:
            rows.append(("", "server CPU until then", f"{storm['server_cpu_s'] * 1000:,.0f} ms"))
        rows.append(
            (
                "",
                "barrier → all got the event",
                f"{storm['all_received_s'] * 1000:,.0f} ms ({storm['got_event']:,} of {storm['connections']:,})",
            )
        )
        rows.append(("", "loss / dup / crossing / reorder", checks_text(storm)))
        if storm.get("subscribe_retries") or storm.get("failures"):
            rows.append(("", "subscribe retries / failures", _counts(storm["subscribe_retries"], storm["failures"])))
            rows.append(("", "clients subscribed only after a retry", f"{storm['subscribed_after_retry']:,}"))
    rec = results.get("reconnect_storm")
    if rec:
        rows.append(("reconnect_storm", "clients", f"{rec['connections']:,} over {rec['tenants']} tenants"))
        rows.append(
            (
                "",
                "stop (SIGTERM → exit) / down (exit → port accepts)",
                f"{rec['stop_s']:.2f} s / {rec['down_s']:.2f} s",
            )
        )
        rows.append(("", "subscribed again (of the clients)", f"{rec['rejoined']:,} of {rec['connections']:,}"))
        rows.append(
            (
                "",
                "port accepts → re-subscribed p50 / p99 / all",
                " / ".join(_ms(rec[k]) for k in ("p50_ms", "p99_ms", "max_ms")) + " ms",
            )
        )
        rows.append(
            (
                "",
                "attempts / drops seen / dropped again",
                f"{rec['attempts']:,} / {rec['lost_connections']:,} / {rec['redrops']:,}",
            )
        )
        if rec.get("resumed_with_since"):
            rows.append(("", "resumed with since (recovered)", f"{rec['resumed_with_since']:,} ({rec['recovered']:,})"))
        rows.append(
            ("", "server CPU: start-up / storm", f"{rec['server_startup_cpu_s']:.2f} s / {rec['server_cpu_s']:.2f} s")
        )
        if rec.get("rejoined"):
            per_client = rec["server_cpu_s"] / rec["rejoined"] * 1e6
            rows.append(("", "server CPU per resumed client", f"{per_client:.0f} µs"))
        rows.append(("", "clients that got the next event", f"{rec['got_event']:,} of {rec['connections']:,}"))
        rows.append(("", "loss / dup / crossing / reorder", checks_text(rec)))
        rows.append(
            (
                "",
                "listen overflows in the storm (backlog)",
                f"{rec['storm_listen_overflows']:,} ({rec['storm_listen_backlog']})",
            )
        )
        if rec.get("closes_at_restart"):
            rows.append(("", "closes seen at the restart", _counts(rec["closes_at_restart"])))
        if rec.get("failures"):
            rows.append(("", "failures", _counts(rec["failures"])))
    large = results.get("large_events")
    if large:
        plain, deflate = large["plain"], large["deflate"]
        rows.append(
            (
                "large_events",
                "connections / events / notification size",
                f"{plain['connections']:,} / {plain['events']:,} / {plain['notification_bytes'] / 1024:.1f} KiB",
            )
        )
        agreed = f"{deflate['negotiated']:,} of {deflate['connections']:,}"
        rows.append(("", "deflate negotiated (of connections)", agreed))
        for mode, r in (("without", plain), ("with", deflate)):
            rows.append(
                (
                    "",
                    f"{mode} compression: bytes on the wire per delivery",
                    f"{r['wire_bytes_per_delivery']:,.0f} B",
                )
            )
            rows.append(("", f"{mode} compression: server CPU per delivery", f"{r['server_us_per_delivery']:.2f} µs"))
            rows.append(("", f"{mode} compression: RSS per idle connection", f"{r['kib_per_connection']:.2f} KiB"))
            counts = f"{r['received']:,} ({r['expected']:,}), {r['lost']:,}"
            rows.append(("", f"{mode} compression: deliveries (expected), lost", counts))
    width = [max(len(r[i]) for r in rows) for i in range(2)] if rows else [0, 0]
    lines = [f"{'scenario':<{width[0]}}  {'measure':<{width[1]}}  value", "-" * (width[0] + width[1] + 40)]
    lines += [f"{a:<{width[0]}}  {b:<{width[1]}}  {c}" for a, b, c in rows]
    return "\n".join(lines)
