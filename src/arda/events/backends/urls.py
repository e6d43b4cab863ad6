"""Redis URLs: which Redis a bus talks to, and how its clients are made. Pure (no I/O) but for the clients it
builds, which connect lazily.

``redis://[user:pass@]host:port[/db]``, ``rediss://…`` (TLS, ``?ssl_ca_certs=…&ssl_cert_reqs=…``), ``unix://path``
  one Redis, as redis-py reads them.
``redis+sentinel://[user:pass@]host:port[,host:port…]/<master-name>[/<db>]``, ``rediss+sentinel://…``
  the primary that these Sentinels monitor under ``master-name``, found again after every failover.
  ``?sentinel_password=`` (and ``sentinel_username=``) authenticate to the Sentinels themselves; the other
  query options (``ssl_*``, timeouts) are redis-py's and apply to the data nodes (and, for TLS, to the
  Sentinels too). ``user:pass`` is for the data nodes.
``redis+cluster://[user:pass@]host:port[,host:port…]``, ``rediss+cluster://…``
  a Redis Cluster: any of its nodes (the others are discovered); query options as for one Redis. No database
  number: a cluster has only database 0.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote

import redis
import redis.asyncio as aioredis
from redis.asyncio.connection import URL_QUERY_ARGUMENT_PARSERS, parse_url
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

PLAIN_SCHEMES = ("redis://", "rediss://", "unix://")
SENTINEL_SCHEMES = ("redis+sentinel://", "rediss+sentinel://")
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
#: Every Redis URL (one Redis, Sentinel, Cluster).
SCHEMES = PLAIN_SCHEMES + SENTINEL_SCHEMES + CLUSTER_SCHEMES
#: What an error about a URL says is expected.
EXPECTED = (
    "memory://, redis://, rediss://, unix://, redis+sentinel://host:port[,host:port…]/<master-name> or "
    "redis+cluster://host:port[,host:port…]"
)


class SentinelTarget(NamedTuple):
    sentinels: list[tuple[str, int]]
    master: str
    db: int
    tls: bool
    #: For the data nodes: username, password, ``ssl_*`` and other redis-py connection options.
    connection: dict[str, Any]
    #: For the Sentinels: their own password (``sentinel_password``), and TLS options when ``tls``.
    sentinel: dict[str, Any]


class ClusterTarget(NamedTuple):
    nodes: list[tuple[str, int]]  # where to start: the rest of the cluster is discovered
    tls: bool
    #: For every node: username, password, ``ssl_*`` and other redis-py connection options.
    connection: dict[str, Any]


def is_sentinel(url: str) -> bool:
    return url.startswith(SENTINEL_SCHEMES)


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEMES)


def _hosts(hosts: str, what: str) -> list[tuple[str, int]]:
    """``host:port[,host:port…]`` (IPv6 hosts in brackets); raises ``ValueError`` naming ``what``."""
    out: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{what} URL: expected host:port[,host:port…], got {item!r}")
        out.append((host.strip("[]"), int(port)))
    return out


def _credentials(auth: str) -> dict[str, Any]:
    connection: dict[str, Any] = {}
    if auth:
        user, sep, password = auth.partition(":")
        if sep:
            connection["password"] = unquote(password)
        if user:
            connection["username"] = unquote(user)
    return connection


def parse_cluster_url(url: str) -> ClusterTarget:
    """Raises ``ValueError`` naming what is wrong."""
    scheme, _, rest = url.partition("://")
    if scheme + "://" not in CLUSTER_SCHEMES:
        raise ValueError(f"cluster URL: expected redis+cluster:// or rediss+cluster://, got {scheme}://")
    head, _, query = rest.partition("?")
    netloc, _, path = head.partition("/")
    if path.strip("/"):
        raise ValueError("cluster URL: no path after the nodes (a cluster has only database 0)")
    auth, _, hosts = netloc.rpartition("@")
    nodes = _hosts(hosts, "cluster")
    connection = _credentials(auth)
    for name, value in parse_qsl(query):
        parse = URL_QUERY_ARGUMENT_PARSERS.get(name)
        connection[name] = parse(value) if parse is not None else value
    return ClusterTarget(nodes, scheme == "rediss+cluster", connection)


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Raises ``ValueError`` naming what is wrong."""
    scheme, _, rest = url.partition("://")
    netloc, _, tail = rest.partition("/")
    path, _, query = tail.partition("?")
    auth, _, hosts = netloc.rpartition("@")
    sentinels = _hosts(hosts, "sentinel")
    parts = [p for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise ValueError("sentinel URL: expected /<master-name>[/<db>] after the sentinels")
    if len(parts) == 2 and not parts[1].isdigit():
        raise ValueError(f"sentinel URL: the database must be a number, got {parts[1]!r}")
    connection = _credentials(auth)
    sentinel: dict[str, Any] = {}
    for name, value in parse_qsl(query):
        if name in ("sentinel_password", "sentinel_username"):
            sentinel[name.removeprefix("sentinel_")] = value
            continue
        parse = URL_QUERY_ARGUMENT_PARSERS.get(name)
        connection[name] = parse(value) if parse is not None else value
    tls = scheme == "rediss+sentinel"
    if tls:
        sentinel.update({k: v for k, v in connection.items() if k.startswith("ssl_")}, ssl=True)
    return SentinelTarget(
        sentinels, unquote(parts[0]), int(parts[1]) if len(parts) == 2 else 0, tls, connection, sentinel
    )


def check(url: str) -> None:
    """Raise ``ValueError`` naming what is wrong with a Sentinel or Cluster URL (plain ones redis-py reads)."""
    if is_sentinel(url):
        parse_sentinel_url(url)
    elif is_cluster(url):
        parse_cluster_url(url)


def redact(url: str) -> str:
    """The URL with any password (the data nodes' and the Sentinels') replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, tail = rest.partition("/")
    auth, at, hosts = netloc.rpartition("@")
    if at and ":" in auth:
        netloc = auth.split(":", 1)[0] + ":***@" + hosts
    if "sentinel_password=" in tail:
        head, _, query = tail.partition("?")
        pairs = [(k, "***" if k == "sentinel_password" else v) for k, v in parse_qsl(query)]
        tail = head + "?" + "&".join(f"{k}={v}" for k, v in pairs)
    return scheme + sep + netloc + slash + tail


def _sentinel_pool_kwargs(target: SentinelTarget) -> dict[str, Any]:
    kwargs = dict(target.connection, db=target.db)
    if target.tls:
        kwargs["ssl"] = True
    return kwargs


class BlockingSentinelPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """redis-py's Sentinel pool (the primary looked up on each new connection; a ``READONLY`` answer makes the
    connection find the new primary) with the blocking pool's waiting: a burst waits for a free connection
    instead of failing at the limit."""


def async_client(url: str, **options: Any) -> tuple[aioredis.Redis, Sentinel | None]:
    """The command client for ``url`` (a blocking pool; ``options`` are pool and connection options), and the
    Sentinel manager when the URL names Sentinels."""
    if not is_sentinel(url):
        pool = aioredis.BlockingConnectionPool.from_url(url, **options)
        return aioredis.Redis.from_pool(pool), None
    target = parse_sentinel_url(url)
    # redis-py's sentinel module has no type hints
    manager = Sentinel(target.sentinels, sentinel_kwargs=_sentinel_kwargs(target, options))  # type: ignore[no-untyped-call]
    pool = BlockingSentinelPool(target.master, manager, **_sentinel_pool_kwargs(target), **options)  # type: ignore[no-untyped-call]
    return aioredis.Redis.from_pool(pool), manager


def sync_client(url: str, **options: Any) -> tuple[redis.Redis, list[redis.Redis]]:
    """The blocking client for ``url`` (:class:`~arda.events.SyncPublisher`), and the Sentinels' clients to
    close with it (none for a plain URL)."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **options), []
    from redis.sentinel import Sentinel as SyncSentinel

    target = parse_sentinel_url(url)
    manager = SyncSentinel(target.sentinels, sentinel_kwargs=_sentinel_kwargs(target, options))  # type: ignore[no-untyped-call]
    client: redis.Redis = manager.master_for(target.master, **_sentinel_pool_kwargs(target), **options)  # type: ignore[no-untyped-call]
    return client, list(manager.sentinels)


def _sentinel_kwargs(target: SentinelTarget, options: dict[str, Any]) -> dict[str, Any]:
    timeouts = {k: v for k, v in options.items() if k.startswith("socket_")}
    return {**timeouts, **target.sentinel}


def subscriber_params(url: str) -> dict[str, Any]:
    """What the subscriber connection needs of a plain URL (redis-py's reading of it); for a Sentinel URL, the
    data nodes' options (its host and port come from the Sentinels each time it connects)."""
    if not is_sentinel(url):
        return dict(parse_url(url))
    target = parse_sentinel_url(url)
    params = dict(target.connection)
    if target.tls:
        params["connection_class"] = aioredis.SSLConnection
    return params


def node_client(params: dict[str, Any], host: str, port: int, timeout: float) -> aioredis.Redis:
    """A client of one node at ``host:port`` with the subscriber's options (credentials, TLS), for a check."""
    options = {k: v for k, v in params.items() if k not in ("host", "port", "path", "db", "connection_class")}
    options.update(host=host, port=port, socket_timeout=timeout, socket_connect_timeout=timeout)
    cls = params.get("connection_class") or aioredis.Connection
    return aioredis.Redis.from_pool(aioredis.ConnectionPool(connection_class=cls, **options))
