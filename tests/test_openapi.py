"""The HTTP API's OpenAPI document (``src/arda/notifications/openapi.yaml``): valid YAML and OpenAPI 3.1
(openapi-spec-validator), its generated part current, its patterns the code's own rules, every route of the
service in it, and true to the running service — schemathesis against a real ``arda serve``."""

from __future__ import annotations

import asyncio
import functools
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import pytest
import requests
import schemathesis
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error

from arda.events.errors import InvalidTenantError
from arda.events.models import validate_tenant_id
from arda.events.positions import MAX_PART, is_position
from arda.notifications import apispec
from arda.testing.redis_server import RedisServer
from conftest import order
from service_process import serve, wait_ready
from ws_client import API_KEY, running_service, token

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "src" / "arda" / "notifications" / "openapi.yaml"
SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")

#: schemathesis's bound: test cases per operation and phase (examples, coverage, fuzzing, stateful), and a
#: deadline for the whole run. About 40 s here (2 cores, the service on one of them).
MAX_EXAMPLES = 150
SCHEMATHESIS_TIMEOUT_S = 150
SEED = os.environ.get("ARDA_SCHEMATHESIS_SEED", "20261202")

#: JSON Schema 2020-12's keywords, and OpenAPI 3.1's additions to it.
SCHEMA_KEYWORDS = {
    *("$ref", "$defs", "$schema", "$id", "$comment", "type", "enum", "const", "title", "description", "default"),
    *("examples", "format", "pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum"),
    *("exclusiveMaximum", "multipleOf", "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "contains"),
    *("properties", "required", "additionalProperties", "patternProperties", "propertyNames", "minProperties"),
    *("maxProperties", "anyOf", "oneOf", "allOf", "not", "readOnly", "writeOnly", "deprecated", "discriminator"),
}
TYPES = {"string", "number", "integer", "boolean", "array", "object", "null"}


class _StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key twice in one mapping (PyYAML keeps the last one silently)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(key) for key, _ in node.value]
    twice = sorted({str(k) for k in keys if keys.count(k) > 1})
    if twice:
        raise yaml.constructor.ConstructorError(None, None, f"keys given twice: {twice}", node.start_mark)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_spec() -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(SPEC.read_text(), Loader=_StrictLoader)  # a SafeLoader
    return document


