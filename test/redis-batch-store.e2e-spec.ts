import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { ItemOutcome } from '../src/batch/core/batch.types.js';
import { RedisBatchStore } from '../src/batch/redis/redis-batch.store.js';
import { DomainError } from '../src/lib/domain-error.js';
import type { AppConfig } from '../src/config/app-config.js';
import { RedisConnection } from '../src/redis/redis.connection.js';
import { batchMeta } from './contracts/batch-store.contract.js';
import {
  deleteKeys,
  describeWithRedis,
  redisTestConfig,
  SHARED_REDIS_URL,
  uniquePrefix,
} from './helpers/redis.js';
import { freePort } from './helpers/service-process.js';

// What only the Redis batch store has: its key layout and TTLs, sharing between replicas, the
// intake count and outage handling. The behaviour every BatchStore shares is in
// test/contracts/batch-store.contract.ts (run by test/batch-store.contract.e2e-spec.ts).

const describeRedis = await describeWithRedis();

function configFor(prefix: string, redisUrl = SHARED_REDIS_URL): AppConfig {
  return redisTestConfig(prefix, { REDIS_URL: redisUrl, BATCH_RETENTION_SECONDS: '1' });
}

const success = (latencyMs = 10): ItemOutcome => ({
  status: 'success',
  data: { ok: true },
  cached: false,
  attempts: 1,
  latencyMs,
});
const failed: ItemOutcome = {
  status: 'failed',
  error: 'nope',
  errorCode: 'UPSTREAM_4XX',
  attempts: 1,
  latencyMs: 3,
};

