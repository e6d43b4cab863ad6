"""The Redis Cluster backend: redis-py's ``RedisCluster`` for commands and scripts (it owns the slot map and
follows ``MOVED``/``ASK`` and failovers), :class:`~.shards.ShardedSubscriber` for live delivery.

Names follow :data:`~arda.events.layout.CLUSTER`: every key of a tenant carries the tenant as a hash tag, so
each tenant's publish script is atomic on the node owning its slot, and tenants spread over every primary.
Live delivery is sharded pub/sub (``SPUBLISH``/``SSUBSCRIBE``): a message reaches only the node owning its
channel's slot, so capacity grows with the number of primaries.

The global feed is split into :data:`~arda.events.layout.GLOBAL_SHARDS` streams (``global:0`` …): a tenant's
events are appended to its tenant stream first, then to its global shard, each step idempotent by event id
(a publish retried after only the first step completes the second without duplicating either). Each shard
keeps its tenants' order and has its own positions.

Publishing batches per node: one script call per node for the tenants' appends it owns (Redis 7's
``allow-cross-slot-keys`` lets one script touch several slots of its own node), all nodes at once; then the
same for the global shards. A refused event (its key holding another type) is reported like on one Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..backoff import Backoff
from ..errors import BackendUnavailableError, BusError, PublishError
from ..layout import CLUSTER, GLOBAL_SHARD_STREAMS
from ..wire import (
    DLQ_KEY,
    GLOBAL,
    REVOCATIONS,
    STREAM_PREFIX,
    DeadLetter,
    Revocation,
    parse_revocation_message,
    revocation_member,
)
from . import cluster_plan, cluster_scripts, replies, scripts, urls
from .base import BackendListener, HistoryRead, PublishItem, PublishOutcome, Retention, Settled
from .commands import SharedCommands
from .shards import ShardedSubscriber

log = logging.getLogger("arda.events.cluster")
MIN_REDIS_VERSION = (7, 0)
_REVOCATIONS = REVOCATIONS.encode()


def _sharded(source: str, call: str) -> str:
    """A one-Redis script with its ``PUBLISH`` ``call`` made ``SPUBLISH`` (its channel is in its keys' slot)."""
    if call not in source:
        raise RuntimeError(f"script changed: {call!r} not found")  # caught by the tests at import
    return source.replace(call, call.replace("'PUBLISH'", "'SPUBLISH'"))


#: The one-Redis MARK_READ and REVOKE, announcing on the shard channel.
MARK_READ = _sharded(scripts.MARK_READ, "redis.call('PUBLISH', ARGV[4], ARGV[5])")
REVOKE = _sharded(scripts.REVOKE, "redis.call('PUBLISH', key,")


class ClusterCommands(SharedCommands):
    """Everything but live delivery, on a Redis Cluster (see the module docstring)."""

    def __init__(
        self,
        url: str,
        retention: Retention = Retention(),
        *,
        connect_timeout: float = 5.0,
        command_timeout: float = 5.0,
        max_connections: int = 32,
    ) -> None:
        self.url = url
        self.safe_url = urls.redact(url)
        self.global_streams: tuple[str, ...] = GLOBAL_SHARD_STREAMS
        self.target = urls.parse_cluster_url(url)
        self.retention = retention
        self.layout = CLUSTER  # the key names (SharedCommands)
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.max_connections = max_connections
        self._client: RedisCluster | None = None
        self._scripts: dict[str, Any] = {}
        # redis-py's cluster pools fail past max_connections instead of waiting: calls wait here instead
        self._calls = asyncio.Semaphore(max_connections)

    def _limit(self) -> AbstractAsyncContextManager[Any]:
        return self._calls

    def _failed(self, exc: BaseException, what: str) -> BusError:
        if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
            return self._unavailable(exc)
        return BusError(f"Redis Cluster at {self.safe_url} refused {what}: {exc}")

    def _unavailable(self, exc: BaseException) -> BackendUnavailableError:
        cause = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            cause = f"no answer within {self.connect_timeout:g} s"
        elif "Cluster mode is not enabled" in cause:  # redis-py's words for any refused CLUSTER SLOTS
            cause = (
                "CLUSTER SLOTS was refused: the node is not in cluster mode (a plain Redis: use redis://), or the "
                "user may not run CLUSTER|SLOTS (see the ACL in docs/cluster.md)"
            )
        return BackendUnavailableError(f"cannot reach Redis Cluster at {self.safe_url}: {cause}")

    async def connect(self) -> None:
        options = dict(self.target.connection)
        if self.target.tls:
            options["ssl"] = True
        client = RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in self.target.nodes],
            require_full_coverage=False,
            max_connections=self.max_connections,
            socket_connect_timeout=self.connect_timeout,
            socket_timeout=self.command_timeout,
            **options,
        )
        try:
            async with asyncio.timeout(self.connect_timeout):
                await client.initialize()
                info: Any = await client.info("server", target_nodes=RedisCluster.RANDOM)
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            with contextlib.suppress(Exception):
                await client.aclose()
            raise self._unavailable(exc) from None
        version_text = str(info.get("redis_version", "0.0"))
        version = tuple(int(p) for p in version_text.split(".")[:2])
        if version < MIN_REDIS_VERSION:
            await client.aclose()
            raise BusError(f"Redis Cluster at {self.safe_url} is {version_text}; Arda needs 7.0 or newer")
        self._client = client
        for name, source in (
            ("append", cluster_scripts.APPEND),
            ("history", scripts.HISTORY),
            ("top", scripts.TOP),
            ("check", scripts.CHECK),
            ("settle", scripts.SETTLE),
            ("mark_read", MARK_READ),
            ("revoke", REVOKE),
            ("primary", cluster_scripts.PRIMARY),
        ):
            self._scripts[name] = client.register_script(source)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _redis(self) -> RedisCluster:
        if self._client is None:
            raise BackendUnavailableError(f"not connected to Redis Cluster at {self.safe_url}")
        return self._client

    # -- publishing -------------------------------------------------------------------------------
    async def publish(self, items: Sequence[PublishItem]) -> list[PublishOutcome]:
        """Each tenant's events appended to its stream (one script call per node, all at once), then the stored
        and duplicate ones to their global shards the same way (:class:`~.cluster_plan.PublishPlan`)."""
        plan = cluster_plan.PublishPlan(self.retention, items)
        await self._append_all(plan.shard_calls(await self._append_all(plan.tenant_calls)))
        return plan.outcomes

    def _node_name(self, key: str) -> str:
        node = self._redis().get_node_from_key(key)
        return node.name if node is not None else ""

    async def _append_all(self, calls: list[cluster_plan.Call]) -> list[list[Any]]:
        """The appends of ``calls``: one APPEND call per node for the streams it owns, all nodes at once. A node
        call refused for a routing reason (a slot moved since the map was read) is redone stream by stream,
        which redis-py routes and follows (MOVED/ASK); the appends are idempotent, so redoing part of one is
        safe."""
        if not calls:
            return []
        client = self._redis()
        replies: list[Any] = [None] * len(calls)

        async def group(name: str, indexes: list[int]) -> None:
            if name and len(indexes) > 1:
                key, args = cluster_plan.node_call(calls, indexes)
                try:
                    flat = await self._evalsha(client.get_node(node_name=name), key, args)
                except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                    raise self._unavailable(exc) from exc
                except RedisError:
                    flat = None  # moved, or not local any more: stream by stream, routed by redis-py
                if flat is not None:
                    for i, reply in zip(indexes, cluster_plan.split(calls, indexes, flat), strict=True):
                        replies[i] = reply
                    return
            done = await asyncio.gather(*(self._append_one(calls[i]) for i in indexes))
            for i, reply in zip(indexes, done, strict=True):
                replies[i] = reply

        groups = cluster_plan.by_node(calls, self._node_name)
        try:
            await asyncio.gather(*(group(name, indexes) for name, indexes in groups.items()))
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise self._unavailable(exc) from exc
        except RedisError as exc:
            raise PublishError(f"Redis Cluster at {self.safe_url} refused the publish: {exc}") from exc
        return replies

    async def _evalsha(self, node: Any, key: str, args: list[Any]) -> list[Any]:
        """APPEND on ``node`` (loaded there first when its script cache lacks it)."""
        client = self._redis()
        sha = self._scripts["append"].sha
        async with self._calls:
            try:
                reply: Any = await client.execute_command("EVALSHA", sha, 1, key, *args, target_nodes=node)
            except NoScriptError:
                await client.execute_command("SCRIPT", "LOAD", cluster_scripts.APPEND, target_nodes=node)
                reply = await client.execute_command("EVALSHA", sha, 1, key, *args, target_nodes=node)
        return list(reply)

    async def _append_one(self, call: cluster_plan.Call) -> Any:
        """One stream's APPEND, routed (and redirected) by redis-py."""
        key, args = cluster_plan.one_call(call)
        async with self._calls:
            return await self._scripts["append"](keys=[key], args=args)

    async def publish_raw(self, stream: str, payload: bytes) -> int:
        try:
            return int(await self._redis().spublish(CLUSTER.channel(stream), payload))
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc

    # -- history ------------------------------------------------------------------------------------
    async def _script(self, name: str, keys: list[str], args: list[Any], what: str = "the command") -> Any:
        try:
            async with self._calls:
                return await self._scripts[name](keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise self._failed(exc, what) from exc

    async def history(self, stream: str, since: str | None, limit: int) -> HistoryRead:
        keys = [CLUSTER.stream_key(stream), CLUSTER.meta_key(stream)]
        return replies.history_read(await self._script("history", keys, [since or "", limit]), limit)

    async def top(self, stream: str) -> str:
        newest: Any = await self._script("top", [CLUSTER.stream_key(stream)], [])
        return str(newest.decode())

    async def check(self, cursors: Sequence[tuple[str, str]]) -> list[bool]:
        out = []
        for stream, cursor in cursors:  # (one slot each: a pipeline would split them by node anyway)
            keys = [CLUSTER.stream_key(stream), CLUSTER.meta_key(stream)]
            out.append(int(await self._script("check", keys, [cursor], "the check")) == 1)
        return out

    async def settle(self, stream: str, cursor: str, lost: bool = False) -> Settled:
        keys = [CLUSTER.stream_key(stream), CLUSTER.meta_key(stream)]
        newest, was_lost = await self._script("settle", keys, [cursor, 1 if lost else 0])
        return Settled(newest.decode(), int(was_lost) == 1)

    # -- dead letters, health ---------------------------------------------------------------------
    async def dead_letter(self, letters: Sequence[DeadLetter]) -> None:
        try:
            for letter in letters:
                fields: Any = replies.dead_letter_fields(letter)
                await self._redis().xadd(DLQ_KEY, fields, maxlen=self.retention.dead_letter_max, approximate=True)
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc

    async def ping(self) -> float:
        started = time.perf_counter()
        try:
            await self._redis().ping(target_nodes=RedisCluster.PRIMARIES)
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc
        return time.perf_counter() - started

    # -- read state -------------------------------------------------------------------------------
    async def mark_read(self, tenant_id: str, user_id: str, event_id: str, announcement: bytes) -> bool:
        r = self.retention
        args: list[Any] = [event_id, r.max_events, int(r.max_age_s * 1000), CLUSTER.channel(tenant_id), announcement]
        keys = [CLUSTER.read_key(tenant_id, user_id), CLUSTER.meta_key(tenant_id)]
        return int(await self._script("mark_read", keys, args, "the read mark")) == 1

    async def latest_read(self, tenant_id: str) -> int | None:
        try:
            value: Any = await self._redis().hget(CLUSTER.meta_key(tenant_id), "read_at")
        except (RedisError, OSError) as exc:
            raise self._failed(exc, "the command") from exc
        return int(value) if value is not None else None

    # -- revocations --------------------------------------------------------------------------------
    async def revoke(self, user_id: str, tenant_id: str | None) -> Revocation:
        window_ms = int(self.retention.revocation_window_s * 1000)
        args: list[Any] = [revocation_member(user_id, tenant_id), window_ms]
        ms: Any = await self._script("revoke", [REVOCATIONS], args, "the revocation")
        return Revocation(user_id, tenant_id, int(ms) / 1000)


class ClusterBackend(ClusterCommands):
    """The :class:`~.base.Backend` on a Redis Cluster: :class:`ClusterCommands` plus live delivery over
    sharded pub/sub (:class:`~.shards.ShardedSubscriber`: one connection per primary owning a subscribed
    tenant's slot, following migrations and failovers; the listener recovers from history after each).

    The global feed is its shards (:attr:`global_streams`); the stream name ``global`` is refused with
    :class:`BusError` rather than read as empty — :class:`~arda.events.EventBus` reads and follows the shards
    as one feed (:mod:`arda.events.global_feed`)."""

    def __init__(
        self,
        url: str,
        retention: Retention = Retention(),
        *,
        connect_timeout: float = 5.0,
        command_timeout: float = 5.0,
        ping_interval: float = 5.0,
        ping_timeout: float = 3.0,
        backoff: Backoff | None = None,
        max_connections: int = 32,
    ) -> None:
        super().__init__(
            url,
            retention,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
            max_connections=max_connections,
        )
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.backoff = backoff or Backoff()
        self._listener: BackendListener | None = None
        self._subscriber: ShardedSubscriber | None = None
        self._desired: set[str] = set()
        self._streams: dict[bytes, str] = {}
        self._writable = True
        self._resubscribing: asyncio.Task[None] | None = None

    @property
    def reconnects(self) -> int:
        return self._subscriber.reconnects if self._subscriber is not None else 0

    def set_listener(self, listener: BackendListener) -> None:
        self._listener = listener

    @staticmethod
    def _refuse_global(stream: str) -> None:
        if stream == GLOBAL:
            raise BusError(
                "the global feed on a Redis Cluster is split into shards (global:0 … global:7), each with its own "
                "positions: read or follow them, or use EventBus.global_history and subscribe_global, which merge "
                "them"
            )

    # -- live delivery ------------------------------------------------------------------------------
    def _on_message(self, channel: bytes, payload: bytes) -> None:
        listener = self._listener
        if listener is None:
            return
        if channel == _REVOCATIONS:
            revocation = parse_revocation_message(payload)
            if revocation is not None:
                listener.on_revoked(revocation)
            return
        stream = self._streams.get(channel)
        if stream is not None:
            listener.on_message(stream, payload)

    def _on_lost(self, reason: str) -> None:
        log.warning("cluster subscriber lost a node", extra={"reason": reason, "url": self.safe_url})
        if self._resubscribing is not None:
            self._resubscribing.cancel()  # that recovery would start on a connection lost again
        if self._listener is not None:
            self._listener.on_connection_lost(reason)

    def _on_resubscribed(self) -> None:
        """Subscribed again after a loss (a failover, a migration): check which history each primary holds —
        a promotion raises floors — before the listener recovers from history."""

        async def check_then_recover() -> None:
            with contextlib.suppress(BusError, RedisError, RedisClusterException, OSError):  # else: the periodic check
                await self._redis().nodes_manager.initialize()  # the subscriber found a new slot map: so do commands
                await self.primary()
            if self._listener is not None:
                self._listener.on_resubscribed()

        self._resubscribing = asyncio.create_task(check_then_recover(), name="arda-cluster-resubscribed")

    async def connect(self) -> None:
        await super().connect()
        with contextlib.suppress(BusError):  # which history each primary holds (a promotion raises floors)
            await self.primary()

    async def listen(self) -> None:
        if self._subscriber is not None:
            return
        params = dict(self.target.connection)
        if self.target.tls:
            params["connection_class"] = SSLConnection
        subscriber = ShardedSubscriber(
            self.target.nodes,
            params,
            self._on_message,
            self._on_lost,
            self._on_resubscribed,
            connect_timeout=self.connect_timeout,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
            backoff=self.backoff,
        )
        await subscriber.start()
        await subscriber.subscribe([_REVOCATIONS])
        self._subscriber = subscriber

    def live(self) -> bool:
        if self._subscriber is None:
            return not self._desired
        return self._subscriber.live()

    async def subscribe(self, streams: Collection[str]) -> None:
        for stream in streams:
            self._refuse_global(stream)
        await self.listen()
        assert self._subscriber is not None
        new = [s for s in streams if s not in self._desired]
        channels = []
        for stream in new:
            channel = CLUSTER.channel(stream).encode()
            self._streams[channel] = stream
            channels.append(channel)
        self._desired.update(new)
        try:
            await self._subscriber.subscribe(channels)
        except BaseException:
            self._desired.difference_update(new)
            raise

    async def unsubscribe(self, streams: Collection[str]) -> None:
        gone = [s for s in streams if s in self._desired]
        self._desired.difference_update(gone)
        if self._subscriber is not None and gone:
            self._subscriber.unsubscribe([CLUSTER.channel(s).encode() for s in gone])

    # -- which nodes --------------------------------------------------------------------------------
    async def primary(self) -> bool:
        """Whether every primary answers (the cluster takes writes) — and which history each holds: a replica
        promoted since its primary last recorded its history (a failover, a ``kill -9``) may lack the last writes,
        so every stream on it gets its floor raised, as after a promotion on one Redis: a client resuming from
        before it is told, never resumed "complete" without what was lost."""
        client = self._redis()
        try:
            nodes, verdicts = await self._histories()
            if any(v == "replica" or isinstance(v, BaseException) for v in verdicts):
                # the slot map is behind a failover (a primary demoted, or gone): read it again, check again
                await client.nodes_manager.initialize()
                nodes, verdicts = await self._histories()
        except (RedisError, RedisClusterException, OSError) as exc:
            self._writable = False
            raise self._failed(exc, "the primary check") from exc
        failed = [v for v in verdicts if isinstance(v, BaseException)]
        if failed:
            self._writable = False
            raise self._failed(failed[0], "the primary check") from failed[0]
        self._writable = True
        for node, verdict in zip(nodes, verdicts, strict=True):
            if verdict == "promoted":
                log.warning("redis cluster replica promoted: raising its streams' floors", extra={"node": node.name})
                await self._raise_floors(node)
        return True

    async def _histories(self) -> tuple[list[Any], list[str | BaseException]]:
        nodes = self._redis().get_primaries()
        verdicts = await asyncio.gather(*(self._history_of(node) for node in nodes), return_exceptions=True)
        return nodes, list(verdicts)

    async def _history_of(self, node: Any) -> str:
        """The :data:`~.cluster_scripts.PRIMARY` verdict of one primary."""
        client = self._redis()
        info: Any = await client.info("replication", target_nodes=node)
        if info.get("role") != "master":
            return "replica"  # the slot map is behind
        slots = client.nodes_manager.slots_cache

        def owns(slot: int) -> bool:
            owners = slots.get(slot)
            return owners is not None and len(owners) > 0 and owners[0].name == node.name

        key = cluster_scripts.record_key(owns)
        args = [str(info["master_replid"]), str(info.get("master_replid2", "0")), node.name]
        async with self._calls:
            verdict: Any = await self._scripts["primary"](keys=[key], args=args)
        return verdict.decode() if isinstance(verdict, bytes) else str(verdict)

    async def _raise_floors(self, node: Any) -> None:
        """After a promotion: no position from before it may be resumed as complete, in any stream of ``node``."""
        count = 0
        async for key in self._redis().scan_iter(match=STREAM_PREFIX + "{*}", count=1000, target_nodes=node):
            name = key.decode()[len(STREAM_PREFIX) :]
            await self.settle(name[1:-1], "0-0", lost=True)
            count += 1
        log.warning("stream floors raised after a promotion", extra={"streams": count, "node": node.name})

    def writable(self) -> bool:
        return self._writable

    # -- history: the global feed is not readable as one stream ------------------------------------
    async def history(self, stream: str, since: str | None, limit: int) -> HistoryRead:
        self._refuse_global(stream)
        return await super().history(stream, since, limit)

    async def history_before(self, stream: str, end: str | None, limit: int, inclusive: bool = False) -> HistoryRead:
        self._refuse_global(stream)
        return await super().history_before(stream, end, limit, inclusive)

    async def top(self, stream: str) -> str:
        self._refuse_global(stream)
        return await super().top(stream)

    async def close(self) -> None:
        if self._resubscribing is not None:
            self._resubscribing.cancel()
        if self._subscriber is not None:
            await self._subscriber.close()
            self._subscriber = None
        await super().close()


__all__ = ["MARK_READ", "REVOKE", "ClusterBackend", "ClusterCommands"]
