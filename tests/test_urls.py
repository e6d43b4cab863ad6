"""Bus URLs (:mod:`arda.events.backends.urls`): Redis Cluster URLs are read whole, or refused naming what is wrong."""

from __future__ import annotations

import pytest

from arda.events.backends import urls
from arda.notifications import config
from arda.notifications.errors import ConfigError


def test_cluster_urls_are_read_whole() -> None:
    t = urls.parse_cluster_url("rediss+cluster://u:p%40ss@10.0.0.1:7000,[::1]:7001?ssl_cert_reqs=none")
    assert t.nodes == [("10.0.0.1", 7000), ("::1", 7001)]
    assert t.tls is True
    assert t.connection == {"username": "u", "password": "p@ss", "ssl_cert_reqs": "none"}
    plain = urls.parse_cluster_url("redis+cluster://h:6379/")
    assert (plain.nodes, plain.tls, plain.connection) == ([("h", 6379)], False, {})
    assert urls.is_cluster("redis+cluster://h:1")
    assert not urls.is_cluster("redis://h:1")
    assert urls.redact("redis+cluster://u:secret@h:1,h:2") == "redis+cluster://u:***@h:1,h:2"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis+cluster://h", "expected host:port"),
        ("redis+cluster://h:1,", "expected host:port"),
        ("redis+cluster://h:99999", "expected host:port"),
        ("redis+cluster://h:1/0", "no path after the nodes"),
        ("redis://h:1", "expected redis\\+cluster://"),
    ],
)
def test_bad_cluster_urls_are_refused_naming_the_problem(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"cluster URL: .*{reason}"):
        urls.parse_cluster_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis+cluster://h:1/0", "no path after the nodes"),
        ("redis+cluster://h", "expected host:port"),
        ("redis+sentinel://h:1", "expected /<master-name>"),
        ("http://h:1", "expected redis://"),
    ],
)
def test_the_service_refuses_a_bad_redis_url_at_startup(url: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=f"ARDA_REDIS_URL / --redis-url: .*{reason}"):
        config.load({"ARDA_REDIS_URL": url, "ARDA_JWT_SECRET": "s" * 40, "ARDA_API_KEY": "k"})


def test_the_service_takes_a_cluster_url() -> None:
    url = "rediss+cluster://u:p@10.0.0.1:7000,10.0.0.2:7000"
    assert config.load({"ARDA_REDIS_URL": url, "ARDA_JWT_SECRET": "s" * 40, "ARDA_API_KEY": "k"}).redis_url == url
