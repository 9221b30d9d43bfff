import { Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RedisConnection } from '../redis/redis.connection.js';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * KEYS: the tracker's hits (sorted set, score = ms). ARGV: window ms, limit, a unique member.
 * {hits counting this one, 1 if refused, ms until a hit leaves the window}. Redis's clock, so
 * replicas whose clocks differ share one window.
 */
const HIT = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local hits = redis.call('ZCARD', KEYS[1])
if hits >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {hits + 1, 1, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return {hits + 1, 0, window}
`;

interface HitScript {
  callerRateHit(key: string, windowMs: number, limit: number, member: string): Promise<number[]>;
}

const WARNING_INTERVAL_MS = 60_000;

/**
 * @nestjs/throttler's storage on the project's Redis connection, so CALLER_RATE_LIMIT holds across
 * replicas. Written here rather than taken from npm: the maintained Redis storages for the
 * throttler declare NestJS 11 at most as their peer (this project is on 12), and they would open a
 * connection of their own. The semantics are those of the throttler's in-memory storage used with
 * `blockDuration: 0`, the one-process mode: at most `limit` hits in any sliding window of `ttl`,
 * a refused request not counted. While Redis cannot be reached the limiter lets requests through:
 * the routes behind it answer 503 on their own, and a limiter must not be what fails them.
 */
export class RedisThrottlerStorage implements ThrottlerStorage {
  private readonly logger = new Logger('CallerRateLimit');
  private readonly redis: Redis & HitScript;
  private readonly prefix: string;
  private lastWarningAt = 0;

  constructor(private readonly connection: RedisConnection) {
    const redis = connection.client;
    if (!('callerRateHit' in redis)) {
      redis.defineCommand('callerRateHit', { lua: HIT, numberOfKeys: 1 });
    }
    this.redis = redis as Redis & HitScript;
    this.prefix = `${connection.keyPrefix}caller-rate:`;
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    _blockDuration: number,
    _throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    try {
      this.connection.assertResponsive('The caller rate limit');
      const [hits, refused, waitMs] = await this.redis.callerRateHit(
        `${this.prefix}${key}`,
        ttl,
        limit,
        randomUUID(),
      );
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      return {
        totalHits: hits,
        timeToExpire: seconds,
        isBlocked: refused === 1,
        timeToBlockExpire: refused === 1 ? seconds : 0,
      };
    } catch (error) {
      // A command that timed out marks Redis unresponsive: the route's own store calls then
      // answer 503 at once instead of waiting out the same timeout again.
      this.connection.noteFailure(error);
      this.warn(error);
      return { totalHits: 0, timeToExpire: 0, isBlocked: false, timeToBlockExpire: 0 };
    }
  }

  private warn(error: unknown): void {
    const now = Date.now();
    if (now - this.lastWarningAt < WARNING_INTERVAL_MS) return;
    this.lastWarningAt = now;
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn(`Caller rate limit not applied (Redis: ${reason})`);
  }
}
