/**
 * Lua scripts of the Redis tenant budget, one atomic step each, named (as BullMQ names its
 * script files) with the number of keys they take. Every key of the tenant budget carries the
 * hash tag `{tenant}`, so the scripts stay valid on a Redis Cluster.
 *
 * Keys: `leases` (sorted set: lease id → expiry, CXONE_TENANT_MAX_CONCURRENCY), `starts` (sorted
 * set: lease id → start time, CXONE_RATE_LIMIT_PER_SECOND's window), per action `action:<id>`
 * (hash: limit, epoch, wins, cutAt, version, pausedUntil), `action:<id>:leases` (sorted set: lease
 * id → expiry, the adaptive limit), `action:<id>:asks` (sorted set: batch id → expiry) with
 * `action:<id>:workers` (hash: batch id → max_workers), and `actions` (set of action ids).
 *
 * A lease's expiry is pushed forward by its replica while the attempt runs; a replica that dies
 * stops doing so, and its leases lapse within QUEUE_LOCK_SECONDS. The adaptive limit follows the
 * rules of `aimd-limit.ts`; `version` orders the changes the replicas hear of.
 */

/** Drops the asks whose batch run stopped renewing them; sums the rest. Needs KEYS[asks], KEYS[workers]. */
const ASKED = `
local function asked(asksKey, workersKey, now)
  local gone = redis.call('ZRANGEBYSCORE', asksKey, '-inf', '(' .. now)
  if #gone > 0 then
    redis.call('ZREM', asksKey, unpack(gone))
    redis.call('HDEL', workersKey, unpack(gone))
  end
  local live = redis.call('ZRANGE', asksKey, 0, -1)
  local total = 0
  if #live > 0 then
    for _, workers in ipairs(redis.call('HMGET', workersKey, unpack(live))) do
      total = total + tonumber(workers or '0')
    end
  end
  return total
end
`;

/**
 * KEYS: 1 leases, 2 starts, 3 action state, 4 action leases.
 * ARGV: 1 now, 2 lease id, 3 lease expiry, 4 tenant max (0: none), 5 starts per window (0: none),
 * 6 window ms, 7 '1' to apply the action's adaptive limit, 8 key ttl ms.
 * Returns {granted 1|0, reason, value, limit (-1: none), epoch, version}: granted, value is the
 * action's leases once this one is counted; refused, reason 'paused' (value: until), 'action'
 * (the limit is all in use), 'tenant' (the cluster bound is) or 'rate' (value: when a start frees).
 */
export const ADMIT_4 = `
local now = tonumber(ARGV[1])
local state = redis.call('HMGET', KEYS[3], 'pausedUntil', 'limit', 'epoch', 'version')
local limit = -1
if ARGV[7] == '1' and state[2] then limit = tonumber(state[2]) end
local epoch = tonumber(state[3] or '0')
local version = tonumber(state[4] or '0')
local pausedUntil = tonumber(state[1] or '0')
if pausedUntil > now then return {0, 'paused', tostring(pausedUntil), limit, epoch, version} end
local held = 0
if limit >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  held = redis.call('ZCARD', KEYS[4])
  if held >= limit then return {0, 'action', tostring(held), limit, epoch, version} end
end
local max = tonumber(ARGV[4])
if max > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= max then return {0, 'tenant', '0', limit, epoch, version} end
end
local size = tonumber(ARGV[5])
if size > 0 then
  local window = tonumber(ARGV[6])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - window))
  if redis.call('ZCARD', KEYS[2]) >= size then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {0, 'rate', tostring(tonumber(oldest[2]) + window), limit, epoch, version}
  end
  redis.call('ZADD', KEYS[2], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[2], math.ceil(window) + 1000)
end
if max > 0 then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[8])
end
if limit >= 0 then
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
  redis.call('PEXPIRE', KEYS[4], ARGV[8])
  held = held + 1
end
return {1, 'ok', tostring(held), limit, epoch, version}
`;

/**
 * KEYS: 1 leases, 2 action state, 3 action leases, 4 action asks, 5 action workers, 6 actions.
 * ARGV: 1 now, 2 lease id ('' if none), 3 result (success, refused, other), 4 epoch when sent,
 * 5 action calls in flight when sent, 6 '1' if the limit was all in use when sent, 7 round trip
 * ms, 8 pause until (0: none), 9 tenant max (0: none), 10 '1' if adaptive, 11 channel,
 * 12 action id, 13 state ttl ms.
 * Frees the lease (and says so on the channel when someone may be waiting for it), pauses the
 * action, and applies the AIMD step. Returns {limit (-1: none), epoch, version, pausedUntil}.
 */
