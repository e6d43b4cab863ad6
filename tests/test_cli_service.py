"""`arda serve`, `token`, `publish`, `tail`, `protocol` and `config`, end to end, each in a subprocess, the way
a newcomer runs them after `make run` (development mode, generated secrets)."""

from __future__ import annotations

import asyncio
import json
import os
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
