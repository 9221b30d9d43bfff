import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DomainError } from '../../lib/domain-error.js';
import { loadConfig } from '../../config/load-config.js';
import type { ActionExecutor, ExecuteOptions, ExecuteResult } from './action-executor.js';
import { BatchRunner } from './batch.runner.js';
import type { BatchMeta, BatchOptions } from './batch.types.js';
import { CallbackDispatcher } from '../../callback/core/callback-dispatcher.js';
import { CallbackSigner } from '../../callback/core/callback-signer.js';
import { PinnedHttpTransport } from '../../callback/transport/pinned-http.transport.js';
import { InMemoryCallbackOutbox } from '../memory/in-memory-callback.outbox.js';
import { ConcurrencyGate } from './concurrency-gate.js';
import { InMemoryBatchStore } from '../memory/in-memory-batch.store.js';
import { InMemoryTenantBudget } from '../../tenant/memory/in-memory-tenant-budget.js';

type Behaviour = (payload: { n: number }, options: ExecuteOptions) => Promise<ExecuteResult>;

class ScriptedExecutor implements ActionExecutor {
  inFlight = 0;
  peak = 0;
  readonly started: string[] = [];
  constructor(private readonly behaviour: Behaviour) {}

  async execute(
    _actionId: string,
    payload: unknown,
    options: ExecuteOptions,
  ): Promise<ExecuteResult> {
    // One attempt per item, taking its turn at the gate as the CXone client does.
    const turn = await options.admission?.admit();
    this.inFlight += 1;
    this.peak = Math.max(this.peak, this.inFlight);
    this.started.push(options.requestId);
    try {
      return await this.behaviour(payload as { n: number }, options);
    } finally {
      this.inFlight -= 1;
      turn?.release({ kind: 'success', latencyMs: 1 });
    }
  }
}

const ok = (data: unknown): ExecuteResult => ({ data, cached: false, attempts: 1, latencyMs: 5 });

function setup(behaviour: Behaviour, maxConcurrency = 100) {
  const config = loadConfig({
    CXONE_SIMULATOR: 'true',
    CXONE_API_URL: 'http://127.0.0.1:9',
    AUTH_DISABLED: 'true',
    CXONE_MAX_CONCURRENCY: String(maxConcurrency),
  });
  const outbox = new InMemoryCallbackOutbox();
  const store = new InMemoryBatchStore(config, outbox);
  const executor = new ScriptedExecutor(behaviour);
  const budget = new InMemoryTenantBudget(config);
  const runner = new BatchRunner(
    store,
    executor,
    new ConcurrencyGate(config, budget),
    budget,
    new CallbackDispatcher(
      config,
      outbox,
      new PinnedHttpTransport(config),
      new CallbackSigner(config),
    ),
  );
  return { store, executor, runner, config };
}

let seq = 0;
async function createBatch(
  store: InMemoryBatchStore,
  total: number,
  maxWorkers: number,
  chunkSize = 10,
  tolerance: Pick<BatchOptions, 'toleratedFailurePercent' | 'toleratedFailureCount'> = {},
) {
  const meta: BatchMeta = {
    batchId: `batch-${++seq}`,
    actionId: 'act',
    caller: 'team-a',
    status: 'queued',
    traceId: 'a'.repeat(32),
    traceFlags: '01',
    options: { chunkSize, maxWorkers, timeoutMs: 1000, cacheTtlSeconds: 0, ...tolerance },
    total,
    createdAt: new Date().toISOString(),
    startedAt: null,
    finishedAt: null,
  };
  await store.create(
    meta,
    Array.from({ length: total }, (_, n) => ({ n })),
  );
  return meta.batchId;
}

Logger.overrideLogger(false);

