import { createKeyv as createRedisKeyv } from '@keyv/redis';
import { createKeyv } from 'cacheable';
import type { Keyv } from 'keyv';
import type { AppConfig } from '../config/app-config.js';

/** While Redis cannot be reached at start, a cache call gives up after this (a miss, not a hang). */
const REDIS_CONNECT_TIMEOUT_MS = 300;

/**
 * The one place that decides where cached results live: an in-process LRU bounded by
 * CACHE_MAX_ENTRIES (fresh and stale entries together, values kept by reference), or with
 * REDIS_URL a Keyv Redis store shared by every replica, under `<REDIS_KEY_PREFIX>cache::`,
 * entries expiring by their own TTL.
 */
export function createResultCacheStores(config: AppConfig): Keyv[] {
  // `redis?.`: unit tests hand in a config with only `cache`.
  if (config.redis?.url) {
    const keyv = createRedisKeyv(
      {
        url: config.redis.url,
        // Redis down: fail at once (a cache miss) instead of queueing the command.
        disableOfflineQueue: true,
        socket: { reconnectStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2000) },
      },
      {
        namespace: `${config.redis.keyPrefix}cache`,
        throwOnConnectError: false,
        // ResultCache turns failures into misses and logs them (at most once a minute).
        throwOnErrors: true,
        connectionTimeout: REDIS_CONNECT_TIMEOUT_MS,
      },
    );
    // Connection errors are also emitted; an 'error' event nobody listens to would crash.
    keyv.on('error', () => undefined);
    return [keyv];
  }
  // One map (no key hashing to pick a shard): CACHE_MAX_ENTRIES stays below a Map's limit.
  return [createKeyv({ lruSize: config.cache.maxEntries, storeHashSize: 1, checkInterval: 0 })];
}
