import { Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { AppConfig } from '../../config/app-config.js';
import { RedisConnection } from '../../redis/redis.connection.js';
import {
  type CircuitPermit,
  type CircuitState,
  CircuitStateStore,
  type CircuitStatus,
  MAX_SEEN_ACTIONS,
  SEEN_TTL_MS,
} from '../circuit-state.store.js';

/** A failing action's state outlives its last change by this much, then a quiet action is clean again. */
const STATE_TTL_MS = 86_400_000;

/**
 * How long a replica trusts a 'closed' answer for an action before asking Redis again. Saves the
 * round trip before nearly every call; an opening by another replica reaches this one within this
 * time, its own failures at once. While the answer
 * also said "no failures counted" (no state at all), a success has nothing to reset and is not
 * written either: a failure another replica counts meanwhile is reset by this replica's successes
 * only once its view has expired, as an opening shows only then.
 */
export const CLOSED_VIEW_MS = 100;
/** Most actions with a closed view kept; beyond it the views are dropped (they are only a shortcut). */
const MAX_CLOSED_VIEWS = 10_000;

/*
 * One hash per action, `circuit:{<actionId>}` with `failures`, `openUntil`, `probeUntil` (epoch ms,
 * 0 = none) and `forced` (1 while forced open); a set `circuits` of the actions that have one (for
 * metrics), a set `circuits:forced` of the forced ones (no expiry: an operator's decision stays),
 * and a sorted set `circuits:seen` of actions by last call (for the list of circuits). Same
 * transitions as the in-memory store, each one script, so every replica sees one breaker per
 * action: an open circuit (a shared open-until time) stops every replica's calls, and one probe
 * across the cluster holds the half-open lease until it reports or the lease expires.
 */

/**
 * KEYS: state, seen. ARGV: now, probe lease ms, action id, seen TTL ms, most actions seen.
 * 'clean' is closed with no state (no failures counted).
 */
const TRY_ACQUIRE = `
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
local seen = redis.call('ZCARD', KEYS[2])
if seen > tonumber(ARGV[5]) then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, seen - tonumber(ARGV[5]) - 1) end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
local v = redis.call('HMGET', KEYS[1], 'openUntil', 'probeUntil', 'forced')
if v[3] == '1' then return 'open' end
if not v[1] then return 'clean' end
local openUntil = tonumber(v[1])
if openUntil == 0 then return 'closed' end
local now = tonumber(ARGV[1])
if now < openUntil or now < tonumber(v[2] or '0') then return 'open' end
redis.call('HSET', KEYS[1], 'probeUntil', now + tonumber(ARGV[2]))
return 'probe'
`;

/** KEYS: state, index. ARGV: action id, '1' if the probe. Previous state if it changed, else nil. */
const RECORD_SUCCESS = `
local v = redis.call('HMGET', KEYS[1], 'openUntil', 'forced')
local openUntil = v[1]
if not openUntil or v[2] == '1' then return false end
if tonumber(openUntil) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[2], ARGV[1])
  return false
end
if ARGV[2] ~= '1' then return false end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 'half-open'
`;

/** KEYS: state, index. ARGV: action id, '1' if the probe, now, threshold, open ms, ttl ms. */
const RECORD_FAILURE = `
local v = redis.call('HMGET', KEYS[1], 'failures', 'openUntil', 'forced')
if v[3] == '1' then return false end
local failures = tonumber(v[1] or '0')
local openUntil = tonumber(v[2] or '0')
local now, openMs = tonumber(ARGV[3]), tonumber(ARGV[5])
local from = false
if openUntil ~= 0 then
  if ARGV[2] ~= '1' then return false end
  redis.call('HSET', KEYS[1], 'failures', failures + 1, 'openUntil', now + openMs, 'probeUntil', 0)
  from = 'half-open'
else
  failures = failures + 1
  if failures >= tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[1], 'failures', failures, 'openUntil', now + openMs, 'probeUntil', 0)
    from = 'closed'
  else
    redis.call('HSET', KEYS[1], 'failures', failures, 'openUntil', 0, 'probeUntil', 0)
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return from
`;

/** KEYS: state. */
const RELEASE_PROBE = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'probeUntil', 0) end
return 1
`;

/**
 * KEYS: state, forced set. ARGV: action id, '1' to force open or '0' for automatic, ttl ms.
 * Forcing keeps the automatic state underneath (and keeps the hash for good); back to automatic,
 * an action with no failures counted and not open has no state again.
 */
const SET_FORCED = `
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'forced', 1)
  for _, field in ipairs({'failures', 'openUntil', 'probeUntil'}) do
    redis.call('HSETNX', KEYS[1], field, 0)
  end
  redis.call('PERSIST', KEYS[1])
  redis.call('SADD', KEYS[2], ARGV[1])
  return 1
