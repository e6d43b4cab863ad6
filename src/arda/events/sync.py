"""A blocking publisher for code without an event loop (Django views, Flask, Celery tasks).

It speaks the same wire format as :class:`EventBus` (the same Lua scripts), so its events are stored in
history, deduplicated by id, and delivered to every subscriber. Thread-safe: it uses redis-py's
connection pool. On a Redis Cluster (``redis+cluster://``) it carries out the bus's publish plan
(:mod:`.backends.cluster_plan`): one APPEND per node for its tenants, then per node for the global shards,
one node after another; a call refused because a slot moved is redone stream by stream, which redis-py
redirects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from .backends import cluster_plan, cluster_scripts, scripts, urls
from .backends.base import PublishItem, PublishOutcome, Retention
from .bus import PublishResult, publish_result
from .errors import BackendUnavailableError, PublishError
from .models import AnyEvent
from .registry import EventRegistry, default_registry


class SyncPublisher:
    """``SyncPublisher("redis://…").publish(event)`` — validate, store and publish, blocking."""

    def __init__(
        self,
        url: str,
        *,
        registry: EventRegistry | None = None,
        retention: Retention = Retention(),
        timeout: float = 5.0,
    ) -> None:
        if not url.startswith(urls.SCHEMES):
            raise ValueError("SyncPublisher needs a Redis URL; memory:// exists only inside one event loop")
        self.safe_url = urls.redact(url)
        self.registry = registry or default_registry
        self.retention = retention
        options: dict[str, Any] = {
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
            "socket_keepalive": True,
        }
        self._cluster: Any = None  # a RedisCluster (redis-py's cluster client has few type hints)
        if urls.is_cluster(url):
            target = urls.parse_cluster_url(url)
            cluster_options = dict(target.connection, **options)
            if target.tls:
                cluster_options["ssl"] = True
            self._cluster = RedisCluster(
                startup_nodes=[ClusterNode(h, p) for h, p in target.nodes],  # type: ignore[no-untyped-call]
                require_full_coverage=False,
                **cluster_options,
            )
            self._client: Any = self._cluster
            self._sentinels: list[Any] = []
            self._append = self._cluster.register_script(cluster_scripts.APPEND)
        else:
            retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), 2)
            self._client, self._sentinels = urls.sync_client(url, retry=retry, **options)
            self._script = self._client.register_script(scripts.PUBLISH_BATCH)

    def connect(self) -> SyncPublisher:
        """Check Redis is reachable now (fail fast); raises :class:`BackendUnavailableError`."""
        try:
            self._client.ping()
        except (RedisError, RedisClusterException, OSError) as exc:
            raise BackendUnavailableError(f"cannot reach Redis at {self.safe_url}: {exc}") from None
        return self

    def publish(self, event: AnyEvent | Mapping[str, Any]) -> PublishResult:
        return self.publish_many([event])[0]

    def publish_many(self, events: Iterable[AnyEvent | Mapping[str, Any]]) -> list[PublishResult]:
        """Validate every event, then publish them in one round trip; results in input order. Raises
        :class:`PublishError` when Redis is unreachable or refused one of them (the message names which; the
        others were published), as :meth:`EventBus.publish_many` does."""
        prepared = [self.registry.prepare(e) for e in events]
        items = [PublishItem(e.tenant_id, e.id, data) for e, data in prepared]
        try:
            if self._cluster is not None:
                outcomes = self._publish_on_cluster(self._cluster, items)
            else:
                outcomes = scripts.publish_outcomes(
                    self._script(keys=[], args=scripts.publish_args(self.retention, items))
                )
        except (RedisError, RedisClusterException, OSError) as exc:
            raise PublishError(f"publish to Redis at {self.safe_url} failed: {exc}") from exc
        return [publish_result(e, o) for (e, _), o in zip(prepared, outcomes, strict=True)]

    # -- on a Redis Cluster -------------------------------------------------------------------------
    def _publish_on_cluster(self, client: Any, items: list[PublishItem]) -> list[PublishOutcome]:
        plan = cluster_plan.PublishPlan(self.retention, items)
        self._append_all(client, plan.shard_calls(self._append_all(client, plan.tenant_calls)))
        return plan.outcomes

    def _append_all(self, client: Any, calls: list[cluster_plan.Call]) -> list[list[Any]]:
        def node_of(key: str) -> str:
            node = client.get_node_from_key(key)
            return node.name if node is not None else ""

        replies: list[Any] = [None] * len(calls)
        for name, indexes in cluster_plan.by_node(calls, node_of).items():
            if name and len(indexes) > 1:
                key, args = cluster_plan.node_call(calls, indexes)
                try:
                    flat = self._evalsha(client, client.get_node(node_name=name), key, args)
                except (RedisConnectionError, RedisTimeoutError):
                    raise
                except RedisError:
                    flat = None  # moved, or not local any more: stream by stream, routed by redis-py
                if flat is not None:
                    for i, reply in zip(indexes, cluster_plan.split(calls, indexes, flat), strict=True):
                        replies[i] = reply
                    continue
            for i in indexes:
                key, args = cluster_plan.one_call(calls[i])
                replies[i] = self._append(keys=[key], args=args)
        return replies

    def _evalsha(self, client: Any, node: Any, key: str, args: list[Any]) -> list[Any]:
        sha = self._append.sha
        try:
            reply: Any = client.execute_command("EVALSHA", sha, 1, key, *args, target_nodes=node)
        except NoScriptError:
            client.execute_command("SCRIPT", "LOAD", cluster_scripts.APPEND, target_nodes=node)
            reply = client.execute_command("EVALSHA", sha, 1, key, *args, target_nodes=node)
        return list(reply)

    def close(self) -> None:
        self._client.close()
        for sentinel in self._sentinels:
            sentinel.close()

    def __enter__(self) -> SyncPublisher:
        return self.connect()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
