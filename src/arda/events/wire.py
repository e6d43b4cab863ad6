"""The Redis wire format: channel and key names, message framing, and parsing of received messages.

Channels   ``arda:events:{tenantId}`` and ``arda:events:global`` (pub/sub)
Streams    ``arda:stream:{tenantId}`` and ``arda:stream:global`` (history; entry field ``e`` = event JSON)
Dedup      ``arda:idem:{tenantId}:{eventId}`` (value: the position; expires after the idempotency window)
Meta       ``arda:meta:{tenantId}`` and ``arda:meta:global`` (hash; ``floor``: positions at or before it are refused)
Primary    ``arda:primary`` (hash; ``replid``: the replication id of the Redis history the streams were written in)
DLQ        ``arda:dlq`` (stream; fields ``reason``, ``detail``, ``channel``, ``payload``, ``at``)
Read state ``arda:read:{tenantId}:{userId}`` (sorted set: event id → when the user read it, ms)
Revocations ``arda:revocations`` (sorted set: ``"{tenantId or ''}\n{userId}"`` → when, ms; the channel of the
           same name carries ``"{ms}\n{tenantId or ''}\n{userId}"`` to every instance)

A message published by the bus is the event JSON with the position spliced in as its first member:
``{"position":"1764232800123-0","type":"order.created",...}``. A message published raw by another
service is the bare event JSON; it is delivered live, without a position.
Pure: no I/O here.
"""

from __future__ import annotations

import datetime as _dt
from typing import NamedTuple

from .errors import EventValidationError
from .models import AnyEvent
from .positions import is_position
from .registry import EventRegistry

GLOBAL = "global"
#: Live instances (a sorted set: member = instance id, score = until when, ms) and each one's figures
#: (``INSTANCE_PREFIX + id``, a string with a TTL) — one hash slot on a Redis Cluster (the tag).
INSTANCES_KEY = "arda:{instances}"
INSTANCE_PREFIX = "arda:{instances}:"
CHANNEL_PREFIX = "arda:events:"
STREAM_PREFIX = "arda:stream:"
IDEMPOTENCY_PREFIX = "arda:idem:"
DLQ_KEY = "arda:dlq"
READ_PREFIX = "arda:read:"
META_PREFIX = "arda:meta:"
PRIMARY_KEY = "arda:primary"
#: The field of an anchor entry (a stream's position while it holds no event); events use ``e``.
ANCHOR_FIELD = b"a"
REVOCATIONS = "arda:revocations"  # the sorted set and the channel
#: Dead letters keep at most this many bytes of the offending payload.
DLQ_PAYLOAD_LIMIT = 64 * 1024


def channel_name(stream: str) -> str:
    """``"tenant-001"`` → ``"arda:events:tenant-001"``; ``"global"`` → ``"arda:events:global"``."""
    return CHANNEL_PREFIX + stream


def stream_key(stream: str) -> str:
    return STREAM_PREFIX + stream


def meta_key(stream: str) -> str:
    return META_PREFIX + stream


def read_key(tenant_id: str, user_id: str) -> str:
    """The user's read state on a tenant (tenant ids never contain ``:``, so the key is unambiguous)."""
    return f"{READ_PREFIX}{tenant_id}:{user_id}"


def stream_of_channel(channel: str) -> str | None:
    return channel[len(CHANNEL_PREFIX) :] if channel.startswith(CHANNEL_PREFIX) else None


def frame_with_position(position: str, event_json: bytes) -> bytes:
    """Splice ``"position"`` into an event's JSON object as its first member (what the Lua script does)."""
    return b'{"position":"' + position.encode() + b'",' + event_json[1:]


class Revocation(NamedTuple):
    """``user_id``'s tokens issued (``iat``) at or before ``revoked_at`` (unix seconds, Redis's clock) are
    revoked — for ``tenant_id`` only, or for every tenant when it is None."""

    user_id: str
    tenant_id: str | None
    revoked_at: float


def revocation_member(user_id: str, tenant_id: str | None) -> str:
    """The member of :data:`REVOCATIONS` (tenant ids never contain a newline: the split is unambiguous)."""
    return f"{tenant_id or ''}\n{user_id}"


def parse_revocation(member: bytes | str, ms: float) -> Revocation | None:
    """A :data:`REVOCATIONS` member and its score (ms) as a :class:`Revocation`; None when malformed."""
    text = member.decode(errors="replace") if isinstance(member, bytes) else member
    tenant, sep, user = text.partition("\n")
    if not sep or not user:
        return None
    return Revocation(user, tenant or None, ms / 1000)


def parse_revocation_message(payload: bytes) -> Revocation | None:
    """What the :data:`REVOCATIONS` channel carries (``"{ms}\n{member}"``); None when malformed."""
    ms, sep, member = payload.partition(b"\n")
    if not sep or not ms.isdigit():
        return None
    return parse_revocation(member, int(ms))


class DeadLetter(NamedTuple):
    reason: str  # "invalid_json", "invalid_event", "tenant_mismatch", "invalid_position"
    detail: str
    channel: str
    payload: bytes
    at: str  # ISO 8601


class Malformed(NamedTuple):
    reason: str
    detail: str


def is_global(stream: str) -> bool:
    """``global``, or one of a Redis Cluster's global shards (``global:<k>``): streams of every tenant."""
    return stream == GLOBAL or stream.startswith(GLOBAL + ":")


def parse_message(registry: EventRegistry, stream: str, payload: bytes) -> AnyEvent | Malformed:
    """Turn a message received on ``stream``'s channel into an event, or say why it is malformed."""
    try:
        event = registry.decode(payload)
    except EventValidationError as exc:
        reason = "invalid_json" if exc.field is None and "JSON" in exc.detail else "invalid_event"
        return Malformed(reason, str(exc))
    if not is_global(stream) and event.tenant_id != stream:
        return Malformed("tenant_mismatch", f"tenantId {event.tenant_id!r} published on channel of {stream!r}")
    if event.position is not None and not is_position(event.position):
        return Malformed("invalid_position", f"position {event.position!r} is not '<ms>-<seq>'")
    return event


def dead_letter(malformed: Malformed, stream: str, payload: bytes, now: _dt.datetime) -> DeadLetter:
    return DeadLetter(
        malformed.reason,
        malformed.detail,
        channel_name(stream),
        payload[:DLQ_PAYLOAD_LIMIT],
        now.isoformat().replace("+00:00", "Z"),
    )
