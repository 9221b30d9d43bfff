import { Logger } from '@nestjs/common';
import type { BatchStore } from '../src/batch/core/batch.store.js';
import type { BatchMeta, ItemOutcome } from '../src/batch/core/batch.types.js';
import { InMemoryBatchStore } from '../src/batch/memory/in-memory-batch.store.js';
import { RedisBatchStore } from '../src/batch/redis/redis-batch.store.js';
import { SqliteBatchStore } from '../src/batch/sqlite/sqlite-batch.store.js';
import { SqliteDatabase } from '../src/batch/sqlite/sqlite-database.js';
import { loadConfig } from '../src/config/load-config.js';
import { RedisConnection } from '../src/redis/redis.connection.js';
import { temporaryDataDir } from './helpers/data-dir.js';
import { describeWithRedis, redisTestSpace } from './helpers/redis.js';

// Steering a batch (retune, failing it on its tolerance, redrive), case for case on every
// BatchStore adapter. A new adapter runs these by adding one describe block at the end.

let seq = 0;
function meta(total: number): BatchMeta {
  seq += 1;
  return {
    batchId: `steer-${seq}-${Math.random().toString(16).slice(2, 8)}`,
    actionId: 'act',
    caller: 'team-a',
    status: 'queued',
    traceId: 'c'.repeat(32),
    traceFlags: '01',
    options: { chunkSize: 4, maxWorkers: 2, timeoutMs: 1000, cacheTtlSeconds: 0 },
    total,
    createdAt: new Date().toISOString(),
    startedAt: null,
    finishedAt: null,
  };
}

const outcome = (status: ItemOutcome['status']): ItemOutcome =>
  status === 'success'
    ? { status, data: { ok: true }, cached: false, attempts: 1, latencyMs: 5 }
    : status === 'degraded'
      ? {
          status,
          data: { error: 'timeout_no_cache' },
          reason: 'timeout_no_cache',
          attempts: 1,
          latencyMs: 9,
        }
      : { status, error: 'nope', errorCode: 'UPSTREAM_4XX', attempts: 1, latencyMs: 3 };

/** A batch of 10 items that ran and ended: 0-2 success, 3-5 failed, 6-7 degraded, 8-9 cancelled. */
async function endedBatch(store: BatchStore): Promise<BatchMeta> {
  const batch = meta(10);
  await store.create(
    batch,
    Array.from({ length: 10 }, (_, n) => ({ id: `p${n}`, n })),
  );
  await store.markRunning(batch.batchId, new Date().toISOString());
  for (const index of [0, 1, 2])
    await store.recordOutcome(batch.batchId, index, outcome('success'));
  for (const index of [3, 4, 5]) await store.recordOutcome(batch.batchId, index, outcome('failed'));
  for (const index of [6, 7]) await store.recordOutcome(batch.batchId, index, outcome('degraded'));
  const failed = await store.markFailed(
    batch.batchId,
    'TOLERATED_FAILURE_EXCEEDED',
    new Date().toISOString(),
  );
  expect(failed).toMatchObject({ status: 'failed', failureReason: 'TOLERATED_FAILURE_EXCEEDED' });
  return batch;
}

