/*
 * The Lua scripts. Each stream operation is one script, so it is atomic (no other instance
 * can interleave between allocating a seq and adding the entry) and costs one round trip.
 *
 * Entries are added with the explicit id `{seq}-0`: reading "after seq N" is then a plain
 * `XRANGE (N-0 +` and the id is the seq, never a clock that could go backwards.
 *
 * Trimming is exact (`XTRIM MINID`, not `MAXLEN ~`): the contract reports exact retention
 * (`firstId`, `length`, `evicted` gaps) and keeps a byte count, which needs to know exactly
 * which entries left. With one drop per append in steady state, exact trimming costs one
 * extra `XRANGE ... COUNT 1`.
 */

/** Shared helpers, prepended to every stream script. */
const LIB = `
local function seq_of(id) return tonumber(string.match(id, '^(%d+)')) end

-- Drops the oldest entries past count, bytes (the newest is always kept) or age (cutoff < 0:
-- no age limit). One XRANGE COUNT 1 per entry examined: the common case drops one or none.
local function trim(m, e, max_events, max_bytes, cutoff)
  local len = redis.call('XLEN', e)
  local bytes = tonumber(redis.call('HGET', m, 'bytes') or '0')
  local cursor = '-'
  local last_dropped = nil
  while len > 0 do
    local by_size = len > max_events or (bytes > max_bytes and len > 1)
    if not by_size and cutoff < 0 then break end
    local first = redis.call('XRANGE', e, cursor, '+', 'COUNT', 1)[1]
    if not first then break end
    local f = first[2]
    if not by_size and tonumber(f[2]) >= cutoff then break end
    len = len - 1
    bytes = bytes - (#f[4] + #f[6])
    last_dropped = seq_of(first[1])
    cursor = '(' .. first[1]
  end
  if last_dropped then
    redis.call('XTRIM', e, 'MINID', (last_dropped + 1) .. '-0')
    redis.call('HSET', m, 'bytes', bytes)
  end
end

-- This Redis process's id: it changes on every restart. '' when the check is off.
local run_cache = nil
local function run_id(check)
  if check ~= '1' then return '' end
  if not run_cache then run_cache = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)') end
  return run_cache
end

-- The stream's current epoch, or nil when unknown. A Redis restart may have rolled back the
-- latest writes (RDB snapshots, AOF everysec): their seqs would then be handed out again to
-- other events, and a reader holding one would skip the new ones silently. So the first touch
-- after a restart starts a new epoch for the events appended from then on (from seq + 1); the
-- events Redis kept keep their ids under the old epoch (field prev: ';epoch:startSeq' per
-- earlier epoch, the last 16). A reader at a kept id resumes with nothing lost or repeated; a
-- reader at an id the restart rolled back is past its epoch's end: a gap.
local function current_epoch(m, new_epoch, check)
  local h = redis.call('HMGET', m, 'epoch', 'run', 'prev', 'start', 'seq')
  if not h[1] then return nil end
  if check == '1' and h[2] ~= run_id(check) then
    local prev = (h[3] or '') .. ';' .. h[1] .. ':' .. (h[4] or '1')
    local _, count = string.gsub(prev, ';', ';')
    if count > 16 then prev = string.gsub(prev, '^;[^;]*', '', 1) end
    redis.call('HSET', m, 'epoch', new_epoch, 'run', run_id(check), 'prev', prev,
      'start', tonumber(h[5] or '0') + 1)
    return new_epoch
  end
  return h[1]
end

-- The epochs as replies carry them: 'current', or 'current@startSeq;epoch:startSeq...'.
local function epochs(m)
  local h = redis.call('HMGET', m, 'epoch', 'prev', 'start')
  if not h[2] or h[2] == '' then return h[1] end
  return h[1] .. '@' .. h[3] .. h[2]
end

-- Whether 'after seq of epoch' is a position of this stream's history (not trimmed, and inside
-- the seq range of that epoch).
local function position_ok(m, epoch, after, last_seq, first_seq)
  if not after or after < first_seq - 1 or after > last_seq then return false end
  local h = redis.call('HMGET', m, 'epoch', 'prev', 'start')
  local start = tonumber(h[3] or '1')
  if epoch == h[1] then return after >= start - 1 end
  if not h[2] then return false end
  local segs = {}
  for e, from in string.gmatch(h[2], ';(%w+):(%d+)') do segs[#segs + 1] = { e, tonumber(from) } end
  for i = 1, #segs do
    if segs[i][1] == epoch then
      local stop = start - 1
      if segs[i + 1] then stop = segs[i + 1][2] - 1 end
      return after >= segs[i][2] - 1 and after <= stop
    end
  end
  return false
end

-- Where a reader at 'after seq of epoch' resumes when a restart rolled that position back:
-- right after what Redis kept of its epoch (the first seq of the epoch that followed), since
-- the reader had everything up to there; nil when the position is not such a one.
local function rolled_back_resume(m, epoch, after)
  if not after then return nil end
  local h = redis.call('HMGET', m, 'epoch', 'prev', 'start')
  if epoch == h[1] or not h[2] then return nil end
  local segs = {}
  for e, from in string.gmatch(h[2], ';(%w+):(%d+)') do segs[#segs + 1] = { e, tonumber(from) } end
  for i = 1, #segs do
    if segs[i][1] == epoch then
      local stop = tonumber(h[3] or '1') - 1
      if segs[i + 1] then stop = segs[i + 1][2] - 1 end
      if after > stop and after >= segs[i][2] - 1 then return stop + 1 end
      return nil
    end
  end
  return nil
end

-- epoch, last seq, ended, bytes, first retained seq (0: none), retained count; or nil.
local function info(m, e)
  local h = redis.call('HMGET', m, 'epoch', 'seq', 'ended', 'bytes')
  if not h[1] then return nil end
  local first = redis.call('XRANGE', e, '-', '+', 'COUNT', 1)[1]
  local first_seq = 0
  if first then first_seq = seq_of(first[1]) end
  return { epochs(m), tonumber(h[2]), tonumber(h[3]), tonumber(h[4]), first_seq, redis.call('XLEN', e) }
end

-- Creates (new epoch), appends, ends. mode: c create, a append, f end with a final event,
-- n end without one. Returns { status, epoch, seq (0: none appended), last seq }.
local function write(m, e, mode, ev, data, time, max_events, max_bytes, cutoff, ttl, new_epoch, ch, check)
  local epoch = current_epoch(m, new_epoch, check)
  if not epoch then
    -- A leftover events key (its meta evicted or expired first) belongs to a dead epoch.
    redis.call('DEL', e)
    epoch = new_epoch
    redis.call('HSET', m, 'epoch', epoch, 'seq', 0, 'ended', 0, 'bytes', 0, 'run', run_id(check))
  elseif redis.call('EXISTS', e) == 0 then
    redis.call('HSET', m, 'bytes', 0)
  end
  local seq = 0
  if mode ~= 'c' then
    if redis.call('HGET', m, 'ended') == '1' then
      if mode == 'a' then return { 'ended', epoch, 0, 0 } end
      return { 'already', epoch, 0, 0 }
    end
    if mode == 'a' or mode == 'f' then
      seq = redis.call('HINCRBY', m, 'seq', 1)
      redis.call('XADD', e, seq .. '-0', 't', time, 'e', ev, 'd', data)
      redis.call('HINCRBY', m, 'bytes', #ev + #data)
      trim(m, e, max_events, max_bytes, cutoff)
      redis.call('PUBLISH', ch, 'e|' .. epoch .. '|' .. seq .. '|' .. time .. '|' .. #ev .. '|' .. ev .. data)
    end
    if mode == 'f' or mode == 'n' then
      redis.call('HSET', m, 'ended', 1)
      redis.call('PUBLISH', ch, 'n|' .. epoch .. '|' .. redis.call('HGET', m, 'seq') .. '|')
    end
  end
  if ttl > 0 then
    redis.call('PEXPIRE', m, ttl)
    redis.call('PEXPIRE', e, ttl)
  end
  return { 'ok', epoch, seq, tonumber(redis.call('HGET', m, 'seq')) }
end
`;

