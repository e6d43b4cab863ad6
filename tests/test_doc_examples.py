"""README.md and INTEGRATION_GUIDE.md run as written.

Every ``python`` and ``sh``/``bash``/``console`` block runs, in document order, in a working directory of its
own (a temporary one), as a user would: Python blocks with this venv's Python, shell blocks with ``bash -e -o
pipefail``, the venv's ``bin`` first on the ``PATH``, ``HOME`` and ``XDG_STATE_HOME`` in the temporary
directory, and a private redis-server as ``ARDA_REDIS_URL`` (README's shell examples follow `make run`, so they
run without it, against the embedded bus). ``arda serve`` is not run by a block: the test
starts it in the background, in the same directory and environment, on free ports that the blocks find through
``ARDA_HTTP_URL`` and ``ARDA_WS_URL`` (what ``arda publish`` and ``arda tail`` read). Blocks that are not meant
to run carry a marker with the reason (see ``doc_blocks``); there are few, and each says why.

The integration guide's examples are also checked for what they promise: every event an example publishes
reaches a subscriber on the private Redis exactly once (retries and relays included), and nothing of a rolled
back transaction arrives; its TypeScript examples type-check against the client's source, and its SSR example
renders in Node, where there is no ``window``.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from arda.events import AnyEvent, EventBus
from arda.testing.redis_server import RedisServer, free_port
from conftest import eventually
from doc_blocks import RUN_LANGUAGES, TS_LANGUAGES, Block, blocks, console_commands
from user_session import Service, start_service, stop_services, user_env
from ws_client import API_KEY, SECRET

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GUIDE = ROOT / "INTEGRATION_GUIDE.md"
DOCS = (README, GUIDE)
MAX_NOT_RUN = 6  # across both documents: a block not run is a block nobody checks
BLOCK_TIMEOUT_S = 30


# -- the markers --------------------------------------------------------------------------------------------
def test_the_documents_have_runnable_examples() -> None:
    for doc in DOCS:
        runnable = [b for b in blocks(doc) if b.runs]
        assert {b.language for b in runnable} >= {"python", "bash"}, f"{doc.name} has no Python or shell example"


def test_blocks_not_run_are_few_and_each_says_why() -> None:
    not_run = [b for doc in DOCS for b in blocks(doc) if b.marker == "not-run"]
    assert not_run, "the pattern finds the markers"  # README's `make run` / `make test` block is one
    assert len(not_run) <= MAX_NOT_RUN, f"too many examples nobody runs: {[b.where for b in not_run]}"
    for block in not_run:
        assert len(block.argument.split()) >= 3, f"{block.where}: `<!-- not-run: ... -->` needs a reason"


def test_every_comment_before_an_example_is_a_known_marker() -> None:
    """A misspelt marker (``<!-- not run -->``) would silently make a block run, or not be what it says."""
    for doc in DOCS:
        for block in blocks(doc):
            if block.language not in RUN_LANGUAGES | TS_LANGUAGES or block.comment is None:
                continue
            assert block.marker is not None, f"{block.where}: unknown marker <!-- {block.comment} -->"
            if block.marker == "file":
                assert re.fullmatch(r"[A-Za-z0-9_.-]+\.(py|ts|tsx)", block.argument), f"{block.where}: file name"
            if block.marker == "fixture":
                assert block.argument == "serve", f"{block.where}: the only fixture is `serve`"
                assert command_of(block) == "arda serve", f"{block.where}: the serve fixture runs exactly `arda serve`"


def test_blocks_are_extracted_as_written(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "text\n```python\nprint(1)\n```\n<!-- not-run: needs a real cluster -->\n```bash\nmake chaos\n```\n"
        "<!-- file: app.py -->\n```python\nx = 1\n```\n```console\n$ arda config\n| variable |\n```\n"
    )
    found = blocks(doc)
    assert [(b.line, b.language, b.marker, b.argument) for b in found] == [
        (2, "python", None, ""),
        (6, "bash", "not-run", "needs a real cluster"),
        (10, "python", "file", "app.py"),
        (13, "console", None, ""),
    ]
    assert found[0].code == "print(1)\n"
    assert console_commands(found[3].code) == "arda config\n"
    (tmp_path / "open.md").write_text("```python\nprint(1)\n")
    with pytest.raises(ValueError, match=r"open.md:1: the code block is never closed"):
        blocks(tmp_path / "open.md")


def command_of(block: Block) -> str:
    """The block's shell code without comments and blank lines, one line."""
    lines = [line.split("#", 1)[0].strip() for line in block.code.splitlines()]
    return " ".join(line for line in lines if line)


