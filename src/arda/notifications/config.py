"""Configuration of ``arda serve``: environment variables and matching flags, validated at startup.

Every setting has an environment variable ``ARDA_…`` and a flag ``--…``; a flag wins over the variable.
Invalid values stop the service at once with an error naming the variable and the flag. The table in
``docs/configuration.md`` is generated from :data:`SETTINGS` (``arda config --markdown``).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from ..events.backends import urls
from .devcreds import default_state_dir
from .errors import ConfigError


class Setting(NamedTuple):
    name: str  # attribute of Settings
    env: str
    default: Any
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "ARDA_HOST", "127.0.0.1", "Interface for both ports (0.0.0.0 in containers)."),
    Setting("port", "ARDA_PORT", 3001, "Public WebSocket port (/ws and /)."),
    Setting("http_port", "ARDA_HTTP_PORT", 3002, "Internal HTTP API port: health, metrics, publish, history."),
    Setting(
        "redis_url",
        "ARDA_REDIS_URL",
        None,
        "redis://, rediss://, unix://, redis+sentinel://h:p,…/<master> or redis+cluster://h:p,…; unset: the "
        "embedded in-process bus.",
    ),
    Setting("jwt_secret", "ARDA_JWT_SECRET", None, "HS256 secret (≥ 32 bytes). Unset with no key: a dev secret."),
    Setting("jwt_public_key", "ARDA_JWT_PUBLIC_KEY", None, "PEM public key (RS256/ES256), or a path to one."),
    Setting("jwks_url", "ARDA_JWKS_URL", None, "JWKS URL for RS256/ES256 keys by kid."),
    Setting("jwt_issuer", "ARDA_JWT_ISSUER", None, "Required `iss` when set."),
    Setting("jwt_audience", "ARDA_JWT_AUDIENCE", None, "Required `aud` when set."),
    Setting("api_key", "ARDA_API_KEY", None, "Bearer key for POST /v1/events. Unset: a dev key."),
    Setting("allowed_origins", "ARDA_ALLOWED_ORIGINS", None, "Comma-separated Origins allowed on /ws; unset: any."),
    Setting(
        "trusted_proxies",
        "ARDA_TRUSTED_PROXIES",
        None,
        "Comma-separated proxy addresses/CIDRs whose X-Forwarded-For names the client (per-IP cap, logs).",
    ),
    Setting(
        "dev",
        "ARDA_DEV",
        None,
        "Development mode (generated secrets, test-publish form). Default: on with no JWT key on a loopback host.",
    ),
    Setting(
        "state_dir",
        "ARDA_STATE_DIR",
        "$XDG_STATE_HOME/arda",
        "Where dev secrets are kept (else ~/.local/state/arda); the other commands find them there from any cwd.",
    ),
    Setting("webapp_dir", "ARDA_WEBAPP_DIR", None, "The built notification center served at / (default: bundled)."),
    Setting("max_message_bytes", "ARDA_MAX_MESSAGE_BYTES", 65536, "Largest inbound message; beyond: close 1009."),
    Setting(
        "max_connections_per_ip",
        "ARDA_MAX_CONNECTIONS_PER_IP",
        1000,
        "Open sockets per address, upgraded or not; beyond: 1013.",
    ),
    Setting(
        "compression",
        "ARDA_COMPRESSION",
        "on",
        "permessage-deflate for clients that offer it (on/off); no per-connection compressor either way.",
    ),
    Setting(
        "compression_min_bytes",
        "ARDA_COMPRESSION_MIN_BYTES",
        1024,
        "Smallest message sent compressed; smaller ones go as they are.",
    ),
    Setting("max_subscriptions", "ARDA_MAX_SUBSCRIPTIONS", 100, "Subscriptions per connection."),
    Setting("auth_timeout_s", "ARDA_AUTH_TIMEOUT_S", 10.0, "Close (4003) connections not authenticated by then."),
    Setting("token_grace_s", "ARDA_TOKEN_GRACE_S", 15.0, "After `token_expired`, close (4002) unless refreshed."),
    Setting("client_rate", "ARDA_CLIENT_RATE", 20.0, "Inbound messages per second per connection."),
    Setting("client_burst", "ARDA_CLIENT_BURST", 40.0, "Inbound burst per connection; beyond: `rate_limited`."),
    Setting(
        "inbound_budget",
        "ARDA_INBOUND_BUDGET",
        256.0,
        "Frames per second an authenticated connection may send, any kind (+1 per KiB); burst 4x; beyond: 4005.",
    ),
    Setting(
        "preauth_budget",
        "ARDA_PREAUTH_BUDGET",
        64.0,
        "Frames (+1 per KiB) a connection may send before it authenticates, in all; beyond: close 4005.",
    ),
    Setting(
        "outbound_max_bytes", "ARDA_OUTBOUND_MAX_BYTES", 1048576, "Unsent bytes per connection; beyond: close 4004."
    ),
    Setting(
        "outbound_max_messages", "ARDA_OUTBOUND_MAX_MESSAGES", 5000, "Unsent messages per connection; beyond: 4004."
    ),
    Setting(
        "send_buffer_bytes",
        "ARDA_SEND_BUFFER_BYTES",
        65536,
        "Kernel send buffer per connection (SO_SNDBUF; Linux doubles it), so the outbound bound sees a stall.",
    ),
    Setting("heartbeat_interval_s", "ARDA_HEARTBEAT_INTERVAL_S", 20.0, "Ping connections idle this long."),
    Setting(
        "heartbeat_timeout_s", "ARDA_HEARTBEAT_TIMEOUT_S", 10.0, "Close (4008) if nothing arrives this long after."
    ),
    Setting("sweep_interval_s", "ARDA_SWEEP_INTERVAL_S", 1.0, "How often deadlines are checked."),
    Setting(
        "bus_outage_s",
        "ARDA_BUS_OUTAGE_S",
        10.0,
        "After this long unable to receive from Redis, subscribed clients are closed with 1013 (reconnect).",
    ),
    Setting(
        "check_interval_s",
        "ARDA_CHECK_INTERVAL_S",
        5.0,
        "How often the bus checks Redis is the primary and kept each stream's history (loss noticed within it).",
    ),
    Setting("publish_rate", "ARDA_PUBLISH_RATE", 1000.0, "HTTP publishes per second per tenant; beyond: 429."),
    Setting("publish_burst", "ARDA_PUBLISH_BURST", 2000.0, "HTTP publish burst per tenant."),
    Setting("ack_rate", "ARDA_ACK_RATE", 20.0, "Acknowledgements per second per user (on this instance)."),
    Setting("ack_burst", "ARDA_ACK_BURST", 100.0, "Acknowledgement burst per user; beyond: `rate_limited`."),
    Setting("shutdown_timeout_s", "ARDA_SHUTDOWN_TIMEOUT_S", 10.0, "Bound on a graceful stop (SIGTERM)."),
    Setting("log_level", "ARDA_LOG_LEVEL", "INFO", "debug, info, warning or error."),
    Setting(
        "workers",
        "ARDA_WORKERS",
        "1",
        "Worker processes sharing both ports (SO_REUSEPORT); `auto`: one per CPU. More than 1 needs Redis.",
    ),
)


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    host: str = "127.0.0.1"
    port: int = 3001
    http_port: int = 3002
    redis_url: str | None = None
    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    api_key: str | None = None
    allowed_origins: str | None = None
    trusted_proxies: str | None = None
    dev: bool | None = None
    state_dir: str = msgspec.field(default_factory=default_state_dir)
    webapp_dir: str | None = None
    max_message_bytes: int = 65536
    max_connections_per_ip: int = 1000
    compression: str = "on"
    compression_min_bytes: int = 1024
    max_subscriptions: int = 100
    auth_timeout_s: float = 10.0
    token_grace_s: float = 15.0
    client_rate: float = 20.0
    client_burst: float = 40.0
    inbound_budget: float = 256.0
    preauth_budget: float = 64.0
    outbound_max_bytes: int = 1048576
    outbound_max_messages: int = 5000
    send_buffer_bytes: int = 65536
    heartbeat_interval_s: float = 20.0
    heartbeat_timeout_s: float = 10.0
    sweep_interval_s: float = 1.0
    check_interval_s: float = 5.0
    bus_outage_s: float = 10.0
    publish_rate: float = 1000.0
    publish_burst: float = 2000.0
    ack_rate: float = 20.0
    ack_burst: float = 100.0
    shutdown_timeout_s: float = 10.0
    log_level: str = "INFO"
    workers: str = "1"
    #: Set by the supervisor of ``--workers N`` for each worker (not a setting of its own): where the workers
    #: find each other (each writes its private HTTP port there). Workers share both ports with SO_REUSEPORT.
    worker_dir: str | None = None

    @property
    def worker_count(self) -> int:
        return (os.cpu_count() or 1) if self.workers == "auto" else int(self.workers)

    @property
    def origins(self) -> frozenset[str] | None:
        if not self.allowed_origins or self.allowed_origins.strip() == "*":
            return None
        return frozenset(o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip())

    @property
    def proxies(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        if not self.trusted_proxies:
            return ()
        return tuple(
            ipaddress.ip_network(p.strip(), strict=False) for p in self.trusted_proxies.split(",") if p.strip()
        )

    @property
    def compresses(self) -> bool:
        return self.compression.lower() in ("on", "true", "1", "yes")

    @property
    def has_jwt_key(self) -> bool:
        return bool(self.jwt_secret or self.jwt_public_key or self.jwks_url)

    @property
    def on_loopback(self) -> bool:
        """Whether both ports listen on a loopback address only (nobody else on the network can reach them)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def is_dev(self) -> bool:
        """Development mode — generated secrets, tokens for anyone from ``/dev/session``, publishing without a
        key from ``/dev/events`` — turns itself on only with no JWT key configured *and* on a loopback host;
        anywhere else only when ``ARDA_DEV`` says so explicitly."""
        if self.dev is not None:
            return self.dev
        return not self.has_jwt_key and self.on_loopback

    def public_key_pem(self) -> str | None:
        key = self.jwt_public_key
        if key and "-----BEGIN" not in key:
            path = Path(key)
            if not path.is_file():
                raise ConfigError(f"ARDA_JWT_PUBLIC_KEY / --jwt-public-key: {key!r} is neither a PEM key nor a file")
            return path.read_text()
        return key


