"""The subscriber's keepalive on uvloop (what ``arda serve`` runs on): an idle connection to a nearby Redis is
kept, not dropped as half-open. uvloop's clock moves in whole milliseconds, once per loop turn, so the PONG of a
local Redis arrives at the very time its PING was sent; the keepalive once took that for no answer and dropped
the connection every ``ping_interval + ping_timeout`` seconds (and ``/readyz`` answered 503 meanwhile)."""

from __future__ import annotations

import asyncio

import uvloop

from arda.events import EventBus
from arda.testing.redis_server import RedisServer


def test_an_idle_subscriber_on_uvloop_keeps_its_connection(redis_server: RedisServer) -> None:
    async def idle() -> tuple[int, float]:
        async with EventBus(redis_server.url, ping_interval=0.1, ping_timeout=0.1) as bus:
            await bus.listen()
            await asyncio.sleep(1.5)  # 15 PINGs, 7 deadlines
            return bus.stats.reconnects, asyncio.get_running_loop().time()

    reconnects, clock = uvloop.run(idle())
    assert clock == round(clock, 3)  # the clock this is about: whole milliseconds
    assert reconnects == 0
