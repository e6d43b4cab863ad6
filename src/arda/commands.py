"""The service's commands — ``arda serve``, ``token``, ``publish``, ``tail``, ``connections``, ``disconnect``,
``protocol``, ``config`` — and what every command shares: the exit statuses, the argument types, the
development credentials, the check for the ``service`` extra.

Every failure is one line on stderr (``arda: error: …``) and an exit status of :class:`Exit`; never a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import logging.handlers
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from enum import IntEnum
from typing import Any

import msgspec

from . import logs
from .events import ArdaError, InvalidTenantError, validate_tenant_id

DEFAULT_WS = "ws://127.0.0.1:3001/ws"
DEFAULT_HTTP = "http://127.0.0.1:3002"


class Exit(IntEnum):
    """The exit statuses of every ``arda`` command (docs/service.md "CLI exit statuses", ``arda --help``)."""

    OK = 0
    REFUSED = 1
    ERROR = 2
    INCOMPLETE = 3
    MISSING_EXTRA = 4
    INTERNAL = 70
    INTERRUPTED = 130
    BROKEN_PIPE = 141


#: What each exit status means, in the order of :class:`Exit`.
EXIT_MEANINGS: dict[Exit, str] = {
    Exit.OK: "done (`serve`: stopped gracefully by SIGTERM or SIGINT)",
    Exit.REFUSED: "the service refused: the HTTP API's answer, or `tail` closed with unauthorized, forbidden or "
    "a close code other than 1000",
    Exit.ERROR: "cannot do it: bad arguments or settings, bad JSON, an invalid event or unknown event type, a "
    "port in use, Redis or the service unreachable, no credentials",
    Exit.INCOMPLETE: "incomplete: `history` cannot reach back to --since (the gap cannot be recovered); `tail` "
    "reached --timeout",
    Exit.MISSING_EXTRA: "the command needs the service extra: pip install 'arda-realtime[service]'",
    Exit.INTERNAL: "an unexpected error (a bug: please report it; --log-level debug logs the traceback)",
    Exit.INTERRUPTED: "interrupted (Ctrl-C)",
    Exit.BROKEN_PIPE: "the output was closed before everything was written (piped into `head`, say)",
}

#: The service extra's libraries (`pip install 'arda-realtime[service]'`): import name → distribution.
SERVICE_LIBRARIES = {
    "aiohttp": "aiohttp",
    "jwt": "pyjwt",
    "cryptography": "cryptography",
    "prometheus_client": "prometheus-client",
    "httptools": "httptools",
}
INSTALL_SERVICE = "pip install 'arda-realtime[service]'"
LOG_LEVELS = ("debug", "info", "warning", "error")


class MissingExtraError(ArdaError):
    """A command needs the ``service`` extra's libraries and some are not installed (exit status 4)."""

    code = "missing_extra"


class RefusedError(ArdaError):
    """The service refused a request; the message is its answer, on one line (exit status 1)."""

    code = "refused"


def need_service(command: str, *modules: str) -> None:
    """Raise :class:`MissingExtraError` naming the install command when any of ``modules`` (all of the service
    extra's libraries when none is named) cannot be imported."""
    wanted = modules or tuple(SERVICE_LIBRARIES)
    missing = [SERVICE_LIBRARIES[m] for m in wanted if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtraError(
            f"`arda {command}` needs the service extra ({', '.join(missing)} not installed): {INSTALL_SERVICE}"
        )


# -- argument types (a bad value: one line, exit 2) ------------------------------------------------------------
def log_level(text: str) -> str:
    if text.lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"expected {', '.join(LOG_LEVELS)}, got {text!r}")
    return text.lower()


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds greater than 0, got {text!r}")
    return value


def tenant_id(text: str) -> str:
    try:
        return validate_tenant_id(text)
    except InvalidTenantError as exc:
        raise argparse.ArgumentTypeError(exc.detail) from None


