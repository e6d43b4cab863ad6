"""A blocking publisher for code without an event loop (Django views, Flask, Celery tasks).

It speaks the same wire format as :class:`EventBus` (the same Lua script), so its events are stored in
history, deduplicated by id, and delivered to every subscriber. Thread-safe: it uses redis-py's
connection pool.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from .backends import scripts, urls
from .backends.base import PublishItem, Retention
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
        self._client, self._sentinels = urls.sync_client(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            socket_keepalive=True,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
        )
        self._script = self._client.register_script(scripts.PUBLISH_BATCH)

    def connect(self) -> SyncPublisher:
        """Check Redis is reachable now (fail fast); raises :class:`BackendUnavailableError`."""
        try:
            self._client.ping()
        except (RedisError, OSError) as exc:
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
            reply = self._script(keys=[], args=scripts.publish_args(self.retention, items))
        except (RedisError, OSError) as exc:
            raise PublishError(f"publish to Redis at {self.safe_url} failed: {exc}") from exc
        outcomes = scripts.publish_outcomes(reply)
        return [publish_result(e, o) for (e, _), o in zip(prepared, outcomes, strict=True)]

    def close(self) -> None:
        self._client.close()
        for sentinel in self._sentinels:
            sentinel.close()

    def __enter__(self) -> SyncPublisher:
        return self.connect()

    def __exit__(self, *exc_info: object) -> None:
        self.close()
