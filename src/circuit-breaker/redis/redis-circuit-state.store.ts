import { Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { AppConfig } from '../../config/app-config.js';
import { RedisConnection } from '../../redis/redis.connection.js';
import {
  type CircuitPermit,
  type CircuitState,
  CircuitStateStore,
  type CircuitStatus,
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
 * 0 = none), and a set `circuits` of the actions that have one (for metrics). Same transitions as
 * the in-memory store, each one script, so every replica sees one breaker per action: an open
 * circuit (a shared open-until time) stops every replica's calls, and one probe across the
 * cluster holds the half-open lease until it reports or the lease expires.
 */

/** KEYS: state. ARGV: now, probe lease ms. 'clean' is closed with no state (no failures counted). */
const TRY_ACQUIRE = `
local v = redis.call('HMGET', KEYS[1], 'openUntil', 'probeUntil')
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
local openUntil = redis.call('HGET', KEYS[1], 'openUntil')
if not openUntil then return false end
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
local v = redis.call('HMGET', KEYS[1], 'failures', 'openUntil')
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

/** A 'closed' answer trusted until `until` (breaker clock, ms); `clean`: no failures were counted. */
interface ClosedView {
  until: number;
  clean: boolean;
}

interface CircuitScripts {
  circuitTryAcquire(key: string, now: number, leaseMs: number): Promise<CircuitPermit | 'clean'>;
  circuitRecordSuccess(
    key: string,
    index: string,
    actionId: string,
    probe: string,
  ): Promise<CircuitState | null>;
  circuitRecordFailure(...args: (string | number)[]): Promise<CircuitState | null>;
  circuitReleaseProbe(key: string): Promise<number>;
}

/** Breaker state shared by every replica through Redis (distributed mode). */
@Injectable()
export class RedisCircuitStateStore extends CircuitStateStore {
  private readonly redis: Redis & CircuitScripts;
  private readonly prefix: string;
  private readonly index: string;
  /** Action id → the 'closed' answer from Redis this replica trusts for now. */
  private readonly closedViews = new Map<string, ClosedView>();
  private failuresRecorded = 0;

  constructor(connection: RedisConnection, config: AppConfig) {
    super();
    this.prefix = config.redis.keyPrefix;
    this.index = `${this.prefix}circuits`;
    const redis = connection.client;
    const define = (name: keyof CircuitScripts, lua: string, numberOfKeys: number): void => {
      if (!(name in redis)) redis.defineCommand(name, { lua, numberOfKeys });
    };
    define('circuitTryAcquire', TRY_ACQUIRE, 1);
    define('circuitRecordSuccess', RECORD_SUCCESS, 2);
    define('circuitRecordFailure', RECORD_FAILURE, 2);
    define('circuitReleaseProbe', RELEASE_PROBE, 1);
    this.redis = redis as Redis & CircuitScripts;
  }

  async tryAcquire(actionId: string, now: number, probeLeaseMs: number): Promise<CircuitPermit> {
    if (this.viewAt(actionId, now) !== undefined) return 'closed';
    const failuresBefore = this.failuresRecorded;
    const answer = await this.redis.circuitTryAcquire(this.key(actionId), now, probeLeaseMs);
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
    const fields = await this.redis.hmget(
      this.key(actionId),
      'failures',
      'openUntil',
      'probeUntil',
    );
    return status(actionId, fields, now);
  }

  async snapshot(now: number): Promise<CircuitStatus[]> {
    const actionIds = await this.redis.smembers(this.index);
    const rows = await Promise.all(
      actionIds.map((actionId) =>
        this.redis.hmget(this.key(actionId), 'failures', 'openUntil', 'probeUntil'),
      ),
    );
    const gone = actionIds.filter((_, i) => rows[i][0] === null);
    if (gone.length > 0) await this.redis.srem(this.index, ...gone);
    return actionIds.flatMap((actionId, i) =>
      rows[i][0] === null ? [] : [status(actionId, rows[i], now)],
    );
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
  if (openUntil === 0) {
    return {
      actionId,
      state: 'closed',
      consecutiveFailures: failures,
      openUntil: null,
      probeInFlight: false,
    };
  }
  return {
    actionId,
    state: now < openUntil ? 'open' : 'half-open',
    consecutiveFailures: failures,
    openUntil,
    probeInFlight: now < probeUntil,
  };
}
