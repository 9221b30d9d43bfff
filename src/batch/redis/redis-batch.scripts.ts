/**
 * Lua scripts of the Redis batch store, each one atomic step over one batch's keys. Scripts that
 * end a batch take every key of the batch, in `RedisBatchKeys.of(id).all` order:
 *
 *   1 meta, 2 payloads, 3 ids, 4 outcomes, 5 latency, 6 idempotency ref,
 *   7..11 status sets success, failed, degraded, cancelled, pending,
 *   then 12 `unfinished`, 13 `queued-items`, 14 `queued-items-by-caller`,
 *   and the callback outbox: 15 the batch's callback, 16 `callbacks:due`, 17 `callbacks:pending`.
 */

/**
 * Stamps finishedAt, starts the retention clock on every key and releases the intake counts, the
 * service's and the caller's. A batch stored before batches had callers has no `caller` field and
 * its `unfinished` member no caller part. The payloads go at once when every item succeeded (none
 * can run again); otherwise they stay for a redrive of the failed ones until retention. For a
 * batch with a callback_url, writes its callback delivery (replacing an earlier end's): the
 * batch's final status and counts, due at once. The meta's `doc` is the JSON of the meta's
 * unchanging part (callbackUrl in its options).
 */
const FINISH = `
local function writeCallback(retentionSeconds, batchId, deliveryId, nowMs)
  local doc = cjson.decode(redis.call('HGET', KEYS[1], 'doc'))
  local options = doc['options']
  local url = type(options) == 'table' and options['callbackUrl'] or nil
  if type(url) ~= 'string' then return end
  local caller = doc['caller']
  if type(caller) ~= 'string' then caller = redis.call('HGET', KEYS[1], 'caller') end
  if type(caller) ~= 'string' then caller = 'default' end
  local s = redis.call('HMGET', KEYS[1], 'status', 'total', 'successful', 'failed', 'degraded', 'cancelled', 'pending')
  redis.call('DEL', KEYS[15])
  redis.call('HSET', KEYS[15], 'id', deliveryId, 'url', url, 'caller', caller, 'traceId', doc['traceId'],
    'batchStatus', s[1], 'total', s[2], 'successful', s[3], 'failed', s[4], 'degraded', s[5],
    'cancelled', s[6], 'pending', s[7],
    'status', 'pending', 'attempts', 0, 'lastError', '', 'deliveredAt', '', 'createdAt', nowMs)
  redis.call('EXPIRE', KEYS[15], retentionSeconds)
  redis.call('ZADD', KEYS[16], nowMs, batchId)
  redis.call('ZADD', KEYS[17], nowMs, batchId)
end

local function finish(finishedAt, retentionSeconds, batchId, deliveryId, nowMs)
  redis.call('HSET', KEYS[1], 'finishedAt', finishedAt)
  for i = 1, 11 do redis.call('EXPIRE', KEYS[i], retentionSeconds) end
  local total = tonumber(redis.call('HGET', KEYS[1], 'total') or '0')
  if tonumber(redis.call('HGET', KEYS[1], 'successful') or '0') == total then
    redis.call('UNLINK', KEYS[2])
  end
  local caller = redis.call('HGET', KEYS[1], 'caller')
  local member = batchId .. ':' .. total
  if caller then member = member .. ':' .. caller end
  redis.call('ZREM', KEYS[12], member)
  local queued = tonumber(redis.call('GET', KEYS[13]) or '0')
  redis.call('DECRBY', KEYS[13], math.min(total, math.max(queued, 0)))
  if caller then
    local left = tonumber(redis.call('HGET', KEYS[14], caller) or '0') - total
    if left > 0 then redis.call('HSET', KEYS[14], caller, left) else redis.call('HDEL', KEYS[14], caller) end
  end
  writeCallback(retentionSeconds, batchId, deliveryId, nowMs)
end
`;