# -- credentials ------------------------------------------------------------------------------------------------
def _state_dir(args: argparse.Namespace) -> str:
    from .notifications.devcreds import state_dir

    return state_dir(getattr(args, "state_dir", None))


def _credential(args: argparse.Namespace, flag: str, env: str, field: str) -> str:
    """A flag, else an environment variable, else the development credentials kept by `arda serve`."""
    from .notifications.devcreds import load

    value = getattr(args, flag, None) or os.environ.get(env)
    if value:
        return str(value)
    directory = _state_dir(args)
    creds = load(directory)
    if creds is None:
        raise ArdaError(
            f"no {env} and no dev credentials in {directory}: start `arda serve` (or `make run`) in development "
            f"mode once, or set {env} (or --state-dir to where that service keeps them)"
        )
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


# -- serve ------------------------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    need_service("serve")
    from .notifications import config
    from .notifications.service import run

    if args.log_level is None and args.global_log_level:  # `arda --log-level debug serve`
        args.log_level = args.global_log_level
        os.environ["ARDA_LOG_LEVEL"] = args.global_log_level  # and so for --workers' workers
    settings = config.load(args=args)
    handler = logs.configure(settings.log_level)
    # The startup's log lines are held until both ports are bound: a service that cannot start says why in one
    # line (the error), not after lines about what it was starting; with debug they are written at once.
    held = logging.handlers.MemoryHandler(10_000, flushLevel=logging.CRITICAL + 1, target=handler, flushOnClose=False)
    if settings.log_level.upper() != "DEBUG":
        logging.getLogger().handlers[:] = [held]

    def listening(ws_port: int, http_port: int) -> None:
        logging.getLogger().handlers[:] = [handler]
        held.flush()
        if settings.is_dev and settings.worker_dir is None:
            _banner(settings, ws_port, http_port)

    try:
        if settings.worker_count > 1 and settings.worker_dir is None:
            from .notifications.workers import supervise

            asyncio.run(_preflight(settings))
            return supervise(settings, _serve_argv(args), lambda: listening(settings.port, settings.http_port))
        try:
            import uvloop

            uvloop.run(run(settings, lambda service: listening(service.ws_port, service.http_port)))
        except ImportError:
            asyncio.run(run(settings, lambda service: listening(service.ws_port, service.http_port)))
    finally:
        logging.getLogger().handlers[:] = [handler]
        held.setTarget(None)  # a service that did not start: its held lines are dropped (also at exit)
        held.buffer.clear()
    return 0


async def _preflight(settings: Any) -> None:
    """``--workers``: what would stop every worker, said once by the supervisor: a port that cannot be listened
    on (tried as the workers listen, with SO_REUSEPORT), or Redis out of reach."""
    from .events import EventBus
    from .notifications.service import listen_error

    for port, setting in (
        (settings.port, "ARDA_PORT / --port, the WebSocket port"),
        (settings.http_port, "ARDA_HTTP_PORT / --http-port, the HTTP API's port"),
    ):
        try:
            socket.create_server((settings.host, port), reuse_port=True).close()
        except OSError as exc:
            raise listen_error(exc, settings.host, port, setting) from None
    bus = EventBus(settings.redis_url)
    try:
        await bus.connect()
    finally:
        await bus.shutdown()


def _serve_argv(args: argparse.Namespace) -> list[str]:
    """The arguments given after ``serve`` (for ``--workers``' workers)."""
    argv: list[str] = getattr(args, "argv", [])
    return argv[argv.index("serve") + 1 :] if "serve" in argv else []


def command_name() -> str:
    """How to run ``arda`` again from any directory: ``arda`` when that is this program on the PATH, else its
    absolute path (``…/.venv/bin/arda`` in a checkout), or ``python -m arda``."""
    program = sys.argv[0] if sys.argv and sys.argv[0] else "arda"
    if program.endswith("__main__.py"):
        return f"{sys.executable} -m arda"
    found = shutil.which("arda")
    if found and os.path.realpath(found) == os.path.realpath(program):
        return "arda"
    return os.path.abspath(program) if os.sep in program else program


