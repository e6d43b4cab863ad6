"""A user's shell, for tests that run commands as the documentation says: an environment with a home of its own,
and `arda serve` started in the background on free ports."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from arda.testing.redis_server import free_port
from service_process import ARDA, wait_ready

BIN = Path(sys.executable).parent


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: none of our ARDA_* or XDG_* variables, this venv's bin first on the
    PATH, and a HOME (with XDG_STATE_HOME in it) of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARDA_", "XDG_", "PYTEST_"))}
    (home / "state").mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_STATE_HOME=str(home / "state"),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONDONTWRITEBYTECODE="1",
        **extra,
    )
    return env


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    ws: int
    http: int
    log: Path

    @property
    def env(self) -> dict[str, str]:
        """How the CLI's clients find it (its ports are free ones, not 3001 and 3002)."""
        return {"ARDA_HTTP_URL": f"http://127.0.0.1:{self.http}", "ARDA_WS_URL": f"ws://127.0.0.1:{self.ws}/ws"}


async def start_service(started: list[Service], cwd: Path, env: dict[str, str]) -> Service:
    """Plain ``arda serve`` in ``cwd`` with ``env``, on free ports (ARDA_PORT, ARDA_HTTP_PORT), its output in a
    log beside ``cwd``; appended to ``started`` at once (to be stopped), returned once ready."""
    ws, http = free_port(), free_port()
    environ = {**env, "ARDA_PORT": str(ws), "ARDA_HTTP_PORT": str(http)}
    log = cwd.parent / f"serve-{ws}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([ARDA, "serve"], cwd=cwd, env=environ, stdout=sink, stderr=subprocess.STDOUT)
    service = Service(process, ws, http, log)
    started.append(service)
    try:
        await wait_ready(http, process, timeout=20)  # type: ignore[arg-type]  # it reads no output
    except (AssertionError, TimeoutError) as exc:
        raise AssertionError(f"arda serve did not get ready ({exc}):\n{log.read_text()}") from None
    return service


def stop_services(started: list[Service]) -> None:
    """SIGTERM each; each must stop cleanly (status 0) within 10 s."""
    for service in started:
        service.process.terminate()
        try:
            service.process.wait(10)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()
        assert service.process.returncode == 0, service.log.read_text()
