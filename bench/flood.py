"""Frame flood: can unauthenticated sockets that send control frames non-stop stall everyone else?

The attack of issue 9 (finding 1), reproduced: ``--attackers`` sockets each complete a valid upgrade, never
authenticate, and send masked zero-length frames as fast as they can — pongs (``--kind pong``) or, after one
non-final text frame, empty continuations (``--kind continuation``) — reconnecting whenever the service
closes them. Meanwhile one authenticated victim sends a WebSocket ping every 10 ms and times each pong. The
victim's ping→pong p50/p99/max is printed first with no attacker, then under the attack, with what the
attackers managed (sockets opened, frames sent, the close codes they got).

The service (``arda serve`` on a private redis-server) runs pinned to core 0; the attackers (niced) and the
victim share core 1. Stops by itself. Run: ``make bench-flood`` or ``.venv/bin/python bench/flood.py
[--attackers 10] [--seconds 5] [--kind pong|continuation] [--json]``; ``--quick`` is the test suite's short run.
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
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from typing import Any  # noqa: E402

import jwt  # noqa: E402

from bench.ws.harness import LOAD_CORE, Stack, pin  # noqa: E402

UPGRADE = (
    "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
MASK = b"\x01\x02\x03\x04"


def client_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame of fewer than 126 bytes."""
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return bytes(((0x80 if fin else 0) | opcode, 0x80 | len(payload))) + MASK + masked


async def upgrade(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(UPGRADE.format(key=base64.b64encode(os.urandom(16)).decode()).encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    if not head.startswith(b"HTTP/1.1 101 "):
        writer.close()
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    return reader, writer


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return head[0] & 0x0F, await reader.readexactly(n)


# -- the attackers (a process of their own) ------------------------------------------------------------------
async def _attacker(port: int, kind: str, until: float, stats: Counter[str]) -> None:
    chunk = client_frame(0xA, b"") * 10_000  # 60 KB of empty pongs
    if kind == "continuation":
        chunk = client_frame(0x0, b"", fin=False) * 10_000
    while time.monotonic() < until:
        try:
            reader, writer = await upgrade(port)
        except (OSError, ConnectionError, TimeoutError) as exc:
            stats[f"upgrade refused: {exc}"[:60]] += 1
            await asyncio.sleep(0.05)
            continue
        stats["sockets"] += 1
        if kind == "continuation":
            writer.write(client_frame(0x1, b"x", fin=False))

        async def closed(reader: asyncio.StreamReader) -> None:
            try:
                while True:
                    opcode, payload = await read_frame(reader)
                    if opcode == 0x8:
                        stats[f"closed {int.from_bytes(payload[:2], 'big')}"] += 1
                        return
            except (OSError, asyncio.IncompleteReadError):
                stats["dropped without a close frame"] += 1

        watcher = asyncio.create_task(closed(reader))
        try:
            while not watcher.done() and time.monotonic() < until:
                writer.write(chunk)
                stats["frames"] += 10_000
                await writer.drain()
        except (OSError, ConnectionError):
            pass
        await asyncio.wait([watcher], timeout=2)
        watcher.cancel()
        writer.close()


async def _attack(port: int, count: int, kind: str, seconds: float) -> None:
    stats: Counter[str] = Counter()
    until = time.monotonic() + seconds
    await asyncio.gather(*(_attacker(port, kind, until, stats) for _ in range(count)))
    print(json.dumps(dict(stats)), flush=True)


# -- the victim ----------------------------------------------------------------------------------------------
async def victim(port: int, token: str, alone: float, attacked: float, start_attack: Any) -> list[list[float]]:
    """Ping→pong round trips (ms) of an authenticated client pinging every 10 ms: ``alone`` seconds, then
    (after ``start_attack()``) ``attacked`` seconds. A pong missing for 10 s counts as 10 s."""
    reader, writer = await upgrade(port)
    auth = json.dumps({"type": "authenticate", "payload": {"token": token}}).encode()
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(auth))
    writer.write(bytes((0x81, 0xFE)) + len(auth).to_bytes(2, "big") + MASK + masked)
    while (await asyncio.wait_for(read_frame(reader), 10))[0] != 0x1:
        pass
    phases: list[list[float]] = []
    n = 0
    for seconds in (alone, attacked):
        if phases:
            start_attack()
            await asyncio.sleep(0.5)  # the attack under way
        rtts: list[float] = []
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            n += 1
            payload = n.to_bytes(4, "big")
            sent = time.perf_counter()
            writer.write(client_frame(0x9, payload))
            try:
                while True:
                    opcode, data = await asyncio.wait_for(read_frame(reader), 10)
                    if opcode == 0xA and data == payload:
                        break
                rtts.append((time.perf_counter() - sent) * 1000)
            except TimeoutError:
                rtts.append(10_000.0)
            await asyncio.sleep(0.01)
        phases.append(rtts)
    writer.close()
    return phases


def summary(rtts: list[float]) -> dict[str, float]:
    ordered = sorted(rtts)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"pings": len(ordered), "p50": statistics.median(ordered), "p99": p99, "max": ordered[-1]}


def run(attackers: int, seconds: float, kind: str, quiet: bool) -> dict[str, Any]:
    with Stack() as stack:
        service = stack.service("flood")
        pin(0, LOAD_CORE)
        now = int(time.time())
        token = jwt.encode({"sub": "victim", "tenants": ["t0"], "exp": now + 3600, "iat": now}, stack.secret)
        procs: list[subprocess.Popen[str]] = []

        def start_attack() -> None:
            command = [sys.executable, __file__, "--attack", str(service.port), "--attackers", str(attackers)]
            command += ["--kind", kind, "--seconds", str(seconds + 1)]
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=lambda: os.nice(10))
            pin(proc.pid, LOAD_CORE)
            procs.append(proc)

        baseline, under = asyncio.run(victim(service.port, token, min(2.0, seconds), seconds, start_attack))
        out, _ = procs[0].communicate(timeout=seconds + 30)
        result = {
            "benchmark": "flood",
            "kind": kind,
            "attackers": attackers,
            "alone": summary(baseline),
            "attacked": summary(under),
            "attack": json.loads(out.strip().splitlines()[-1]) if out.strip() else {},
            "service": service.metrics(),
        }
    if not quiet:
        for phase in ("alone", "attacked"):
            s = result[phase]
            label = "no attacker" if phase == "alone" else f"{attackers} attackers ({kind})"
            print(
                f"victim ping→pong, {label:<32} {s['pings']:>5} pings  "
                f"p50 {s['p50']:8.2f} ms  p99 {s['p99']:8.2f} ms  max {s['max']:8.2f} ms"
            )
        attack_stats = result["attack"]
        frames = attack_stats.get("frames", 0)
        closes = {k: v for k, v in attack_stats.items() if k not in ("frames", "sockets")}
        print(f"attackers: {attack_stats.get('sockets', 0)} sockets, {frames:,} frames written, {closes}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--attackers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--kind", choices=("pong", "continuation"), default="pong")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    parser.add_argument("--attack", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the attackers' process
    args = parser.parse_args(argv)
    if args.attack:
        asyncio.run(_attack(args.attack, args.attackers, args.kind, args.seconds))
        return 0
    result = run(args.attackers, args.seconds, args.kind, quiet=args.json)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
