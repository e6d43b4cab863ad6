"""The ``arda`` command.

``arda serve``       run the notification service (what ``make run`` starts)
``arda token``       mint a development JWT
``arda publish``     publish an event through the HTTP API (or straight to Redis)
``arda tail``        connect as a client and print notifications as they arrive
``arda connections`` / ``disconnect``   the service instance's connections
``arda demo``        publish a few events on the bus and print what a subscriber receives
``arda schema``      print or write the JSON Schema of every event type
``arda protocol``    print the WebSocket protocol's error and close codes (for clients)
``arda config``      print the configuration table
``arda history``     print a tenant's retained events
``arda dlq``         list dead-lettered messages

Every failure is one line on stderr and an exit status of :class:`~arda.commands.Exit` — never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import NoReturn

import msgspec

from . import __version__, logs
from . import notifications as _notifications  # noqa: F401 - registers notification.acknowledged
from .commands import (
    DEFAULT_HTTP,
    EXIT_MEANINGS,
    Exit,
    MissingExtraError,
    RefusedError,
    add_service_commands,
    api_key_option,
    bus_url,
    http_history,
    log_level,
    positive_int,
    tenant_id,
    url_options,
)
from .events import AnyEvent, ArdaError, EventBus, default_registry
from .samples import demo_events

log = logging.getLogger("arda.cli")


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``arda history: error: … (arda history --help)``)."""

    def error(self, message: str) -> NoReturn:
        _say(f"{self.prog}: error: {message} (see `{self.prog} --help`)")
        raise SystemExit(Exit.ERROR)