export const RELEASE_6 = `${ASKED}
local now = tonumber(ARGV[1])
local lease = ARGV[2]
local channel = ARGV[11]
local action = ARGV[12]
if lease ~= '' then
  local max = tonumber(ARGV[9])
  if max > 0 then
    local before = redis.call('ZCARD', KEYS[1])
    if redis.call('ZREM', KEYS[1], lease) == 1 and before >= max then
      redis.call('PUBLISH', channel, 'freed\\t')
    end
  end
  local before = redis.call('ZCARD', KEYS[3])
  if redis.call('ZREM', KEYS[3], lease) == 1 then
    local limit = tonumber(redis.call('HGET', KEYS[2], 'limit') or '-1')
    if limit >= 0 and before >= limit then redis.call('PUBLISH', channel, 'freed\\t' .. action) end
  end
end
local changed = false
local pauseUntil = tonumber(ARGV[8])
if pauseUntil > now then
  local current = tonumber(redis.call('HGET', KEYS[2], 'pausedUntil') or '0')
  if pauseUntil > current then
    redis.call('HSET', KEYS[2], 'pausedUntil', pauseUntil)
    redis.call('PUBLISH', channel, 'pause\\t' .. action .. '\\t' .. ARGV[8])
    changed = true
  end
end
local s = redis.call('HMGET', KEYS[2], 'limit', 'epoch', 'wins', 'cutAt', 'version')
local limit = s[1] and tonumber(s[1])
local epoch = tonumber(s[2] or '0')
local version = tonumber(s[5] or '0')
local sentEpoch = tonumber(ARGV[4])
if ARGV[10] == '1' and sentEpoch == epoch then
  if ARGV[3] == 'refused' then
    local cutAt = s[4] and tonumber(s[4])
    if not cutAt or now >= cutAt + tonumber(ARGV[7]) then
      local base = tonumber(ARGV[5])
      if limit and limit < base then base = limit end
      limit = math.max(1, math.floor(base * 0.75))
      epoch = epoch + 1
      version = version + 1
      redis.call('HSET', KEYS[2], 'limit', limit, 'epoch', epoch, 'wins', 0, 'cutAt', now,
        'version', version)
      redis.call('PUBLISH', channel,
        'limit\\t' .. action .. '\\t' .. limit .. '\\t' .. epoch .. '\\t' .. version)
      changed = true
    end
  elseif ARGV[3] == 'success' and limit and ARGV[6] == '1' then
    local wins = redis.call('HINCRBY', KEYS[2], 'wins', 1)
    if wins >= limit then
      local total = asked(KEYS[4], KEYS[5], now)
      if total == 0 or limit < total then
        limit = limit + 1
        version = version + 1
        redis.call('HSET', KEYS[2], 'limit', limit, 'wins', 0, 'version', version)
        redis.call('PUBLISH', channel,
          'limit\\t' .. action .. '\\t' .. limit .. '\\t' .. epoch .. '\\t' .. version)
      else
        redis.call('HSET', KEYS[2], 'wins', 0)
      end
      changed = true
    end
  end
end
if changed then
  redis.call('PEXPIRE', KEYS[2], ARGV[13])
  redis.call('SADD', KEYS[6], action)
end
local paused = tonumber(redis.call('HGET', KEYS[2], 'pausedUntil') or '0')
return {limit or -1, epoch, version, tostring(paused)}
`;

/**
 * KEYS: 1 action state, 2 action asks, 3 action workers, 4 actions.
 * ARGV: 1 batch id, 2 max_workers, 3 expiry of the ask, 4 key ttl ms, 5 action id, 6 now.
 * Records (or renews) a running batch's ask. Returns {limit (-1: none), epoch, version,
 * pausedUntil, what every running batch of the action asks}.
 */
export const ASK_4 = `${ASKED}
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('SADD', KEYS[4], ARGV[5])
local total = asked(KEYS[2], KEYS[3], tonumber(ARGV[6]))
local s = redis.call('HMGET', KEYS[1], 'limit', 'epoch', 'version', 'pausedUntil')
return {tonumber(s[1] or '-1'), tonumber(s[2] or '0'), tonumber(s[3] or '0'), s[4] or '0', total}
`;

/**
 * KEYS: 1 action state, 2 action asks, 3 action workers.
 * ARGV: 1 now.
 * Returns {limit (-1: none), pausedUntil, batch id, max_workers, batch id, max_workers, …}.
 */
export const LIMITS_3 = `${ASKED}
asked(KEYS[2], KEYS[3], tonumber(ARGV[1]))
local s = redis.call('HMGET', KEYS[1], 'limit', 'pausedUntil')
local reply = {tonumber(s[1] or '-1'), s[2] or '0'}
local workers = redis.call('HGETALL', KEYS[3])
for i = 1, #workers do reply[#reply + 1] = workers[i] end
return reply
`;
