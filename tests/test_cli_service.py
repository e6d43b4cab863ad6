"""`arda serve`, `token`, `publish`, `tail`, `protocol` and `config`, end to end, each in a subprocess, the way
a newcomer runs them after `make run` (development mode, generated secrets)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
from pathlib import Path

import jwt
import pytest

from arda.testing.redis_server import free_port
from service_process import ARDA, wait_ready


def _popen(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([ARDA, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDA_")}
    env["ARDA_STATE_DIR"] = str(tmp_path / "state")
    return env


async def test_serve_token_publish_tail_in_development_mode(tmp_path: Path) -> None:
    env = _env(tmp_path)
    ws, http = free_port(), free_port()
    serve = _popen("serve", "--port", str(ws), "--http-port", str(http), env=env)
    try:
        await wait_ready(http, serve)
        creds = json.loads((tmp_path / "state" / "dev-credentials.json").read_text())
        assert oct((tmp_path / "state" / "dev-credentials.json").stat().st_mode & 0o777) == "0o600"

        minted = subprocess.run(
            [ARDA, "token", "--user", "ana", "--tenant", "tenant-001"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        claims = jwt.decode(minted, creds["jwtSecret"], algorithms=["HS256"])
        assert (claims["sub"], claims["tenants"]) == ("ana", ["tenant-001"])

        tail = _popen(
            "tail",
            "--url",
            f"ws://127.0.0.1:{ws}/ws",
            "--tenant",
            "tenant-001",
            "--count",
            "2",
            "--timeout",
            "15",
            env=env,
        )
        await asyncio.sleep(1.0)  # let tail subscribe
        url = f"http://127.0.0.1:{http}"
        first = await asyncio.to_thread(
            subprocess.run,
            [ARDA, "publish", "--url", url, "--sample", "order.created"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        event = json.dumps(
            {
                "type": "order.status_changed",
                "tenantId": "tenant-001",
                "orderId": "o-1",
                "orderNumber": "PO-1",
                "fromStatus": "submitted",
                "toStatus": "cancelled",
            }
        )
        second = await asyncio.to_thread(
            subprocess.run,
            [ARDA, "publish", "--url", url, "-"],
            input=event,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        out, err = await asyncio.to_thread(tail.communicate, None, 20)
        assert tail.returncode == 0, err
        notifications = [json.loads(line) for line in out.splitlines()]
        assert [n["eventId"] for n in notifications] == [
            json.loads(first.stdout)["id"],
            json.loads(second.stdout)["id"],
        ]
        assert notifications[0]["title"] == "Order PO-1042 created"
        assert notifications[1]["severity"] == "warning"
        assert '"type": "subscribed"' in err

        bad = subprocess.run(
            [ARDA, "publish", "--url", url, '{"type":"order.created","tenantId":"tenant-001"}'],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert bad.returncode == 1
        assert "orderId" in bad.stderr
    finally:
        serve.terminate()
        out, err = serve.communicate(timeout=15)
    assert serve.returncode == 0
    assert "Next, in another terminal" in err
    assert "embedded in-process bus" in err


def test_protocol_and_config_commands() -> None:
    out = subprocess.run([ARDA, "protocol"], capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    assert set(doc) == {"errorCodes", "closeCodes", "messages"}
    errors = {e["code"]: e for e in doc["errorCodes"]}
    assert errors["token_expired"] == {
        "code": "token_expired",
        "action": "reauthenticate",
        "retry": False,
        "meaning": errors["token_expired"]["meaning"],
    }
    assert errors["rate_limited"]["action"] == "retry"
    assert errors["rate_limited"]["retry"] is True
    by_code = {c["code"]: c for c in doc["closeCodes"]}
    assert set(by_code[4004]) == {"code", "name", "action", "retry", "meaning"}
    assert (by_code[4004]["action"], by_code[4004]["retry"]) == ("reconnect", True)
    assert (by_code[4001]["action"], by_code[4001]["retry"]) == ("sign_in", False)
    assert (by_code[4002]["action"], by_code[4002]["retry"]) == ("refresh_token", True)
    assert (by_code[1013]["action"], by_code[1013]["retry"]) == ("back_off", True)
    server, client = doc["messages"]["server"], doc["messages"]["client"]
    assert {"Authenticated", "NotificationMessage", "Notification", "Error"} <= set(server["$defs"])
    assert server["discriminator"]["propertyName"] == "type"
    assert "notification" in server["discriminator"]["mapping"]
    assert set(client["discriminator"]["mapping"]) == {
        "authenticate",
        "subscribe",
        "unsubscribe",
        "acknowledge",
        "history",
        "ping",
    }
    table = subprocess.run([ARDA, "config"], capture_output=True, text=True, check=True).stdout
    assert "| `ARDA_PORT` | `--port` | `3001` |" in table
    assert "ARDA_ALLOWED_ORIGINS" in table
    docs = Path(__file__).parent.parent / "docs" / "configuration.md"
    assert table in docs.read_text(), "docs/configuration.md is stale: regenerate its table with `arda config`"


def test_tail_and_token_without_a_running_service_explain_what_to_do(tmp_path: Path) -> None:
    env = _env(tmp_path)
    out = subprocess.run([ARDA, "token"], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 2
    assert "start `arda serve`" in out.stderr
    env["ARDA_JWT_SECRET"] = "s" * 40
    out = subprocess.run(
        [ARDA, "tail", "--url", f"ws://127.0.0.1:{free_port()}/ws"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 2
    assert "cannot connect" in out.stderr


@pytest.mark.parametrize("topology", ["redis", "cluster"])
async def test_serve_on_redis_delivers_through_tail(
    tmp_path: Path, topology: str, request: pytest.FixtureRequest
) -> None:
    """The real process (uvloop, Redis backend) end to end: publish through the HTTP API, receive in `tail` —
    on one Redis and on a Redis Cluster."""
    env = _env(tmp_path)
    env["ARDA_REDIS_URL"] = request.getfixturevalue(f"{topology}_url")
    env["ARDA_JWT_SECRET"] = "r" * 40
    env["ARDA_API_KEY"] = "key"
    ws, http = free_port(), free_port()
    serve = _popen("serve", "--port", str(ws), "--http-port", str(http), env=env)
    try:
        await wait_ready(http, serve)
        tail = _popen("tail", "--url", f"ws://127.0.0.1:{ws}/ws", "--count", "1", "--timeout", "15", env=env)
        await asyncio.sleep(1.0)
        published = await asyncio.to_thread(
            subprocess.run,
            [ARDA, "publish", "--url", f"http://127.0.0.1:{http}", "--sample", "card.transition"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        out, err = await asyncio.to_thread(tail.communicate, None, 20)
        assert tail.returncode == 0, err
        assert json.loads(out)["eventId"] == json.loads(published.stdout)["id"]
    finally:
        serve.terminate()
        _, err = serve.communicate(timeout=15)
    assert "Traceback" not in err
    assert serve.returncode == 0


# -- failures of serve: one line, status 2 ----------------------------------------------------------------------
def _one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("which", ["ws", "http"])
def test_serve_on_a_port_in_use_says_which_in_one_line(tmp_path: Path, which: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        ports = (
            ["--port", str(port), "--http-port", "0"] if which == "ws" else ["--port", "0", "--http-port", str(port)]
        )
        out = subprocess.run(
            [ARDA, "serve", *ports], env=_env(tmp_path), capture_output=True, text=True, timeout=30, check=False
        )
    assert out.returncode == 2
    line = _one_line(out.stderr)
    setting = "ARDA_PORT / --port" if which == "ws" else "ARDA_HTTP_PORT / --http-port"
    assert line.startswith(f"arda: error: cannot listen on 127.0.0.1:{port} ({setting}")
    assert "the port is in use" in line


def test_serve_with_workers_on_a_port_in_use_says_it_once(tmp_path: Path, redis_url: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        out = subprocess.run(
            [
                ARDA,
                "serve",
                "--workers",
                "2",
                "--redis-url",
                redis_url,
                "--port",
                str(free_port()),
                "--http-port",
                str(port),
            ],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert out.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port} (ARDA_HTTP_PORT / --http-port" in _one_line(out.stderr)


def test_serve_with_redis_down_says_so_in_one_line_without_the_banner(tmp_path: Path) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    for workers in ("1", "2"):
        out = subprocess.run(
            [
                ARDA,
                "serve",
                "--redis-url",
                down,
                "--workers",
                workers,
                "--port",
                str(free_port()),
                "--http-port",
                str(free_port()),
            ],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert out.returncode == 2, workers
        assert _one_line(out.stderr).startswith("arda: error: cannot reach Redis at redis://127.0.0.1:")


# -- the banner, the state directory, the embedded bus's history ------------------------------------------------
async def _read_banner(proc: asyncio.subprocess.Process) -> list[str]:
    """stderr up to the banner's last line."""
    assert proc.stderr is not None
    lines: list[str] = []
    async with asyncio.timeout(20):
        while not lines or "a token for your own client" not in lines[-1]:
            line = await proc.stderr.readline()
            if not line:
                raise AssertionError("the service exited before its banner:\n" + "\n".join(lines))
            lines.append(line.decode().rstrip("\n"))
    return lines


