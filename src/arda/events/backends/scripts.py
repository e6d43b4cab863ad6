"""The Lua scripts of the Redis wire format. Shared by the asyncio backend and :class:`SyncPublisher`.

PUBLISH_BATCH — ARGV: maxEvents, maxAgeMs, globalMaxEvents, idempotencyMs, then (tenantId, eventId,
eventJson) per event. For each event, atomically: if ``arda:idem:{tenant}:{id}`` exists, return its
position as a duplicate; otherwise XADD to the tenant's and the global stream (capped with ``MAXLEN ~``),
remember the id, and PUBLISH the JSON with its position spliced in to both channels. Then trim touched
streams by age (``MINID ~``). Returns ``[position, flag, ...]``: flag 0 stored, 1 duplicate, 2 refused
(the position slot holds the error; nothing of that event was stored or sent). Checks that can fail run
before any write: a script error never leaves an event half-published.

TOP — KEYS[1] stream. The newest entry id, or ``0-0``; an absent stream is created empty (with a consumer
group ``arda-anchor``, the only way to create an empty stream) so HISTORY can tell "empty" from "lost".

HISTORY — KEYS[1] stream; ARGV: since ('' for the oldest retained), limit. Returns ``[reachesBack(0|1),
entries]``: entries strictly after ``since``; reachesBack is 1 when the entry at ``since`` is still
stored (or, for ``0-0``, when the stream exists and nothing was ever trimmed from it). Never a partial
replay: when it does not reach back, no entries are returned.

MARK_READ — KEYS[1] the read-state set ``arda:read:{tenant}:{user}`` (a sorted set: member = event id, score
= when it was read, Redis time in ms); ARGV: eventId, maxMembers, maxAgeMs, channel, announcement. Adds the
mark unless it is there; when it is new, trims marks older than maxAgeMs and beyond the newest maxMembers,
renews the key's expiry, and PUBLISHes the announcement (unless empty; unstored: live only) on the tenant's
channel.
Returns 1 when the mark is new, 0 when it was already there. Read state never touches the event stream.

REVOKE — KEYS[1] ``arda:revocations``; ARGV: member, windowMs. Records the revocation at Redis's time (ms),
drops those older than the window, PUBLISHes ``"{ms}\n{member}"`` on the channel ``arda:revocations``, and
returns the time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .base import PublishItem, PublishOutcome, Retention

PUBLISH_BATCH = """
local maxlen, age_ms, gmaxlen, idem_ms = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local gkey = 'arda:stream:global'
local gtype = redis.call('TYPE', gkey)['ok']
if gtype ~= 'stream' and gtype ~= 'none' then
  return redis.error_reply('ERR ' .. gkey .. ' holds a ' .. gtype .. ', not a stream')
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out, touched, added = {}, {}, 0
for i = 5, #ARGV, 3 do
  local tenant, id, json = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local ikey = 'arda:idem:' .. tenant .. ':' .. id
  local known = redis.call('GET', ikey)
  if known then
    out[#out + 1] = known
    out[#out + 1] = 1
  else
    local skey = 'arda:stream:' .. tenant
    local pos = redis.pcall('XADD', skey, 'MAXLEN', '~', maxlen, '*', 'e', json)
    if type(pos) == 'table' and pos['err'] then
      out[#out + 1] = pos['err']  -- refused (e.g. the key holds another type): nothing stored or sent
      out[#out + 1] = 2
    else
      local gpos = redis.call('XADD', gkey, 'MAXLEN', '~', gmaxlen, '*', 'e', json)
      redis.call('SET', ikey, pos, 'PX', idem_ms)
      local body = string.sub(json, 2)
      redis.call('PUBLISH', 'arda:events:' .. tenant, '{"position":"' .. pos .. '",' .. body)
      redis.call('PUBLISH', 'arda:events:global', '{"position":"' .. gpos .. '",' .. body)
      touched[skey] = true
      added = added + 1
      out[#out + 1] = pos
      out[#out + 1] = 0
    end
  end
end
if added > 0 then
  touched[gkey] = true
  local minid = string.format('%.0f', math.max(0, now_ms - age_ms)) .. '-0'
  for skey in pairs(touched) do
    redis.call('XTRIM', skey, 'MINID', '~', minid)
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
local empty_cursor = string.match(since, '^0%-(%d+)$')
if empty_cursor then
  -- TOP's cursor for a stream that had nothing retained, N entries ever added, and the anchor group. It
  -- reaches back when that same stream (still anchored) kept every entry added since.
  if redis.call('EXISTS', s) == 1 then
    local anchored = false
    for _, group in ipairs(redis.call('XINFO', 'GROUPS', s)) do
      for i = 1, #group, 2 do
        if group[i] == 'name' and group[i + 1] == 'arda-anchor' then anchored = true end
      end
    end
    if anchored then
      local info = redis.call('XINFO', 'STREAM', s)
      local len, added = -1, -1
      for i = 1, #info, 2 do
        if info[i] == 'length' then len = info[i + 1] elseif info[i] == 'entries-added' then added = info[i + 1] end
      end
      if len == added - tonumber(empty_cursor) then ok = 1 end
    end
  end
elseif #redis.call('XRANGE', s, since, since) > 0 then
  ok = 1
end
if ok == 0 then
  return {0, {}}
end
return {1, redis.call('XRANGE', s, '(' .. since, '+', 'COUNT', limit)}
"""

TOP = """
local s = KEYS[1]
local last = redis.call('XREVRANGE', s, '+', '-', 'COUNT', 1)
if #last > 0 then
  return last[1][1]
end
local added = 0
if redis.call('EXISTS', s) == 1 then
  local info = redis.call('XINFO', 'STREAM', s)
  for i = 1, #info, 2 do
    if info[i] == 'entries-added' then added = info[i + 1] end
  end
end
-- create the stream if absent, and mark it, so HISTORY can tell "nothing since" from "lost and recreated"
redis.pcall('XGROUP', 'CREATE', s, 'arda-anchor', '$', 'MKSTREAM')
return '0-' .. added
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
    """``[position, 0|1, …]``; a flag of 2 carries Redis's error text in place of the position."""
    out = []
    for i in range(0, len(reply), 2):
        text, flag = reply[i], reply[i + 1]
        text = text.decode() if isinstance(text, bytes) else str(text)
        out.append(PublishOutcome("", False, text) if flag == 2 else PublishOutcome(text, flag == 1))
    return out


MARK_READ = """
local key, member, max_members, age_ms = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('ZADD', key, 'NX', now_ms, member) == 0 then
  return 0
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. string.format('%.0f', now_ms - age_ms))
redis.call('ZREMRANGEBYRANK', key, 0, -(max_members + 1))
redis.call('PEXPIRE', key, age_ms)
if ARGV[5] ~= '' then
  redis.call('PUBLISH', ARGV[4], ARGV[5])
end
return 1
"""


REVOKE = """
local key, member, window_ms = KEYS[1], ARGV[1], tonumber(ARGV[2])
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', key, now_ms, member)
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. string.format('%.0f', now_ms - window_ms))
redis.call('PUBLISH', key, string.format('%.0f', now_ms) .. '\\n' .. member)
return now_ms
"""
