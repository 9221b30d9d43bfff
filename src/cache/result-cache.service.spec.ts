import { Logger } from '@nestjs/common';
import { createCache } from 'cache-manager';
import { canonicalJson } from '../lib/canonical-json.js';
import type { AppConfig } from '../config/app-config.js';
import { ResultCache } from './result-cache.service.js';
import { createResultCacheStores } from './result-cache.store.js';

function setup(cache: { staleTtlSeconds: number; maxEntries: number; maxBytes?: number }) {
  const config = { cache } as AppConfig;
  const manager = createCache({ stores: createResultCacheStores(config) });
  return { results: new ResultCache(manager, config), manager };
}

const keyOf = (results: ResultCache, payload: unknown) =>
  results.keyFor('act', canonicalJson(payload));

beforeAll(() => Logger.overrideLogger(false));

describe('ResultCache', () => {
  it('keys by action id and the sha256 of the canonical payload', () => {
    const { results } = setup({ staleTtlSeconds: 60, maxEntries: 100 });
    const key = keyOf(results, { a: 1, b: { c: 2, d: 3 } });
    expect(key).toMatch(/^act:[0-9a-f]{64}$/);
    expect(keyOf(results, { b: { d: 3, c: 2 }, a: 1 })).toBe(key);
    expect(keyOf(results, { a: 1, b: { c: 2, d: 4 } })).not.toBe(key);
    expect(results.keyFor('other', canonicalJson({ a: 1, b: { c: 2, d: 3 } }))).not.toBe(key);
  });

  it('stores a fresh entry and a stale copy under distinct keys', async () => {
    const { results, manager } = setup({ staleTtlSeconds: 60, maxEntries: 100 });
    const key = keyOf(results, { q: 1 });
    await results.store(key, { answer: 42 }, 30);
    expect(await results.getFresh(key)).toEqual({ data: { answer: 42 } });
    expect(await results.getStale(key)).toEqual({ data: { answer: 42 } });
    expect(await manager.get(`result:${key}`)).toBeDefined();
    expect(await manager.get(`stale:${key}`)).toBeDefined();
  });

  it('with a TTL of 0 writes only the stale copy', async () => {
    const { results } = setup({ staleTtlSeconds: 60, maxEntries: 100 });
    const key = keyOf(results, { q: 2 });
    await results.store(key, 'x', 0);
    expect(await results.getFresh(key)).toBeUndefined();
    expect(await results.getStale(key)).toEqual({ data: 'x' });
  });

  it('tells a cached null apart from a miss', async () => {
    const { results } = setup({ staleTtlSeconds: 60, maxEntries: 100 });
    const key = keyOf(results, { q: 3 });
    expect(await results.getFresh(key)).toBeUndefined();
    await results.store(key, null, 30);
    expect(await results.getFresh(key)).toEqual({ data: null });
  });

  it('expires entries after their TTL', async () => {
    const { results } = setup({ staleTtlSeconds: 1, maxEntries: 100 });
    const key = keyOf(results, { q: 4 });
    const realNow = Date.now;
    try {
      await results.store(key, 'x', 1);
      const start = realNow();
      Date.now = () => start + 1_500;
      expect(await results.getFresh(key)).toBeUndefined();
      expect(await results.getStale(key)).toBeUndefined();
    } finally {
      Date.now = realNow;
    }
  });

  it('keeps no stale copy when STALE_TTL_SECONDS is 0', async () => {
    const { results } = setup({ staleTtlSeconds: 0, maxEntries: 100 });
    expect(results.keepsStale).toBe(false);
    const key = keyOf(results, { q: 5 });
    await results.store(key, 'x', 30);
    expect(await results.getStale(key)).toBeUndefined();
    expect(await results.getFresh(key)).toEqual({ data: 'x' });
  });

  it('is bounded: the least recently used entries go first', async () => {
    const { results } = setup({ staleTtlSeconds: 0, maxEntries: 100 });
    const keys = Array.from({ length: 150 }, (_, i) => keyOf(results, { i }));
    await results.store(keys[0], 0, 60);
    for (let i = 1; i < 150; i++) {
      await results.store(keys[i], i, 60);
      if (i % 10 === 0) await results.getFresh(keys[0]); // keep the first one in use
    }
    expect(await results.getFresh(keys[0])).toEqual({ data: 0 });
    expect(await results.getFresh(keys[1])).toBeUndefined();
    expect(await results.getFresh(keys[149])).toEqual({ data: 149 });
  });

  it('is bounded in bytes too: large answers push the oldest out, small ones stay many', async () => {
    const { results } = setup({ staleTtlSeconds: 0, maxEntries: 1000, maxBytes: 1024 * 1024 });
    const keys = Array.from({ length: 10 }, (_, i) => keyOf(results, { large: i }));
    // Each answer of 200 kB costs about 400 kB parsed: two fit in 1 MiB, not three.
    for (const [i, key] of keys.entries()) await results.store(key, { i }, 60, 200_000);
    expect(await results.getFresh(keys[7])).toBeUndefined();
    expect(await results.getFresh(keys[8])).toEqual({ data: { i: 8 } });
    expect(await results.getFresh(keys[9])).toEqual({ data: { i: 9 } });
    // Measured by its JSON when the size is not given.
    const small = Array.from({ length: 500 }, (_, i) => keyOf(results, { small: i }));
    for (const [i, key] of small.entries()) await results.store(key, { i }, 60);
    expect(await results.getFresh(small[0])).toEqual({ data: { i: 0 } });
    // An answer larger than the whole bound is not kept (and pushes nothing out).
    const huge = keyOf(results, { huge: true });
    await results.store(huge, 'x', 60, 2 * 1024 * 1024);
    expect(await results.getFresh(huge)).toBeUndefined();
    expect(await results.getFresh(small[499])).toEqual({ data: { i: 499 } });
  });

  it('turns store failures into misses instead of failing the call', async () => {
    const { results, manager } = setup({ staleTtlSeconds: 60, maxEntries: 100 });
    manager.get = () => Promise.reject(new Error('redis down'));
    manager.mset = () => Promise.reject(new Error('redis down'));
    manager.set = () => Promise.reject(new Error('redis down'));
    const key = keyOf(results, { q: 6 });
    await expect(results.store(key, 'x', 30)).resolves.toBeUndefined(); // fresh and stale: mset
    await expect(results.store(key, 'x', 0)).resolves.toBeUndefined(); // stale only: set
    await expect(results.getFresh(key)).resolves.toBeUndefined();
  });
});