def _port(pattern: str, lines: list[str]) -> int:
    found = re.search(pattern, "\n".join(lines))
    assert found is not None, lines
    return int(found.group(1))


async def test_banner_names_the_bound_ports_and_credentials_are_found_from_any_directory(tmp_path: Path) -> None:
    """``--port 0 --http-port 0``: the banner comes once both are bound and names them; the service keeps its
    dev credentials in $XDG_STATE_HOME/arda, where publish, history and token find them from another directory;
    history without a Redis URL asks the running service (the embedded bus lives in it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDA_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    proc = await asyncio.create_subprocess_exec(
        ARDA,
        "serve",
        "--dev",
        "--port",
        "0",
        "--http-port",
        "0",
        env=env,
        cwd=tmp_path / "here",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        lines = await _read_banner(proc)
        listening = next(i for i, line in enumerate(lines) if '"[NotificationService] listening"' in line)
        banner = lines.index(
            "  Arda notification service (development mode; secrets in " + str(tmp_path / "xdg" / "arda") + "/)"
        )
        assert listening < banner  # printed once the ports were bound
        http = _port(r"HTTP API +http://127\.0\.0\.1:(\d+)", lines)
        ws = _port(r"WebSocket +ws://127\.0\.0\.1:(\d+)/ws", lines)
        assert 0 not in (http, ws)
        assert f"--url http://127.0.0.1:{http}" in "\n".join(lines)  # the next steps name the ports too
        with socket.create_connection(("127.0.0.1", ws), timeout=5):
            pass
        creds = json.loads((tmp_path / "xdg" / "arda" / "dev-credentials.json").read_text())
        assert not (tmp_path / "here" / ".arda").exists()

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [ARDA, *args],
                env=env,
                cwd=tmp_path / "elsewhere",
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )

        url = f"http://127.0.0.1:{http}"
        published = await asyncio.to_thread(run, "publish", "--url", url, "--sample", "order.created")
        assert published.returncode == 0, published.stderr
        event_id = json.loads(published.stdout)["id"]
        token = await asyncio.to_thread(run, "token", "--user", "ana")
        assert jwt.decode(token.stdout.strip(), creds["jwtSecret"], algorithms=["HS256"])["sub"] == "ana"

        history = await asyncio.to_thread(run, "history", "tenant-001", "--url", url)
        assert history.returncode == 0, history.stderr
        assert [json.loads(line)["id"] for line in history.stdout.splitlines()] == [event_id]
        gap = await asyncio.to_thread(run, "history", "tenant-001", "--url", url, "--since", "1-0")
        assert gap.returncode == 3
        assert "cannot be recovered" in gap.stderr
        wrong_key = await asyncio.to_thread(run, "history", "tenant-001", "--url", url, "--api-key", "wrong")
        assert wrong_key.returncode == 1
        assert _one_line(wrong_key.stderr).startswith("arda: history refused (401)")
        unknown = await asyncio.to_thread(
            run, "publish", "--url", url, '{"type": "nope.nothing", "tenantId": "tenant-001"}'
        )
        assert unknown.returncode == 1
        assert "unknown event type 'nope.nothing'" in _one_line(unknown.stderr)
        bad = await asyncio.to_thread(run, "publish", "--url", url, "{oops")
        assert bad.returncode == 2
        assert _one_line(bad.stderr).startswith("arda: error: not valid JSON")
        dlq = await asyncio.to_thread(run, "dlq")
        assert dlq.returncode == 2
        assert "the embedded bus lives inside the running `arda serve`" in _one_line(dlq.stderr)
    finally:
        proc.terminate()
        _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
