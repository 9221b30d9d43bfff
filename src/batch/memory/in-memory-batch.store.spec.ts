import { loadConfig } from '../../config/load-config.js';
import type { BatchMeta } from '../core/batch.types.js';
import { InMemoryBatchStore } from './in-memory-batch.store.js';

const config = loadConfig({
  CXONE_SIMULATOR: 'true',
  CXONE_API_URL: 'http://127.0.0.1:9',
  AUTH_DISABLED: 'true',
  BATCH_RETENTION_SECONDS: '60',
});

function meta(batchId: string, total: number, caller = 'team-a'): BatchMeta {
  return {
    batchId,
    actionId: 'act',
    caller,
    status: 'queued',
    traceId: 'b'.repeat(32),
    traceFlags: '01',
    options: { chunkSize: 10, maxWorkers: 2, timeoutMs: 1000, cacheTtlSeconds: 0 },
    total,
    createdAt: new Date().toISOString(),
    startedAt: null,
    finishedAt: null,
  };
}

describe('InMemoryBatchStore', () => {
  let store: InMemoryBatchStore;
  beforeEach(() => {
    store = new InMemoryBatchStore(config);
  });
  afterEach(() => store.onModuleDestroy());

  it('drops finished batches and their idempotency keys after the retention time, not before', async () => {
    await store.create(meta('done', 1), [{}]);
    await store.claimIdempotencyKey('key-1', { batchId: 'done', bodyHash: 'h' });
    await store.create(meta('running', 1), [{}]);
    await store.markRunning('running', new Date().toISOString());
    const finishedAt = Date.parse('2026-01-01T00:00:00Z');
    await store.markFinished('done', new Date(finishedAt).toISOString());

    expect(store.sweep(finishedAt + 59_000)).toBe(0);
    expect(await store.getMeta('done')).toBeDefined();
    expect(store.sweep(finishedAt + 60_000)).toBe(1);
    expect(await store.getMeta('done')).toBeUndefined();
    expect(await store.getMeta('running')).toBeDefined();
    expect(
      await store.claimIdempotencyKey('key-1', { batchId: 'new', bodyHash: 'h2' }),
    ).toBeUndefined();
  });

  it('filters a page by status in input order and counts the matches', async () => {
    await store.create(
      meta('mixed', 10),
      Array.from({ length: 10 }, (_, n) => ({ id: n })),
    );
    for (const index of [1, 3, 5, 7]) {
      await store.recordOutcome('mixed', index, {
        status: 'failed',
        errorCode: 'UPSTREAM_4XX',
        attempts: 1,
        latencyMs: 3,
      });
    }
    const failed = await store.page('mixed', 1, 2, 'failed');
    expect(failed.total).toBe(4);
    expect(failed.items.map((item) => item.index)).toEqual([3, 5]);
    expect(failed.items[0].id).toBe(3);
    const pending = await store.page('mixed', 0, 100, 'pending');
    expect(pending.total).toBe(6);
    expect(pending.items.map((item) => item.index)).toEqual([0, 2, 4, 6, 8, 9]);
  });

  it('lets a late real outcome replace cancelled, but never a final one', async () => {
    await store.create(meta('c', 2), [{}, {}]);
    await store.markRunning('c', new Date().toISOString());
    await store.recordOutcome('c', 0, { status: 'success', attempts: 1, latencyMs: 1 });
    await store.cancel('c', new Date().toISOString());
    expect(await store.summary('c')).toMatchObject({ successful: 1, cancelled: 1, pending: 0 });
    await store.recordOutcome('c', 1, { status: 'success', attempts: 1, latencyMs: 1 });
    await store.recordOutcome('c', 0, { status: 'failed', attempts: 1, latencyMs: 1 });
    expect(await store.summary('c')).toMatchObject({
      successful: 2,
      failed: 0,
      cancelled: 0,
      pending: 0,
    });
  });

  it('refuses a cursor it did not issue', async () => {
    await expect(store.list(10, 'not-a-cursor')).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
  });

  it("lists one caller's batches and counts its unfinished items apart from the others'", async () => {
    await store.create(meta('a1', 3, 'alpha'), [{}, {}, {}]);
    await store.create(meta('a2', 2, 'alpha'), [{}, {}]);
    await store.create(meta('b1', 4, 'beta'), [{}, {}, {}, {}]);
    expect(await store.unfinishedItemsOf('alpha')).toBe(5);
    expect(await store.unfinishedItemsOf('beta')).toBe(4);

    const first = await store.list(1, undefined, 'alpha');
    expect(first.batches.map((entry) => [entry.batchId, entry.caller])).toEqual([['a2', 'alpha']]);
    const rest = await store.list(10, first.nextCursor ?? undefined, 'alpha');
    expect(rest.batches.map((entry) => entry.batchId)).toEqual(['a1']);
    expect((await store.list(10)).batches.map((entry) => entry.batchId)).toEqual([
      'b1',
      'a2',
      'a1',
    ]);

    await store.markRunning('a1', new Date().toISOString());
    await store.markFinished('a1', new Date().toISOString());
    await store.markFinished('a1', new Date().toISOString());
    await store.cancel('b1', new Date().toISOString());
    expect(await store.unfinishedItemsOf('alpha')).toBe(2);
    expect(await store.unfinishedItemsOf('beta')).toBe(0);
  });
});