/**
 * KEYS meta, events. ARGV mode, event, data, time, maxEvents, maxBytes, cutoff, ttl, newEpoch,
 * channel, checkRestart ('1'/'0'). Create answers the `info` tuple; the others `{status, epoch, seq, lastSeq}`.
 */
export const WRITE = `${LIB}
local r = write(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]),
  tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9], ARGV[10], ARGV[11])
if ARGV[1] == 'c' then return info(KEYS[1], KEYS[2]) end
return r
`;

/**
 * KEYS meta, events. ARGV cutoff, afterEpoch, afterSeq, limit (-1: all), newEpoch, checkRestart.
 * Applies age retention, then answers the `info` tuple, the first seq returned, and the
 * events flat (seq, time, type, data)...; nil for an unknown stream.
 */
export const READ = `${LIB}
local m, e = KEYS[1], KEYS[2]
local cutoff = tonumber(ARGV[1])
if not current_epoch(m, ARGV[5], ARGV[6]) then return nil end
if cutoff >= 0 then trim(m, e, 1e18, 1e18, cutoff) end
local inf = info(m, e)
if not inf then return nil end
local last_seq, first_seq = inf[2], inf[5]
if first_seq == 0 then first_seq = last_seq + 1 end
local from = first_seq
local after = tonumber(ARGV[3])
if position_ok(m, ARGV[2], after, last_seq, first_seq) then from = after + 1
else
  -- A gap; after a rollback the reader still has what came before it: not sent again.
  local resume = rolled_back_resume(m, ARGV[2], after)
  if resume and resume > from then from = resume end
end
inf[7] = from
local limit = tonumber(ARGV[4])
if limit ~= 0 and from <= last_seq then
  local entries
  if limit > 0 then
    entries = redis.call('XRANGE', e, from .. '-0', '+', 'COUNT', limit)
  else
    entries = redis.call('XRANGE', e, from .. '-0', '+')
  end
  for i = 1, #entries do
    local f = entries[i][2]
    local n = #inf
    inf[n + 1] = seq_of(entries[i][1])
    inf[n + 2] = f[2]
    inf[n + 3] = f[4]
    inf[n + 4] = f[6]
  end
end
return inf
`;

