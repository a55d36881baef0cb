// Private: the Lua scripts of the Redis exchange (docs/design.md §5). Each runs atomically inside Redis, so the order in which
// PUBLISH scripts run *is* the room's order. All numbers are returned as strings (no float surprises).
//
// Keys (prefix P):  P:gen        generation (the epoch floor); missing => Redis lost its data => new generation
//                   P:sealed     set by a chain that moved sequencing to another exchange (migration phase 3)
//                   P:r:<room>   hash {seq, ts, epoch, foreign, trim, base}: the room's counter; foreign=1 after a
//                                relay/seed; trim = highest seq evicted from history; base = highest seeded seq
//                   P:h:<room>   sorted set: score seq, member = the sequenced envelope JSON (capped history)
//                   P:i:<room>:<id>  "seq:ts:epoch" of a published id (idempotent retries), with a TTL
// Channel: P:m:<room>, carrying the sequenced envelope JSON.

/**
 * Shared prologue: make sure the generation exists. A missing generation means Redis lost its data (restarted empty,
 * flushed): start a new one above every epoch this node has seen and above the server clock in seconds, so a fresh
 * node cannot reuse an old generation number either.
 */
const ENSURE_GEN = `
local t = redis.call('TIME')
local gen = tonumber(redis.call('GET', KEYS[1]) or '0')
if gen == 0 then
  gen = math.max(tonumber(ARGV[1]) + 1, tonumber(t[1]))
  redis.call('SET', KEYS[1], string.format('%d', gen))
end
`;

/**
 * Shared helper: the capped history. `trimHistory(hist, max)` keeps the newest `max` entries of the sorted set `hist`
 * and returns the score (seq, as Redis's string) of the highest one it evicted, or nil when nothing was over the cap.
 * The caller records it as the room's `trim`.
 */
const TRIM_HISTORY = `
local function trimHistory(hist, max)
  local n = redis.call('ZCARD', hist)
  if n <= max then return nil end
  local cut = redis.call('ZRANGE', hist, n - max - 1, n - max - 1, 'WITHSCORES')[2]
  redis.call('ZREMRANGEBYRANK', hist, 0, n - max - 1)
  return cut
end
`;

/**
 * Shared helper (after ENSURE_GEN): `rebase(room, ks, ke, kts)` with the highest seq (and its epoch, and the highest
 * timestamp) the calling node has seen in the room. A counter below it means Redis lost the room's data (restarted
 * empty, flushed, restored an older copy): the room continues at ks + 1 instead of handing out seqs again, under an
 * epoch above the known one, with `base` = ks (nothing at or below it is held: asking history for it is a Gap, so a
 * subscriber that missed messages before the loss gets a discontinuity for exactly those). Every script a node runs
 * for a room carries its knowledge, so the first node to touch a room after the loss restores it, and each later one
 * raises it to what it saw.
 */
const REBASE = `
local function rebase(room, ks, ke, kts)
  if ks <= 0 then return end
  local st = redis.call('HMGET', room, 'seq', 'epoch', 'ts')
  if ks <= tonumber(st[1] or '0') then return end
  local ep = math.max(tonumber(st[2] or '0'), gen, ke + 1)
  redis.call('HSET', room, 'seq', string.format('%d', ks), 'epoch', string.format('%d', ep),
    'ts', string.format('%d', math.max(tonumber(st[3] or '0'), kts)), 'foreign', '0', 'base', string.format('%d', ks))
end
`;

/**
 * PUBLISH. KEYS: gen, sealed, room, hist, id. ARGV: knownGen, body ('{' + envelope JSON), channel, histMax, idTtl,
 * knownSeq, knownEpoch, knownTs. Returns {'ok', seq, ts, epoch} | {'dup', 'seq:ts:epoch'} | {'sealed', authority}.
 */
export const PUBLISH_LUA = `${ENSURE_GEN}${TRIM_HISTORY}${REBASE}
-- A known id answers with its seq even after a seal: a retried publish must never get a second seq elsewhere.
local prior = redis.call('GET', KEYS[5])
if prior then return {'dup', prior} end
local sealed = redis.call('GET', KEYS[2])
if sealed then return {'sealed', sealed} end
rebase(KEYS[3], tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]))
local st = redis.call('HMGET', KEYS[3], 'seq', 'ts', 'epoch', 'foreign')
local seq = tonumber(st[1] or '0')
local lastTs = tonumber(st[2] or '0')
local epoch = tonumber(st[3] or '0')
if st[4] == '1' then epoch = epoch + 1 end
if epoch < gen then epoch = gen end
if epoch > gen then redis.call('SET', KEYS[1], string.format('%d', epoch)) end
seq = seq + 1
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ts = math.max(now, lastTs)
local s, e, tt = string.format('%d', seq), string.format('%d', epoch), string.format('%d', ts)
local msg = '{"seq":' .. s .. ',"ts":' .. tt .. ',"epoch":' .. e .. ',' .. string.sub(ARGV[2], 2)
redis.call('HSET', KEYS[3], 'seq', s, 'ts', tt, 'epoch', e, 'foreign', '0')
redis.call('ZADD', KEYS[4], seq, msg)
local cut = trimHistory(KEYS[4], tonumber(ARGV[4]))
if cut then redis.call('HSET', KEYS[3], 'trim', cut) end
redis.call('SET', KEYS[5], s .. ':' .. tt .. ':' .. e, 'EX', ARGV[5])
redis.call('PUBLISH', ARGV[3], msg)
return {'ok', s, tt, e}
`;

