"""The service's commands: ``arda serve``, ``token``, ``publish``, ``tail``, ``protocol``, ``config``."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import sys
import time
from typing import Any

import msgspec

from . import logs
from .events import ArdaError

DEFAULT_WS = "ws://127.0.0.1:3001/ws"
DEFAULT_HTTP = "http://127.0.0.1:3002"

#: The service extra's libraries (`pip install 'arda-realtime[service]'`): import name → distribution.
SERVICE_LIBRARIES = {
    "aiohttp": "aiohttp",
    "jwt": "pyjwt",
    "cryptography": "cryptography",
    "prometheus_client": "prometheus-client",
    "httptools": "httptools",
}
INSTALL_SERVICE = "pip install 'arda-realtime[service]'"


class MissingExtraError(ArdaError):
    """A command needs the ``service`` extra's libraries and some are not installed (exit status 4)."""

    code = "missing_extra"


def need_service(command: str, *modules: str) -> None:
    """Raise :class:`MissingExtraError` naming the install command when any of ``modules`` (all of the service
    extra's libraries when none is named) cannot be imported."""
    wanted = modules or tuple(SERVICE_LIBRARIES)
    missing = [SERVICE_LIBRARIES[m] for m in wanted if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(
            f"`arda {command}` needs the service extra ({', '.join(missing)} not installed): {INSTALL_SERVICE}"
        )


def _state_dir(args: argparse.Namespace) -> str:
    return str(getattr(args, "state_dir", None) or os.environ.get("ARDA_STATE_DIR") or ".arda")


def _credential(args: argparse.Namespace, flag: str, env: str, field: str) -> str:
    """A flag, else an environment variable, else the development credentials kept by `arda serve`."""
    from .notifications.devcreds import load

    value = getattr(args, flag, None) or os.environ.get(env)
    if value:
        return str(value)
    creds = load(_state_dir(args))
    if creds is None:
        raise ArdaError(f"no {env} and no dev credentials yet: start `arda serve` (or `make run`) once")
    return str(getattr(creds, field))


def _secret(args: argparse.Namespace) -> str:
    return _credential(args, "secret", "ARDA_JWT_SECRET", "jwt_secret")


def _api_key(args: argparse.Namespace) -> str:
    return _credential(args, "api_key", "ARDA_API_KEY", "api_key")


def mint_token(secret: str, user: str, tenants: list[str], roles: list[str], ttl: float) -> str:
    import jwt

    now = int(time.time())
    claims: dict[str, Any] = {"sub": user, "tenants": tenants, "iat": now, "exp": now + int(ttl)}
    if roles:
        claims["roles"] = roles
    return str(jwt.encode(claims, secret, algorithm="HS256"))


# -- serve ------------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    need_service("serve")
    from .notifications import config
    from .notifications.service import run

    settings = config.load(args=args)
    logs.configure(settings.log_level)
    if settings.is_dev and settings.worker_dir is None:
        _banner(settings)
    if settings.worker_count > 1 and settings.worker_dir is None:
        from .notifications.workers import supervise

        return supervise(settings, sys.argv[2:] if sys.argv[1:2] == ["serve"] else [])
    try:
        import uvloop

        uvloop.run(run(settings))
    except ImportError:
        asyncio.run(run(settings))
    return 0


def _banner(settings: Any) -> None:
    ws = f"ws://{settings.host}:{settings.port}/ws"
    http = f"http://{settings.host}:{settings.http_port}"
    print(
        f"""
  Arda notification service (development mode; secrets in {settings.state_dir}/)
  Notification center  {http}/   (open it in a browser; ?user=u-2&tenant=tenant-001 to be someone else)
  WebSocket  {ws}
  HTTP API   {http}  (/healthz /readyz /metrics /v1/events /openapi.yaml)

  Next, in another terminal:
    .venv/bin/arda tail --tenant tenant-001                 # connect as a user, print notifications
    .venv/bin/arda publish --sample order.created           # publish a test event through the HTTP API
    .venv/bin/arda token --user u-1 --tenant tenant-001     # a token for your own client
""",
        file=sys.stderr,
        flush=True,
    )


# -- token ------------------------------------------------------------------------------------------
def cmd_token(args: argparse.Namespace) -> int:
    need_service("token", "jwt")
    print(mint_token(_secret(args), args.user, args.tenant or ["tenant-001"], args.role or [], args.ttl))
    return 0


# -- publish ----------------------------------------------------------------------------------------
def _sample(event_type: str, tenant: str) -> dict[str, Any]:
    from .events import default_registry
    from .samples import demo_events

    for event in demo_events(tenant):
        if event.type == event_type:
            wire = default_registry.to_wire(event)
            wire.pop("id", None)
            wire.pop("timestamp", None)
            return wire
    raise ArdaError(
        f"no sample for {event_type!r}; samples: card.transition, order.created, order.status_changed, "
        "loop.parameters_changed, relowisa.recommendation"
    )


def cmd_publish(args: argparse.Namespace) -> int:
    if args.sample:
        body: Any = _sample(args.sample, args.tenant)
    elif args.event:
        text = sys.stdin.read() if args.event == "-" else args.event
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArdaError(f"not valid JSON: {exc}") from None
    else:
        raise ArdaError("give an event as JSON (or - for stdin), or --sample TYPE")
    if args.redis_url:
        return asyncio.run(_publish_bus(args.redis_url, body))
    need_service("publish", "aiohttp")
    return asyncio.run(_publish_http(args.url, _api_key(args), body))


async def _publish_bus(url: str, body: Any) -> int:
    from .events import EventBus

    async with EventBus(url) as bus:
        results = await bus.publish_many(body if isinstance(body, list) else [body])
    for r in results:
        print(json.dumps({"id": r.id, "position": r.position, "duplicate": r.duplicate}))
    return 0


async def _http(method: str, url: str, path: str, api_key: str, **request: Any) -> tuple[int, str]:
    """One call of the service's HTTP API with the API key: (status, body). Raises :class:`ArdaError` when
    the API cannot be reached."""
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        try:
            headers = {"Authorization": f"Bearer {api_key}"}
            async with session.request(method, url.rstrip("/") + path, headers=headers, **request) as resp:
                return resp.status, await resp.text()
        except aiohttp.ClientError as exc:
            raise ArdaError(f"cannot reach the HTTP API at {url}: {exc}") from None


def _rows(what: str, answer: tuple[int, str], expected: int, key: str) -> int:
    """Print the answer's ``key`` list as JSON lines (exit 0), or the refusal on one line of stderr (exit 1)."""
    status, text = answer
    if status != expected:
        print(f"arda: {what} refused ({status}): {text}", file=sys.stderr)
        return 1
    for row in json.loads(text)[key]:
        print(json.dumps(row))
    return 0


async def _publish_http(url: str, api_key: str, body: Any) -> int:
    return _rows("publish", await _http("POST", url, "/v1/events", api_key, json=body), 202, "events")


# -- connections (operators) ------------------------------------------------------------------------
def cmd_connections(args: argparse.Namespace) -> int:
    need_service("connections", "aiohttp")
    query = {k: v for k, v in (("tenantId", args.tenant), ("userId", args.user)) if v}
    query["limit"] = str(args.limit)
    answer = asyncio.run(_http("GET", args.url, "/v1/connections", _api_key(args), params=query))
    return _rows("connections", answer, 200, "connections")


def cmd_disconnect(args: argparse.Namespace) -> int:
    need_service("disconnect", "aiohttp")
    status, text = asyncio.run(_http("DELETE", args.url, f"/v1/connections/{args.id}", _api_key(args)))
    if status != 202:
        print(f"arda: disconnect refused ({status}): {text}", file=sys.stderr)
        return 1
    print(text)
    return 0


# -- tail -------------------------------------------------------------------------------------------
def cmd_tail(args: argparse.Namespace) -> int:
    need_service("tail", "aiohttp", "jwt")
    token = args.token or mint_token(_secret(args), args.user, [args.tenant], args.role or [], 3600)
    return asyncio.run(_tail(args.url, token, args.tenant, args.since, args.count, args.timeout))


async def _tail(url: str, token: str, tenant: str, since: str | None, count: int | None, timeout: float | None) -> int:
    import aiohttp

    seen = 0
    deadline = time.monotonic() + timeout if timeout else None
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(url, heartbeat=20)
        except aiohttp.ClientError as exc:
            raise ArdaError(f"cannot connect to {url}: {exc}") from None
        async with ws:
            await ws.send_str(json.dumps({"type": "authenticate", "payload": {"token": token}, "messageId": "auth"}))
            payload: dict[str, Any] = {"tenantId": tenant}
            if since:
                payload["since"] = since
            await ws.send_str(json.dumps({"type": "subscribe", "payload": payload, "messageId": "sub"}))
            while count is None or seen < count:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return 3
                try:
                    msg = await ws.receive(timeout=remaining)
                except TimeoutError:
                    return 3
                if msg.type != aiohttp.WSMsgType.TEXT:
                    code = ws.close_code
                    print(f"arda: connection closed ({code})", file=sys.stderr)
                    return 1 if code not in (1000, None) else 0
                data = json.loads(msg.data)
                if data.get("type") == "notification":
                    print(json.dumps(data["payload"]), flush=True)
                    seen += 1
                elif data.get("type") == "error":
                    print(f"arda: {data['payload']['code']}: {data['payload']['message']}", file=sys.stderr)
                    if data["payload"]["code"] in ("unauthorized", "forbidden"):
                        return 1
                else:
                    print(json.dumps(data), file=sys.stderr, flush=True)
    return 0


# -- protocol, config -------------------------------------------------------------------------------
def cmd_protocol(args: argparse.Namespace) -> int:
    from .notifications.codes import CLOSE_CODES, ERRORS
    from .notifications.protocol import client_message_schema, server_message_schema

    doc = {
        "errorCodes": [
            {"code": e.code.value, "action": e.action, "retry": e.retry, "meaning": e.meaning} for e in ERRORS
        ],
        "closeCodes": [
            {"code": c.code, "name": c.name, "action": c.action, "retry": c.retry, "meaning": c.meaning}
            for c in CLOSE_CODES
        ],
        "messages": {"server": server_message_schema(), "client": client_message_schema()},
    }
    print(msgspec.json.format(msgspec.json.encode(doc), indent=2).decode())
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from .notifications.config import markdown_table

    sys.stdout.write(markdown_table())
    return 0


def add_service_commands(sub: Any) -> None:
    from .notifications import config

    p = sub.add_parser("serve", help="run the notification service")
    config.add_arguments(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("token", help="mint a development token (HS256, ARDA_JWT_SECRET or the dev secret)")
    p.add_argument("--user", default="u-1")
    p.add_argument("--tenant", action="append", help="repeatable; default tenant-001")
    p.add_argument("--role", action="append", help="repeatable, e.g. monitor")
    p.add_argument("--ttl", type=float, default=3600, help="seconds")
    p.add_argument("--secret", help="default: $ARDA_JWT_SECRET, else the dev secret")
    p.add_argument("--state-dir")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("publish", help="publish an event through the HTTP API (or with --redis-url, to Redis)")
    p.add_argument("event", nargs="?", help="event JSON (an object or an array), or - for stdin")
    p.add_argument("--sample", help="publish a sample event of this type instead")
    p.add_argument("--tenant", default="tenant-001", help="tenant of --sample")
    p.add_argument("--url", default=os.environ.get("ARDA_HTTP_URL", DEFAULT_HTTP))
    p.add_argument("--api-key", help="default: $ARDA_API_KEY, else the dev key")
    p.add_argument("--redis-url", help="publish straight to Redis instead of the HTTP API")
    p.add_argument("--state-dir")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("tail", help="connect as a client and print notifications (JSON lines)")
    p.add_argument("--url", default=os.environ.get("ARDA_WS_URL", DEFAULT_WS))
    p.add_argument("--tenant", default="tenant-001")
    p.add_argument("--user", default="u-1")
    p.add_argument("--role", action="append")
    p.add_argument("--token", help="default: a dev token for --user and --tenant")
    p.add_argument("--since", help="resume after this position")
    p.add_argument("--count", type=int, help="exit after this many notifications")
    p.add_argument("--timeout", type=float, help="exit (status 3) after this many seconds")
    p.add_argument("--state-dir")
    p.set_defaults(func=cmd_tail)

    p = sub.add_parser("connections", help="list the service instance's connections (JSON lines; HTTP API)")
    p.add_argument("--tenant", help="only those subscribed to this tenant")
    p.add_argument("--user", help="only this user's")
    p.add_argument("--limit", type=int, default=100, help="at most this many (1-1000; default 100)")
    p.add_argument("--url", default=os.environ.get("ARDA_HTTP_URL", DEFAULT_HTTP))
    p.add_argument("--api-key", help="default: $ARDA_API_KEY, else the dev key")
    p.add_argument("--state-dir")
    p.set_defaults(func=cmd_connections)

    p = sub.add_parser("disconnect", help="close one connection (4010: it reconnects; to keep a user out, revoke)")
    p.add_argument("id", help="the connection id (from `arda connections`)")
    p.add_argument("--url", default=os.environ.get("ARDA_HTTP_URL", DEFAULT_HTTP))
    p.add_argument("--api-key", help="default: $ARDA_API_KEY, else the dev key")
    p.add_argument("--state-dir")
    p.set_defaults(func=cmd_disconnect)

    p = sub.add_parser("protocol", help="print the WebSocket error and close codes as JSON")
    p.set_defaults(func=cmd_protocol)
    p = sub.add_parser("config", help="print the configuration table (Markdown)")
    p.set_defaults(func=cmd_config)