/** KEYS meta, events. ARGV channel. Deletes the stream and tells live readers. */
export const DELETE = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
redis.call('DEL', KEYS[1], KEYS[2])
if epoch then redis.call('PUBLISH', ARGV[1], 'x|' .. epoch .. '|0|') end
return 1
`;

/** KEYS meta, events. ARGV ttl. Refreshes a stream's TTL (it has readers somewhere). */
export const TOUCH = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
return 1
`;

/** Lease end on the Redis clock, so instances with skewed clocks agree. */
const REDIS_NOW = `
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/*
 * Job scripts. A job's hash shares its stream's hash tag (the job id is the stream id), so
 * every script below touches one slot: the record and the final event are written together,
 * atomically, on Redis Cluster too. The job hash holds the lease (`l`, lease end on the Redis
 * clock) and is the truth about it; the `leases` sorted set is only an index for finding
 * run-out leases, kept in step by separate commands (it lives in a slot of its own).
 */

/**
 * KEYS job. ARGV recordJson, state, owner, ttl (-1: none), expiresAt ('' none), leaseMs.
 * Saves a job record as is; a running one gets a lease. Answers the lease end (0: none).
 */
export const SET_JOB = `${REDIS_NOW}
redis.call('HSET', KEYS[1], 'r', ARGV[1], 's', ARGV[2], 'o', ARGV[3], 'x', ARGV[5])
redis.call('HDEL', KEYS[1], 'c')
local ttl = tonumber(ARGV[4])
if ttl >= 0 then redis.call('PEXPIRE', KEYS[1], math.max(ttl, 1)) else redis.call('PERSIST', KEYS[1]) end
if ARGV[2] ~= 'running' then
  redis.call('HDEL', KEYS[1], 'l')
  return 0
end
local until_ms = now_ms + tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'l', until_ms)
return until_ms
`;

/**
 * KEYS meta, events, job. ARGV recordJson, owner, leaseMs, then the create arguments of
 * write (mode onwards). Creates the job's stream and its running record with a lease.
 */
export const CREATE_JOB = `${LIB}${REDIS_NOW}
write(KEYS[1], KEYS[2], ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]),
  tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[12], ARGV[13], ARGV[14])
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'r', ARGV[1], 's', 'running', 'o', ARGV[2], 'x', '',
  'l', now_ms + tonumber(ARGV[3]))