_POSITIVE = {
    "max_message_bytes",
    "max_connections_per_ip",
    "max_subscriptions",
    "auth_timeout_s",
    "token_grace_s",
    "client_rate",
    "client_burst",
    "inbound_budget",
    "preauth_budget",
    "outbound_max_bytes",
    "outbound_max_messages",
    "send_buffer_bytes",
    "heartbeat_interval_s",
    "heartbeat_timeout_s",
    "sweep_interval_s",
    "check_interval_s",
    "bus_outage_s",
    "publish_rate",
    "publish_burst",
    "ack_rate",
    "ack_burst",
    "shutdown_timeout_s",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for s in SETTINGS:
        help = f"{s.help} [{s.env}; default {s.default}]"
        if s.name == "dev":  # a flag (`--dev`), which also takes a value (`--dev false`)
            parser.add_argument(s.flag, dest=s.name, default=None, nargs="?", const="true", metavar="BOOL", help=help)
        else:
            parser.add_argument(s.flag, dest=s.name, default=None, help=help)


def load(environ: Mapping[str, str] | None = None, args: argparse.Namespace | None = None) -> Settings:
    """Settings from the environment, overridden by parsed flags. Raises :class:`ConfigError`."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for s in SETTINGS:
        value = getattr(args, s.name, None) if args is not None else None
        if value is None:
            value = env.get(s.env) or None
        if value is not None:
            raw[s.name] = value
    if env.get("ARDA_WORKER_DIR"):
        raw["worker_dir"] = env["ARDA_WORKER_DIR"]
    if "dev" in raw:
        flag = str(raw["dev"]).lower()
        if flag not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            raise ConfigError(f"ARDA_DEV / --dev: expected true or false (1/0, yes/no, on/off), got {raw['dev']!r}")
        raw["dev"] = flag in ("1", "true", "yes", "on")
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        name = str(exc).rsplit("$.", 1)[-1].rstrip("`") if "$." in str(exc) else ""
        setting = next((s for s in SETTINGS if s.name == name), None)
        where = f"{setting.env} / {setting.flag}" if setting else "configuration"
        raise ConfigError(f"{where}: {exc}") from None
    for s in SETTINGS:
        value = getattr(settings, s.name)
        if s.name in _POSITIVE and value <= 0:
            raise ConfigError(f"{s.env} / {s.flag}: must be greater than 0, got {value}")
        if s.name in ("port", "http_port") and not 0 <= value <= 65535:
            raise ConfigError(f"{s.env} / {s.flag}: not a port number: {value}")
    try:
        settings.proxies  # noqa: B018 - parsed here so that a bad value stops the service at once
    except ValueError as exc:
        raise ConfigError(f"ARDA_TRUSTED_PROXIES / --trusted-proxies: {exc}") from None
    if settings.workers != "auto" and not (settings.workers.isdigit() and 1 <= int(settings.workers) <= 256):
        raise ConfigError(
            f"ARDA_WORKERS / --workers: expected a number from 1 to 256 or auto, got {settings.workers!r}"
        )
    if settings.worker_count > 1 and 0 in (settings.port, settings.http_port):
        raise ConfigError("ARDA_WORKERS / --workers: the workers share their ports: give ARDA_PORT and ARDA_HTTP_PORT")
    if settings.worker_count > 1 and not settings.redis_url:
        raise ConfigError(
            "ARDA_WORKERS / --workers: several workers share events through Redis: set ARDA_REDIS_URL "
            "(the embedded bus lives inside one process)"
        )
    if settings.compression.lower() not in ("on", "off", "true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"ARDA_COMPRESSION / --compression: expected on or off, got {settings.compression!r}")
    if settings.compression_min_bytes < 0:
        got = settings.compression_min_bytes
        raise ConfigError(f"ARDA_COMPRESSION_MIN_BYTES / --compression-min-bytes: must be 0 or more, got {got}")
    if settings.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"ARDA_LOG_LEVEL / --log-level: expected debug, info, warning or error, got {settings.log_level!r}"
        )
    if settings.redis_url:
        if not settings.redis_url.startswith(urls.SCHEMES):
            raise ConfigError(
                f"ARDA_REDIS_URL / --redis-url: expected {urls.EXPECTED.removeprefix('memory://, ')}, "
                f"got {urls.redact(settings.redis_url)!r}"
            )
        try:
            urls.check(settings.redis_url)
        except ValueError as exc:
            raise ConfigError(f"ARDA_REDIS_URL / --redis-url: {exc}") from None
    return settings


def markdown_table() -> str:
    rows = ["| variable | flag | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = "—" if s.default is None else f"`{s.default}`"
        rows.append(f"| `{s.env}` | `{s.flag}` | {default} | {s.help} |")
    return "\n".join(rows) + "\n"
