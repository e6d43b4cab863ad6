"""Key and channel names per topology (:mod:`arda.events.layout`): one Redis keeps the wire format's names; in a
cluster every key of a tenant shares the tenant's hash slot, and tenants spread over the slots."""

from __future__ import annotations

import pytest

from arda.events import wire
from arda.events.errors import InvalidTenantError
from arda.events.layout import CLUSTER, GLOBAL_SHARD_STREAMS, GLOBAL_SHARDS, SINGLE, global_shard
from arda.events.models import validate_tenant_id
from arda.testing.cluster import key_slot

TENANTS = [f"tenant-{i:03d}" for i in range(50)] + ["a", "Z9", "x.y_z-1"]


def test_one_redis_keeps_the_wire_formats_names() -> None:
    for tenant in TENANTS:
        assert SINGLE.stream_key(tenant) == wire.stream_key(tenant)
        assert SINGLE.channel(tenant) == wire.channel_name(tenant)
        assert SINGLE.meta_key(tenant) == wire.meta_key(tenant)
        assert SINGLE.read_key(tenant, "u-1") == wire.read_key(tenant, "u-1")
        assert SINGLE.idempotency_key(tenant, "e1") == f"{wire.IDEMPOTENCY_PREFIX}{tenant}:e1"
        assert SINGLE.stream_of_channel(SINGLE.channel(tenant)) == tenant
    assert SINGLE.channel("global") == "arda:events:global"


def test_in_a_cluster_every_key_of_a_tenant_is_in_the_tenants_slot() -> None:
    for tenant in TENANTS:
        names = [
            CLUSTER.stream_key(tenant),
            CLUSTER.channel(tenant),
            CLUSTER.meta_key(tenant),
            CLUSTER.idempotency_key(tenant, "0190b0c4-7a3e-7000-8000-000000000001"),
            CLUSTER.read_key(tenant, "user:with:colons"),
        ]
        assert {key_slot(name) for name in names} == {key_slot(tenant)}, names
        assert CLUSTER.stream_key(tenant) == f"arda:stream:{{{tenant}}}"
        assert CLUSTER.stream_of_channel(CLUSTER.channel(tenant)) == tenant
    slots = {key_slot(CLUSTER.stream_key(t)) for t in TENANTS[:50]}
    assert len(slots) == 50  # 50 tenants, 50 slots: spread, not piled on one node


def test_global_shards_are_apart_from_every_tenant() -> None:
    assert len(GLOBAL_SHARD_STREAMS) == GLOBAL_SHARDS
    used = {global_shard(t) for t in TENANTS}
    assert used <= set(GLOBAL_SHARD_STREAMS)
    assert len(used) == GLOBAL_SHARDS  # 53 tenants reach every shard
    assert global_shard("tenant-001") == global_shard("tenant-001")  # stable
    for shard in GLOBAL_SHARD_STREAMS:
        with pytest.raises(InvalidTenantError):
            validate_tenant_id(shard)  # no tenant can be named like a global shard
        assert key_slot(CLUSTER.stream_key(shard)) == key_slot(CLUSTER.channel(shard))


def test_channels_that_are_not_arda_streams_are_not_mistaken_for_one() -> None:
    assert CLUSTER.stream_of_channel("arda:events:tenant-001") is None  # untagged: not a cluster channel
    assert CLUSTER.stream_of_channel("arda:revocations") is None
    assert SINGLE.stream_of_channel("other:events:x") is None