def _banner(settings: Any, ws_port: int, http_port: int) -> None:
    """What a newcomer needs, once both ports are bound (``ws_port`` and ``http_port`` are those bound)."""
    ws = f"ws://{settings.host}:{ws_port}/ws"
    http = f"http://{settings.host}:{http_port}"
    arda = command_name()
    defaults = (ws_port, http_port) == (3001, 3002)
    commands = [
        (
            f"{arda} tail --tenant tenant-001" + ("" if defaults else f" --url {ws}"),
            "connect as a user, print notifications",
        ),
        (
            f"{arda} publish --sample order.created" + ("" if defaults else f" --url {http}"),
            "publish a test event through the HTTP API",
        ),
        (f"{arda} token --user u-1 --tenant tenant-001", "a token for your own client"),
    ]
    width = max(len(command) for command, _ in commands) + 2
    next_steps = "\n".join(f"    {command.ljust(width)}# {what}" for command, what in commands)
    print(
        f"""
  Arda notification service (development mode; secrets in {settings.state_dir}/)
  Notification center  {http}/   (open it in a browser; ?user=u-2&tenant=tenant-001 to be someone else)
  Dashboard  {http}/dashboard
  WebSocket  {ws}
  HTTP API   {http}  (/healthz /readyz /metrics /v1/events /openapi.yaml)

  Next, in another terminal (from any directory):
{next_steps}
""",
        file=sys.stderr,
        flush=True,
    )


# -- token ------------------------------------------------------------------------------------------------------
def cmd_token(args: argparse.Namespace) -> int:
    need_service("token", "jwt")
    print(mint_token(_secret(args), args.user, args.tenant or ["tenant-001"], args.role or [], args.ttl))
    return 0


# -- publish ----------------------------------------------------------------------------------------------------
SAMPLE_TYPES = (
    "card.transition",
    "order.created",
    "order.status_changed",
    "loop.parameters_changed",
    "relowisa.recommendation",
)


def _sample(event_type: str, tenant: str) -> dict[str, Any]:
    from .events import default_registry
    from .samples import demo_events

    for event in demo_events(tenant):
        if event.type == event_type:
            wire = default_registry.to_wire(event)
            wire.pop("id", None)
            wire.pop("timestamp", None)
            return wire
    raise ArdaError(f"no sample for {event_type!r}; samples: {', '.join(SAMPLE_TYPES)}")


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
        if bus_url(args.redis_url).startswith("memory://"):
            raise ArdaError(
                "--redis-url memory:// is a bus inside this one command: nothing would receive the event; leave "
                "--redis-url out to publish through the running service's HTTP API, or give the Redis it uses"
            )
        return asyncio.run(_publish_bus(args.redis_url, body))
    need_service("publish", "aiohttp")
    return asyncio.run(_publish_http(args.url, _api_key(args), body))


def bus_url(url: str) -> str:
    """``url`` if the bus can use it; else :class:`ArdaError` naming ``--redis-url`` and what is expected."""
    from .events.backends import urls

    if url.startswith("memory://"):
        return url
    if not url.startswith(urls.SCHEMES):
        raise ArdaError(f"--redis-url: expected {urls.EXPECTED}, got {urls.redact(url)!r}")
    try:
        urls.check(url)
    except ValueError as exc:
        raise ArdaError(f"--redis-url: {exc}") from None
    return url


async def _publish_bus(url: str, body: Any) -> int:
    from .events import EventBus

    async with EventBus(bus_url(url)) as bus:
        results = await bus.publish_many(body if isinstance(body, list) else [body])
    for r in results:
        print(json.dumps({"id": r.id, "position": r.position, "duplicate": r.duplicate}))
    return 0


