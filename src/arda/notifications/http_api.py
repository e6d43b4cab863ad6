"""The internal HTTP API (``ARDA_HTTP_PORT``, default 3002) — not for browsers on the internet.

``GET /healthz``  alive (200)
``GET /readyz``   the bus answers and its subscriptions are live (200), else 503 with the reasons
``GET /metrics``  Prometheus text format (prometheus_client's exposition)
``POST /v1/events``  one event or a JSON array; ``Authorization: Bearer <ARDA_API_KEY>``; 202 with each
                     event's id and position; 422 naming the invalid fields; 401; 429 with Retry-After
``POST /v1/revocations``  revoke a user's tokens issued until now (API key)
``GET /v1/tenants/{tenantId}/events?since=&limit=``  history: with the API key, events in wire form; with a
                     user's JWT allowed that tenant, that user's notifications (masked, recipients applied)
``GET /v1/stats``  the live figures of this and every live instance, and their total (API key)
``GET /v1/connections?tenantId=&userId=&limit=``  this instance's connections (API key)
``DELETE /v1/connections/{id}``  close one with 4010 ``closed_by_operator`` (API key)
``GET /openapi.yaml``  the API's OpenAPI description (``openapi.yaml`` beside this module)

Every refusal is a problem (:mod:`.responses`, ``application/problem+json``) — aiohttp's own too (no route 404,
405 with ``Allow``, a body over :data:`MAX_BODY` 413): nothing answers in plain text, and a bug answers 500 as
a problem. Request bodies are JSON: another ``Content-Type`` is refused with 415 before the body is read.
Parameters are checked as the OpenAPI document states them (a present parameter must be valid: 400).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Protocol

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .. import logs
from ..events import (
    AnyEvent,
    EventBus,
    EventValidationError,
    PublishError,
    UnknownEventTypeError,
    default_registry,
    jsonlimits,
)
from ..events.errors import BusError, InvalidTenantError
from ..events.models import TenantId, validate_tenant_id
from . import admin, codes, protocol, stats, webapp
from .admin import ConnectionInfo
from .auth import Authenticator
from .config import Settings
from .errors import AuthError
from .mapper import Notification
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .metrics import Metrics
from .ratelimit import KeyedBuckets
from .responses import problem as _problem
from .responses import response as _response
from .visibility import As, audience
from .workers import announce, ask_siblings, merge_metrics

log = logging.getLogger("arda.notifications.http")


class _ClientFaults(logging.Filter):
    """aiohttp logs a request its HTTP parser refused (malformed, a NUL in a header, a line too long: a 4xx it
    answers itself) as an error with a traceback. It is the client's fault: logged as one, once in a while."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            reason = str(exc.message).strip().splitlines()[0][:200] if exc.message else ""
            logs.client_fault(
                log, "bad_http_request", "HTTP request refused", logging.INFO, status=exc.code, reason=reason
            )
            return False
        return True


#: The aiohttp server's logger for this API (its requests' errors), with :class:`_ClientFaults`.
_server_log = logging.getLogger("arda.notifications.http.server")
_server_log.addFilter(_ClientFaults())

MAX_BODY = 1024 * 1024
MAX_EVENTS = 1000
#: The longest user id (a JWT ``sub``) the API takes, as events and revocations do.
MAX_USER_ID = 256
#: Rows of one history page: the default and the most.
HISTORY_LIMIT = 100
MAX_HISTORY_LIMIT = 1000


class RevocationRequest(msgspec.Struct, kw_only=True, rename="camel", forbid_unknown_fields=True):
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_USER_ID)]
    #: Only that tenant is taken out of the user's tokens (null or absent: every tenant).
    tenant_id: TenantId | None = None


_revocation_request = msgspec.json.Decoder(RevocationRequest)