/** Every pending item becomes cancelled: the pending set is renamed (O(1)), counters move with it. */
const CANCEL_PENDING = `
local function cancelPending()
  local pending = tonumber(redis.call('HGET', KEYS[1], 'pending') or '0')
  if pending > 0 then
    redis.call('HINCRBY', KEYS[1], 'cancelled', pending)
    redis.call('HSET', KEYS[1], 'pending', 0)
  end
  local pendingKey, cancelledKey = KEYS[11], KEYS[10]
  if redis.call('EXISTS', pendingKey) == 1 then
    if redis.call('EXISTS', cancelledKey) == 1 then
      redis.call('ZUNIONSTORE', cancelledKey, 2, cancelledKey, pendingKey)
      redis.call('DEL', pendingKey)
      local ttl = redis.call('PTTL', KEYS[1])
      if ttl > 0 then redis.call('PEXPIRE', cancelledKey, ttl) end
    else
      redis.call('RENAME', pendingKey, cancelledKey)
    end
  end
end
`;

/** The meta hash's fields in the order `toMeta` reads them. */
export const META_FIELD_NAMES = [
  'doc',
  'status',
  'startedAt',
  'finishedAt',
  'maxWorkers',
  'failureReason',
  'redriveCount',
] as const;

const META_FIELDS = `redis.call('HMGET', KEYS[1], ${META_FIELD_NAMES.map((f) => `'${f}'`).join(', ')})`;

/**
 * KEYS: meta, outcomes, latency, status:pending, status:cancelled, status:<outcome status>
 * ARGV: index, outcome JSON, summary field, '1' to count the latency, bucket, latency ms
 * Records the outcome only if the item is pending or cancelled; 1 if recorded, else 0.
 */
export const RECORD_OUTCOME = `
local index = ARGV[1]
local from
if redis.call('ZREM', KEYS[4], index) == 1 then
  from = 'pending'
elseif redis.call('ZREM', KEYS[5], index) == 1 then
  from = 'cancelled'
else
  return 0
end
redis.call('HSET', KEYS[2], index, ARGV[2])
redis.call('ZADD', KEYS[6], index, index)
redis.call('HINCRBY', KEYS[1], from, -1)
redis.call('HINCRBY', KEYS[1], ARGV[3], 1)
if ARGV[4] == '1' then
  redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
  local max = tonumber(redis.call('HGET', KEYS[1], 'latencyMax') or '0')
  if tonumber(ARGV[6]) > max then redis.call('HSET', KEYS[1], 'latencyMax', ARGV[6]) end
end
-- Keys created by this write get the batch's remaining lifetime.
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  for _, i in ipairs({2, 3, 6}) do
    if redis.call('PTTL', KEYS[i]) == -1 then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
return 1
`;

/** KEYS: meta. ARGV: startedAt, owner. 1 if the batch may run, else 0. */
export const MARK_RUNNING = `
local v = redis.call('HMGET', KEYS[1], 'doc', 'status', 'finishedAt', 'startedAt')
if not v[1] then return 0 end
if (v[3] and v[3] ~= '') or v[2] == 'cancelled' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'running', 'owner', ARGV[2])
if not v[4] or v[4] == '' then redis.call('HSET', KEYS[1], 'startedAt', ARGV[1]) end
return 1
`;

/**
 * KEYS: all (17). ARGV: finishedAt, retention seconds, batch id, callback delivery id, now (ms).
 * Meta fields, or nil if unknown.
 */
export const MARK_FINISHED = `${FINISH}
local v = redis.call('HMGET', KEYS[1], 'doc', 'status', 'finishedAt')
if not v[1] then return false end
if v[2] ~= 'cancelled' and v[2] ~= 'failed' then redis.call('HSET', KEYS[1], 'status', 'completed') end
if not v[3] or v[3] == '' then finish(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]) end
return ${META_FIELDS}
`;

/**
 * KEYS: all (17). ARGV: at, retention seconds, batch id, cancel channel, callback delivery id,
 * now (ms).
 * Every pending item becomes cancelled (the pending set is renamed, O(1)); a batch that never
 * started is finished at once. Publishes the id so the replica running it stops scheduling.
 * Meta fields, or nil if the batch is unknown or already finished.
 */
export const CANCEL = `${FINISH}${CANCEL_PENDING}
local v = redis.call('HMGET', KEYS[1], 'doc', 'status')
if not v[1] or v[2] == 'completed' or v[2] == 'cancelled' or v[2] == 'failed' then return false end
redis.call('HSET', KEYS[1], 'status', 'cancelled')
cancelPending()
if v[2] == 'queued' then finish(ARGV[1], ARGV[2], ARGV[3], ARGV[5], ARGV[6]) end
redis.call('PUBLISH', ARGV[4], ARGV[3])
return ${META_FIELDS}
`;