async def _http(method: str, url: str, path: str, api_key: str, **request: Any) -> tuple[int, str]:
    """One call of the service's HTTP API with the API key: (status, body). Raises :class:`ArdaError` when
    the API cannot be reached."""
    import aiohttp

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            headers = {"Authorization": f"Bearer {api_key}"}
            async with session.request(method, url.rstrip("/") + path, headers=headers, **request) as resp:
                return resp.status, await resp.text()
    except (aiohttp.ClientError, ValueError) as exc:
        raise ArdaError(f"cannot reach the HTTP API at {url}: {exc or type(exc).__name__}") from None
    except TimeoutError:
        raise ArdaError(f"cannot reach the HTTP API at {url}: no answer within 10 s") from None


def refusal(what: str, status: int, text: str) -> str:
    """The service's refusal on one line: its ``error`` and each of its ``errors``' messages, or its text."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        parts = [body["error"]]
        for item in body.get("errors") or []:
            if isinstance(item, dict) and item.get("message"):
                where = f"events[{item['index']}]: " if isinstance(item.get("index"), int) else ""
                parts.append(f"{where}{item['message']}")
        message = "; ".join(parts)
    else:
        message = " ".join(text.split())[:300] or "(no body)"
    return f"{what} refused ({status}): {message}"


def _rows(what: str, answer: tuple[int, str], expected: int, key: str) -> int:
    """Print the answer's ``key`` list as JSON lines (exit 0); a refusal is :class:`RefusedError`."""
    status, text = answer
    if status != expected:
        raise RefusedError(refusal(what, status, text))
    try:
        rows = json.loads(text)[key]
    except (ValueError, KeyError, TypeError):
        raise ArdaError(
            f"{what}: the answer is not the HTTP API's ({status}): {' '.join(text.split())[:200]}"
        ) from None
    for row in rows:
        print(json.dumps(row))
    return 0


async def _publish_http(url: str, api_key: str, body: Any) -> int:
    return _rows("publish", await _http("POST", url, "/v1/events", api_key, json=body), 202, "events")


