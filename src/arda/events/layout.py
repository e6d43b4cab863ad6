"""Where each stream's keys and channel live in Redis: one name layout per topology. Pure: no I/O.

One Redis (and Sentinel) keeps the names of :mod:`.wire` (``arda:stream:tenant-001``…). A Redis Cluster
needs every key a script touches in one hash slot, so there each tenant's names carry the tenant as a hash
tag — ``arda:stream:{tenant-001}``, ``arda:events:{tenant-001}``, ``arda:idem:{tenant-001}:<id>``,
``arda:meta:{tenant-001}``, ``arda:read:{tenant-001}:<user>`` — one slot per tenant, tenants spread over
all slots. Tenant ids never contain ``{``, ``}`` or ``:``, so a tag is exactly the tenant id.

The global feed in a cluster is partitioned into :data:`GLOBAL_SHARDS` streams, ``global:0`` …, tagged
``{global:<k>}`` (``:`` keeps them apart from every tenant id); a tenant's events go to the shard
:func:`global_shard` names, so each global shard keeps its tenants' order.
"""

from __future__ import annotations

import binascii
from typing import NamedTuple

from . import wire

#: How many global streams a cluster's global feed is split into (fixed for a deployment: it decides which
#: shard a tenant's events go to).
GLOBAL_SHARDS = 8


class Layout(NamedTuple):
    """The names of one topology (:data:`SINGLE` or :data:`CLUSTER`)."""

    tagged: bool

    def _name(self, prefix: str, stream: str) -> str:
        return f"{prefix}{{{stream}}}" if self.tagged else prefix + stream

    def channel(self, stream: str) -> str:
        return self._name(wire.CHANNEL_PREFIX, stream)

    def stream_key(self, stream: str) -> str:
        return self._name(wire.STREAM_PREFIX, stream)

    def meta_key(self, stream: str) -> str:
        return self._name(wire.META_PREFIX, stream)

    def idempotency_key(self, tenant_id: str, event_id: str) -> str:
        return f"{self._name(wire.IDEMPOTENCY_PREFIX, tenant_id)}:{event_id}"

    def read_key(self, tenant_id: str, user_id: str) -> str:
        return f"{self._name(wire.READ_PREFIX, tenant_id)}:{user_id}"

    def stream_of_channel(self, channel: str) -> str | None:
        if not channel.startswith(wire.CHANNEL_PREFIX):
            return None
        rest = channel[len(wire.CHANNEL_PREFIX) :]
        if not self.tagged:
            return rest
        return rest[1:-1] if rest.startswith("{") and rest.endswith("}") else None


SINGLE = Layout(tagged=False)
CLUSTER = Layout(tagged=True)


def global_shard(tenant_id: str) -> str:
    """The global stream of a cluster that carries ``tenant_id``'s events: ``global:<k>``."""
    return f"{wire.GLOBAL}:{binascii.crc_hqx(tenant_id.encode(), 0) % GLOBAL_SHARDS}"


GLOBAL_SHARD_STREAMS = tuple(f"{wire.GLOBAL}:{k}" for k in range(GLOBAL_SHARDS))

__all__ = ["CLUSTER", "GLOBAL_SHARDS", "GLOBAL_SHARD_STREAMS", "SINGLE", "Layout", "global_shard"]