return 1
`;

/**
 * KEYS meta, events, job. ARGV recordJson, state, owner, ttl, expiresAt, then the final
 * event's write arguments (mode 'f' onwards). Settles a job only if it is still running and
 * owned by owner: answers { 'ok' }, { 'settled', storedRecordJson } (settled otherwise:
 * lost, or an earlier attempt of this call), or { 'gone' }.
 */
export const SETTLE_JOB = `${LIB}
local h = redis.call('HMGET', KEYS[3], 's', 'o', 'r')
if not h[1] then return { 'gone' } end
if h[1] ~= 'running' or h[2] ~= ARGV[3] then return { 'settled', h[3] } end
write(KEYS[1], KEYS[2], ARGV[6], ARGV[7], ARGV[8], ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11]),
  tonumber(ARGV[12]), tonumber(ARGV[13]), ARGV[14], ARGV[15], ARGV[16])
redis.call('HSET', KEYS[3], 'r', ARGV[1], 's', ARGV[2], 'x', ARGV[5])
redis.call('HDEL', KEYS[3], 'l', 'c')
redis.call('PEXPIRE', KEYS[3], math.max(tonumber(ARGV[4]), 1))
return { 'ok' }
`;

/**
 * KEYS job. ARGV owner, leaseMs. Renews the lease of a job its owner still holds: answers
 * { 'ok', cancelReason or '' , hasCancel 0/1 } or { 'fenced' } (settled, lost, gone, or
 * another owner's).
 */
export const RENEW_JOB = `${REDIS_NOW}
local h = redis.call('HMGET', KEYS[1], 's', 'o', 'c')
if h[1] ~= 'running' or h[2] ~= ARGV[1] then return { 'fenced' } end
redis.call('HSET', KEYS[1], 'l', now_ms + tonumber(ARGV[2]))
if h[3] then return { 'ok', h[3], 1 } end
return { 'ok', '', 0 }
`;

/** KEYS leases. ARGV leaseMs, jobIds... Moves the index entries of renewed leases. */
export const RENEW = `${REDIS_NOW}
local until_ms = now_ms + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], until_ms, ARGV[i]) end
return 1
`;

/** KEYS leases. ARGV max. Job ids whose lease has run out, by the index. */
export const EXPIRED = `${REDIS_NOW}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[1]))
`;

/**
 * KEYS job, meta, events. ARGV lostRecordJson, ttl, expiresAt, then the final event's
 * write arguments (mode 'f' onwards). Marks a job lost and ends its stream, only if it
 * is still running and its lease (in the job hash) has really run out: 1 when done, 0 when the
 * lease is alive (renewed meanwhile), 2 when there is nothing to do (settled or gone).
 */
export const MARK_LOST = `${LIB}${REDIS_NOW}
local h = redis.call('HMGET', KEYS[1], 's', 'l')
if h[1] ~= 'running' then return 2 end
if h[2] and tonumber(h[2]) > now_ms then return 0 end
redis.call('HSET', KEYS[1], 'r', ARGV[1], 's', 'lost', 'x', ARGV[3])
redis.call('HDEL', KEYS[1], 'l', 'c')
redis.call('PEXPIRE', KEYS[1], math.max(tonumber(ARGV[2]), 1))
write(KEYS[2], KEYS[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]),
  tonumber(ARGV[10]), tonumber(ARGV[11]), ARGV[12], ARGV[13], ARGV[14])
return 1
`;

/**
 * KEYS job. ARGV channel, message, reason. Records a cancel request in the job's hash (its
 * owner reads it back on its next lease renewal, so a dropped Pub/Sub message does not lose
 * it) and publishes it, only if the job is running: 1 when requested, 0 otherwise.
 */
export const CANCEL = `
if redis.call('HGET', KEYS[1], 's') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'c', ARGV[3])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
`;

/**
 * KEYS key. ARGV jobId, ttl. Claims an idempotency key: nil when it is now jobId's, else the
 * job id holding it.
 */
export const CLAIM_KEY = `
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', math.max(tonumber(ARGV[2]), 1))
return false
`;

/** KEYS key. ARGV jobId, ttl (<= 0: release). Refreshes or releases a claim still jobId's. */
export const REFRESH_KEY = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if tonumber(ARGV[2]) <= 0 then redis.call('DEL', KEYS[1])
else redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2])) end
return 1
`;

/** ARGV pattern. Deletes every key of a prefix: tests and tools only (it uses KEYS). */
export const CLEAR = `
local keys = redis.call('KEYS', ARGV[1])
for i = 1, #keys, 500 do
  redis.call('DEL', unpack(keys, i, math.min(i + 499, #keys)))
end
return #keys
`;
