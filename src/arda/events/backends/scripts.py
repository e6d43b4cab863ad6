"""The Lua scripts of the Redis wire format. Shared by the asyncio backend and :class:`SyncPublisher`.

PUBLISH_BATCH — ARGV: maxEvents, maxAgeMs, globalMaxEvents, idempotencyMs, then (tenantId, eventId,
eventJson) per event. For each event, atomically: if ``arda:idem:{tenant}:{id}`` exists, return its
position as a duplicate; otherwise XADD to the tenant's and the global stream (capped with ``MAXLEN ~``),
remember the id, and PUBLISH the JSON with its position spliced in to both channels. Then trim touched
streams by age (``MINID ~``). Returns ``[position, flag, ...]``: flag 0 stored, 1 duplicate, 2 refused
(the position slot holds the error; nothing of that event was stored or sent). Checks that can fail run
before any write: a script error never leaves an event half-published.

Every position handed out is a real entry of its stream. An empty stream's position is an **anchor**: an
entry with the field ``a`` instead of ``e``, appended by TOP (or SETTLE) when the stream has no entry, and
skipped by every reader. So a position always names something that can be looked up: "the entry at
``since`` still exists" is the whole of the continuity check, and a stream lost and created again (FLUSHALL,
a restart without persistence) can never pass for the one a position was taken from.

The **floor** (``arda:meta:{stream}`` field ``floor``) is a position at or before which the stream's history
is known to be incomplete: events accepted there were lost (the tail of the stream went missing in a
failover or a crash). Resuming from a position at or before the floor is refused like a trimmed one.

TOP — KEYS[1] stream. The newest entry's id (an anchor is appended to a stream without entries).

HISTORY — KEYS[1] stream, KEYS[2] meta; ARGV: since ('' for the oldest retained), limit. Returns
``[reachesBack(0|1), entries]``: entries strictly after ``since``, anchors included (the caller skips them);
reachesBack is 1 when the entry at ``since`` is still stored and ``since`` is after the floor. Never a
partial replay: when it does not reach back, no entries are returned.

CHECK — KEYS[1] stream, KEYS[2] meta; ARGV: cursor. 1 while a subscriber's cursor still reaches back (its
entry exists, after the floor), else 0: the periodic check that notices a stream lost while idle.

SETTLE — KEYS[1] stream, KEYS[2] meta; ARGV: cursor, force. After a gap: the stream's newest position, and
whether history was *lost* (not just trimmed by retention). Newly lost — the stream has no entry at all
(trimming never empties one), or the cursor's entry is missing although it is not older than the oldest
retained entry, or ``force`` is 1 — raises the floor to the newest
position, so every older position is refused from now on, and appends an anchor after it (the position
returned, where history goes on); a cursor refused by the floor of an earlier loss
is lost too, and leaves the floor where it is. Returns ``[newest, lost(0|1)]``.

PRIMARY — KEYS[1] ``arda:primary``; ARGV: the primary's ``master_replid``, ``master_replid2``. Which Redis
history this is: ``same`` (as recorded), ``new`` (nothing recorded: a fresh or emptied Redis), ``restarted``
(a new replication id, no previous one: a restart, with whatever persistence kept) or ``promoted`` (a
replica promoted since: its last writes may be missing). Records the current id.

MARK_READ — KEYS[1] the read-state set ``arda:read:{tenant}:{user}`` (a sorted set: member = event id, score
= when it was read, Redis time in ms), KEYS[2] the tenant's meta; ARGV: eventId, maxMembers, maxAgeMs,
channel, announcement. Adds the mark unless it is there; when it is new, trims marks older than maxAgeMs and
beyond the newest maxMembers, renews the key's expiry, records the time in the meta (``read_at``: a resume
after it asks no user's set at all), and PUBLISHes the announcement (unless empty; unstored: live only) on the tenant's
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

#: Stream-id helpers shared by the scripts (a script cannot call another's functions).
_IDS = """
local function id_parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function id_after(a, b)
  local ams, aseq = id_parts(a)
  local bms, bseq = id_parts(b)
  return ams > bms or (ams == bms and aseq > bseq)
end
local function newest(s)
  local last = redis.call('XREVRANGE', s, '+', '-', 'COUNT', 1)
  if #last > 0 then
    return last[1][1]
  end
  return redis.call('XADD', s, '*', 'a', '')
end
local function reaches_back(s, meta, since)
  if #redis.call('XRANGE', s, since, since) == 0 then
    return false
  end
  local floor = redis.call('HGET', meta, 'floor')
  return not floor or id_after(since, floor)
end
"""

TOP = (
    _IDS
    + """
return newest(KEYS[1])
"""
)

HISTORY = (
    _IDS
    + """
local s, since, limit = KEYS[1], ARGV[1], ARGV[2]
if since == '' then
  return {1, redis.call('XRANGE', s, '-', '+', 'COUNT', limit)}
end
if not reaches_back(s, KEYS[2], since) then
  return {0, {}}
end
return {1, redis.call('XRANGE', s, '(' .. since, '+', 'COUNT', limit)}
"""
)

CHECK = (
    _IDS
    + """
if reaches_back(KEYS[1], KEYS[2], ARGV[1]) then
  return 1
end
return 0
"""
)

SETTLE = (
    _IDS
    + """
local s, meta, cursor = KEYS[1], KEYS[2], ARGV[1]
-- a stream without entries lost them: trimming never empties one (a publish adds before it trims by age)
local emptied = #redis.call('XREVRANGE', s, '+', '-', 'COUNT', 1) == 0
local top = newest(s)
local floor = redis.call('HGET', meta, 'floor')
if ARGV[2] ~= '1' and not emptied then
  if #redis.call('XRANGE', s, cursor, cursor) > 0 then
    -- still there: refused by the floor of an earlier loss (already recorded), or not refused at all
    if floor and not id_after(cursor, floor) then
      return {top, 1}
    end
    return {top, 0}
  end
  local first = redis.call('XRANGE', s, '-', '+', 'COUNT', 1)[1][1]
  if id_after(first, cursor) then
    return {top, 0}  -- older than everything retained: trimmed by retention, not lost
  end
end
-- lost: every position up to the newest is refused from now on, and history goes on from a new anchor
if not floor or id_after(top, floor) then
  redis.call('HSET', meta, 'floor', top)
end
return {redis.call('XADD', s, '*', 'a', ''), 1}
"""
)

PRIMARY = """
local known = redis.call('HGET', KEYS[1], 'replid')
if known == ARGV[1] then
  return 'same'
end
redis.call('HSET', KEYS[1], 'replid', ARGV[1])
if not known then
  return 'new'
end
if string.match(ARGV[2], '^0+$') then
  return 'restarted'
end
return 'promoted'
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
redis.call('HSET', KEYS[2], 'read_at', now_ms)
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
