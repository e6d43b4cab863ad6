"""A publish on a Redis Cluster, planned: which APPEND calls (:mod:`.cluster_scripts`) it takes, grouped by node,
and what their replies mean. Pure — shared by :class:`~.cluster.ClusterCommands` (async) and
:class:`~arda.events.SyncPublisher` (blocking), which only carry the calls out.

A publish is two rounds: each tenant's events appended to its stream, then the stored and duplicate ones to the
tenant's global shard (:func:`~arda.events.layout.global_shard`). Each round is one call per node for the streams
it owns, every node at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..layout import CLUSTER, global_shard
from . import cluster_scripts, scripts
from .base import PublishItem, PublishOutcome, Retention

#: ``(stream, append_args(…))``: one stream's part of a round.
Call = tuple[str, list[Any]]


class PublishPlan:
    """The two rounds of publishing ``items``: :attr:`tenant_calls`, then :meth:`shard_calls` from their
    replies; :attr:`outcomes` in input order once the first round's replies are read."""

    def __init__(self, retention: Retention, items: Sequence[PublishItem]) -> None:
        self.retention = retention
        self.items = items
        self.by_tenant: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            self.by_tenant.setdefault(item.tenant_id, []).append(index)
        r = retention
        self.tenant_calls: list[Call] = [
            (tenant, self._args(r.max_events, int(r.max_age_s * 1000), tenant, [items[i] for i in indexes]))
            for tenant, indexes in self.by_tenant.items()
        ]
        self.outcomes: list[PublishOutcome] = []

    def _args(self, max_events: int, max_age_ms: int, stream: str, items: list[PublishItem]) -> list[Any]:
        idempotency_ms = int(self.retention.idempotency_window_s * 1000)
        prefix, channel = CLUSTER.idempotency_key(stream, ""), CLUSTER.channel(stream)
        return cluster_scripts.append_args(max_events, max_age_ms, idempotency_ms, prefix, channel, items)

    def shard_calls(self, replies: Sequence[Any]) -> list[Call]:
        """Read the first round's replies (one per tenant call); the second round: the events stored or found
        duplicate, appended to their tenants' global shards (the global feed keeps no age limit of its own)."""
        outcomes: list[PublishOutcome | None] = [None] * len(self.items)
        by_shard: dict[str, list[PublishItem]] = {}
        for (tenant, _), reply in zip(self.tenant_calls, replies, strict=True):
            for index, outcome in zip(self.by_tenant[tenant], scripts.publish_outcomes(reply), strict=True):
                outcomes[index] = outcome
                if outcome.error is None:
                    by_shard.setdefault(global_shard(tenant), []).append(self.items[index])
        self.outcomes = [o for o in outcomes if o is not None]
        return [
            (shard, self._args(self.retention.global_max_events, 0, shard, part)) for shard, part in by_shard.items()
        ]


def by_node(calls: Sequence[Call], node_of: Callable[[str], str]) -> dict[str, list[int]]:
    """The indexes of ``calls`` per node name (``node_of`` a stream key; "" when the slot map has no owner)."""
    groups: dict[str, list[int]] = {}
    for index, (stream, _) in enumerate(calls):
        groups.setdefault(node_of(CLUSTER.stream_key(stream)), []).append(index)
    return groups


def node_call(calls: Sequence[Call], indexes: Sequence[int]) -> tuple[str, list[Any]]:
    """One node's APPEND for its calls: the routing key (its first stream) and the ARGV."""
    parts = [(CLUSTER.stream_key(calls[i][0]), calls[i][1]) for i in indexes]
    return parts[0][0], cluster_scripts.node_args(parts)


def split(calls: Sequence[Call], indexes: Sequence[int], flat: Sequence[Any]) -> list[list[Any]]:
    """One node's flat reply cut into each call's reply (a (position, flag) pair per (id, json) pair)."""
    out, at = [], 0
    for i in indexes:
        width = len(calls[i][1]) - 5
        out.append(list(flat[at : at + width]))
        at += width
    return out


def one_call(call: Call) -> tuple[str, list[Any]]:
    """One stream's APPEND on its own (routed, and redirected, by the client): its key and ARGV."""
    key = CLUSTER.stream_key(call[0])
    return key, cluster_scripts.node_args([(key, call[1])])


__all__ = ["Call", "PublishPlan", "by_node", "node_call", "one_call", "split"]
