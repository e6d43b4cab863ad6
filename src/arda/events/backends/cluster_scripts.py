"""The Lua scripts of the Redis Cluster layout (:data:`arda.events.layout.CLUSTER`): every key a call touches is
in one hash slot — a tenant's, or one global shard's — and live delivery is sharded (``SPUBLISH``).

APPEND — appends to one or more streams of one node in one call (Redis 7's ``allow-cross-slot-keys``: a script
may touch keys of several slots, all on the node it runs on). KEYS[1]: the first stream (it routes the call:
declared keys must share a slot); ARGV: maxEvents, maxAgeMs (0: no trim by age), idempotencyMs, then per
stream: its key (``arda:stream:{<stream>}``), its idempotency-key prefix (``arda:idem:{<stream>}:``), its shard
channel (``arda:events:{<stream>}``), a count, then (eventId, eventJson) × count. For each event, atomically: if
its idempotency key exists, its position as a duplicate; otherwise XADD (capped with ``MAXLEN ~``), remember the
id, and SPUBLISH the JSON with its position spliced in. Then each stream is trimmed by age (``MINID ~``) when
anything was added to it. Returns ``[position, flag, ...]`` in stream order, like the one-Redis script: 0
stored, 1 duplicate, 2 refused (the position slot holds the error; nothing of that event was stored or sent).
A key of another node fails the call (``non local key``) after the streams before it were written: the caller
redoes the call stream by stream, which the idempotency keys make safe.

A tenant's publish is APPEND on the tenant's stream; then APPEND of the stored (and duplicate) events on the
tenant's global shard, with its own idempotency keys — so a publish retried after only the first step reached
Redis completes the second, and never duplicates either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from redis.crc import key_slot

from .base import PublishItem

#: See the module docstring; the one script for one stream or several of one node.
APPEND = (
    "#!lua flags=allow-cross-slot-keys\n"
    + """
local maxlen, age_ms, idem_ms = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minid = string.format('%.0f', math.max(0, now_ms - age_ms)) .. '-0'
local out = {}
local a = 4
while a <= #ARGV do
  local skey, prefix, channel, count = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  a = a + 4
  local added = 0
  for i = 1, count do
    local id, json = ARGV[a], ARGV[a + 1]
    a = a + 2
    local ikey = prefix .. id
    local known = redis.call('GET', ikey)
    if known then
      out[#out + 1] = known
      out[#out + 1] = 1
    else
      local pos = redis.pcall('XADD', skey, 'MAXLEN', '~', maxlen, '*', 'e', json)
      if type(pos) == 'table' and pos['err'] then
        out[#out + 1] = pos['err']
        out[#out + 1] = 2
      else
        redis.call('SET', ikey, pos, 'PX', idem_ms)
        redis.call('SPUBLISH', channel, '{"position":"' .. pos .. '",' .. string.sub(json, 2))
        added = added + 1
        out[#out + 1] = pos
        out[#out + 1] = 0
      end
    end
  end
  if added > 0 and age_ms > 0 then
    redis.call('XTRIM', skey, 'MINID', '~', minid)
  end
end
return out
"""
)


#: Which history a primary holds, as :data:`~.scripts.PRIMARY` for one Redis, per node: KEYS[1] the node's record
#: (``arda:primary:{n<i>}``, a key of one of its slots: :func:`record_key`); ARGV: the node's ``master_replid``,
#: ``master_replid2`` and address. ``same``, ``new`` (nothing recorded), ``moved`` (the record came with a
#: migrated slot from another node: not this node's history), ``restarted`` or ``promoted`` (a replica took over
#: from the node that wrote the record: its last writes may be missing). Records the node's id and address.
PRIMARY = """
local known, owner = redis.call('HGET', KEYS[1], 'replid'), redis.call('HGET', KEYS[1], 'node')
if known == ARGV[1] then
  return 'same'
end
redis.call('HSET', KEYS[1], 'replid', ARGV[1], 'node', ARGV[3])
if not known then
  return 'new'
end
if known == ARGV[2] then
  return 'promoted'
end
if owner and owner ~= ARGV[3] then
  return 'moved'
end
if string.match(ARGV[2], '^0+$') then
  return 'restarted'
end
return 'promoted'
"""

RECORD_PREFIX = "arda:primary:"


def record_key(owns: Callable[[int], bool]) -> str:
    """The first ``arda:primary:{n<i>}`` in a slot the node ``owns``: every bus picks the same one for a node, and
    a promoted replica (owning the same slots) finds its old primary's record there."""
    for i in range(1 << 20):
        key = f"{RECORD_PREFIX}{{n{i}}}"
        if owns(key_slot(key.encode())):
            return key
    raise ValueError("the node owns no slot")


def append_args(
    max_events: int, max_age_ms: int, idempotency_ms: int, prefix: str, channel: str, items: Iterable[PublishItem]
) -> list[Any]:
    """One stream's part of a call: ``[maxEvents, maxAgeMs, idempotencyMs, prefix, channel, (id, json)…]``
    (:func:`node_args` joins the parts of one node's streams into :data:`APPEND`'s ARGV)."""
    args: list[Any] = [max_events, max_age_ms, idempotency_ms, prefix, channel]
    for item in items:
        args += (item.event_id, item.payload)
    return args


def node_args(calls: list[tuple[str, list[Any]]]) -> list[Any]:
    """:data:`APPEND`'s ARGV for ``(stream key, append_args(…))`` parts sharing maxEvents, maxAgeMs and
    idempotencyMs."""
    args: list[Any] = list(calls[0][1][:3])
    for key, part in calls:
        pairs = part[5:]
        args += [key, part[3], part[4], len(pairs) // 2, *pairs]
    return args


__all__ = ["APPEND", "PRIMARY", "RECORD_PREFIX", "append_args", "node_args", "record_key"]