# -- history through the HTTP API (the embedded bus) ------------------------------------------------------------
def http_history(args: argparse.Namespace) -> int:
    """``arda history`` with no Redis URL: the embedded bus lives inside the running service, so ask its HTTP API
    (``GET /v1/tenants/{id}/events`` with the API key). Plain urllib: no extra needed."""
    url = args.url.rstrip("/")
    query = {"limit": str(args.limit), **({"since": args.since} if args.since else {})}
    address = f"{url}/v1/tenants/{urllib.parse.quote(args.tenant)}/events?{urllib.parse.urlencode(query)}"
    request = urllib.request.Request(address, headers={"Authorization": f"Bearer {_api_key(args)}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            status, text = resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ArdaError(
            f"no --redis-url (nor ARDA_REDIS_URL), and no service answers at {url} ({reason}): the embedded bus "
            "lives inside the running `arda serve`; start it, or give --url of its HTTP API, or --redis-url of the "
            "Redis it uses"
        ) from None
    if status != 200:
        raise RefusedError(refusal("history", status, text))
    try:
        page = json.loads(text)
        events = page["events"]
    except (ValueError, KeyError, TypeError):
        raise ArdaError(
            f"history: the answer from {url} is not the HTTP API's: {' '.join(text.split())[:200]}"
        ) from None
    for event in events:
        print(msgspec.json.encode(event).decode())
    if page.get("reachesBack") is False:
        print(f"history no longer reaches back to {args.since}: the gap cannot be recovered", file=sys.stderr)
        return Exit.INCOMPLETE
    return 0


# -- connections (operators) ------------------------------------------------------------------------------------
def cmd_connections(args: argparse.Namespace) -> int:
    need_service("connections", "aiohttp")
    query = {k: v for k, v in (("tenantId", args.tenant), ("userId", args.user)) if v}
    query["limit"] = str(args.limit)
    answer = asyncio.run(_http("GET", args.url, "/v1/connections", _api_key(args), params=query))
    return _rows("connections", answer, 200, "connections")


def cmd_disconnect(args: argparse.Namespace) -> int:
    need_service("disconnect", "aiohttp")
    status, text = asyncio.run(
        _http("DELETE", args.url, f"/v1/connections/{urllib.parse.quote(args.id, safe='')}", _api_key(args))
    )
    if status != 202:
        raise RefusedError(refusal("disconnect", status, text))
    print(text)
    return 0


# -- tail -------------------------------------------------------------------------------------------------------
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
        except (aiohttp.ClientError, ValueError) as exc:
            raise ArdaError(f"cannot connect to {url}: {exc or type(exc).__name__}") from None
        async with ws:
            await ws.send_str(json.dumps({"type": "authenticate", "payload": {"token": token}, "messageId": "auth"}))
            payload: dict[str, Any] = {"tenantId": tenant}
            if since:
                payload["since"] = since
            await ws.send_str(json.dumps({"type": "subscribe", "payload": payload, "messageId": "sub"}))
            while count is None or seen < count:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return Exit.INCOMPLETE
                try:
                    msg = await ws.receive(timeout=remaining)
                except TimeoutError:
                    return Exit.INCOMPLETE
                if msg.type != aiohttp.WSMsgType.TEXT:
                    code = ws.close_code
                    print(f"arda: connection closed ({code})", file=sys.stderr)
                    return Exit.REFUSED if code not in (1000, None) else 0
                data = json.loads(msg.data)
                if data.get("type") == "notification":
                    print(json.dumps(data["payload"]), flush=True)
                    seen += 1
                elif data.get("type") == "error":
                    print(f"arda: {data['payload']['code']}: {data['payload']['message']}", file=sys.stderr)
                    if data["payload"]["code"] in ("unauthorized", "forbidden"):
                        return Exit.REFUSED
                else:
                    print(json.dumps(data), file=sys.stderr, flush=True)
    return 0


# -- protocol, config -------------------------------------------------------------------------------------------
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


# -- the parsers ------------------------------------------------------------------------------------------------
def url_options(p: argparse.ArgumentParser, *, ws: bool = False) -> None:
    if ws:
        p.add_argument(
            "--url",
            default=os.environ.get("ARDA_WS_URL", DEFAULT_WS),
            help=f"the service's WebSocket URL (default: $ARDA_WS_URL, else {DEFAULT_WS})",
        )
    else:
        p.add_argument(
            "--url",
            default=os.environ.get("ARDA_HTTP_URL", DEFAULT_HTTP),
            help=f"the service's HTTP API (default: $ARDA_HTTP_URL, else {DEFAULT_HTTP})",
        )


def state_dir_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--state-dir",
        help="where `arda serve` keeps the dev credentials (default: $ARDA_STATE_DIR, else $XDG_STATE_HOME/arda, "
        "else ~/.local/state/arda)",
    )


def api_key_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api-key", help="the HTTP API's key (default: $ARDA_API_KEY, else the dev key)")
    state_dir_option(p)


