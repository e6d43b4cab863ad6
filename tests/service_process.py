"""The service as a process of its own (``arda serve``), for tests of signals, crashes and load."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from arda.testing.redis_server import free_port
from ws_client import API_KEY, SECRET

ARDA = str(Path(sys.executable).parent / "arda")


def serve(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.Popen[str], int, int]:
    """Start ``arda serve`` on free ports (production settings with the test secrets); (process, ws, http)."""
    ws, http = free_port(), free_port()
    environ = {
        **os.environ,
        "ARDA_JWT_SECRET": SECRET,
        "ARDA_API_KEY": API_KEY,
        "ARDA_DEV": "false",
        "ARDA_STATE_DIR": str(tmp_path),
        **env,
    }
    proc = subprocess.Popen(
        [ARDA, "serve", "--port", str(ws), "--http-port", str(http), *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, ws, http


async def wait_ready(http: int, proc: subprocess.Popen[str], timeout: float = 10) -> None:
    """Until ``/readyz`` answers 200; fails if the process exits first."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"service exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                async with session.get(f"http://127.0.0.1:{http}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError("service not ready")