/**
 * KEYS: all (17). ARGV: at, retention seconds, batch id, failure reason, callback delivery id,
 * now (ms).
 * Ends an unfinished batch `failed`: every pending item cancelled, finished at once (its calls in
 * flight have ended). Meta fields, or nil if the batch is unknown, cancelled or already ended.
 */
export const MARK_FAILED = `${FINISH}${CANCEL_PENDING}
local v = redis.call('HMGET', KEYS[1], 'doc', 'status', 'finishedAt')
if not v[1] or (v[3] and v[3] ~= '') then return false end
if v[2] == 'completed' or v[2] == 'cancelled' or v[2] == 'failed' then return false end
redis.call('HSET', KEYS[1], 'status', 'failed', 'failureReason', ARGV[4])
cancelPending()
finish(ARGV[1], ARGV[2], ARGV[3], ARGV[5], ARGV[6])
return ${META_FIELDS}
`;

/** KEYS: meta. ARGV: max workers. Meta fields, or nil if the batch is unknown or finished. */
export const RETUNE = `
local v = redis.call('HMGET', KEYS[1], 'doc', 'finishedAt')
if not v[1] or (v[2] and v[2] ~= '') then return false end
redis.call('HSET', KEYS[1], 'maxWorkers', ARGV[1])
return ${META_FIELDS}
`;

/**
 * KEYS: all (17). ARGV: unfinished TTL seconds, batch id, creation time (epoch ms), statuses….
 * Items in those statuses go back to pending (their outcomes deleted), the batch is queued again
 * and unfinished (TTL, `unfinished` entry and intake count as at creation). The callback of its
 * earlier end is dropped, delivered or not: the next end sends the batch as it will be then.
 * {'ok', redriven, meta fields…}, or {'unknown'}, {'unfinished'}, {'no-match'}.
 */
export const REDRIVE = `
local v = redis.call('HMGET', KEYS[1], 'doc', 'finishedAt', 'total')
if not v[1] then return {'unknown'} end
if not v[2] or v[2] == '' then return {'unfinished'} end
local setOf = {failed = KEYS[8], degraded = KEYS[9], cancelled = KEYS[10]}
local redriven = 0
for i = 4, #ARGV do redriven = redriven + redis.call('ZCARD', setOf[ARGV[i]]) end
if redriven == 0 then return {'no-match'} end
for i = 4, #ARGV do
  local status, set = ARGV[i], setOf[ARGV[i]]
  local count = redis.call('ZCARD', set)
  if count > 0 then
    for from = 0, count - 1, 1000 do
      local indexes = redis.call('ZRANGE', set, from, from + 999)
      redis.call('HDEL', KEYS[4], unpack(indexes))
    end
    redis.call('ZUNIONSTORE', KEYS[11], 2, KEYS[11], set, 'AGGREGATE', 'MAX')
    redis.call('DEL', set)
    redis.call('HINCRBY', KEYS[1], status, -count)
  end
end
redis.call('HINCRBY', KEYS[1], 'pending', redriven)
redis.call('HINCRBY', KEYS[1], 'redriveCount', 1)
redis.call('HSET', KEYS[1], 'status', 'queued', 'startedAt', '', 'finishedAt', '')
redis.call('HDEL', KEYS[1], 'failureReason')
local ttl = tonumber(ARGV[1])
for i = 1, 11 do redis.call('EXPIRE', KEYS[i], ttl) end
local total = tonumber(v[3] or '0')
local caller = redis.call('HGET', KEYS[1], 'caller')
local member = ARGV[2] .. ':' .. total
if caller then
  member = member .. ':' .. caller
  redis.call('HINCRBY', KEYS[14], caller, total)
  redis.call('EXPIRE', KEYS[14], ttl)
end
redis.call('ZADD', KEYS[12], ARGV[3], member)
redis.call('INCRBY', KEYS[13], total)
redis.call('EXPIRE', KEYS[12], ttl)
redis.call('EXPIRE', KEYS[13], ttl)
redis.call('DEL', KEYS[15])
redis.call('ZREM', KEYS[16], ARGV[2])
redis.call('ZREM', KEYS[17], ARGV[2])
local result = {'ok', redriven}
for _, field in ipairs(${META_FIELDS}) do result[#result + 1] = field end
return result
`;