end
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], 'forced')
local v = redis.call('HMGET', KEYS[1], 'failures', 'openUntil')
if tonumber(v[1] or '0') == 0 and tonumber(v[2] or '0') == 0 then
  redis.call('DEL', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 0
`;

const STATE_FIELDS = ['failures', 'openUntil', 'probeUntil', 'forced'] as const;

/** A 'closed' answer trusted until `until` (breaker clock, ms); `clean`: no failures were counted. */
interface ClosedView {
  until: number;
  clean: boolean;
}

interface CircuitScripts {
  circuitTryAcquire(...args: (string | number)[]): Promise<CircuitPermit | 'clean'>;
  circuitRecordSuccess(
    key: string,
    index: string,
    actionId: string,
    probe: string,
  ): Promise<CircuitState | null>;
  circuitRecordFailure(...args: (string | number)[]): Promise<CircuitState | null>;
  circuitReleaseProbe(key: string): Promise<number>;
  circuitSetForced(...args: (string | number)[]): Promise<number>;
}

/** Breaker state shared by every replica through Redis (distributed mode). */
@Injectable()
export class RedisCircuitStateStore extends CircuitStateStore {
  private readonly redis: Redis & CircuitScripts;
  private readonly prefix: string;
  private readonly index: string;
  private readonly forcedIndex: string;
  private readonly seen: string;
  /** Action id → the 'closed' answer from Redis this replica trusts for now. */
  private readonly closedViews = new Map<string, ClosedView>();
  private failuresRecorded = 0;

  constructor(connection: RedisConnection, config: AppConfig) {
    super();
    this.prefix = config.redis.keyPrefix;
    this.index = `${this.prefix}circuits`;
    this.forcedIndex = `${this.prefix}circuits:forced`;
    this.seen = `${this.prefix}circuits:seen`;
    const redis = connection.client;
    const define = (name: keyof CircuitScripts, lua: string, numberOfKeys: number): void => {
      if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys });
    };
    define('circuitTryAcquire', TRY_ACQUIRE, 2);
    define('circuitRecordSuccess', RECORD_SUCCESS, 2);
    define('circuitRecordFailure', RECORD_FAILURE, 2);
    define('circuitReleaseProbe', RELEASE_PROBE, 1);
    define('circuitSetForced', SET_FORCED, 2);
    this.redis = redis as Redis & CircuitScripts;
  }

  async tryAcquire(actionId: string, now: number, probeLeaseMs: number): Promise<CircuitPermit> {
    if (this.viewAt(actionId, now) !== undefined) return 'closed';
    const failuresBefore = this.failuresRecorded;
    const answer = await this.redis.circuitTryAcquire(
      this.key(actionId),
      this.seen,
      now,
      probeLeaseMs,
      actionId,
      SEEN_TTL_MS,
      MAX_SEEN_ACTIONS,
    );
    const permit = answer === 'clean' ? 'closed' : answer;
    if (permit !== 'closed' || this.failuresRecorded !== failuresBefore) {
      this.closedViews.delete(actionId);
    } else if (this.closedViews.has(actionId) || this.closedViews.size < MAX_CLOSED_VIEWS) {
      this.closedViews.set(actionId, { until: now + CLOSED_VIEW_MS, clean: answer === 'clean' });
    } else {
      this.closedViews.clear();
    }
    return permit;
  }

  async recordSuccess(actionId: string, probe: boolean, now: number): Promise<CircuitState | null> {
    // Nothing to reset: no failures were counted when this replica last asked (see CLOSED_VIEW_MS).
    if (!probe && this.viewAt(actionId, now)?.clean === true) return null;
    return this.redis.circuitRecordSuccess(
      this.key(actionId),
      this.index,
      actionId,
      probe ? '1' : '0',
    );
  }

  recordFailure(
    actionId: string,
    probe: boolean,
    now: number,
    threshold: number,
    openMs: number,
  ): Promise<CircuitState | null> {
    // The next call asks Redis (this failure may open the circuit), also one whose answer is on its way.
    this.closedViews.delete(actionId);
    this.failuresRecorded++;
    return this.redis.circuitRecordFailure(
      this.key(actionId),
      this.index,
      actionId,
      probe ? '1' : '0',
      now,
      threshold,
      openMs,
      STATE_TTL_MS,
    );
  }

  async releaseProbe(actionId: string): Promise<void> {
    await this.redis.circuitReleaseProbe(this.key(actionId));
  }

  async state(actionId: string, now: number): Promise<CircuitStatus> {
    const fields = await this.redis.hmget(this.key(actionId), ...STATE_FIELDS);
    return status(actionId, fields, now);
  }

  async snapshot(now: number): Promise<CircuitStatus[]> {
    const [indexed, forced] = await Promise.all([
      this.redis.smembers(this.index),
      this.redis.smembers(this.forcedIndex),
    ]);
    const actionIds = [...new Set([...indexed, ...forced])];
    const rows = await this.rowsOf(actionIds);
    const gone = indexed.filter((actionId) => rows.get(actionId)?.[0] === null);
    if (gone.length > 0) await this.redis.srem(this.index, ...gone);
    return actionIds.flatMap((actionId) => {
      const row = rows.get(actionId)!;
      return row[0] === null ? [] : [status(actionId, row, now)];
    });
  }

  async setForced(actionId: string, forced: boolean, now: number): Promise<CircuitStatus> {
    this.closedViews.delete(actionId);
    await this.redis.circuitSetForced(
      this.key(actionId),
      this.forcedIndex,
      actionId,
      forced ? '1' : '0',
      STATE_TTL_MS,
    );
    return this.state(actionId, now);
  }

  async list(now: number): Promise<CircuitStatus[]> {
    await this.redis.zremrangebyscore(this.seen, '-inf', String(now - SEEN_TTL_MS));
    const [seen, indexed, forced] = await Promise.all([
      this.redis.zrange(this.seen, '0', '-1'),
      this.redis.smembers(this.index),
      this.redis.smembers(this.forcedIndex),
    ]);
    const actionIds = [...new Set([...seen, ...indexed, ...forced])].sort();
    const rows = await this.rowsOf(actionIds);
    return actionIds.map((actionId) => status(actionId, rows.get(actionId)!, now));
  }

  /** The state fields of each action, in one pipeline. */
  private async rowsOf(actionIds: string[]): Promise<Map<string, (string | null)[]>> {
    const rows = await Promise.all(
      actionIds.map((actionId) => this.redis.hmget(this.key(actionId), ...STATE_FIELDS)),
    );
    return new Map(actionIds.map((actionId, i) => [actionId, rows[i]]));
  }

  /** The closed view of the action if `now` is inside it (a clock that went back is outside). */
  private viewAt(actionId: string, now: number): ClosedView | undefined {
    const view = this.closedViews.get(actionId);
    if (view === undefined || now < view.until - CLOSED_VIEW_MS || now >= view.until)
      return undefined;
    return view;
  }

  private key(actionId: string): string {
    return `${this.prefix}circuit:{${actionId}}`;
  }
}

function status(actionId: string, fields: (string | null)[], now: number): CircuitStatus {
  const [failures, openUntil, probeUntil] = fields.map((value) => Number(value ?? 0));
  const forced = fields[3] === '1';
  if (openUntil === 0 && !forced) {
    return {
      actionId,
      state: 'closed',
      forced: false,
      consecutiveFailures: failures,
      openUntil: null,
      probeInFlight: false,
    };
  }
  return {
    actionId,
    state: forced || now < openUntil ? 'open' : 'half-open',
    forced,
    consecutiveFailures: failures,
    openUntil: openUntil === 0 ? null : openUntil,
    probeInFlight: now < probeUntil,
  };
}