describeRedis('RedisBatchStore (real Redis)', () => {
  const prefixes: string[] = [];
  const connections: RedisConnection[] = [];
  let redis: Redis;

  /** A store with a key prefix of its own (its list and counters start empty). */
  async function newStore(): Promise<RedisBatchStore> {
    const prefix = uniquePrefix('store');
    prefixes.push(prefix);
    const config = configFor(prefix);
    const connection = new RedisConnection(config);
    connections.push(connection);
    await connection.onModuleInit();
    return new RedisBatchStore(connection, config);
  }

  let store: RedisBatchStore;
  beforeAll(async () => {
    Logger.overrideLogger(false);
    redis = new Redis(SHARED_REDIS_URL);
    store = await newStore();
  });
  afterAll(async () => {
    for (const prefix of prefixes) await deleteKeys(SHARED_REDIS_URL, prefix);
    await Promise.all(connections.map((connection) => connection.onApplicationShutdown()));
    redis.disconnect();
  });

  it('keeps payloads as one hash field per chunk, and ids only for payloads that carry one', async () => {
    const batch = batchMeta(25);
    const payloads = Array.from({ length: 25 }, (_, n) =>
      n % 3 === 0 ? { id: `p${n}`, n } : n % 3 === 1 ? { id: n * 10 } : { n },
    );
    await store.create(batch, payloads);
    const base = `${store.keys.prefix}batch:{${batch.batchId}}`;
    expect(await redis.hlen(`${base}:payloads`)).toBe(3);
    expect(await redis.hlen(`${base}:ids`)).toBe(17);
    expect(await store.getPayloads(batch.batchId, 8, 23)).toEqual(payloads.slice(8, 23));
  });

  it('records the replica running a batch as its owner', async () => {
    const batch = batchMeta(1);
    await store.create(batch, [{}]);
    expect(await store.markRunning(batch.batchId, '2026-01-01T00:00:00.000Z')).toBe(true);
    expect(await redis.hget(`${store.keys.prefix}batch:{${batch.batchId}}:meta`, 'owner')).toMatch(
      /:\d+$/,
    );
  });

  it('shares batches, outcomes and idempotency keys between replicas', async () => {
    const otherConnection = new RedisConnection(configFor(store.keys.prefix));
    connections.push(otherConnection);
    await otherConnection.onModuleInit();
    const other = new RedisBatchStore(otherConnection, configFor(store.keys.prefix));
    const first = batchMeta(2);
    expect(
      await store.claimIdempotencyKey('order-42', { batchId: first.batchId, bodyHash: 'h1' }),
    ).toBeUndefined();
    await store.create(first, [{}, {}]);
    expect(
      await other.claimIdempotencyKey('order-42', { batchId: 'another', bodyHash: 'h2' }),
    ).toEqual({ batchId: first.batchId, bodyHash: 'h1' });

    expect(await other.markRunning(first.batchId, new Date().toISOString())).toBe(true);
    await other.recordOutcome(first.batchId, 1, success());
    expect(await store.getMeta(first.batchId)).toMatchObject({ status: 'running' });
    expect(await store.recordedIn(first.batchId, 0, 2)).toEqual([false, true]);
    await store.recordOutcome(first.batchId, 1, failed);
    expect(await other.summary(first.batchId)).toMatchObject({ successful: 1, failed: 0 });
  });

  it('deletes the payloads of a batch whose every item succeeded when it finishes', async () => {
    const allGood = batchMeta(2);
    const oneFailed = batchMeta(2);
    for (const batch of [allGood, oneFailed]) {
      await store.create(batch, [{ n: 1 }, { n: 2 }]);
      await store.markRunning(batch.batchId, new Date().toISOString());
      await store.recordOutcome(batch.batchId, 0, success());
    }
    await store.recordOutcome(allGood.batchId, 1, success());
    await store.recordOutcome(oneFailed.batchId, 1, failed);
    const payloadsKey = (batchId: string): string =>
      `${store.keys.prefix}batch:{${batchId}}:payloads`;
    expect(await redis.exists(payloadsKey(allGood.batchId))).toBe(1);
    for (const batch of [allGood, oneFailed])
      await store.markFinished(batch.batchId, new Date().toISOString());
    expect(await redis.exists(payloadsKey(allGood.batchId))).toBe(0);
    // The failed item may be redriven: its batch's payloads stay until retention.
    expect(await redis.exists(payloadsKey(oneFailed.batchId))).toBe(1);
    expect(
      (await store.page(allGood.batchId, 0, 2)).items.map((item) => item.outcome?.status),
    ).toEqual(['success', 'success']);
  });

  it('counts the items of unfinished batches for the intake limit, on every replica', async () => {
    const own = await newStore();
    const a = batchMeta(10);
    const b = batchMeta(5);
    await own.create(
      a,
      Array.from({ length: 10 }, () => ({})),
    );
    await own.create(
      b,
      Array.from({ length: 5 }, () => ({})),
    );
    expect(await own.unfinishedItems()).toBe(15);
    await own.markRunning(a.batchId, new Date().toISOString());
    await own.markFinished(a.batchId, new Date().toISOString());
    await own.markFinished(a.batchId, new Date().toISOString());
    expect(await own.unfinishedItems()).toBe(5);
    await own.cancel(b.batchId, new Date().toISOString());
    expect(await own.unfinishedItems()).toBe(0);
  });

  it("gives an unfinished batch's keys a long TTL, a finished one's (and its idempotency key's) BATCH_RETENTION_SECONDS", async () => {
    const own = await newStore();
    const running = batchMeta(2);
    const done = batchMeta(2);
    await own.claimIdempotencyKey('retained-key', { batchId: done.batchId, bodyHash: 'h' });
    await own.create(running, [{}, {}]);
    await own.create(done, [{ id: 'a' }, {}]);
    await own.markRunning(done.batchId, new Date().toISOString());
    await own.recordOutcome(done.batchId, 0, success());
    await own.recordOutcome(done.batchId, 1, failed);

    const keysOf = async (batchId: string): Promise<string[]> =>
      redis.keys(`${own.keys.prefix}batch:{${batchId}}:*`);
    for (const key of await keysOf(running.batchId))
      expect(await redis.ttl(key)).toBeGreaterThan(86400);
    expect(await redis.ttl(own.keys.idempotency('retained-key'))).toBeGreaterThan(86400);
    await own.markFinished(done.batchId, new Date().toISOString());
    const doneKeys = await keysOf(done.batchId);
    expect(doneKeys.length).toBeGreaterThanOrEqual(6);
    for (const key of doneKeys) {
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(1000);
    }
    const idempotencyTtl = await redis.pttl(own.keys.idempotency('retained-key'));
    expect(idempotencyTtl).toBeGreaterThan(0);
    expect(idempotencyTtl).toBeLessThanOrEqual(1000);
  });

  it('answers NOT_READY (503) when Redis cannot be reached, never a raw error', async () => {
    const config = configFor(uniquePrefix('down'), `redis://127.0.0.1:${await freePort()}`);
    const connection = new RedisConnection(config);
    connections.push(connection);
    const down = new RedisBatchStore(connection, config);
    const error = await down.getMeta('any').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: 'NOT_READY' });
    await expect(down.create(batchMeta(1), [{}])).rejects.toMatchObject({ code: 'NOT_READY' });
    await expect(down.ping()).rejects.toThrow(/Redis is not connected/);
  });
});
