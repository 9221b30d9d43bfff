import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchMeta, ItemOutcome } from '../src/batch/core/batch.types.js';
import { RedisBatchStore } from '../src/batch/redis/redis-batch.store.js';
import { DomainError } from '../src/lib/domain-error.js';
import type { AppConfig } from '../src/config/app-config.js';
import { RedisConnection } from '../src/redis/redis.connection.js';
import {
  deleteKeys,
  describeWithRedis,
  redisTestConfig,
  SHARED_REDIS_URL,
  uniquePrefix,
} from './helpers/redis.js';
import { freePort } from './helpers/service-process.js';

// The Redis batch store against a real Redis, case for case with the in-memory store's rules.

const describeRedis = await describeWithRedis();

function configFor(prefix: string, redisUrl = SHARED_REDIS_URL): AppConfig {
  return redisTestConfig(prefix, { REDIS_URL: redisUrl, BATCH_RETENTION_SECONDS: '1' });
}

let seq = 0;
function meta(total: number, chunkSize = 10, createdAt = new Date(), caller = 'team-a'): BatchMeta {
  seq += 1;
  return {
    batchId: `batch-${seq}-${Math.random().toString(16).slice(2, 8)}`,
    actionId: 'act',
    caller,
    status: 'queued',
    traceId: 'b'.repeat(32),
    traceFlags: '01',
    options: { chunkSize, maxWorkers: 2, timeoutMs: 1000, cacheTtlSeconds: 0 },
    total,
    createdAt: createdAt.toISOString(),
    startedAt: null,
    finishedAt: null,
  };
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

  it('keeps payloads chunk-wise and reads any range in input order', async () => {
    const batch = meta(25, 10);
    const payloads = Array.from({ length: 25 }, (_, n) =>
      n % 3 === 0 ? { id: `p${n}`, n } : n % 3 === 1 ? { id: n * 10 } : { n },
    );
    await store.create(batch, payloads);

    expect(await store.getMeta(batch.batchId)).toEqual(batch);
    expect(await store.getPayloads(batch.batchId, 0, 10)).toEqual(payloads.slice(0, 10));
    expect(await store.getPayloads(batch.batchId, 8, 23)).toEqual(payloads.slice(8, 23));
    expect(await store.getPayloads(batch.batchId, 20, 25)).toEqual(payloads.slice(20, 25));
    expect(await redis.hlen(`${store.keys.prefix}batch:{${batch.batchId}}:payloads`)).toBe(3);
    expect(await store.recordedIn(batch.batchId, 5, 15)).toEqual(new Array(10).fill(false));

    const page = await store.page(batch.batchId, 0, 4);
    expect(page.total).toBe(25);
    expect(page.items.map((item) => item.id)).toEqual(['p0', 10, '2', 'p3']);
    expect(page.items.every((item) => item.outcome === undefined)).toBe(true);
    expect(await store.getMeta('no-such-batch')).toBeUndefined();
  });

  it('records an outcome only while the item is pending or cancelled, with its counters', async () => {
    const batch = meta(3);
    await store.create(batch, [{}, {}, {}]);
    expect(await store.markRunning(batch.batchId, '2026-01-01T00:00:00.000Z')).toBe(true);
    await store.recordOutcome(batch.batchId, 0, success(10));
    await store.recordOutcome(batch.batchId, 0, failed);
    await store.recordOutcome(batch.batchId, 2, success(40));

    expect(await store.summary(batch.batchId)).toEqual({
      total: 3,
      successful: 2,
      failed: 0,
      degraded: 0,
      cancelled: 0,
      pending: 1,
    });
    expect(await store.recordedIn(batch.batchId, 0, 3)).toEqual([true, false, true]);
    const latency = await store.latency(batch.batchId);
    expect(latency.max).toBe(40);
    expect(latency.p50).toBeGreaterThanOrEqual(10);
    expect(latency.p50).toBeLessThanOrEqual(11);
    const page = await store.page(batch.batchId, 0, 10);
    expect(page.items.map((item) => item.outcome?.status)).toEqual([
      'success',
      undefined,
      'success',
    ]);
    const current = await store.getMeta(batch.batchId);
    expect(current).toMatchObject({ status: 'running', startedAt: '2026-01-01T00:00:00.000Z' });
    expect(await redis.hget(`${store.keys.prefix}batch:{${batch.batchId}}:meta`, 'owner')).toMatch(
      /:\d+$/,
    );
  });

  it('filters a page by status in input order, pending included, and counts the matches', async () => {
    const batch = meta(10);
    await store.create(
      batch,
      Array.from({ length: 10 }, (_, n) => ({ id: n })),
    );
    for (const index of [1, 3, 5, 7]) await store.recordOutcome(batch.batchId, index, failed);

    const failures = await store.page(batch.batchId, 1, 2, 'failed');
    expect(failures.total).toBe(4);
    expect(failures.items.map((item) => item.index)).toEqual([3, 5]);
    expect(failures.items[0]).toMatchObject({
      id: 3,
      outcome: { status: 'failed', errorCode: 'UPSTREAM_4XX' },
    });
    const pending = await store.page(batch.batchId, 0, 100, 'pending');
    expect(pending.total).toBe(6);
    expect(pending.items.map((item) => item.index)).toEqual([0, 2, 4, 6, 8, 9]);
    expect((await store.page(batch.batchId, 0, 10, 'degraded')).total).toBe(0);
  });

  it('reads a page of a large batch by index and by rank', async () => {
    const batch = meta(20000, 1000);
    await store.create(
      batch,
      Array.from({ length: 20000 }, (_, n) => ({ n })),
    );
    await store.recordOutcome(batch.batchId, 19995, success());
    const tail = await store.page(batch.batchId, 19990, 10);
    expect(tail.items.map((item) => item.index)).toEqual(
      Array.from({ length: 10 }, (_, n) => 19990 + n),
    );
    expect(tail.items[5].outcome?.status).toBe('success');
    const pending = await store.page(batch.batchId, 19990, 10, 'pending');
    expect(pending.total).toBe(19999);
    expect(pending.items.map((item) => item.index)).toEqual([
      19990, 19991, 19992, 19993, 19994, 19996, 19997, 19998, 19999,
    ]);
  });

  it('cancels: pending items become cancelled; a late real outcome replaces cancelled, never a final one', async () => {
    const batch = meta(3);
    await store.create(batch, [{}, {}, {}]);
    await store.markRunning(batch.batchId, new Date().toISOString());
    await store.recordOutcome(batch.batchId, 0, success());
    const cancelled = await store.cancel(batch.batchId, new Date().toISOString());
    expect(cancelled).toMatchObject({ status: 'cancelled', finishedAt: null });
    expect(await store.summary(batch.batchId)).toMatchObject({
      successful: 1,
      cancelled: 2,
      pending: 0,
    });
    expect(await store.cancel(batch.batchId, new Date().toISOString())).toBeUndefined();
    expect(await store.markRunning(batch.batchId, new Date().toISOString())).toBe(false);

    const page = await store.page(batch.batchId, 0, 10);
    expect(page.items.map((item) => item.outcome?.status)).toEqual([
      'success',
      'cancelled',
      'cancelled',
    ]);
    expect(page.items[1].outcome).toMatchObject({ errorCode: 'CANCELLED', attempts: 0 });
    expect(
      (await store.page(batch.batchId, 0, 10, 'cancelled')).items.map((item) => item.index),
    ).toEqual([1, 2]);
    expect(await store.recordedIn(batch.batchId, 0, 3)).toEqual([true, true, true]);

    await store.recordOutcome(batch.batchId, 1, success());
    await store.recordOutcome(batch.batchId, 0, failed);
    expect(await store.summary(batch.batchId)).toMatchObject({
      successful: 2,
      failed: 0,
      cancelled: 1,
      pending: 0,
    });
    const finished = await store.markFinished(batch.batchId, new Date().toISOString());
    expect(finished).toMatchObject({ status: 'cancelled', finishedAt: expect.any(String) });
  });

  it('finishes a cancelled batch that never started at once, and refuses to cancel a completed one', async () => {
    const queued = meta(2);
    await store.create(queued, [{}, {}]);
    const cancelled = await store.cancel(queued.batchId, '2026-01-01T00:00:00.000Z');
    expect(cancelled).toMatchObject({
      status: 'cancelled',
      finishedAt: '2026-01-01T00:00:00.000Z',
    });

    const done = meta(1);
    await store.create(done, [{}]);
    await store.markRunning(done.batchId, new Date().toISOString());
    await store.recordOutcome(done.batchId, 0, success());
    expect(await store.markFinished(done.batchId, new Date().toISOString())).toMatchObject({
      status: 'completed',
    });
    expect(await store.cancel(done.batchId, new Date().toISOString())).toBeUndefined();
  });

  it('shares idempotency keys between replicas, and frees a key whose batch is gone', async () => {
    const otherConnection = new RedisConnection(configFor(store.keys.prefix));
    connections.push(otherConnection);
    await otherConnection.onModuleInit();
    const other = new RedisBatchStore(otherConnection, configFor(store.keys.prefix));
    const first = meta(1);
    expect(
      await store.claimIdempotencyKey('order-42', { batchId: first.batchId, bodyHash: 'h1' }),
    ).toBeUndefined();
    await store.create(first, [{}]);
    expect(
      await other.claimIdempotencyKey('order-42', { batchId: 'another', bodyHash: 'h2' }),
    ).toEqual({
      batchId: first.batchId,
      bodyHash: 'h1',
    });

    const second = meta(1);
    expect(
      await store.claimIdempotencyKey('order-43', { batchId: 'never-created', bodyHash: 'h' }),
    ).toBeUndefined();
    expect(
      await other.claimIdempotencyKey('order-43', { batchId: second.batchId, bodyHash: 'h' }),
    ).toBeUndefined();
    await other.create(second, [{}]);
    expect(
      await store.claimIdempotencyKey('order-43', { batchId: 'third', bodyHash: 'h' }),
    ).toEqual({
      batchId: second.batchId,
      bodyHash: 'h',
    });
  });

  it('lists newest first with a cursor, ties in the same millisecond included', async () => {
    const own = await newStore();
    const base = Date.parse('2026-01-01T00:00:00.000Z');
    const batches = [0, 1, 1, 1, 2, 3].map((offset) => meta(1, 10, new Date(base + offset)));
    for (const batch of batches) await own.create(batch, [{}]);

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await own.list(2, cursor);
      seen.push(...page.batches.map((entry) => entry.batchId));
      cursor = page.nextCursor ?? undefined;
      pages += 1;
    } while (cursor && pages < 10);

    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(6);
    const created = (id: string): number =>
      Date.parse(batches.find((b) => b.batchId === id)!.createdAt);
    const times = seen.map(created);
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const first = await own.list(1);
    expect(first.batches[0]).toMatchObject({
      actionId: 'act',
      status: 'queued',
      summary: { total: 1, pending: 1, successful: 0 },
    });
    await expect(own.list(2, 'not-a-cursor')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('counts the items of unfinished batches for the intake limit, on every replica', async () => {
    const own = await newStore();
    const a = meta(10);
    const b = meta(5);
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

  it("lists one caller's batches and counts its unfinished items apart from the others'", async () => {
    const own = await newStore();
    const alpha = [meta(3, 10, new Date(), 'alpha'), meta(2, 10, new Date(), 'alpha')];
    const beta = meta(4, 10, new Date(), 'beta');
    for (const batch of [...alpha, beta])
      await own.create(
        batch,
        Array.from({ length: batch.total }, () => ({})),
      );
    expect(await own.unfinishedItemsOf('alpha')).toBe(5);
    expect(await own.unfinishedItemsOf('beta')).toBe(4);
    expect(await own.unfinishedItemsOf('gamma')).toBe(0);

    const alphaPage = await own.list(1, undefined, 'alpha');
    expect(alphaPage.batches.map((entry) => entry.caller)).toEqual(['alpha']);
    const rest = await own.list(10, alphaPage.nextCursor ?? undefined, 'alpha');
    expect([...alphaPage.batches, ...rest.batches].map((entry) => entry.batchId).sort()).toEqual(
      alpha.map((batch) => batch.batchId).sort(),
    );
    expect((await own.list(10)).batches).toHaveLength(3);
    expect(await own.getMeta(beta.batchId)).toMatchObject({ caller: 'beta' });

    await own.markRunning(alpha[0].batchId, new Date().toISOString());
    await own.markFinished(alpha[0].batchId, new Date().toISOString());
    await own.cancel(beta.batchId, new Date().toISOString());
    expect(await own.unfinishedItemsOf('alpha')).toBe(2);
    expect(await own.unfinishedItemsOf('beta')).toBe(0);
    expect(await own.unfinishedItems()).toBe(2);
  });

  it('keeps an unfinished batch, and lets a finished one expire BATCH_RETENTION_SECONDS after it ends', async () => {
    const own = await newStore();
    const running = meta(2);
    const done = meta(2);
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
    await own.markFinished(done.batchId, new Date().toISOString());
    const doneKeys = await keysOf(done.batchId);
    expect(doneKeys.length).toBeGreaterThanOrEqual(6);
    for (const key of doneKeys) expect(await redis.pttl(key)).toBeLessThanOrEqual(1000);
    expect(await redis.pttl(own.keys.idempotency('retained-key'))).toBeLessThanOrEqual(1000);

    await sleep(1300);
    expect(await keysOf(done.batchId)).toEqual([]);
    expect(await redis.exists(own.keys.idempotency('retained-key'))).toBe(0);
    expect(await own.getMeta(done.batchId)).toBeUndefined();
    expect(await own.getMeta(running.batchId)).toBeDefined();
    const listed = await own.list(10);
    expect(listed.batches.map((entry) => entry.batchId)).toEqual([running.batchId]);
  });

  it('answers NOT_READY (503) when Redis cannot be reached, never a raw error', async () => {
    const config = configFor(uniquePrefix('down'), `redis://127.0.0.1:${await freePort()}`);
    const connection = new RedisConnection(config);
    connections.push(connection);
    const down = new RedisBatchStore(connection, config);
    const error = await down.getMeta('any').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: 'NOT_READY' });
    await expect(down.create(meta(1), [{}])).rejects.toMatchObject({ code: 'NOT_READY' });
    await expect(down.ping()).rejects.toThrow(/Redis is not connected/);
  });
});