function steeringCases(storeOf: () => BatchStore): void {
  it('retunes max_workers of an unfinished batch only', async () => {
    const store = storeOf();
    const batch = meta(2);
    await store.create(batch, [{}, {}]);
    expect((await store.retune(batch.batchId, 7))?.options.maxWorkers).toBe(7);
    expect((await store.getMeta(batch.batchId))?.options).toMatchObject({
      maxWorkers: 7,
      chunkSize: 4,
    });
    await store.markRunning(batch.batchId, new Date().toISOString());
    expect((await store.retune(batch.batchId, 3))?.options.maxWorkers).toBe(3);
    await store.recordOutcome(batch.batchId, 0, outcome('success'));
    await store.recordOutcome(batch.batchId, 1, outcome('success'));
    await store.markFinished(batch.batchId, new Date().toISOString());
    expect(await store.retune(batch.batchId, 9)).toBeUndefined();
    expect((await store.getMeta(batch.batchId))?.options.maxWorkers).toBe(3);
    expect(await store.retune('no-such-batch', 9)).toBeUndefined();
  });

  it('fails a running batch: pending items cancelled, finished, and it stays failed', async () => {
    const store = storeOf();
    const batch = await endedBatch(store);
    const { batchId } = batch;
    const ended = await store.getMeta(batchId);
    expect(ended?.finishedAt).not.toBeNull();
    expect(await store.summary(batchId)).toEqual({
      total: 10,
      successful: 3,
      failed: 3,
      degraded: 2,
      cancelled: 2,
      pending: 0,
    });
    const page = await store.page(batchId, 0, 10);
    expect(page.items.map((item) => item.outcome?.status)).toEqual([
      'success',
      'success',
      'success',
      'failed',
      'failed',
      'failed',
      'degraded',
      'degraded',
      'cancelled',
      'cancelled',
    ]);
    expect((await store.page(batchId, 0, 10, 'cancelled')).total).toBe(2);
    // Nothing ends it again or differently.
    expect(await store.markFailed(batchId, 'TOLERATED_FAILURE_EXCEEDED', 'x')).toBeUndefined();
    expect(await store.cancel(batchId, new Date().toISOString())).toBeUndefined();
    expect(await store.markRunning(batchId, new Date().toISOString())).toBe(false);
    expect((await store.markFinished(batchId, new Date().toISOString()))?.status).toBe('failed');
    const [entry] = (await store.list(100)).batches.filter((b) => b.batchId === batchId);
    expect(entry.status).toBe('failed');
  });

  it('does not fail a cancelled batch', async () => {
    const store = storeOf();
    const batch = meta(3);
    await store.create(batch, [{}, {}, {}]);
    await store.markRunning(batch.batchId, new Date().toISOString());
    await store.cancel(batch.batchId, new Date().toISOString());
    expect(
      await store.markFailed(batch.batchId, 'TOLERATED_FAILURE_EXCEEDED', new Date().toISOString()),
    ).toBeUndefined();
    expect((await store.getMeta(batch.batchId))?.status).toBe('cancelled');
  });

  it('redrives the chosen outcomes only: back to pending, the batch queued again', async () => {
    const store = storeOf();
    const { batchId } = await endedBatch(store);
    const result = await store.redrive(batchId, ['failed', 'cancelled']);
    expect(result).toMatchObject({
      redriven: 5,
      meta: { status: 'queued', startedAt: null, finishedAt: null, redriveCount: 1 },
    });
    const meta1 = await store.getMeta(batchId);
    expect(meta1?.failureReason).toBeUndefined();
    expect(meta1?.redriveCount).toBe(1);
    expect(await store.summary(batchId)).toEqual({
      total: 10,
      successful: 3,
      failed: 0,
      degraded: 2,
      cancelled: 0,
      pending: 5,
    });
    expect(await store.recordedIn(batchId, 0, 10)).toEqual([
      true,
      true,
      true,
      false,
      false,
      false,
      true,
      true,
      false,
      false,
    ]);
    const pending = await store.page(batchId, 0, 10, 'pending');
    expect(pending.items.map((item) => item.index)).toEqual([3, 4, 5, 8, 9]);
    const all = await store.page(batchId, 0, 10);
    expect(all.items.map((item) => item.outcome?.status)).toEqual([
      'success',
      'success',
      'success',
      undefined,
      undefined,
      undefined,
      'degraded',
      'degraded',
      undefined,
      undefined,
    ]);
    expect(await store.getPayloads(batchId, 3, 6)).toEqual([
      { id: 'p3', n: 3 },
      { id: 'p4', n: 4 },
      { id: 'p5', n: 5 },
    ]);

    // Unfinished now: refused until it has run again.
    expect(await store.redrive(batchId, ['degraded'])).toEqual({ refused: 'unfinished' });
    expect(await store.markRunning(batchId, new Date().toISOString())).toBe(true);
    for (const index of [3, 4, 5, 8, 9])
      await store.recordOutcome(batchId, index, outcome('success'));
    const finished = await store.markFinished(batchId, new Date().toISOString());
    expect(finished).toMatchObject({ status: 'completed', redriveCount: 1 });

    expect(await store.redrive(batchId, ['failed', 'cancelled'])).toEqual({ refused: 'no-match' });
    const again = await store.redrive(batchId, ['degraded']);
    expect(again).toMatchObject({ redriven: 2, meta: { redriveCount: 2 } });
    expect(await store.summary(batchId)).toMatchObject({ successful: 8, degraded: 0, pending: 2 });
    expect(await store.redrive('no-such-batch', ['failed'])).toEqual({ refused: 'unknown' });
  });

  it('keeps the cancelled items of a partial redrive cancelled', async () => {
    const store = storeOf();
    const { batchId } = await endedBatch(store);
    await store.redrive(batchId, ['failed']);
    const page = await store.page(batchId, 0, 10);
    expect(page.items.map((item) => item.outcome?.status ?? 'pending')).toEqual([
      'success',
      'success',
      'success',
      'pending',
      'pending',
      'pending',
      'degraded',
      'degraded',
      'cancelled',
      'cancelled',
    ]);
    // Cancelling the redriven batch while queued cancels the redriven items too and ends it.
    const cancelled = await store.cancel(batchId, new Date().toISOString());
    expect(cancelled?.finishedAt).not.toBeNull();
    expect(await store.summary(batchId)).toMatchObject({ cancelled: 5, pending: 0 });
  });
}