def schemas(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every schema object of the document, with where it is."""

    def walk(where: str, schema: Any) -> Iterator[tuple[str, Any]]:
        if not isinstance(schema, dict):
            yield where, schema
            return
        yield where, schema
        for name, sub in schema.get("properties", {}).items():
            yield from walk(f"{where}.properties.{name}", sub)
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for i, sub in enumerate(schema.get(key, [])):
                yield from walk(f"{where}.{key}[{i}]", sub)
        for key in ("items", "not", "contains", "propertyNames"):
            if key in schema:
                yield from walk(f"{where}.{key}", schema[key])
        if isinstance(schema.get("additionalProperties"), dict):
            yield from walk(f"{where}.additionalProperties", schema["additionalProperties"])

    components = document["components"]
    for name, schema in components["schemas"].items():
        yield from walk(f"schemas.{name}", schema)
    for name, parameter in components["parameters"].items():
        yield from walk(f"parameters.{name}", parameter["schema"])
    for name, header in components["headers"].items():
        yield from walk(f"headers.{name}", header["schema"])
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                if "schema" in parameter:
                    yield from walk(f"{where} parameter {parameter['name']}", parameter["schema"])
            for kind, media in operation.get("requestBody", {}).get("content", {}).items():
                yield from walk(f"{where} body {kind}", media["schema"])
            for status, answer in operation["responses"].items():
                for kind, media in answer.get("content", {}).items():
                    yield from walk(f"{where} {status} {kind}", media["schema"])


# -- the document ------------------------------------------------------------------------------------------
def test_the_document_is_valid_yaml_and_openapi_3_1() -> None:
    document = load_spec()
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on anything OpenAPI 3.1 (and its JSON Schema) does not allow


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="keys given twice"):
        yaml.load("a: 1\nb: {c: 2, c: 3}\n", Loader=_StrictLoader)  # a SafeLoader


def test_every_schema_says_only_what_json_schema_knows() -> None:
    """A flow mapping with an unquoted comma (``{description: a, b}``) is valid YAML and valid OpenAPI (JSON
    Schema ignores unknown keywords) and says something else than was meant: no schema may hold a key JSON
    Schema does not know, nor a ``null`` value."""
    found = list(schemas(load_spec()))
    assert len(found) > 200  # the walk reaches the schemas
    problems = []
    for where, schema in found:
        if isinstance(schema, bool):
            continue
        if not isinstance(schema, dict):
            problems.append(f"{where}: not a schema: {schema!r}")
            continue
        unknown = sorted(k for k in schema if k not in SCHEMA_KEYWORDS and not k.startswith("x-"))
        if unknown:
            problems.append(f"{where}: unknown keywords {unknown}")
        types = schema.get("type", [])
        if not set([types] if isinstance(types, str) else types) <= TYPES:
            problems.append(f"{where}: type {types!r}")
        for key in ("description", "title", "pattern"):
            if key in schema and not isinstance(schema[key], str):
                problems.append(f"{where}: {key} is {schema[key]!r}")
    assert problems == []


def test_the_generated_block_is_the_codes_schemas() -> None:
    text = SPEC.read_text()
    assert apispec.current(text) == apispec.block(), "run: python -m arda.notifications.apispec --write"
    assert apispec.main(["--check"]) == 0
    generated = load_spec()["components"]["schemas"]
    assert {"Event", "OrderCreated", "Notification", "ConnectionInfo", "TenantId", "Position"} <= set(generated)
    assert "additionalProperties" not in generated["OrderCreated"]  # the tolerant reader
    assert generated["RevocationRequest"]["additionalProperties"] is False


def test_the_check_fails_on_a_stale_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "openapi.yaml"
    text = SPEC.read_text()
    block = apispec.current(text)
    stale.write_text(text.replace(block, block.replace("maxLength: 128", "maxLength: 127", 1)))
    monkeypatch.setattr(apispec, "SPEC", stale)
    assert apispec.main(["--check"]) == 1
    assert apispec.main(["--write"]) == 0
    assert stale.read_text() == SPEC.read_text()


# -- its patterns are the code's rules ---------------------------------------------------------------------
@functools.cache
def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = load_spec()["components"]["schemas"][name]
    return schema


def _tenant_ok(value: str) -> bool:
    try:
        validate_tenant_id(value)
    except InvalidTenantError:
        return False
    return True


def test_the_position_pattern_is_the_parsers_rule_at_its_edges() -> None:
    pattern = re.compile(_schema("Position")["pattern"])
    edges = [f"{MAX_PART}-{MAX_PART}", f"{MAX_PART + 1}-0", f"0-{MAX_PART + 1}", "0" * 20 + "-1", "1" * 21 + "-0"]
    edges += ["9" * 20 + "-0", "1-2\n", " 1-2", "1-", "-1", "1795769113757-0", "18446744073709551599-0", "٣-1"]
    for value in edges:
        assert bool(pattern.search(value)) == is_position(value), value


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**66), st.integers(0, 2**66), st.integers(0, 3), st.sampled_from(["", "\n", "x"]))
def test_the_position_pattern_is_the_parsers_rule(ms: int, seq: int, zeros: int, tail: str) -> None:
    value = f"{'0' * zeros}{ms}-{seq}{tail}"
    assert bool(re.search(_schema("Position")["pattern"], value)) == is_position(value)


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9_.\- \n]{0,66}", fullmatch=True) | st.sampled_from(["global", "GLOBAL", "Global1"]))
def test_the_tenant_pattern_is_validate_tenant_id(value: str) -> None:
    schema = _schema("TenantId")
    fits = bool(re.search(schema["pattern"], value)) and len(value) <= schema["maxLength"]
    assert fits == _tenant_ok(value)


# -- every route the service has ---------------------------------------------------------------------------
def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


async def test_every_route_of_the_service_is_in_the_document(tmp_path: Path) -> None:
    """Production routes (not the development ones, nor ``/assets/…`` of a built page); HEAD answers as GET."""
    async with running_service(f"memory://spec-{uuid.uuid4().hex}", tmp_path, webapp_dir=str(tmp_path)) as svc:
        router = svc.service.http.app.router
        served = {
            (route.method, _shape(route.resource.canonical))
            for route in router.routes()
            if route.resource is not None and route.method != "HEAD"
        }
    described = {(m.upper(), _shape(p)) for p, item in load_spec()["paths"].items() for m in item}
    assert served == described


# -- true to the running service: schemathesis ---------------------------------------------------------------
class Service(NamedTuple):
    url: str  # the HTTP API's
    ws: int
    redis: RedisServer


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    """``arda serve`` (production settings, the API key) on a Redis of its own, with ten WebSocket clients
    connected, authenticated and subscribed — so ``GET /v1/connections`` lists some and a link leads to
    ``DELETE /v1/connections/{id}``. Fails the test if the service logged an error."""
    redis = RedisServer().start()
    proc, ws, http = serve(tmp_path, ARDA_REDIS_URL=redis.url, ARDA_SHUTDOWN_TIMEOUT_S="2")
    sessions: list[aiohttp.ClientSession] = []
    readers: list[asyncio.Task[None]] = []
    try:
        await wait_ready(http, proc)
        for i in range(10):
            session = aiohttp.ClientSession()
            sessions.append(session)
            conn = await session.ws_connect(f"ws://127.0.0.1:{ws}/ws")
            auth = {"token": token(f"u-{i}", ["tenant-001"])}
            await conn.send_json({"type": "authenticate", "payload": auth, "messageId": "a"})
            await conn.send_json({"type": "subscribe", "payload": {"tenantId": "tenant-001"}, "messageId": "s"})
            readers.append(asyncio.create_task(_read_until_closed(conn)))  # (and answer pings)
        yield Service(f"http://127.0.0.1:{http}", ws, redis)
        assert proc.poll() is None, "the service died"
    finally:
        for reader in readers:
            reader.cancel()
        for session in sessions:
            await session.close()
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(proc.communicate, None, 20)
        redis.close()
    errors = [line for line in err.splitlines() if '"level":"error"' in line or "Traceback" in line]
    assert errors == [], "the service logged errors:\n" + "\n".join(errors[:5])


async def _read_until_closed(conn: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in conn:
        pass


@pytest.mark.timeout(SCHEMATHESIS_TIMEOUT_S + 60)
async def test_schemathesis_finds_the_service_true_to_its_document(service: Service, tmp_path: Path) -> None:
    """Every operation, every phase (examples, coverage, fuzzing, stateful through the links), positive and
    negative data, every check schemathesis has: no 5xx; each status, content type, header and body as the
    document says; invalid input refused (4xx), valid input accepted; 401 without the key; 405 with ``Allow``
    for other methods; 415 for another ``Content-Type``."""
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        SCHEMATHESIS,
        "run",
        str(SPEC),
        "--url",
        service.url,
        "--header",
        f"Authorization: Bearer {API_KEY}",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--no-color",
        cwd=tmp_path,  # its .hypothesis database stays out of the repository
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), SCHEMATHESIS_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    report = out.decode(errors="replace")
    assert proc.returncode == 0, f"schemathesis failed (seed {SEED}):\n{report[-20000:]}"
    operations = sum(len(item) for item in load_spec()["paths"].values())
    assert f"Operations:       {operations} selected / {operations} total" in report, report[:3000]
    generated = re.search(r"(\d+) generated", report)
    assert generated is not None, report[-3000:]
    assert int(generated.group(1)) > 20 * operations, report[-3000:]
    assert time.monotonic() - started < SCHEMATHESIS_TIMEOUT_S


async def test_real_answers_are_as_documented(service: Service) -> None:
    """What fuzzing rarely reaches, with real data, each answer checked by schemathesis against the document:
    publishing (and a duplicate), history in wire form and as a user's notifications, the figures after
    traffic, the connections and closing one, a revocation, the rate limit's 429, a body too large, and with
    Redis gone: not ready, 503 to publish, history and revocation."""
    schema = schemathesis.openapi.from_path(str(SPEC))
    key = {"Authorization": f"Bearer {API_KEY}"}
    user = {"Authorization": f"Bearer {token('u-1', ['tenant-001'])}"}

    def answer(path: str, method: str, status: int, headers: dict[str, str] = key, **parts: Any) -> Any:
        case = schema[path][method].Case(headers=headers, **parts)
        response = case.call(base_url=service.url)
        assert response.status_code == status, response.text[:2000]
        unavailable: list[schemathesis.CheckFunction] = [not_a_server_error] if status == 503 else []  # Redis down
        case.validate_response(response, headers=headers, excluded_checks=unavailable)
        kind = {name.lower(): values for name, values in response.headers.items()}["content-type"][0]
        return response.json() if "json" in kind else response.text

    def check() -> None:
        assert answer("/openapi.yaml", "GET", 200, {}) == SPEC.read_text()
        events = [order(n=n) for n in range(5)] + [{**order(n=9), "recipients": ["u-1"], "newField": [1, 2.5]}]
        published = answer("/v1/events", "POST", 202, body=events)["events"]
        assert answer("/v1/events", "POST", 202, body={**order(), "id": published[0]["id"]})["events"][0]["duplicate"]
        history = answer("/v1/tenants/{tenantId}/events", "GET", 200, path_parameters={"tenantId": "tenant-001"})
        assert [e["id"] for e in history["events"]] == [p["id"] for p in published]
        mine = answer("/v1/tenants/{tenantId}/events", "GET", 200, user, path_parameters={"tenantId": "tenant-001"})
        assert len(mine["notifications"]) == 6
        answer("/v1/tenants/{tenantId}/events", "GET", 403, user, path_parameters={"tenantId": "tenant-002"})
        answer(
            "/v1/tenants/{tenantId}/events",
            "GET",
            401,
            {"Authorization": "Bearer not.a.token"},
            path_parameters={"tenantId": "tenant-001"},
        )
        deadline = time.monotonic() + 10
        while (stats := answer("/v1/stats", "GET", 200))["latencyMs"]["p50"] is None:
            assert time.monotonic() < deadline, stats
            time.sleep(0.1)
        listed = answer("/v1/connections", "GET", 200, query={"tenantId": "tenant-001", "limit": 100})
        assert listed["total"] == 10
        first = listed["connections"][0]["id"]
        answer("/v1/connections/{id}", "DELETE", 202, path_parameters={"id": first})
        answer("/v1/connections/{id}", "DELETE", 404, path_parameters={"id": first})
        answer("/v1/revocations", "POST", 202, body={"userId": "u-9", "tenantId": "tenant-001"})
        burst: Any = [order("tenant-burst", n) for n in range(1000)]
        answer("/v1/events", "POST", 202, body=burst)
        answer("/v1/events", "POST", 202, body=burst)  # duplicates: they take the bucket all the same
        limited = schema["/v1/events"]["POST"].Case(headers=key, body=burst).call(base_url=service.url)
        assert limited.status_code == 429
        retry_after = {name.lower(): values for name, values in limited.headers.items()}["retry-after"]
        assert int(retry_after[0]) >= 1
        schema["/v1/events"]["POST"].Case(headers=key, body=burst).validate_response(limited, headers=key)
        large = requests.post(
            service.url + "/v1/events",
            data=b" " * (1024 * 1024 + 1),
            headers={**key, "Content-Type": "application/json"},
        )
        assert (large.status_code, large.headers["Content-Type"]) == (413, "application/problem+json")
        service.redis.kill()
        deadline = time.monotonic() + 15
        while requests.get(service.url + "/readyz").status_code != 503:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert answer("/readyz", "GET", 503, {})["problems"]
        answer("/v1/events", "POST", 503, body=order("tenant-003"))
        answer("/v1/tenants/{tenantId}/events", "GET", 503, path_parameters={"tenantId": "tenant-001"})
        answer("/v1/revocations", "POST", 503, body={"userId": "u-1"})

    await asyncio.to_thread(check)
