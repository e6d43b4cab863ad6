"""The ``arda`` command, end to end, in a subprocess."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from arda.cli import build_parser
from arda.commands import EXIT_MEANINGS, Exit
from arda.events import EventBus
from arda.testing.redis_server import free_port
from conftest import Collector, eventually

ARDA = str(Path(sys.executable).parent / "arda")


def arda(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARDA, *args], capture_output=True, text=True, timeout=timeout, check=False)


def test_schema_prints_every_event_type(tmp_path: Path) -> None:
    out = arda("schema")
    assert out.returncode == 0, out.stderr
    schema = json.loads(out.stdout)
    assert set(schema["discriminator"]["mapping"]) == {
        "card.transition",
        "order.created",
        "order.status_changed",
        "loop.parameters_changed",
        "relowisa.recommendation",
        "notification.acknowledged",  # the service's own type, registered when the CLI loads it
    }
    target = tmp_path / "events.schema.json"
    assert arda("schema", "--out", str(target)).returncode == 0
    assert json.loads(target.read_text()) == schema


def test_demo_on_the_embedded_bus_prints_what_the_subscriber_received() -> None:
    out = arda("demo")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["type"] for e in lines] == [
        "card.transition",
        "order.created",
        "order.status_changed",
        "loop.parameters_changed",
        "relowisa.recommendation",
    ]
    assert all(e["tenantId"] == "tenant-001" and e["position"] for e in lines)
    assert "memory://" in out.stderr


@pytest.fixture(params=["redis", "cluster"])
def store_url(request: pytest.FixtureRequest) -> str:
    """The CLI's bus commands on one Redis and on a Redis Cluster."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def test_demo_and_history_against_redis(store_url: str) -> None:
    redis_url = store_url
    assert arda("demo", "--redis-url", redis_url).returncode == 0
    out = arda("history", "tenant-001", "--redis-url", redis_url)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(events) == 5
    since = events[2]["position"]
    tail = arda("history", "tenant-001", "--since", since, "--redis-url", redis_url)
    assert [json.loads(line)["id"] for line in tail.stdout.splitlines()] == [e["id"] for e in events[3:]]
    bad = arda("history", "tenant-001", "--since", "yesterday", "--redis-url", redis_url)
    assert bad.returncode == 2
    assert "since" in bad.stderr


def test_history_reports_an_unrecoverable_gap(redis_url: str) -> None:
    assert arda("demo", "--redis-url", redis_url).returncode == 0
    out = arda("history", "tenant-001", "--since", "1-0", "--redis-url", redis_url)
    assert out.returncode == 3
    assert "cannot be recovered" in out.stderr


