"""``arda serve --workers N``: workers sharing both ports, a supervisor that restarts a dead one, answers for the
whole service on /metrics, /healthz and /readyz, and a graceful stop of all (issue 10)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

from arda.events import EventBus
from arda.notifications.workers import merge_metrics
from arda.testing.invariant import Accepted, ClientLog, check
from arda.testing.recorder import RecordingClient, publish_until_accepted, start_recording
from service_process import serve, wait_ready
from ws_client import token


def test_metrics_of_the_workers_are_summed_series_by_series() -> None:
    a = '# HELP x_total X.\n# TYPE x_total counter\nx_total{r="a"} 1.0\nx_total{r="b"} 2.0\n# TYPE g gauge\ng 3.0\n'
    b = '# HELP x_total X.\n# TYPE x_total counter\nx_total{r="a"} 10.0\n# TYPE g gauge\ng 4.0\n'
    merged = merge_metrics([a, b])
    assert 'x_total{r="a"} 11.0' in merged
    assert 'x_total{r="b"} 2.0' in merged
    assert "g 7.0" in merged
    assert merged.count("# TYPE x_total counter") == 1


async def get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.json() if resp.content_type == "application/json" else await resp.text()


def gauge(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " "))


async def test_two_workers_share_the_ports_survive_a_death_and_stop_together(redis_url: str, tmp_path: Path) -> None:
    proc, ws, http = serve(tmp_path, "--workers", "2", ARDA_REDIS_URL=redis_url, ARDA_SHUTDOWN_TIMEOUT_S="5")
    try:
        await wait_ready(http, proc, timeout=20)
        base = f"http://127.0.0.1:{http}"
        for _ in range(100):
            _status, health = await get(base + "/healthz")
            if len(health.get("workers", [])) == 2:
                break
            await asyncio.sleep(0.1)
        assert len(health["workers"]) == 2, health
        clients = [
            RecordingClient(f"ws://127.0.0.1:{ws}/ws", token(f"u-{i}", ["tenant-a"]), ClientLog(f"c{i}", "tenant-a"))
            for i in range(20)
        ]
        stop = asyncio.Event()
        running = await start_recording(clients, stop)
        _, text = await get(base + "/metrics")  # the whole service
        assert gauge(text, "arda_connected_clients") == 20
        local = {gauge((await get(base + "/metrics?local=1"))[1], "arda_connected_clients") for _ in range(20)}
        assert max(local) < 20, local  # spread over both workers by the kernel: neither holds them all
        assert all(n > 0 for n in local), local
        accepted: list[Accepted] = []
        async with EventBus(redis_url) as publisher:
            started, n, killed = time.monotonic(), 0, 0
            while time.monotonic() - started < 5:
                n += 1
                await publish_until_accepted(publisher, "tenant-a", n, accepted)
                await asyncio.sleep(0.02)
                if not killed and time.monotonic() - started > 1.5:
                    killed = health["workers"][0]
                    os.kill(killed, signal.SIGKILL)
            await asyncio.sleep(2)
        stop.set()
        await asyncio.gather(*running)
        verdict = check(accepted, [c.log for c in clients])
        assert verdict.ok, verdict
        assert verdict.told == 0
        assert all(len({s.event_id for s in c.log.seen}) == len(accepted) for c in clients)
        # the supervisor started a new worker in its place
        for _ in range(100):
            _, health = await get(base + "/healthz")
            if len(health["workers"]) == 2 and killed not in health["workers"]:
                break
            await asyncio.sleep(0.1)
        assert len(health["workers"]) == 2, health
        assert killed not in health["workers"], health
        assert (await get(base + "/readyz"))[0] == 200
        pids = health["workers"]
    finally:
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 10
    for pid in pids:  # every worker is gone with it
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"worker {pid} outlived the supervisor")


def test_workers_need_redis_and_fixed_ports(tmp_path: Path) -> None:
    from service_process import ARDA

    out = subprocess.run([ARDA, "serve", "--workers", "2"], capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 2
    assert "ARDA_REDIS_URL" in out.stderr
