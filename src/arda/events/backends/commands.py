"""The commands one Redis and a Redis Cluster send alike — redis-py's command API is the same on both clients;
only the key names differ, by :class:`~arda.events.layout.Layout`. A mixin of :class:`~.redis.RedisBackend` and
:class:`~.cluster.ClusterCommands`; they bring the client (``_redis``), the error wording (``_failed``), the
layout and the retention, and keep what differs (scripts, ``ping``, ``latest_read``)."""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from redis.exceptions import RedisError

from ..errors import BusError
from ..layout import Layout
from ..wire import DLQ_KEY, INSTANCE_PREFIX, INSTANCES_KEY, REVOCATIONS, DeadLetter, Revocation, parse_revocation
from . import replies
from .base import HistoryRead, Retention


class SharedCommands(abc.ABC):
    layout: Layout
    retention: Retention

    @abc.abstractmethod
    def _redis(self) -> Any:
        """The command client (redis-py's ``Redis`` or ``RedisCluster``)."""

    @abc.abstractmethod
    def _failed(self, exc: BaseException, what: str) -> BusError:
        """The error to raise for a failed command."""

    @abc.abstractmethod
    async def latest_read(self, tenant_id: str) -> int | None:
        """When anyone of the tenant last marked something read (ms)."""

    def _limit(self) -> AbstractAsyncContextManager[Any]:
        """What bounds concurrent commands: nothing here (one Redis's blocking pool waits for a connection); a
        cluster's pools fail past their size instead, so :class:`~.cluster.ClusterCommands` waits on a semaphore."""
        return contextlib.nullcontext()

    async def history_before(self, stream: str, end: str | None, limit: int, inclusive: bool = False) -> HistoryRead:
        bound = replies.reverse_bound(end, inclusive)
        try:
            async with self._limit():
                rows: Any = await self._redis().xrevrange(self.layout.stream_key(stream), bound, "-", limit)
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc
        return replies.rows_read(rows, limit)

    async def dead_letters(self, count: int) -> list[DeadLetter]:
        try:
            async with self._limit():
                rows: Any = await self._redis().xrevrange(DLQ_KEY, "+", "-", count=count)
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc
        return replies.dead_letters(rows)

    async def read_marks(self, tenant_id: str, user_id: str, event_ids: Sequence[str]) -> list[bool]:
        if not event_ids:
            return []
        try:
            async with self._limit():
                scores: Any = await self._redis().zmscore(self.layout.read_key(tenant_id, user_id), list(event_ids))
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc
        return [score is not None for score in scores]

    async def read_since(self, tenant_id: str, user_id: str, since_ms: int) -> list[str]:
        try:
            latest = await self.latest_read(tenant_id)
            if latest is None or latest < since_ms:
                return []  # nobody of the tenant marked anything since: no user's set to ask
            key = self.layout.read_key(tenant_id, user_id)
            async with self._limit():
                members: Any = await self._redis().zrangebyscore(key, since_ms, "+inf")
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc
        return [m.decode() for m in members]

    async def revocations(self) -> list[Revocation]:
        since_ms = int((time.time() - self.retention.revocation_window_s) * 1000)
        try:
            async with self._limit():
                rows: Any = await self._redis().zrangebyscore(REVOCATIONS, since_ms, "+inf", withscores=True)
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc
        return [r for member, ms in rows if (r := parse_revocation(member, ms)) is not None]

    # -- live instances (the dashboard): only commands the documented ACLs grant, one hash slot ----------
    async def announce(self, instance_id: str, document: bytes, ttl_ms: int) -> None:
        now_ms = int(time.time() * 1000)
        client = self._redis()
        try:
            await client.set(INSTANCE_PREFIX + instance_id, document, px=ttl_ms)  # (once a second: no limit)
            await client.zadd(INSTANCES_KEY, {instance_id: now_ms + ttl_ms})
            await client.zremrangebyscore(INSTANCES_KEY, "-inf", now_ms)  # the ones that stopped announcing
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the announcement") from exc

    async def instances(self) -> list[bytes]:
        now_ms = int(time.time() * 1000)
        client = self._redis()
        try:
            ids: Any = await client.zrangebyscore(INSTANCES_KEY, now_ms, "+inf")
            documents = [await client.get(INSTANCE_PREFIX + i.decode()) for i in ids]
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc
        return [d for d in documents if d is not None]


__all__ = ["SharedCommands"]