def add_service_commands(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    """The service's commands on the subparsers ``sub``; ``common`` are the parents every command takes
    (``--log-level``)."""
    from .notifications import config

    p = sub.add_parser(
        "serve",
        help="run the notification service (every flag also an ARDA_* variable: `arda config`)",
        description="Run the notification service: the WebSocket port and the HTTP API's port (0: any free port; "
        "the banner and the log name the ports bound). Every flag is also an environment variable.",
    )
    config.add_arguments(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "token",
        parents=common,
        help="mint a development token (HS256 with $ARDA_JWT_SECRET or the dev secret)",
        description="Print a JWT signed with $ARDA_JWT_SECRET (or the dev secret of `arda serve`).",
    )
    p.add_argument("--user", default="u-1", help="the token's subject, `sub` (default u-1)")
    p.add_argument(
        "--tenant", action="append", type=tenant_id, help="an allowed tenant; repeatable (default tenant-001)"
    )
    p.add_argument("--role", action="append", help="a role, e.g. monitor (for the global feed); repeatable")
    p.add_argument("--ttl", type=positive_float, default=3600, help="seconds until it expires (default 3600)")
    p.add_argument("--secret", help="the HS256 secret (default: $ARDA_JWT_SECRET, else the dev secret)")
    state_dir_option(p)
    p.set_defaults(func=cmd_token)

    p = sub.add_parser(
        "publish",
        parents=common,
        help="publish an event through the HTTP API (or with --redis-url, straight to Redis)",
        description="Publish an event (or a JSON array of events) through the running service's HTTP API, or "
        "straight to Redis with --redis-url; prints each event's id and position as a JSON line.",
    )
    p.add_argument("event", nargs="?", help="the event as JSON (an object or an array), or - to read it from stdin")
    p.add_argument(
        "--sample", choices=SAMPLE_TYPES, metavar="TYPE", help=f"publish a sample: {', '.join(SAMPLE_TYPES)}"
    )
    p.add_argument("--tenant", default="tenant-001", type=tenant_id, help="the sample's tenant (default tenant-001)")
    url_options(p)
    p.add_argument("--redis-url", help="publish straight to this Redis instead of through the HTTP API")
    api_key_option(p)
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser(
        "tail",
        parents=common,
        help="connect as a client and print notifications (JSON lines)",
        description="Connect to the WebSocket as a user, subscribe to a tenant and print each notification as a "
        "JSON line (the other messages on stderr).",
    )
    url_options(p, ws=True)
    p.add_argument("--tenant", default="tenant-001", type=tenant_id, help="the tenant to subscribe to")
    p.add_argument("--user", default="u-1", help="the user of the dev token (default u-1)")
    p.add_argument("--role", action="append", help="a role of the dev token, e.g. monitor; repeatable")
    p.add_argument("--token", help="a JWT to use instead of a dev token for --user and --tenant")
    p.add_argument("--since", help="resume after this position")
    p.add_argument("--count", type=positive_int, help="exit after this many notifications")
    p.add_argument("--timeout", type=positive_float, help="exit (status 3) after this many seconds")
    state_dir_option(p)
    p.set_defaults(func=cmd_tail)

    p = sub.add_parser(
        "connections",
        parents=common,
        help="list the service instance's connections (JSON lines; HTTP API)",
        description="List the connections of the instance behind --url, one JSON line each.",
    )
    p.add_argument("--tenant", type=tenant_id, help="only those subscribed to this tenant")
    p.add_argument("--user", help="only this user's")
    p.add_argument("--limit", type=positive_int, default=100, help="at most this many (1-1000; default 100)")
    url_options(p)
    api_key_option(p)
    p.set_defaults(func=cmd_connections)

    p = sub.add_parser(
        "disconnect",
        parents=common,
        help="close one connection (4010: it reconnects; to keep a user out, revoke)",
        description="Close one connection with 4010 closed_by_operator (the client reconnects).",
    )
    p.add_argument("id", help="the connection id (from `arda connections`)")
    url_options(p)
    api_key_option(p)
    p.set_defaults(func=cmd_disconnect)

    p = sub.add_parser(
        "protocol",
        parents=common,
        help="print the WebSocket error and close codes and message schemas (JSON)",
        description="Print the protocol's error codes, close codes and message schemas as JSON.",
    )
    p.set_defaults(func=cmd_protocol)
    p = sub.add_parser(
        "config",
        parents=common,
        help="print the configuration table (Markdown)",
        description="Print every setting of `arda serve`: variable, flag, default, meaning (Markdown).",
    )
    p.set_defaults(func=cmd_config)