/**
 * RELAY an already-sequenced message unchanged. KEYS: gen, room, hist. ARGV: knownGen, msg JSON, seq, ts, epoch, id,
 * channel, histMax. Returns {'ok'} | {'dup'} | {'conflict'}.
 */
export const RELAY_LUA = `${ENSURE_GEN}${TRIM_HISTORY}
local seq = tonumber(ARGV[3])
local have = redis.call('ZRANGEBYSCORE', KEYS[3], seq, seq)
if #have > 0 then
  if string.find(have[1], '"id":"' .. ARGV[6] .. '"', 1, true) then return {'dup'} end
  return {'conflict'}
end
local st = redis.call('HMGET', KEYS[2], 'seq', 'ts', 'epoch')
local cur = tonumber(st[1] or '0')
local curTs = tonumber(st[2] or '0')
local curEp = tonumber(st[3] or '0')
local ts = tonumber(ARGV[4])
local ep = tonumber(ARGV[5])
if seq > cur then
  redis.call('HSET', KEYS[2], 'seq', ARGV[3], 'ts', string.format('%d', math.max(ts, curTs)),
    'epoch', string.format('%d', math.max(ep, curEp)), 'foreign', '1')
end
if ep > gen then redis.call('SET', KEYS[1], string.format('%d', ep)) end
redis.call('ZADD', KEYS[3], seq, ARGV[2])
local cut = trimHistory(KEYS[3], tonumber(ARGV[8]))
if cut then
  -- only ever raised: a relayed message can be older than the history it joins
  cut = tonumber(cut)
  if cut > tonumber(redis.call('HGET', KEYS[2], 'trim') or '0') then redis.call('HSET', KEYS[2], 'trim', string.format('%d', cut)) end
end
redis.call('PUBLISH', ARGV[7], ARGV[2])
return {'ok'}
`;

/**
 * SEED a room's counter from another sequencer (max-merge; marks it foreign so the next publish starts epoch + 1).
 * KEYS: gen, room. ARGV: knownGen, seq, ts, epoch. Returns {'ok'} | {'kept'}.
 */
export const SEED_LUA = `${ENSURE_GEN}
local st = redis.call('HMGET', KEYS[2], 'seq', 'ts', 'epoch')
local cur = tonumber(st[1] or '0')
local curTs = tonumber(st[2] or '0')
local curEp = tonumber(st[3] or '0')
local seq = tonumber(ARGV[2])
local ep = tonumber(ARGV[4])
if seq > cur or (seq == cur and ep > curEp) then
  -- Nothing at or below the seeded seq was ever stored here: history below it is a gap, not a hole in flight.
  redis.call('HSET', KEYS[2], 'seq', ARGV[2], 'ts', string.format('%d', math.max(tonumber(ARGV[3]), curTs)),
    'epoch', string.format('%d', math.max(ep, curEp)), 'foreign', '1', 'base', ARGV[2])
  return {'ok'}
end
return {'kept'}
`;

/**
 * POSITIONS of rooms (rebased first with what this node saw). KEYS: gen, sealed, room1..roomN. ARGV: knownGen, then per
 * room knownSeq, knownEpoch, knownTs. Returns {gen, sealed or '', seq1, epoch1, base1, seq2, ...}: the epoch is the
 * room's own (of its last seq; the generation for a room Redis holds nothing of), base the seq its current lineage
 * continued from (0: it counted from 1).
 */
export const POSITIONS_LUA = `${ENSURE_GEN}${REBASE}
local out = {string.format('%d', gen), redis.call('GET', KEYS[2]) or ''}
for i = 3, #KEYS do
  local a = 2 + (i - 3) * 3
  rebase(KEYS[i], tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]))
  local st = redis.call('HMGET', KEYS[i], 'seq', 'epoch', 'base')
  out[#out + 1] = st[1] or '0'
  out[#out + 1] = st[1] and (st[2] or '0') or string.format('%d', gen)
  out[#out + 1] = st[3] or '0'
end
return out
`;

/**
 * HISTORY after a seq (rebased first with what this node saw). KEYS: gen, room, hist. ARGV: knownGen, afterSeq, limit,
 * knownSeq, knownEpoch, knownTs.
 * Returns {lastSeq, epoch, {msg...}, floor}: messages with seq > afterSeq (ascending, at most limit) and the highest
 * seq this store can no longer have (evicted by the cap, or below a seed). A missing seq above `floor` is a hole that
 * may still fill (a relay in flight), not a loss.
 */
export const HISTORY_LUA = `${ENSURE_GEN}${REBASE}
rebase(KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
local st = redis.call('HMGET', KEYS[2], 'seq', 'epoch', 'trim', 'base')
local last = st[1] or '0'
local ep = string.format('%d', math.max(tonumber(st[2] or '0'), gen))
local floor = string.format('%d', math.max(tonumber(st[3] or '0'), tonumber(st[4] or '0')))
local items = {}
if tonumber(ARGV[2]) < tonumber(last) then
  items = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[2], '+inf', 'LIMIT', 0, tonumber(ARGV[3]))
end
return {last, ep, items, floor}
`;

/** SEAL: hand sequencing to `authority` (one way). KEYS: sealed. ARGV: authority. Returns the seal in force. */
export const SEAL_LUA = `
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`;
