"""The ``arda`` command.

``arda serve``    run the notification service (what ``make run`` starts)
``arda token``    mint a development JWT
``arda publish``  publish an event through the HTTP API (or straight to Redis)
``arda tail``     connect as a client and print notifications as they arrive
``arda demo``     publish a few events on the bus and print what a subscriber receives
``arda schema``   print or write the JSON Schema of every event type
``arda protocol`` print the WebSocket protocol's error and close codes (for clients)
``arda config``   print the configuration table
``arda history``  print a tenant's retained events
``arda dlq``      list dead-lettered messages
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence

import msgspec

from . import __version__, logs
from . import notifications as _notifications  # noqa: F401 - registers notification.acknowledged
from .commands import MissingExtraError, add_service_commands
from .events import AnyEvent, ArdaError, EventBus, default_registry
from .samples import demo_events


def _url(args: argparse.Namespace) -> str:
    return str(args.redis_url or os.environ.get("ARDA_REDIS_URL") or "memory://")


def cmd_schema(args: argparse.Namespace) -> int:
    text = json.dumps(default_registry.json_schema(), indent=2, sort_keys=True) + "\n"
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
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


async def _history(url: str, tenant: str, since: str | None, limit: int) -> int:
    async with EventBus(url) as bus:
        page = await bus.history(tenant, since=since, limit=limit)
        for event in page.events:
            print(default_registry.encode(event).decode())
        if not page.reaches_back:
            print(f"history no longer reaches back to {since}: the gap cannot be recovered", file=sys.stderr)
            return 3
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    return asyncio.run(_history(_url(args), args.tenant, args.since, args.limit))


async def _dlq(url: str, count: int) -> int:
    async with EventBus(url) as bus:
        for letter in await bus.dead_letters(count):
            row = letter._asdict()
            row["payload"] = letter.payload.decode("utf-8", "replace")
            print(msgspec.json.encode(row).decode())
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    return asyncio.run(_dlq(_url(args), args.count))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arda", description="Arda Realtime: typed events over Redis.")
    parser.add_argument("--version", action="version", version=f"arda {__version__}")
    parser.add_argument("--log-level", default=os.environ.get("ARDA_LOG_LEVEL", "WARNING"))
    sub = parser.add_subparsers(dest="command", required=True)

    def with_url(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--redis-url", help="Redis URL (default: $ARDA_REDIS_URL, else the in-process memory://)")
        return p

    p = with_url(sub.add_parser("demo", help="publish sample events and print what a subscriber receives"))
    p.add_argument("--tenant", default="tenant-001")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("schema", help="print the JSON Schema of every event type")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_schema)
    p = with_url(sub.add_parser("history", help="print a tenant's retained events, oldest first"))
    p.add_argument("tenant")
    p.add_argument("--since", help="position to read after")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=cmd_history)
    p = with_url(sub.add_parser("dlq", help="list dead-lettered messages, newest first"))
    p.add_argument("--count", type=int, default=50)
    p.set_defaults(func=cmd_dlq)
    add_service_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level or "WARNING")
    try:
        code: int = args.func(args)
    except MissingExtraError as exc:
        print(f"arda: error: {exc}", file=sys.stderr)
        return 4
    except ArdaError as exc:
        print(f"arda: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
