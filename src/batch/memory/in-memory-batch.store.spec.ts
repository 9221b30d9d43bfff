import { loadConfig } from '../../config/load-config.js';
import type { BatchMeta } from '../core/batch.types.js';
import { InMemoryBatchStore } from './in-memory-batch.store.js';

// What only the in-memory store has: its sweeper. The behaviour every BatchStore shares is in
// test/contracts/batch-store.contract.ts, run against this store by test/batch-store.contract.e2e-spec.ts.

const config = loadConfig({
  CXONE_SIMULATOR: 'true',
  CXONE_API_URL: 'http://127.0.0.1:9',
  AUTH_DISABLED: 'true',
  BATCH_RETENTION_SECONDS: '60',
});

function meta(batchId: string, total: number): BatchMeta {
  return {
    batchId,
    actionId: 'act',
    caller: 'team-a',
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

/** The claims the store still holds (private: a leak is not visible through the port). */
function claimsHeld(store: InMemoryBatchStore): number {
  return (store as unknown as { idempotency: Map<string, unknown> }).idempotency.size;
}

describe('InMemoryBatchStore', () => {
  let store: InMemoryBatchStore;
  beforeEach(() => {
    store = new InMemoryBatchStore(config);
  });
  afterEach(() => store.onModuleDestroy());

  it('sweeps a finished batch exactly BATCH_RETENTION_SECONDS after it finished, not before, and never an unfinished one', async () => {
    await store.create(meta('done', 1), [{}]);
    await store.create(meta('running', 1), [{}]);
    await store.markRunning('running', new Date().toISOString());
    const finishedAt = Date.now();
    await store.markFinished('done', new Date(finishedAt).toISOString());

    expect(store.sweep(finishedAt + 59_999)).toBe(0);
    expect(await store.getMeta('done')).toBeDefined();
    expect(store.sweep(finishedAt + 60_000)).toBe(1);
    expect(await store.getMeta('done')).toBeUndefined();
    expect(store.sweep(finishedAt + 10 * 86_400_000)).toBe(0);
    expect(await store.getMeta('running')).toBeDefined();
  });

  it('drops idempotency claims with their batch, claimed before it was created as the service does, and claims whose batch never came', async () => {
    const claimedAt = Date.now();
    await store.claimIdempotencyKey('key-done', { batchId: 'done', bodyHash: 'h' });
    await store.create(meta('done', 1), [{}]);
    await store.claimIdempotencyKey('key-running', { batchId: 'running', bodyHash: 'h' });
    await store.create(meta('running', 1), [{}]);
    // Refused after its claim (intake saturated): the batch never comes.
    await store.claimIdempotencyKey('key-never', { batchId: 'never', bodyHash: 'h' });
    await store.markFinished('done', new Date(claimedAt).toISOString());
    expect(claimsHeld(store)).toBe(3);

    // A claim younger than the retention time is kept: its batch may be about to be created.
    store.sweep(claimedAt + 30_000);
    expect(claimsHeld(store)).toBe(3);
    store.sweep(claimedAt + 61_000);
    expect(claimsHeld(store)).toBe(1);
    expect(
      await store.claimIdempotencyKey('key-running', { batchId: 'other', bodyHash: 'h2' }),
    ).toEqual({ batchId: 'running', bodyHash: 'h' });
  });
});