beforeAll(() => Logger.overrideLogger(false));

describe('InMemoryBatchStore: steering', () => {
  const config = loadConfig({
    CXONE_SIMULATOR: 'true',
    CXONE_API_URL: 'http://127.0.0.1:9',
    AUTH_DISABLED: 'true',
  });
  const store = new InMemoryBatchStore(config);
  afterAll(() => store.onModuleDestroy());
  steeringCases(() => store);
});

describe('SqliteBatchStore: steering (a real file)', () => {
  const config = loadConfig({
    CXONE_SIMULATOR: 'true',
    CXONE_API_URL: 'http://127.0.0.1:9',
    AUTH_DISABLED: 'true',
  });
  const store = new SqliteBatchStore(SqliteDatabase.open(temporaryDataDir()), config);
  afterAll(() => {
    store.onModuleDestroy();
    store.onApplicationShutdown();
  });
  steeringCases(() => store);

  it('counts a redriven batch as unfinished again, for its caller too', async () => {
    const { batchId } = await endedBatch(store);
    const before = store.unfinishedItems();
    const callerBefore = await store.unfinishedItemsOf('team-a');
    await store.redrive(batchId, ['cancelled']);
    expect(store.unfinishedItems()).toBe(before + 10);
    expect(await store.unfinishedItemsOf('team-a')).toBe(callerBefore + 10);
    expect(store.unfinishedBatchIds()).toContain(batchId);
  });
});

const describeRedis = await describeWithRedis();

describeRedis('RedisBatchStore: steering (real Redis)', () => {
  const space = redisTestSpace('steer-store');
  const connection = new RedisConnection(space.config);
  const store = new RedisBatchStore(connection, space.config);
  beforeAll(() => connection.onModuleInit());
  afterAll(async () => {
    await space.deleteKeys();
    await connection.onApplicationShutdown();
  });
  steeringCases(() => store);

  it('gives a redriven batch back its unfinished lifetime and intake count', async () => {
    const { batchId } = await endedBatch(store);
    const before = await store.unfinishedItems();
    await store.redrive(batchId, ['cancelled']);
    expect(await store.unfinishedItems()).toBe(before + 10);
    const unfinished = await store.unfinishedBefore(Date.now() + 1000, 1000);
    expect(unfinished).toContainEqual({ batchId, total: 10, caller: 'team-a' });
    const ttl = await connection.client.ttl(store.keys.of(batchId).meta);
    expect(ttl).toBeGreaterThan(86400);
  });
});
