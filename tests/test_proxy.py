"""A real load balancer in front: Debian's nginx with deploy/nginx/arda-websocket.conf before two instances on
one Redis. One instance is killed with SIGKILL while clients are connected through nginx: they reconnect
through it to the other and resume with no gap (issue 10)."""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arda.events import EventBus
from arda.notifications.handshake import Request, TrustedProxies, client_address
from arda.testing.invariant import Accepted, ClientLog, check
from arda.testing.recorder import RecordingClient, publish_until_accepted, start_recording
from arda.testing.redis_server import free_port
from service_process import serve, wait_ready
from ws_client import token

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "nginx"


def nginx_conf(directory: Path, port: int, upstreams: list[int]) -> Path:
    """A test server block around the deployed location (the part under test), on loopback."""
    shutil.copy(DEPLOY / "arda-websocket.conf", directory / "arda-websocket.conf")
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in upstreams)
    conf = directory / "nginx.conf"
    conf.write_text(
        f"""daemon off;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
worker_processes 1;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream arda_ws {{
        least_conn;
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        include {directory}/arda-websocket.conf;
    }}
}}
"""
    )
    return conf


@pytest.fixture
def nginx_binary() -> str:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.fail("nginx is missing: run `make test`, which installs Debian's nginx")
    return binary


def test_the_deployed_configuration_is_valid(nginx_binary: str, tmp_path: Path) -> None:
    shutil.copy(DEPLOY / "nginx.conf", tmp_path / "nginx.conf")
    shutil.copy(DEPLOY / "arda-websocket.conf", tmp_path / "arda-websocket.conf")
    text = (tmp_path / "nginx.conf").read_text()  # the production file, less what needs a real host
    text = text.replace("server arda-1:3001", "server 127.0.0.1:1").replace("server arda-2:3001", "server 127.0.0.1:2")
    text = text.replace("listen 443 ssl;", f"listen 127.0.0.1:{free_port()};")
    text = "\n".join(line for line in text.splitlines() if "ssl_certificate" not in line)
    text = f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n" + text
    (tmp_path / "nginx.conf").write_text(text)
    out = subprocess.run([nginx_binary, "-t", "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_the_client_address_comes_from_a_trusted_proxy_only() -> None:
    trusted = TrustedProxies((ipaddress.ip_network("10.0.0.0/8"),))
    request = Request(b"GET", b"/ws", "1.1", {"x-forwarded-for": "6.6.6.6, 1.2.3.4, 10.0.0.7"}, True)
    assert client_address(request, "10.0.0.2", trusted) == "1.2.3.4"  # the rightmost that is not a proxy
    assert client_address(request, "5.5.5.5", trusted) == "5.5.5.5"  # not a trusted proxy: its own address
    assert client_address(Request(b"GET", b"/ws", "1.1", {}, True), "10.0.0.2", trusted) == "10.0.0.2"


@pytest.fixture
def nginx(nginx_binary: str, tmp_path: Path) -> Iterator[tuple[int, list[int], Path]]:
    port, upstreams = free_port(), [free_port(), free_port()]
    conf = nginx_conf(tmp_path, port, upstreams)
    proc = subprocess.Popen([nginx_binary, "-c", str(conf)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not (tmp_path / "nginx.pid").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            log = tmp_path / "error.log"
            raise RuntimeError(f"nginx did not start: {log.read_text() if log.exists() else ''}")
        time.sleep(0.05)
    yield port, upstreams, tmp_path
    proc.send_signal(signal.SIGQUIT)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()


async def test_an_instance_killed_behind_nginx_loses_its_clients_to_the_other_without_a_gap(
    nginx: tuple[int, list[int], Path], redis_url: str
) -> None:
    port, upstreams, tmp = nginx
    instances = []
    for i, ws_port in enumerate(upstreams):
        proc, _, http = serve(
            tmp / f"i{i}",
            "--port",
            str(ws_port),
            ARDA_REDIS_URL=redis_url,
            ARDA_TRUSTED_PROXIES="127.0.0.1",
        )
        instances.append((proc, http))
    try:
        for proc, http in instances:
            await wait_ready(http, proc)
        clients = [
            RecordingClient(f"ws://127.0.0.1:{port}/ws", token(f"u-{i}", ["tenant-a"]), ClientLog(f"c{i}", "tenant-a"))
            for i in range(6)
        ]
        stop = asyncio.Event()
        running = await start_recording(clients, stop)
        accepted: list[Accepted] = []
        async with EventBus(redis_url) as publisher:
            started, n, killed = time.monotonic(), 0, False
            while time.monotonic() - started < 6:
                n += 1
                await publish_until_accepted(publisher, "tenant-a", n, accepted)
                await asyncio.sleep(0.02)
                if not killed and time.monotonic() - started > 2:
                    killed = True
                    instances[0][0].kill()  # SIGKILL: no close frames, no goodbye
            await asyncio.sleep(2)
        stop.set()
        await asyncio.gather(*running)
        verdict = check(accepted, [c.log for c in clients])
        assert verdict.checked > 6 * 200, verdict
        assert verdict.ok, verdict
        assert verdict.told == 0  # history reached back: every resume was complete
        assert sum(1 for c in clients if c.connections > 0) >= 1  # some were on the killed instance
        assert all(len({s.event_id for s in c.log.seen}) == len(accepted) for c in clients)
    finally:
        for proc, _ in instances:
            if proc.poll() is None:
                proc.terminate()
            proc.communicate(timeout=20)
