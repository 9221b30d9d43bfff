import KeyvRedis, { type KeyvRedisOptions, type RedisClientConnectionType } from '@keyv/redis';
import { Keyv } from 'keyv';
import type { AppConfig } from '../config/app-config.js';
import { ByteBoundedLru } from './byte-bounded-lru.js';

/** While Redis cannot be reached at start, a cache call gives up after this (a miss, not a hang). */
const REDIS_CONNECT_TIMEOUT_MS = 300;

/**
 * KeyvRedis connects on first use, and every call arriving while that connection is being made
 * starts a connection of its own: all but one fail, each dropping the connection being made, so
 * a new replica's first burst of calls missed results that were in Redis. Here they wait for the
 * one connection. A connected client that lost Redis is returned at once (its commands fail fast:
 * misses, as during any outage).
 */
class SharedConnectKeyvRedis extends KeyvRedis<unknown> {
  private connecting: Promise<RedisClientConnectionType> | undefined;

  override getClient(): Promise<RedisClientConnectionType> {
    // isOpen turns true as soon as a connection starts; only ours is worth waiting for.
    // (A single client, from a URL: the cluster and sentinel types have no isReady.)
    const { isOpen, isReady } = this.client as { isOpen: boolean; isReady?: boolean };
    if (isReady === true || (isOpen && this.connecting === undefined)) {
      return super.getClient();
    }
    this.connecting ??= super.getClient().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }
}

/** Per entry beyond its answer: the key, the wrapper objects, the Map's own slot. */
const ENTRY_OVERHEAD_BYTES = 256;
/** A parsed answer takes more room in the heap than its JSON text (objects, hidden classes). */
const PARSED_PER_TEXT_BYTE = 2;
/** CACHE_MAX_BYTES when a test hands in a config without it. */
const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;

/**
 * The estimated heap cost of an in-process entry: Keyv's `{value: {data, bytes}, expires}`,
 * where `bytes` is the size of CXone's answer as it arrived (ResultCache.store); an entry
 * stored without it is measured by its JSON.
 */
export function entrySize(key: string, entry: unknown): number {
  const stored = (entry as { value?: { data?: unknown; bytes?: number } } | undefined)?.value;
  const text =
    typeof stored?.bytes === 'number'
      ? stored.bytes
      : (JSON.stringify(stored?.data ?? null)?.length ?? 0);
  return key.length + PARSED_PER_TEXT_BYTE * text + ENTRY_OVERHEAD_BYTES;
}

/**
 * The one place that decides where cached results live: an in-process LRU bounded by
 * CACHE_MAX_ENTRIES and CACHE_MAX_BYTES (fresh and stale entries together, values kept by
 * reference), or with
 * REDIS_URL a Keyv Redis store shared by every replica, under `<REDIS_KEY_PREFIX>cache::`,
 * entries expiring by their own TTL.
 */
export function createResultCacheStores(config: AppConfig): Keyv[] {
  // `redis?.`: unit tests hand in a config with only `cache`.
  if (config.redis?.url) {
    const namespace = `${config.redis.keyPrefix}cache`;
    const options: KeyvRedisOptions = {
      namespace,
      throwOnConnectError: false,
      // ResultCache turns failures into misses and logs them (at most once a minute).
      throwOnErrors: true,
      connectionTimeout: REDIS_CONNECT_TIMEOUT_MS,
    };
    const store = new SharedConnectKeyvRedis(
      {
        url: config.redis.url,
        // Redis down: fail at once (a cache miss) instead of queueing the command.
        disableOfflineQueue: true,
        socket: { reconnectStrategy: (attempt: number) => Math.min(100 * 2 ** attempt, 2000) },
      },
      options,
    );
    // As @keyv/redis's createKeyv builds it: the namespace on the store, none added by Keyv.
    store.namespace = namespace;
    const keyv = new Keyv(store, { namespace, useKeyPrefix: false });
    keyv.throwOnErrors = true;
    // Connection errors are also emitted; an 'error' event nobody listens to would crash.
    keyv.on('error', () => undefined);
    return [keyv];
  }
  const lru = new ByteBoundedLru(
    config.cache.maxEntries,
    config.cache.maxBytes ?? DEFAULT_MAX_BYTES,
    entrySize,
  );
  // Values by reference (no serialising), keys as given (no namespace prefix). Keyv takes any
  // store with get/set/delete/clear; its types only name Map for that.
  const keyv = new Keyv(lru as unknown as Map<string, unknown>, {
    namespace: undefined,
    useKeyPrefix: false,
  });
  keyv.serialize = undefined;
  keyv.deserialize = undefined;
  return [keyv];
}
