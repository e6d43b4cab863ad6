"""The Lua scripts of the Redis wire format. Shared by the asyncio backend and :class:`SyncPublisher`.

PUBLISH_BATCH — ARGV: maxEvents, maxAgeMs, globalMaxEvents, idempotencyMs, then (tenantId, eventId,
eventJson) per event. For each event, atomically: if ``arda:idem:{tenant}:{id}`` exists, return its
position as a duplicate; otherwise XADD to the tenant's and the global stream (capped with ``MAXLEN ~``),
remember the id, and PUBLISH the JSON with its position spliced in to both channels. Then trim touched
streams by age (``MINID ~``) and set their expiry. Returns ``[position, duplicate(0|1), ...]``.

HISTORY — KEYS[1] stream; ARGV: since ('' for the oldest retained), limit. Returns ``[reachesBack(0|1),
entries]``: entries strictly after ``since``; reachesBack is 1 when the entry at ``since`` is still
stored (or, for ``0-0``, when nothing was ever trimmed from the stream). Never a partial replay: when it
does not reach back, no entries are returned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .base import PublishItem, PublishOutcome, Retention

PUBLISH_BATCH = """
local maxlen, age_ms, gmaxlen, idem_ms = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out, touched, added = {}, {}, 0
for i = 5, #ARGV, 3 do
  local tenant, id, json = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local ikey = 'arda:idem:' .. tenant .. ':' .. id
  local known = false
  if idem_ms ~= '0' then known = redis.call('GET', ikey) end
  if known then
    out[#out + 1] = known
    out[#out + 1] = 1
  else
    local skey = 'arda:stream:' .. tenant
    local pos = redis.call('XADD', skey, 'MAXLEN', '~', maxlen, '*', 'e', json)
    local gpos = redis.call('XADD', 'arda:stream:global', 'MAXLEN', '~', gmaxlen, '*', 'e', json)
    if idem_ms ~= '0' then redis.call('SET', ikey, pos, 'PX', idem_ms) end
    local body = string.sub(json, 2)
    redis.call('PUBLISH', 'arda:events:' .. tenant, '{"position":"' .. pos .. '",' .. body)
    redis.call('PUBLISH', 'arda:events:global', '{"position":"' .. gpos .. '",' .. body)
    touched[skey] = true
    added = added + 1
    out[#out + 1] = pos
    out[#out + 1] = 0
  end
end
if added > 0 then
  touched['arda:stream:global'] = true
  local minid = string.format('%.0f', now_ms - age_ms) .. '-0'
  for skey in pairs(touched) do
    redis.call('XTRIM', skey, 'MINID', '~', minid)
    redis.call('PEXPIRE', skey, age_ms)
  end
end
return out
"""

HISTORY = """
local s, since, limit = KEYS[1], ARGV[1], ARGV[2]
if since == '' then
  return {1, redis.call('XRANGE', s, '-', '+', 'COUNT', limit)}
end
local ok = 0
if since == '0-0' then
  if redis.call('EXISTS', s) == 0 then
    ok = 1
  else
    local info = redis.call('XINFO', 'STREAM', s)
    local len, added = -1, -2
    for i = 1, #info, 2 do
      if info[i] == 'length' then len = info[i + 1] elseif info[i] == 'entries-added' then added = info[i + 1] end
    end
    if len == added then ok = 1 end
  end
elseif #redis.call('XRANGE', s, since, since) > 0 then
  ok = 1
end
if ok == 0 then
  return {0, {}}
end
return {1, redis.call('XRANGE', s, '(' .. since, '+', 'COUNT', limit)}
"""


def publish_args(retention: Retention, items: Iterable[PublishItem]) -> list[Any]:
    """ARGV of :data:`PUBLISH_BATCH` for ``items``."""
    args: list[Any] = [
        retention.max_events,
        int(retention.max_age_s * 1000),
        retention.global_max_events,
        int(retention.idempotency_window_s * 1000),
    ]
    for item in items:
        args += (item.tenant_id, item.event_id, item.payload)
    return args


def publish_outcomes(reply: list[Any]) -> list[PublishOutcome]:
    return [PublishOutcome(reply[i].decode(), reply[i + 1] == 1) for i in range(0, len(reply), 2)]