/**
 * KEYS: meta, payloads. ARGV: start, end.
 * {chunk size, first chunk number, chunk JSON…} covering [start, end), or nil if unknown.
 */
export const PAYLOADS = `
local chunkSize = tonumber(redis.call('HGET', KEYS[1], 'chunkSize') or '0')
if chunkSize == 0 then return false end
local s, e = tonumber(ARGV[1]), tonumber(ARGV[2])
if e <= s then return {chunkSize, 0} end
local first, last = math.floor(s / chunkSize), math.floor((e - 1) / chunkSize)
local fields = {}
for c = first, last do fields[#fields + 1] = c end
local result = {chunkSize, first}
for _, chunk in ipairs(redis.call('HMGET', KEYS[2], unpack(fields))) do result[#result + 1] = chunk end
return result
`;

/**
 * KEYS: meta, status:<status>, outcomes, ids. ARGV: offset, limit.
 * {matching count, indexes, their outcomes, their ids}: O(log n + limit) by rank in the set;
 * nil if the batch is unknown (an empty set alone cannot tell).
 */
export const PAGE_BY_STATUS = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local total = redis.call('ZCARD', KEYS[2])
local offset, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local indexes = redis.call('ZRANGE', KEYS[2], offset, offset + limit - 1)
if #indexes == 0 then return {total, {}, {}, {}} end
return {total, indexes, redis.call('HMGET', KEYS[3], unpack(indexes)), redis.call('HMGET', KEYS[4], unpack(indexes))}
`;

/** The callback delivery fields a claim returns, in this order. */
export const CLAIMED_FIELDS = [
  'id',
  'url',
  'caller',
  'traceId',
  'batchStatus',
  'total',
  'successful',
  'failed',
  'degraded',
  'cancelled',
  'pending',
  'attempts',
] as const;

/**
 * KEYS: callback, callbacks:due, callbacks:pending.
 * ARGV: batch id, now (ms), lease (ms), max attempts, last_error of an exhausted delivery.
 * Claims the delivery for one attempt if it is due: counts the attempt and makes it due again
 * only when the lease ends. Returns the fields of CLAIMED_FIELDS; 'exhausted' if its attempts
 * were spent (it is failed instead); nil if it is not due, or gone (the zsets are cleaned).
 */
export const CALLBACK_CLAIM = `
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
local v = redis.call('HMGET', KEYS[1], 'status', 'attempts')
if v[1] ~= 'pending' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return false
end
local attempts = tonumber(v[2])
if attempts >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'status', 'failed', 'lastError', ARGV[5])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return 'exhausted'
end
redis.call('HSET', KEYS[1], 'attempts', attempts + 1)
redis.call('ZADD', KEYS[2], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
return redis.call('HMGET', KEYS[1], ${CLAIMED_FIELDS.map((field) => `'${field}'`).join(', ')})
`;

/**
 * KEYS: callback, callbacks:due, callbacks:pending.
 * ARGV: batch id, delivery id, attempt, verdict (delivered, retry, failed), error, next attempt
 * (ms), delivered at.
 * Records an attempt's verdict if the delivery is still pending and still that one; a retry or a
 * failure only from the latest attempt. 1 if recorded, else 0.
 */
export const CALLBACK_SETTLE = `
local v = redis.call('HMGET', KEYS[1], 'id', 'status', 'attempts')
if v[1] ~= ARGV[2] or v[2] ~= 'pending' then return 0 end
if ARGV[4] == 'delivered' then
  redis.call('HSET', KEYS[1], 'status', 'delivered', 'deliveredAt', ARGV[7])
elseif tonumber(v[3]) ~= tonumber(ARGV[3]) then
  return 0
elseif ARGV[4] == 'retry' then
  redis.call('HSET', KEYS[1], 'lastError', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
  return 1
else
  redis.call('HSET', KEYS[1], 'status', 'failed', 'lastError', ARGV[5])
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
`;