# -- running them -------------------------------------------------------------------------------------------
@dataclass
class Run:
    block: Block
    stdout: str
    stderr: str


@dataclass
class Workspace:
    """One document's working directory and environment, and what its blocks printed."""

    directory: Path
    env: dict[str, str]
    python_env: dict[str, str] = field(default_factory=dict)  # only for the Python blocks
    runs: list[Run] = field(default_factory=list)

    def run_block(self, block: Block) -> Run:
        env = self.env
        if block.language == "python":
            script = self.directory / f".block-{block.line}.py"
            script.write_text(block.code)
            argv = [sys.executable, script.name]
            env = {**env, **self.python_env}
        else:
            script = self.directory / f".block-{block.line}.sh"
            script.write_text(console_commands(block.code) if block.language == "console" else block.code)
            argv = ["bash", "-e", "-o", "pipefail", script.name]
        try:
            done = subprocess.run(
                argv, cwd=self.directory, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{block.where}: still running after {BLOCK_TIMEOUT_S} s: {exc.stderr!r}") from None
        if done.returncode != 0:
            raise AssertionError(
                f"{block.where} ({block.language}) exited {done.returncode}\n--- stdout\n{done.stdout}"
                f"--- stderr\n{done.stderr}"
            )
        run = Run(block, done.stdout, done.stderr)
        self.runs.append(run)
        return run

    async def run_all(self, doc: Path) -> list[Run]:
        """Write the ``file:`` blocks and run the runnable ones, in document order (each after the last)."""
        for block in blocks(doc):
            if block.marker == "file":
                (self.directory / block.argument).write_text(block.code)
            elif block.runs:
                await asyncio.to_thread(self.run_block, block)
        return self.runs

    def printed_by(self, needle: str) -> Run:
        """The run of the one block whose code contains ``needle``."""
        matching = [r for r in self.runs if needle in r.block.code]
        assert len(matching) == 1, f"expected one run block containing {needle!r}, found {len(matching)}"
        return matching[0]


@pytest.fixture(scope="module")
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
async def serve_fixture() -> AsyncIterator[list[Service]]:
    """The documents' `arda serve` (see ``start_service``): stopped at the end, cleanly."""
    started: list[Service] = []
    yield started
    stop_services(started)


def fixture_blocks(doc: Path) -> list[Block]:
    return [b for b in blocks(doc) if b.marker == "fixture"]


# -- README.md ----------------------------------------------------------------------------------------------
async def test_the_readme_runs_as_written(
    tmp_path: Path, private_redis: RedisServer, serve_fixture: list[Service]
) -> None:
    """`make run`'s service (development mode, the embedded bus) and the CLI against it, from another terminal
    where ARDA_REDIS_URL is not set, as README says; the bus examples (Python) against a private Redis."""
    private_redis.client().flushall()
    work = tmp_path / "work"
    work.mkdir()
    env = user_env(tmp_path / "home")
    assert len(fixture_blocks(README)) == 1, "README starts the service in one block"
    service = await start_service(serve_fixture, work, env)  # no ARDA_REDIS_URL: the embedded bus, as make run
    workspace = Workspace(work, {**env, **service.env}, python_env={"ARDA_REDIS_URL": private_redis.url})
    runs = await workspace.run_all(README)
    assert len(runs) >= 4

    # the CLI reached the service: the published events' ids and positions, and tail's replayed notification
    lines = workspace.printed_by("arda token --user").stdout.splitlines()
    published = [r for r in map(json_object, lines) if r is not None and "duplicate" in r]
    assert len(published) == 2, lines
    assert all(p["duplicate"] is False and re.fullmatch(r"\d+-\d+", str(p["position"])) for p in published)
    tailed = [r for r in map(json_object, workspace.printed_by("arda tail").stdout.splitlines()) if r is not None]
    assert [n.get("eventType") for n in tailed if "eventType" in n] == ["card.transition"], tailed

    # the bus examples published to the Redis of ARDA_REDIS_URL, and it kept them
    stored: list[tuple[bytes, dict[bytes, bytes]]] = private_redis.command("XRANGE", "arda:stream:tenant-001", "-", "+")
    types = [json.loads(fields[b"e"])["type"] for _, fields in stored if b"e" in fields]
    assert "order.created" in types
    assert "order.status_changed" in types
    bus_example = workspace.printed_by("asyncio.run(main())").stdout.splitlines()
    assert bus_example[1].startswith("order.created ")
    assert re.fullmatch(r"[1-9]\d* events retained for tenant-001", bus_example[2]), bus_example
    assert service.process.poll() is None  # and the service still runs


def json_object(line: str) -> dict[str, object] | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


# -- INTEGRATION_GUIDE.md -----------------------------------------------------------------------------------
#: What the guide's examples publish to tenant-001, by order number (or loop id): each exactly once, though the
#: examples retry requests, run tasks twice, replay outbox rows and publish the same script call twice.
GUIDE_EVENTS = {
    "PO-FASTAPI-1": 1,  # FastAPI: a request and its retry (same Idempotency-Key)
    "PO-DJANGO-1": 1,  # Django: on commit (PO-DJANGO-ROLLBACK: never)
    "PO-FLASK-1": 1,  # Flask: the same transition twice
    "loop-CELERY-1": 1,  # Celery: the task run twice
    "PO-OUTBOX-1": 1,  # the outbox: a row replayed after a "crash"
    "PO-OUTBOX-2": 1,
    "PO-OUTBOX-3": 1,  # the relay loop (check_outbox_relay_loop)
    "PO-HTTP-1": 1,  # curl to POST /v1/events
    "PO-REDIS-1": 1,  # the publish script, twice
    "PO-LIVE-1": 1,  # a plain PUBLISH (live only)
}

CELERY_RETRIES = """
import json
from celery.signals import task_retry
from tasks import app, publish_event

app.conf.task_always_eager = True
retries = []
task_retry.connect(lambda **kw: retries.append(str(kw["reason"])), weak=False)
event = {"type": "order.created", "id": "never-1", "tenantId": "tenant-001", "orderId": "o", "orderNumber": "PO-NEVER"}
try:
    publish_event.delay(event).get()
except Exception as exc:
    print(json.dumps({"error": type(exc).__name__, "retries": len(retries), "max": publish_event.max_retries}))
"""

OUTBOX_RELAY_LOOP = """
import json, os
from arda.events import SyncPublisher
from outbox import open_db, place_order, relay

db = open_db("shop.db")
with db:
    db.execute("INSERT INTO outbox (event) VALUES (?)", (json.dumps({"type": "order.created", "tenantId": "x y"}),))
place_order(db, "tenant-001", "PO-OUTBOX-3")
def done():
    return db.execute("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND error IS NULL").fetchone()[0] == 0
with SyncPublisher(os.environ["ARDA_REDIS_URL"]) as publisher:
    relay(db, publisher, idle_s=0.05, stop=done)
print(json.dumps(db.execute("SELECT error IS NOT NULL, published_at IS NOT NULL FROM outbox ORDER BY id").fetchall()))
"""


def run_python(workspace: Workspace, code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=workspace.directory,
        env={**workspace.env, **env},
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def label(event: AnyEvent) -> str:
    return str(getattr(event, "order_number", None) or getattr(event, "loop_id", None) or event.type)


async def authenticates(ws_url: str, token: str) -> list[str]:
    """The service's answers to ``authenticate`` with ``token`` and ``subscribe`` to tenant-001."""
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        await ws.send_json({"type": "authenticate", "payload": {"token": token}, "messageId": "a"})
        await ws.send_json({"type": "subscribe", "payload": {"tenantId": "tenant-001"}, "messageId": "s"})
        return [(await ws.receive_json(timeout=5))["type"] for _ in range(2)]


@pytest.mark.timeout(120)
async def test_the_integration_guide_runs_as_written(
    tmp_path: Path, private_redis: RedisServer, serve_fixture: list[Service]
) -> None:
    """Each backend example publishes for real to a private Redis, which a subscriber follows; the service runs
    in production mode (a JWT secret, an API key) on the same Redis, for the HTTP API and the token."""
    private_redis.client().flushall()
    work = tmp_path / "work"
    work.mkdir()
    env = user_env(tmp_path / "home", ARDA_REDIS_URL=private_redis.url, ARDA_JWT_SECRET=SECRET, ARDA_API_KEY=API_KEY)
    service = await start_service(serve_fixture, work, env)
    workspace = Workspace(work, {**env, **service.env})
    received: list[AnyEvent] = []
    async with EventBus(private_redis.url) as bus:
        await bus.subscribe_tenant("tenant-001", received.append)
        await workspace.run_all(GUIDE)

        # Celery retries a PublishError (Redis unreachable here) max_retries times, then gives up
        retried = json.loads(
            await asyncio.to_thread(
                run_python, workspace, CELERY_RETRIES, ARDA_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"
            )
        )
        assert retried == {"error": "PublishError", "retries": retried["max"], "max": 7}
        # the relay loop sets an invalid row aside and publishes the rows after it
        rows = json.loads(await asyncio.to_thread(run_python, workspace, OUTBOX_RELAY_LOOP))
        assert rows == [[0, 1], [0, 1], [1, 0], [0, 1]]

        await eventually(lambda: set(GUIDE_EVENTS) <= {label(e) for e in received}, timeout=10)
        await asyncio.sleep(0.3)  # anything twice would have arrived by now
    assert dict(Counter(map(label, received))) == GUIDE_EVENTS

    # FastAPI: the retried request found the same order and event; the bad tenant was a 422
    fastapi = workspace.printed_by("TestClient(app)").stdout.splitlines()
    assert re.match(r"201 \{.*'duplicate': False\}", fastapi[0]), fastapi
    assert re.match(r"201 \{.*'duplicate': True\}", fastapi[1]), fastapi
    assert re.match(r"422 .*tenantId", fastapi[2]), fastapi
    # ...and its token is one the notification service accepts, for that user's tenant
    token = re.fullmatch(r"\{'token': '([^']+)'\}", fastapi[3])
    assert token is not None, fastapi[3]
    assert await authenticates(service.env["ARDA_WS_URL"], token.group(1)) == ["authenticated", "subscribed"]
    # Django: the rolled back order answered 409
    assert "refused" in workspace.printed_by("PO-DJANGO-ROLLBACK").stdout.splitlines()[1]
    # the publish script: stored, then a duplicate
    assert workspace.printed_by("EVAL").stdout.split()[1::2] == ["0", "1"]
    assert service.process.poll() is None


#: Loaded before the SSR example: on the server, any use of the browser's globals or a WebSocket throws.
SERVER_TRAP = """
globalThis.WebSocket = class { constructor() { throw new Error("a WebSocket opened on the server"); } };
for (const name of ["window", "document", "navigator", "localStorage"]) {
  Object.defineProperty(globalThis, name, { get() { throw new Error(`${name} used on the server`); } });
}
"""


def test_the_guides_typescript_examples_type_check_and_render_on_a_server(tmp_path: Path) -> None:
    """Against the client's source (clients/typescript/src), with the client's own strict settings; the SSR
    example runs in Node, where touching ``window`` (or ``document``, a WebSocket…) throws and a pending timer
    would keep the process alive."""
    client = ROOT / "clients" / "typescript"
    bin_dir = client / "node_modules" / ".bin"
    assert (bin_dir / "tsc").exists(), "clients/typescript has no node_modules: run `npm ci` there (make does)"
    files = [b for b in blocks(GUIDE) if b.language in TS_LANGUAGES]
    assert {b.argument for b in files} >= {"Notifications.tsx", "realtime-token.ts", "vite.config.ts", "main.tsx"}
    for block in files:
        assert block.marker == "file", f"{block.where}: a TypeScript example is a file (<!-- file: NAME.tsx -->)"
        (tmp_path / block.argument).write_text(block.code)
    (tmp_path / "node_modules").symlink_to(client / "node_modules")
    tsconfig = {
        "extends": str(client / "tsconfig.json"),
        "compilerOptions": {
            "lib": ["ES2022", "DOM", "DOM.Iterable"],
            "types": ["node", "vite/client"],
            "paths": {
                "@arda/notifications": [str(client / "src" / "index.ts")],
                "@arda/notifications/client": [str(client / "src" / "core.ts")],
            },
        },
        "include": ["*.ts", "*.tsx"],
    }
    (tmp_path / "tsconfig.json").write_text(json.dumps(tsconfig))
    checked = subprocess.run(
        [str(bin_dir / "tsc"), "-p", "tsconfig.json", "--noEmit"], cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    bundle = ["--bundle", "--platform=node", "--format=esm", "--jsx=automatic", "--packages=external"]
    built = subprocess.run(
        [str(bin_dir / "esbuild"), "server-render.tsx", *bundle, "--tsconfig=tsconfig.json", "--outfile=out/ssr.mjs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    assert "function useNotifications(" in (tmp_path / "out" / "ssr.mjs").read_text()  # the client's source
    (tmp_path / "out" / "trap.mjs").write_text(SERVER_TRAP)
    probe = subprocess.run(
        ["node", "--import", "./out/trap.mjs", "-e", "typeof window"], cwd=tmp_path, capture_output=True
    )
    assert probe.returncode != 0  # the trap springs
    rendered = subprocess.run(
        ["node", "--import", "./out/trap.mjs", "out/ssr.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=20
    )
    assert rendered.returncode == 0, rendered.stderr
    promised = re.search(r"console\.log\(html\); // (.*)", (tmp_path / "server-render.tsx").read_text())
    assert promised is not None
    assert rendered.stdout.strip().replace("<!-- -->", "") == promised.group(1)