describe('BatchRunner', () => {
  it('runs every item with at most max_workers in flight and completes the batch', async () => {
    const { store, executor, runner } = setup(async (payload) => {
      await sleep(2);
      return ok({ echoed: payload.n });
    });
    const batchId = await createBatch(store, 95, 7, 10);
    await runner.run(batchId);
    expect(executor.peak).toBe(7);
    const summary = await store.summary(batchId);
    expect(summary).toEqual({
      total: 95,
      successful: 95,
      failed: 0,
      degraded: 0,
      cancelled: 0,
      pending: 0,
    });
    const meta = await store.getMeta(batchId);
    expect(meta?.status).toBe('completed');
    expect(meta?.finishedAt).not.toBeNull();
    const page = await store.page(batchId, 90, 10);
    expect(page.items.map((item) => item.index)).toEqual([90, 91, 92, 93, 94]);
    expect(page.items[0].outcome?.data).toEqual({ echoed: 90 });
    expect(new Set(executor.started).size).toBe(95);
    expect(executor.started).toContain(`${batchId}-94`);
  });

  it('merges mixed outcomes by the contract rules and never loses an item', async () => {
    const { store, runner } = setup(async ({ n }) => {
      if (n % 5 === 0)
        throw Object.assign(new DomainError('TIMEOUT', 'timed out'), {
          attempts: 1,
          latencyMs: 100,
        });
      if (n % 5 === 1)
        throw Object.assign(new DomainError('UPSTREAM_5XX', 'upstream 500'), {
          attempts: 4,
          fallback: { data: 'stale' },
        });
      if (n % 5 === 2) throw new DomainError('UPSTREAM_4XX', 'Upstream answered 404');
      if (n % 5 === 3) throw new TypeError('boom');
      return ok(n);
    });
    const batchId = await createBatch(store, 50, 4);
    await runner.run(batchId);
    expect(await store.summary(batchId)).toEqual({
      total: 50,
      successful: 10,
      failed: 20,
      degraded: 20,
      cancelled: 0,
      pending: 0,
    });
    const { items } = await store.page(batchId, 0, 5);
    expect(items[0].outcome).toMatchObject({
      status: 'degraded',
      reason: 'timeout_no_cache',
      data: { error: 'timeout_no_cache' },
    });
    expect(items[1].outcome).toMatchObject({
      status: 'degraded',
      reason: 'upstream_5xx_fallback',
      data: 'stale',
      attempts: 4,
    });
    expect(items[2].outcome).toMatchObject({
      status: 'failed',
      errorCode: 'UPSTREAM_4XX',
      error: 'Upstream answered 404',
    });
    expect(items[3].outcome).toMatchObject({ status: 'failed', errorCode: 'INTERNAL' });
    expect(items[4].outcome).toMatchObject({ status: 'success', data: 4 });
  });

  it('stops scheduling on cancel; calls in flight finish and keep their outcome', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { store, executor, runner } = setup(async ({ n }) => {
      await gate;
      return ok(n);
    });
    const batchId = await createBatch(store, 100, 3);
    const run = runner.run(batchId);
    while (executor.inFlight < 3) await sleep(1);
    await store.cancel(batchId, new Date().toISOString());
    runner.stop(batchId);
    release();
    await run;
    const summary = await store.summary(batchId);
    expect(executor.started).toHaveLength(3);
    expect(summary).toMatchObject({ successful: 3, cancelled: 97, pending: 0 });
    const meta = await store.getMeta(batchId);
    expect(meta?.status).toBe('cancelled');
    expect(meta?.finishedAt).not.toBeNull();
  });

  it('skips items already recorded when a run resumes', async () => {
    const { store, executor, runner } = setup(async ({ n }) => ok(n));
    const batchId = await createBatch(store, 20, 2);
    for (const index of [0, 1, 2, 10, 19]) {
      await store.recordOutcome(batchId, index, {
        status: 'success',
        data: 'earlier',
        attempts: 1,
        latencyMs: 1,
      });
    }
    await runner.run(batchId);
    expect(executor.started).toHaveLength(15);
    expect(executor.started).not.toContain(`${batchId}-10`);
    expect((await store.page(batchId, 10, 1)).items[0].outcome?.data).toBe('earlier');
    expect((await store.summary(batchId)).successful).toBe(20);
  });

  it('lets a small batch through while a large one holds the process-wide limit', async () => {
    const { store, runner } = setup(async ({ n }) => {
      await sleep(3);
      return ok(n);
    }, 4);
    const large = await createBatch(store, 400, 4);
    const small = await createBatch(store, 8, 4);
    const largeRun = runner.run(large);
    await sleep(10);
    await runner.run(small);
    const largeProgress = await store.summary(large);
    expect(largeProgress.pending).toBeGreaterThan(200);
    await largeRun;
    expect((await store.summary(large)).pending).toBe(0);
  });

  describe('tolerated failures', () => {
    const rejectOdd = async ({ n }: { n: number }): Promise<ExecuteResult> => {
      await sleep(1);
      if (n % 2 === 1) throw new DomainError('UPSTREAM_4XX', 'Upstream answered 400');
      return ok(n);
    };

    it('stops once failures pass the count: calls in flight finish, pending items are cancelled', async () => {
      const { store, executor, runner } = setup(rejectOdd);
      const batchId = await createBatch(store, 100, 2, 10, { toleratedFailureCount: 3 });
      await runner.run(batchId);
      const summary = await store.summary(batchId);
      expect(summary.failed).toBeGreaterThanOrEqual(4);
      // Two workers: the call beside the fourth failure may still end failed, no more.
      expect(summary.failed).toBeLessThanOrEqual(5);
      expect(summary.cancelled).toBe(100 - executor.started.length);
      expect(summary.pending).toBe(0);
      expect(executor.started.length).toBeLessThan(12);
      const meta = await store.getMeta(batchId);
      expect(meta).toMatchObject({ status: 'failed', failureReason: 'TOLERATED_FAILURE_EXCEEDED' });
      expect(meta?.finishedAt).not.toBeNull();
    });

    it('stops once failures pass the percentage of the total, and not before', async () => {
      const { store, runner } = setup(rejectOdd);
      const within = await createBatch(store, 20, 1, 10, { toleratedFailurePercent: 50 });
      await runner.run(within);
      expect(await store.getMeta(within)).toMatchObject({ status: 'completed' });
      expect((await store.summary(within)).failed).toBe(10);

      const over = await createBatch(store, 20, 1, 10, { toleratedFailurePercent: 10 });
      await runner.run(over);
      // 10 % of 20 is 2: the third failure (item 5) stops the batch.
      expect(await store.summary(over)).toMatchObject({ failed: 3, successful: 3, cancelled: 14 });
      expect((await store.getMeta(over))?.status).toBe('failed');
    });

    it('does not count degraded items', async () => {
      const { store, runner } = setup(async () => {
        throw Object.assign(new DomainError('TIMEOUT', 'timed out'), { attempts: 1 });
      });
      const batchId = await createBatch(store, 10, 2, 10, { toleratedFailureCount: 0 });
      await runner.run(batchId);
      expect(await store.summary(batchId)).toMatchObject({ degraded: 10, failed: 0 });
      expect((await store.getMeta(batchId))?.status).toBe('completed');
    });
  });

  it('follows a new max_workers while it runs, up and down', async () => {
    const { store, executor, runner } = setup(async ({ n }) => {
      await sleep(5);
      return ok(n);
    });
    const batchId = await createBatch(store, 400, 2, 10);
    const run = runner.run(batchId);
    await sleep(30);
    expect(executor.peak).toBe(2);
    // Raised through the store only, as when another replica took the PATCH: the run polls it.
    await store.retune(batchId, 12);
    for (const deadline = Date.now() + 5000; executor.inFlight < 12 && Date.now() < deadline;)
      await sleep(1);
    expect(executor.inFlight).toBe(12);
    // Lowered in this process: the workers beyond it leave after their call.
    await store.retune(batchId, 3);
    runner.retune(batchId, 3);
    await sleep(20);
    const peakAfter = { value: 0 };
    const probe = setInterval(() => {
      peakAfter.value = Math.max(peakAfter.value, executor.inFlight);
    }, 1);
    await sleep(40);
    clearInterval(probe);
    expect(peakAfter.value).toBeLessThanOrEqual(3);
    await run;
    expect(executor.peak).toBe(12);
    expect((await store.summary(batchId)).successful).toBe(400);
  });

  it('runs only the redriven items again, under their request ids', async () => {
    let failing = true;
    const { store, executor, runner } = setup(async ({ n }) => {
      if (failing && n % 4 === 0) throw new DomainError('UPSTREAM_4XX', 'Upstream answered 409');
      return ok(n);
    });
    const batchId = await createBatch(store, 20, 3);
    await runner.run(batchId);
    expect((await store.summary(batchId)).failed).toBe(5);
    failing = false;
    executor.started.length = 0;
    const redriven = await store.redrive(batchId, ['failed', 'cancelled']);
    expect(redriven).toMatchObject({ redriven: 5, meta: { status: 'queued', redriveCount: 1 } });
    await runner.run(batchId);
    expect(executor.started.sort()).toEqual([0, 4, 8, 12, 16].map((n) => `${batchId}-${n}`).sort());
    expect(await store.summary(batchId)).toMatchObject({ successful: 20, failed: 0, pending: 0 });
    expect(await store.getMeta(batchId)).toMatchObject({ status: 'completed', redriveCount: 1 });
  });
});