async def test_dlq_lists_malformed_messages(store_url: str) -> None:
    redis_url = store_url
    async with EventBus(redis_url) as bus:
        await bus.subscribe_tenant("tenant-001", Collector())
        await bus.backend.publish_raw("tenant-001", b"{oops")
        await eventually(lambda: bus.stats.dead_lettered == 1)
    out = await asyncio.to_thread(arda, "dlq", "--redis-url", redis_url)
    assert out.returncode == 0, out.stderr
    (letter,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert letter["reason"] == "invalid_json"
    assert letter["payload"] == "{oops"
    assert letter["channel"] == "arda:events:tenant-001"


def test_unreachable_redis_is_a_clear_error_and_a_nonzero_exit() -> None:
    out = arda("demo", "--redis-url", f"redis://:pw@127.0.0.1:{free_port()}/0")
    assert out.returncode == 2
    assert "cannot reach Redis at redis://:***@127.0.0.1:" in out.stderr
    assert "pw@" not in out.stderr


# -- the command line: help, one-line failures, exit statuses ---------------------------------------------------
def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_command_and_option_has_help_and_takes_log_level() -> None:
    parser = build_parser()
    commands = subcommands()
    assert set(commands) == {
        "demo",
        "schema",
        "history",
        "dlq",
        "serve",
        "token",
        "publish",
        "tail",
        "connections",
        "disconnect",
        "protocol",
        "config",
    }
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert all(choice.help for choice in sub._choices_actions)  # each command's line in `arda --help`
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, command in {"arda": parser, **commands}.items()
        for action in command._actions
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert missing == []
    for name, command in commands.items():
        assert "--log-level" in command._option_string_actions, name
        assert command.description, name
    # the bus commands, and serve, take --redis-url; the others do not pretend to
    assert {n for n, c in commands.items() if "--redis-url" in c._option_string_actions} == {
        "demo",
        "history",
        "dlq",
        "serve",
        "publish",
    }
    # --dev is a flag (and still takes a value)
    assert parser.parse_args(["serve", "--dev"]).dev == "true"
    assert parser.parse_args(["serve", "--dev", "false"]).dev == "false"
    assert parser.parse_args(["serve"]).dev is None


def test_help_lists_the_exit_statuses_as_the_docs_do() -> None:
    out = arda("--help")
    assert out.returncode == 0
    epilog = " ".join(out.stdout.split("exit statuses:", 1)[1].split())
    for code, meaning in EXIT_MEANINGS.items():
        assert f"{int(code)} {meaning}" in epilog
    docs = (Path(__file__).parent.parent / "docs" / "service.md").read_text()
    section = docs.split("\n### CLI exit statuses\n", 1)[1].split("\n#", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")][1:]
    assert [int(row[0].strip()) for row in rows] == [int(code) for code in Exit]
    for command in ("history", "serve", "publish"):
        help_out = arda(command, "--help")
        assert help_out.returncode == 0
        assert "--log-level" in help_out.stdout


def one_line(out: subprocess.CompletedProcess[str]) -> str:
    """The only line on stderr (and never a traceback)."""
    assert "Traceback" not in out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--log-level", "loud", "demo"], {}, "argument --log-level: expected debug, info, warning, error, got 'loud'"),
        (["demo", "--log-level", "loud"], {}, "arda demo: error: argument --log-level"),
        (["serve", "--log-level", "loud"], {}, "--log-level: expected debug, info, warning, error, got 'loud'"),
        (["schema"], {"ARDA_LOG_LEVEL": "loud"}, "ARDA_LOG_LEVEL / --log-level"),
        ([], {}, "arda: error: the following arguments are required: COMMAND"),
        (["nosuch"], {}, "invalid choice: 'nosuch'"),
        (["history"], {}, "arda history: error: the following arguments are required: tenant"),
        (["history", "bad tenant!"], {}, "argument tenant: tenant id 'bad tenant!' must be"),
        (["dlq", "--count", "0", "--redis-url", "redis://127.0.0.1:1"], {}, "argument --count: expected 1 or more"),
        (["token", "--ttl", "soon"], {}, "argument --ttl: expected a number of seconds, got 'soon'"),
        (["publish", "--sample", "nope"], {}, "argument --sample: invalid choice: 'nope'"),
        (["publish", "{oops"], {}, "arda: error: not valid JSON"),
        (["publish", "--redis-url", "memory://", "--sample", "order.created"], {}, "nothing would receive the event"),
        (["history", "t-1", "--redis-url", "mysql://db"], {}, "--redis-url: expected memory://, redis://"),
        (["schema", "--out", "/nonexistent/dir/events.json"], {}, "cannot write /nonexistent/dir/events.json"),
        (["serve", "--dev", "maybe"], {}, "ARDA_DEV / --dev: expected true or false"),
        (["serve", "--port", "70000"], {}, "ARDA_PORT / --port: not a port number: 70000"),
        (["serve", "--unknown-flag"], {}, "unrecognized arguments: --unknown-flag"),
    ],
)
def test_bad_input_is_one_line_and_status_2(args: list[str], env: dict[str, str], says: str) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ARDA_")}
    out = subprocess.run([ARDA, *args], env={**environ, **env}, capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == Exit.ERROR
    assert says in one_line(out)


@pytest.mark.parametrize("command", [["schema"], ["demo"], ["protocol"], ["config"]])
def test_a_closed_pipe_is_one_line_and_status_141(command: list[str]) -> None:
    """The reader is gone before the command writes (``| head`` that has read enough): no traceback."""
    proc = subprocess.Popen([ARDA, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == Exit.BROKEN_PIPE
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "arda: the output was closed before everything was written (broken pipe)"


def test_demo_into_head_prints_no_traceback() -> None:
    out = subprocess.run(
        ["bash", "-c", f'"{ARDA}" demo | head -c 10; echo " ${{PIPESTATUS[0]}}"'],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    head, status = out.stdout.rsplit(" ", 1)
    assert head == '{"type":"c'
    assert int(status) in (Exit.OK, Exit.BROKEN_PIPE)  # whether head closed before demo had written it all
    assert "Traceback" not in out.stderr


def test_every_bus_command_with_redis_down_is_one_line_and_status_2() -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    for args in (
        ["demo"],
        ["history", "tenant-001"],
        ["dlq"],
        ["publish", "--sample", "order.created"],
    ):
        out = arda(*args, "--redis-url", down)
        assert out.returncode == Exit.ERROR, args
        assert one_line(out).startswith("arda: error: cannot reach Redis at redis://127.0.0.1:")


def test_publish_to_redis_refuses_bad_json_and_unknown_types(redis_url: str) -> None:
    bad = arda("publish", "--redis-url", redis_url, '{"type": "order.created",')
    assert bad.returncode == Exit.ERROR
    assert one_line(bad).startswith("arda: error: not valid JSON")
    unknown = arda("publish", "--redis-url", redis_url, '{"type": "nope.nothing", "tenantId": "tenant-001"}')
    assert unknown.returncode == Exit.ERROR
    assert "unknown event type 'nope.nothing'" in one_line(unknown)
    invalid = arda("publish", "--redis-url", redis_url, '{"type": "order.created", "tenantId": "tenant-001"}')
    assert invalid.returncode == Exit.ERROR
    assert "orderId" in one_line(invalid)
    ok = arda("publish", "--redis-url", redis_url, "--sample", "order.created")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["duplicate"] is False


def test_history_and_dlq_without_redis_say_the_embedded_bus_is_in_the_service(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARDA_")}
    env["ARDA_API_KEY"] = "some-key"
    nobody = f"http://127.0.0.1:{free_port()}"
    out = subprocess.run(
        [ARDA, "history", "tenant-001", "--url", nobody], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == Exit.ERROR
    line = one_line(out)
    assert f"no service answers at {nobody}" in line
    assert "the embedded bus lives inside the running `arda serve`" in line
    assert "--redis-url" in line
    out = subprocess.run([ARDA, "dlq"], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == Exit.ERROR
    assert "the embedded bus lives inside the running `arda serve`" in one_line(out)
