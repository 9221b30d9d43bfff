import { CACHE_MANAGER } from '@nestjs/cache-manager';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import { hash } from 'node:crypto';
import { AppConfig } from '../config/app-config.js';

/**
 * What is stored: a wrapper, so a cached `null` result is told apart from a miss; `bytes` (the
 * answer's size as CXone sent it) sizes the entry in the in-process cache's byte bound.
 */
interface Stored {
  data: unknown;
  bytes?: number;
}

const WARN_EVERY_MS = 60_000;

/**
 * Results of successful CXone calls, by action id and payload.
 *
 * - fresh entry `result:<actionId>:<sha256 of the canonical JSON>`, kept the call's
 *   `cacheTtlSeconds` (0: neither read nor written) and served instead of calling CXone;
 * - stale entry `stale:<…>`, the last good result, written on every success and kept
 *   STALE_TTL_SECONDS; read only as the fallback of a failed call.
 *
 * A cache failure never fails a call: reads become misses, writes are dropped (logged at
 * most once a minute).
 */
@Injectable()
export class ResultCache {
  private readonly logger = new Logger(ResultCache.name);
  private readonly staleTtlMs: number;
  private lastWarningAt = 0;

  constructor(
    @Inject(CACHE_MANAGER) private readonly cache: Cache,
    config: AppConfig,
  ) {
    this.staleTtlMs = config.cache.staleTtlSeconds * 1000;
  }

  /** The key suffix shared by the fresh and the stale entry. */
  keyFor(actionId: string, canonicalPayload: string): string {
    return `${actionId}:${hash('sha256', canonicalPayload, 'hex')}`;
  }

  /** False when STALE_TTL_SECONDS is 0: then no call needs a key unless it caches. */
  get keepsStale(): boolean {
    return this.staleTtlMs > 0;
  }

  /** `{ data }` of a fresh entry, or undefined on a miss. */
  async getFresh(key: string): Promise<{ data: unknown } | undefined> {
    return this.read(`result:${key}`);
  }

  /** `{ data }` of the last good result, or undefined. */
  async getStale(key: string): Promise<{ data: unknown } | undefined> {
    if (this.staleTtlMs === 0) return undefined;
    return this.read(`stale:${key}`);
  }

  /**
   * Records a success: fresh entry for `ttlSeconds` (if > 0), stale entry always. `bytes`: the
   * answer's size, when known (else the in-process cache measures the data itself).
   */
  async store(key: string, data: unknown, ttlSeconds: number, bytes?: number): Promise<void> {
    const value: Stored = bytes === undefined ? { data } : { data, bytes };
    const entries: { key: string; value: Stored; ttl: number }[] = [];
    if (ttlSeconds > 0) entries.push({ key: `result:${key}`, value, ttl: ttlSeconds * 1000 });
    if (this.staleTtlMs > 0) entries.push({ key: `stale:${key}`, value, ttl: this.staleTtlMs });
    if (entries.length === 0) return;
    try {
      // One entry (the stale copy of an uncached call, nearly every call) is one plain write; in
      // Redis `mset` wraps even a single SET in MULTI/EXEC, three commands instead of one.
      if (entries.length === 1) await this.cache.set(entries[0].key, value, entries[0].ttl);
      else await this.cache.mset(entries);
    } catch (error) {
      this.warn('write', error);
    }
  }

  private async read(key: string): Promise<{ data: unknown } | undefined> {
    try {
      const stored = await this.cache.get<Stored>(key);
      return stored === undefined ? undefined : { data: stored.data };
    } catch (error) {
      this.warn('read', error);
      return undefined;
    }
  }

  private warn(operation: string, error: unknown): void {
    const now = Date.now();
    if (now - this.lastWarningAt < WARN_EVERY_MS) return;
    this.lastWarningAt = now;
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn(`result cache ${operation} failed (calls go on uncached): ${reason}`);
  }
}