def _say(line: str) -> None:
    """One line on stderr, even when stderr is gone."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


def _url(args: argparse.Namespace) -> str:
    return bus_url(str(args.redis_url or os.environ.get("ARDA_REDIS_URL") or "memory://"))


def cmd_schema(args: argparse.Namespace) -> int:
    text = json.dumps(default_registry.json_schema(), indent=2, sort_keys=True) + "\n"
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise ArdaError(f"cannot write {args.out}: {exc.strerror}") from None
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


async def _demo(url: str, tenant: str) -> int:
    received: asyncio.Queue[AnyEvent] = asyncio.Queue()
    async with EventBus(url) as bus:
        print(f"event bus on {bus.backend.safe_url}; subscribing to tenant {tenant!r}", file=sys.stderr)
        await bus.subscribe_tenant(tenant, received.put_nowait)
        events = demo_events(tenant)
        results = await bus.publish_many(events)
        for result in results:
            print(f"published {result.id} at position {result.position}", file=sys.stderr)
        for _ in events:
            event = await asyncio.wait_for(received.get(), 5)
            print(default_registry.encode(event).decode())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    return asyncio.run(_demo(_url(args), args.tenant))


def _embedded(args: argparse.Namespace) -> bool:
    """Whether the command is asked about the embedded bus (no Redis URL, or memory://): it lives inside the
    running service, not in this process."""
    return _url(args).startswith("memory://")


async def _history(url: str, tenant: str, since: str | None, limit: int) -> int:
    async with EventBus(url) as bus:
        page = await bus.history(tenant, since=since, limit=limit)
        for event in page.events:
            print(default_registry.encode(event).decode())
        if not page.reaches_back:
            print(f"history no longer reaches back to {since}: the gap cannot be recovered", file=sys.stderr)
            return Exit.INCOMPLETE
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    if _embedded(args):
        return http_history(args)
    return asyncio.run(_history(_url(args), args.tenant, args.since, args.limit))


async def _dlq(url: str, count: int) -> int:
    async with EventBus(url) as bus:
        for letter in await bus.dead_letters(count):
            row = letter._asdict()
            row["payload"] = letter.payload.decode("utf-8", "replace")
            print(msgspec.json.encode(row).decode())
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    if _embedded(args):
        raise ArdaError(
            "no --redis-url (nor ARDA_REDIS_URL): the embedded bus lives inside the running `arda serve` and its dead "
            "letters with it, out of this command's reach; give the Redis URL of a service that runs on Redis"
        )
    return asyncio.run(_dlq(_url(args), args.count))


def exit_statuses() -> str:
    """The exit status table of ``arda --help``."""
    rows = (
        textwrap.fill(meaning, 100, initial_indent=f"  {int(code):<4} ", subsequent_indent=" " * 7)
        for code, meaning in EXIT_MEANINGS.items()
    )
    return "exit statuses:\n" + "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="arda",
        description="Arda Realtime: typed events over Redis, delivered to browsers. `arda COMMAND --help` tells "
        "more; every failure is one line on stderr.",
        epilog=exit_statuses(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"arda {__version__}", help="print the version")
    levels = "debug, info, warning or error"
    parser.add_argument(
        "--log-level",
        dest="global_log_level",
        type=log_level,
        metavar="LEVEL",
        help=f"{levels} (default: $ARDA_LOG_LEVEL, else warning; info for serve); logs are JSON lines on stderr",
    )
    common = Parser(add_help=False)
    common.add_argument("--log-level", type=log_level, metavar="LEVEL", help=f"{levels}, as before the command")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="one of these (`arda COMMAND --help` tells more):"
    )

    def with_url(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--redis-url",
            help="the bus: a Redis URL (default: $ARDA_REDIS_URL, else the embedded, in-process memory://)",
        )
        return p

    p = with_url(
        sub.add_parser(
            "demo",
            parents=[common],
            help="publish sample events and print what a subscriber receives",
            description="Publish one sample event of each type on the bus and print what a subscriber receives "
            "(JSON lines); on the in-process memory:// bus unless given a Redis.",
        )
    )
    p.add_argument("--tenant", default="tenant-001", type=tenant_id, help="the tenant (default tenant-001)")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser(
        "schema",
        parents=[common],
        help="print the JSON Schema of every event type",
        description="Print (or write) the JSON Schema of every registered event type.",
    )
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_schema)
    p = with_url(
        sub.add_parser(
            "history",
            parents=[common],
            help="print a tenant's retained events, oldest first",
            description="Print a tenant's retained events, oldest first (JSON lines). From Redis with --redis-url; "
            f"without one, from the running service's HTTP API (--url, default {DEFAULT_HTTP}): the embedded bus "
            "lives inside it.",
        )
    )
    p.add_argument("tenant", type=tenant_id, help="the tenant id")
    p.add_argument("--since", help="the position to read after (default: the oldest retained)")
    p.add_argument("--limit", type=positive_int, default=100, help="at most this many events (default 100)")
    url_options(p)
    api_key_option(p)
    p.set_defaults(func=cmd_history)
    p = with_url(
        sub.add_parser(
            "dlq",
            parents=[common],
            help="list dead-lettered messages, newest first",
            description="List dead-lettered (malformed) messages, newest first, from the Redis of --redis-url.",
        )
    )
    p.add_argument("--count", type=positive_int, default=50, help="at most this many (default 50)")
    p.set_defaults(func=cmd_dlq)
    add_service_commands(sub, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit as exc:  # --help, --version, or a usage error (already said in one line)
        return int(exc.code or 0) if isinstance(exc.code, int) else Exit.ERROR
    args.argv = arguments
    level = getattr(args, "log_level", None) or args.global_log_level or os.environ.get("ARDA_LOG_LEVEL") or "warning"
    try:
        logs.configure(log_level(level))
    except argparse.ArgumentTypeError as exc:  # `serve --log-level` (a setting of its own) or ARDA_LOG_LEVEL
        _say(f"arda: error: ARDA_LOG_LEVEL / --log-level: {exc}")
        return Exit.ERROR
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, not at exit
    except MissingExtraError as exc:
        _say(f"arda: error: {exc}")
        return Exit.MISSING_EXTRA
    except RefusedError as exc:
        _say(f"arda: {exc}")
        return Exit.REFUSED
    except ArdaError as exc:
        _say(f"arda: error: {exc}")
        return Exit.ERROR
    except BrokenPipeError:
        # the reader went away (`| head`): nothing more to write; stdout to /dev/null so that exiting does not
        # try to flush into the closed pipe again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        _say("arda: the output was closed before everything was written (broken pipe)")
        return Exit.BROKEN_PIPE
    except KeyboardInterrupt:
        _say("arda: interrupted")
        return Exit.INTERRUPTED
    except Exception as exc:  # a bug: one line, and the traceback in the log at debug
        log.debug("unexpected error", exc_info=True)
        _say(
            f"arda: internal error: {type(exc).__name__}: {exc} (please report it; `arda --log-level debug "
            f"{args.command} …` logs the traceback)"
        )
        return Exit.INTERNAL
    return code


if __name__ == "__main__":
    sys.exit(main())