class ConnectionAdmin(Protocol):
    """This instance's connections, for operators (:class:`~.node.Node`)."""

    def connection_list(self, tenant: str | None, user: str | None, limit: int) -> tuple[list[ConnectionInfo], int]: ...

    def disconnect(self, connection_id: str) -> bool: ...


class HttpApi:
    """The routes, given only what they need: the bus (publish, history, revocations, health), the
    authenticator (user tokens for history), the metrics, the API key, ``render`` — the notification an
    event is on a stream — for a user's history, and the connections (operators' view and close)."""

    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        authenticator: Authenticator,
        metrics: Metrics,
        api_key: str | None,
        render: Callable[[AnyEvent, str], Notification],
        dev: webapp.DevSessions | None = None,
        connections: ConnectionAdmin | None = None,
        figures: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.authenticator = authenticator
        self.metrics = metrics
        self.api_key = api_key
        self.render = render
        self.connections = connections
        self.figures = figures
        self.started_at = time.time()
        self.publish_limits = KeyedBuckets(settings.publish_rate, settings.publish_burst)
        self.app = web.Application(client_max_size=MAX_BODY, middlewares=[_problems])
        self.app.add_routes(
            [
                web.get("/healthz", self.healthz),
                web.get("/readyz", self.readyz),
                web.get("/metrics", self.prometheus),
                web.post("/v1/events", self.publish),
                web.post("/v1/revocations", self.revoke),
                web.get("/v1/tenants/{tenant}/events", self.history),
                web.get("/v1/connections", self.connection_list),
                web.get("/v1/stats", self.stats),
                web.delete("/v1/connections/{id}", self.disconnect),
                web.get("/openapi.yaml", self.openapi),
            ]
        )
        webapp.add_routes(self.app, settings.webapp_dir, dev, self.publish_unauthenticated)
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (shared with the other workers under ``--workers``, plus a private port on
        127.0.0.1 for them to ask this one); returns the port."""
        settings = self.settings
        timeout = max(0.5, settings.shutdown_timeout_s / 3)
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=timeout, logger=_server_log
        )
        await self._runner.setup()
        worker = settings.worker_dir is not None
        site = web.TCPSite(self._runner, host, port, backlog=1024, reuse_port=worker or None)
        await site.start()
        bound = int(self._runner.addresses[0][1])
        if settings.worker_dir is not None:
            private = web.TCPSite(self._runner, "127.0.0.1", 0)
            await private.start()
            announce(settings.worker_dir, int(self._runner.addresses[-1][1]))
        return bound

    async def stop(self) -> None:
        if self.settings.worker_dir is not None:
            with contextlib.suppress(OSError):
                (Path(self.settings.worker_dir) / f"{os.getpid()}.port").unlink()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- health -------------------------------------------------------------------------------------
    def _siblings_wanted(self, request: web.Request) -> str | None:
        """The run directory when this answer is for the whole service (a worker asked on the shared port)."""
        directory = self.settings.worker_dir
        return directory if directory is not None and "local" not in request.query else None

    async def healthz(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = {"status": "ok", "uptimeSeconds": round(time.time() - self.started_at, 1)}
        directory = self._siblings_wanted(request)
        if directory is not None:
            answers = await ask_siblings(directory, "/healthz")
            body["workers"] = sorted([os.getpid(), *(a.pid for a in answers if a.status == 200)])
            down = [a.pid for a in answers if a.status != 200]
            if down:
                body["workersDown"] = down
        return _response(200, body)

    async def readyz(self, request: web.Request) -> web.Response:
        problems = await self._local_problems()
        directory = self._siblings_wanted(request)
        if directory is not None:
            for answer in await ask_siblings(directory, "/readyz"):
                if answer.status != 200:
                    problems.append(f"worker {answer.pid} is not ready" + ("" if answer.status else " (no answer)"))
        if problems:
            return _response(503, {"status": "unavailable", "problems": problems})
        return _response(200, {"status": "ready"})

    async def _local_problems(self) -> list[str]:
        problems: list[str] = []
        try:
            async with asyncio.timeout(2.0):
                if not await self.bus.primary():
                    problems.append("Redis is not the writable primary (a replica, or demoted): publishing fails")
        except (TimeoutError, BusError) as exc:
            problems.append(f"bus unreachable: {exc}")
        if not self.bus.live:
            problems.append("the bus cannot receive events: its subscriber connection is down (reconnecting)")
        return problems

    async def prometheus(self, request: web.Request) -> web.Response:
        body = self.metrics.render()
        directory = self._siblings_wanted(request)
        if directory is not None:  # the whole service: every worker's series, summed
            answers = await ask_siblings(directory, "/metrics")
            texts = [body.decode(), *(a.body.decode() for a in answers if a.status == 200)]
            body = merge_metrics(texts).encode()
        return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def openapi(self, request: web.Request) -> web.Response:
        text = resources.files("arda.notifications").joinpath("openapi.yaml").read_text()
        return web.Response(text=text, content_type="application/yaml")

    # -- publish ------------------------------------------------------------------------------------
    def _api_key_ok(self, request: web.Request) -> bool:
        key = self.api_key
        header = request.headers.get("Authorization", "")
        if not key or not header.startswith("Bearer "):
            return False
        return hmac.compare_digest(header[7:].strip().encode(), key.encode())

    async def publish(self, request: web.Request) -> web.Response:
        if not self._api_key_ok(request):
            return _problem(401, "missing or wrong API key (Authorization: Bearer <ARDA_API_KEY>)")
        return await self.publish_unauthenticated(request)

    async def publish_unauthenticated(self, request: web.Request) -> web.Response:
        """``POST /v1/events`` after the key check (also ``POST /dev/events`` in development mode)."""
        refused = _not_json(request)
        if refused is not None:
            return refused
        try:
            body = _whole_numbers(jsonlimits.decode_any(await request.read()))
        except jsonlimits.JsonInputError as exc:
            return _problem(400, f"body refused: {exc}")
        items = body if isinstance(body, list) else [body]
        if not items or len(items) > MAX_EVENTS:
            return _problem(422, f"send between 1 and {MAX_EVENTS} events", errors=[])
        errors: list[dict[str, Any]] = []
        prepared = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                errors.append({"index": index, "field": None, "message": "an event must be a JSON object"})
                continue
            try:
                prepared.append(default_registry.prepare(item)[0])
            except EventValidationError as exc:
                errors.append({"index": index, "type": exc.event_type, "field": exc.field, "message": str(exc)})
            except UnknownEventTypeError as exc:
                errors.append({"index": index, "type": exc.event_type, "field": "type", "message": str(exc)})
        if errors:
            return _problem(422, "invalid events: nothing was published", errors=errors)
        now = time.monotonic()
        per_tenant: dict[str, int] = {}
        for event in prepared:
            per_tenant[event.tenant_id] = per_tenant.get(event.tenant_id, 0) + 1
        for tenant, count in per_tenant.items():
            wait = self.publish_limits.take(tenant, now, count)
            if wait:
                retry_after = str(max(1, int(wait + 0.999)))
                return _problem(429, f"publish rate limit for tenant {tenant}", {"Retry-After": retry_after})
        try:
            results = await self.bus.publish_many(prepared)
        except PublishError as exc:
            return _problem(503, f"publish failed, retry with the same ids: {exc}")
        self.metrics.published.inc(len(results))
        return _response(
            202, {"events": [{"id": r.id, "position": r.position, "duplicate": r.duplicate} for r in results]}
        )

    # -- revocations --------------------------------------------------------------------------------
    async def revoke(self, request: web.Request) -> web.Response:
        """``{"userId": …, "tenantId"?: …}``: that user's tokens issued until now are refused (on every
        instance, for that tenant or all), and their connections closed with 4009."""
        if not self._api_key_ok(request):
            return _problem(401, "missing or wrong API key (Authorization: Bearer <ARDA_API_KEY>)")
        refused = _not_json(request)
        if refused is not None:
            return refused
        try:
            body = jsonlimits.decode(_revocation_request, await request.read())
        except jsonlimits.JsonInputError as exc:
            return _problem(400, f"body refused: {exc}")
        except msgspec.ValidationError as exc:
            return _problem(422, f"invalid revocation: {exc}")
        try:
            revocation = await self.bus.revoke(body.user_id, body.tenant_id)
        except InvalidTenantError as exc:
            return _problem(422, f"invalid revocation: {exc.detail}")
        except BusError as exc:
            return _problem(503, f"revocation not recorded, retry: {exc}")
        return _response(
            202,
            {
                "userId": revocation.user_id,
                "tenantId": revocation.tenant_id,
                "revokedAt": protocol.iso(revocation.revoked_at),
            },
        )

    # -- live figures (the dashboard) --------------------------------------------------------------
    async def stats(self, request: web.Request) -> web.Response:
        """This instance's figures, each live instance's (announced through Redis), and their total."""
        if not self._api_key_ok(request):
            return _problem(401, "missing or wrong API key (Authorization: Bearer <ARDA_API_KEY>)")
        mine = self.figures() if self.figures is not None else {"instance": str(os.getpid())}
        others: list[dict[str, Any]] = []
        try:
            for document in await self.bus.instances():
                with contextlib.suppress(msgspec.DecodeError):
                    other = msgspec.json.decode(document)
                    if isinstance(other, dict) and other.get("instance") != mine["instance"]:
                        others.append(other)
        except BusError:
            pass  # Redis unreachable: this instance alone (its own figures say so: busReconnects, gaps)
        instances = sorted([mine, *others], key=lambda doc: str(doc.get("instance")))
        return _response(200, {**mine, "instances": instances, "total": stats.total(instances)})

    # -- connections (operators) ---------------------------------------------------------------------
    async def connection_list(self, request: web.Request) -> web.Response:
        """``?tenantId=&userId=&limit=``: this instance's connections (subscribed to that tenant, of that user),
        oldest first."""
        if not self._api_key_ok(request):
            return _problem(401, "missing or wrong API key (Authorization: Bearer <ARDA_API_KEY>)")
        tenant = request.query.get("tenantId")
        if tenant is not None:
            try:
                validate_tenant_id(tenant)
            except InvalidTenantError as exc:
                return _problem(400, f"invalid tenantId: {exc.detail}")
        user = request.query.get("userId")
        if user is not None and not 1 <= len(user) <= MAX_USER_ID:
            return _problem(400, f"userId must be 1 to {MAX_USER_ID} characters")
        limit = _limit(request, admin.MAX_ROWS, admin.MAX_ROWS)
        if isinstance(limit, web.Response):
            return limit
        rows, total = self.connections.connection_list(tenant, user, limit) if self.connections else ([], 0)
        return _response(200, {"connections": msgspec.to_builtins(rows), "total": total, "instance": os.getpid()})

    async def disconnect(self, request: web.Request) -> web.Response:
        """Close one connection with 4010 ``closed_by_operator`` (it reconnects and resumes)."""
        if not self._api_key_ok(request):
            return _problem(401, "missing or wrong API key (Authorization: Bearer <ARDA_API_KEY>)")
        connection_id = request.match_info["id"]
        if self.connections is None or not self.connections.disconnect(connection_id):
            return _problem(404, f"no open connection {connection_id!r} on this instance")
        return _response(202, {"id": connection_id, "closeCode": codes.CLOSED_BY_OPERATOR.code})

    # -- history ------------------------------------------------------------------------------------
    async def history(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        try:
            validate_tenant_id(tenant)
        except InvalidTenantError as exc:
            return _problem(400, f"invalid tenant id: {exc.detail}")
        since = request.query.get("since")
        if since == "":
            return _problem(400, "since must be a position ('<milliseconds>-<sequence>'); leave it out for the oldest")
        limit = _limit(request, HISTORY_LIMIT, MAX_HISTORY_LIMIT)
        if isinstance(limit, web.Response):
            return limit
        user = None
        if not self._api_key_ok(request):
            header = request.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                return _problem(401, "send the API key or a user token as Authorization: Bearer …")
            try:
                identity = await self.authenticator.verify(header[7:].strip())
            except AuthError as exc:
                return _problem(401, str(exc), code=exc.error_code.value)
            if not identity.may_subscribe(tenant):
                return _problem(403, f"the token does not allow tenant {tenant}")
            user = identity.user_id
        try:
            page = await self.bus.history(tenant, since=since, limit=limit)
        except EventValidationError as exc:
            return _problem(400, str(exc))
        except BusError as exc:
            return _problem(503, f"history unavailable: {exc}")
        if user is None:
            events: list[Any] = [default_registry.to_wire(e) for e in page.events]
            key = "events"
        else:  # what the user sees as notifications, as live delivery and replay decide it (.visibility)
            seen = [e for e in page.events if audience(tenant, e).sees(user) is As.NOTIFICATION]
            try:
                marks = await self.bus.read_marks(tenant, user, [e.id for e in seen]) if seen else []
            except BusError as exc:
                return _problem(503, f"read state unavailable: {exc}")
            events = [
                msgspec.to_builtins(msgspec.structs.replace(self.render(e, tenant), read=read))
                for e, read in zip(seen, marks, strict=True)
            ]
            key = "notifications"
        return _response(
            200, {key: events, "reachesBack": page.reaches_back, "position": page.position, "hasMore": page.has_more}
        )


# -- shared checks ----------------------------------------------------------------------------------------
def _limit(request: web.Request, default: int, most: int) -> int | web.Response:
    """The ``limit`` query parameter (``default`` when absent), or the 400 problem for a value that is not a
    whole number from 1 to ``most``."""
    raw = request.query.get("limit")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= most:
        return _problem(400, f"limit must be a whole number from 1 to {most}, not {raw[:40]!r}")
    return int(raw)


#: Whole floats up to this magnitude are read as integers (beyond it a float is not exact anyway).
_EXACT = 2**53


def _whole_numbers(value: Any) -> Any:
    """``value`` (decoded JSON) with every whole float an int: JSON numbers are read by their value, as JSON
    Schema does (``2.0`` is the integer 2), so an integer field takes ``2.0`` as the schema says it does.
    Recursion is bounded by the decoder's depth limit."""
    if isinstance(value, float):
        return int(value) if value.is_integer() and -_EXACT <= value <= _EXACT else value
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    return value


def _not_json(request: web.Request) -> web.Response | None:
    """The 415 problem for a request body that is not ``application/json`` (None: it is)."""
    if request.content_type == "application/json":
        return None
    sent = request.headers.get("Content-Type", "none")
    return _problem(415, f"send the body as Content-Type: application/json, not {sent[:80]!r}")


@web.middleware
async def _problems(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """aiohttp's own refusals (no route, method not allowed, body too large …) as problems, and a bug as a 500
    problem (logged), instead of plain text."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {name: exc.headers[name] for name in ("Allow",) if name in exc.headers}
        if exc.status == 404:
            message = f"no such resource: {request.path[:200]}"
        elif exc.status == 405:
            message = (
                f"{request.method} is not allowed on {request.path[:200]} (allowed: {exc.headers.get('Allow', '')})"
            )
        elif exc.status == 413:
            message = f"body over {MAX_BODY} bytes"
        else:
            message = exc.text or exc.reason
        return _problem(exc.status, message, headers)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("HTTP request failed", extra={"method": request.method, "path": request.path[:200]})
        return _problem(500, "internal error (logged); retry, and report it if it persists")
