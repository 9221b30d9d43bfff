import { Logger } from '@nestjs/common';
import { createCache, type Cache } from 'cache-manager';
import { ResultCache } from '../src/cache/result-cache.service.js';
import { createResultCacheStores } from '../src/cache/result-cache.store.js';
import { canonicalJson } from '../src/lib/canonical-json.js';
import { describeWithRedis, redisTestSpace } from './helpers/redis.js';

// The result cache on Redis as replicas share it: what one process stored, a process started
// afterwards reads, from its very first burst of calls on.

const describeRedis = await describeWithRedis();

describeRedis('ResultCache on Redis (real Redis)', () => {
  const space = redisTestSpace('result-cache');
  const { config } = space;
  const managers: Cache[] = [];
  const replica = (): ResultCache => {
    const manager = createCache({ stores: createResultCacheStores(config) });
    managers.push(manager);
    return new ResultCache(manager, config);
  };
  const keys = Array.from({ length: 20 }, (_, n) => `act:${canonicalJson({ n })}`);

  beforeAll(() => Logger.overrideLogger(false));
  afterAll(async () => {
    await Promise.all(managers.map((manager) => manager.disconnect()));
    await space.deleteKeys();
  });

  it("serves another process's results to a new one's first burst of concurrent reads", async () => {
    const writer = replica();
    for (const [n, key] of keys.entries()) await writer.store(key, { n }, 300);

    const fresh = replica(); // not connected yet: its first calls all arrive at once
    const [results, stale] = await Promise.all([
      Promise.all(keys.map((key) => fresh.getFresh(key))),
      Promise.all(keys.map((key) => fresh.getStale(key))),
    ]);
    expect(results).toEqual(keys.map((_, n) => ({ data: { n } })));
    expect(stale).toEqual(keys.map((_, n) => ({ data: { n } })));
  });
});
