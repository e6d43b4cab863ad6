"""Live instances announcing their figures through Redis (the dashboard's many-instance view), for one Redis
and a cluster alike: only commands the documented ACLs grant (SET with PX, GET, ZADD, ZREMRANGEBYSCORE,
ZRANGEBYSCORE), every key in one hash slot (:data:`~arda.events.wire.INSTANCES_KEY`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from ..errors import BusError
from ..wire import INSTANCE_PREFIX, INSTANCES_KEY

Failed = Callable[[BaseException, str], BusError]


async def announce_on(client: Any, instance_id: str, document: bytes, ttl_ms: int, failed: Failed) -> None:
    now_ms = int(time.time() * 1000)
    try:
        await client.set(INSTANCE_PREFIX + instance_id, document, px=ttl_ms)
        await client.zadd(INSTANCES_KEY, {instance_id: now_ms + ttl_ms})
        await client.zremrangebyscore(INSTANCES_KEY, "-inf", now_ms)  # the ones that stopped announcing
    except (RedisError, OSError) as exc:
        raise failed(exc, "the announcement") from exc


async def instances_on(client: Any, failed: Failed) -> list[bytes]:
    now_ms = int(time.time() * 1000)
    try:
        ids: Any = await client.zrangebyscore(INSTANCES_KEY, now_ms, "+inf")
        documents = [await client.get(INSTANCE_PREFIX + i.decode()) for i in ids]
    except (RedisError, OSError) as exc:
        raise failed(exc, "the command") from exc
    return [d for d in documents if d is not None]


__all__ = ["announce_on", "instances_on"]
