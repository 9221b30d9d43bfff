import { createKeyv } from 'cacheable';
import type { Keyv } from 'keyv';
import type { AppConfig } from '../config/app-config.js';

/**
 * The one place that decides where cached results live. Today: an in-process LRU bounded by
 * CACHE_MAX_ENTRIES (fresh and stale entries together), values kept by reference. The Redis
 * issue returns a Keyv Redis store here when REDIS_URL is set.
 */
export function createResultCacheStores(config: AppConfig): Keyv[] {
  // One map (no key hashing to pick a shard): CACHE_MAX_ENTRIES stays below a Map's limit.
  return [createKeyv({ lruSize: config.cache.maxEntries, storeHashSize: 1, checkInterval: 0 })];
}
