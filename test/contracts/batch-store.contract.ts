import type { BatchStore } from '../../src/batch/core/batch.store.js';
import type { BatchMeta, ItemOutcome } from '../../src/batch/core/batch.types.js';

/**
 * The behaviour every `BatchStore` shares, run against each implementation (as BullMQ runs one
 * adapter conformance suite against each client). What only one adapter has (Redis key layout
 * and TTLs, the in-memory sweeper's timing) stays in that adapter's own spec.
 */

/** A store with nothing in it, and how to make its retention time pass. */
export interface OpenedBatchStore {
  store: BatchStore;
  /**
   * Lets BATCH_RETENTION_SECONDS pass for every batch finished before the call: a sweep at a
   * later clock, or waiting out a short retention the store was opened with.
   */
  passRetention(): Promise<void>;
  close(): Promise<void>;
}

export type OpenBatchStore = () => Promise<OpenedBatchStore>;

let sequence = 0;

/** A queued batch's meta; ids differ per call, so stores opened on one backend never meet. */
export function batchMeta(total: number, overrides: Partial<BatchMeta> = {}): BatchMeta {
  sequence += 1;
  return {
    batchId: `contract-${sequence}-${Math.random().toString(16).slice(2, 10)}`,
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
    ...overrides,
  };
}

const success = (latencyMs = 10): ItemOutcome => ({
  status: 'success',
  data: { ok: true, latencyMs },
  cached: false,
  attempts: 1,
  latencyMs,
});
const failed: ItemOutcome = {
  status: 'failed',
  error: 'CXone answered 404',
  errorCode: 'UPSTREAM_4XX',
  attempts: 2,
  latencyMs: 3,
};
const degraded: ItemOutcome = {
  status: 'degraded',
  data: { error: 'timeout_no_cache' },
  reason: 'timeout_no_cache',
  errorCode: 'TIMEOUT',
  attempts: 1,
  latencyMs: 7,
};
const cachedSuccess: ItemOutcome = {
  status: 'success',
  data: { ok: true },
  cached: true,
  attempts: 0,
  latencyMs: 5000,
};

const now = (): string => new Date().toISOString();
const emptyObjects = (n: number): Record<string, unknown>[] =>
  Array.from({ length: n }, () => ({}));

export function describeBatchStoreContract(
  name: string,
  open: OpenBatchStore,
  describeFn: jest.Describe = describe,
): void {
  describeFn(`BatchStore contract: ${name}`, () => {
    let opened: OpenedBatchStore;
    let store: BatchStore;
    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(async () => {
      await opened.close();
    });

    describe('create and getMeta', () => {
      it('returns a created batch as stored, optional trace fields and callback included; undefined for an unknown id', async () => {
        const meta = batchMeta(2, {
          parentSpanId: 'c'.repeat(16),
          traceState: 'vendor=value',
          options: {
            chunkSize: 7,
            maxWorkers: 3,
            timeoutMs: 2500,
            cacheTtlSeconds: 60,
            callbackUrl: 'https://hooks.example.com/done',
          },
        });
        await store.create(meta, [{ id: 'a' }, { id: 'b' }]);
        expect(await store.getMeta(meta.batchId)).toEqual(meta);
        expect(await store.getMeta('no-such-batch')).toBeUndefined();
      });

      it('keeps its own copy: changing the meta passed to create or one it returned changes nothing stored', async () => {
        const meta = batchMeta(1);
        await store.create(meta, [{}]);
        meta.status = 'running';
        const returned = (await store.getMeta(meta.batchId))!;
        returned.status = 'completed';
        returned.finishedAt = now();
        expect(await store.getMeta(meta.batchId)).toMatchObject({
          status: 'queued',
          finishedAt: null,
        });
      });
    });

    describe('payloads and item ids', () => {
      it('reads payloads of any range in input order, across chunks; an empty range is empty, the end is clamped', async () => {
        const meta = batchMeta(25);
        const payloads = Array.from({ length: 25 }, (_, n) => ({ id: `p${n}`, n }));
        await store.create(meta, payloads);
        expect(await store.getPayloads(meta.batchId, 0, 10)).toEqual(payloads.slice(0, 10));
        expect(await store.getPayloads(meta.batchId, 8, 23)).toEqual(payloads.slice(8, 23));
        expect(await store.getPayloads(meta.batchId, 20, 25)).toEqual(payloads.slice(20, 25));
        expect(await store.getPayloads(meta.batchId, 5, 5)).toEqual([]);
        expect(await store.getPayloads(meta.batchId, 24, 40)).toEqual(payloads.slice(24));
      });

      it("gives each item its payload's own id when it is a string or a finite number, else its index as a string", async () => {
        const meta = batchMeta(6);
        await store.create(meta, [
          { id: 'c-1' },
          { id: 10 },
          { n: 2 },
          { id: true },
          { id: null },
          { id: { nested: 1 } },
        ]);
        const page = await store.page(meta.batchId, 0, 10);
        expect(page.items.map((item) => item.id)).toEqual(['c-1', 10, '2', '3', '4', '5']);
        expect(page.items.map((item) => item.index)).toEqual([0, 1, 2, 3, 4, 5]);
      });

      it('holds a large batch: every payload back in order, a page by index near its end, a status page by rank', async () => {
        const meta = batchMeta(20_000, {
          options: { chunkSize: 1000, maxWorkers: 2, timeoutMs: 1000, cacheTtlSeconds: 0 },
        });
        const payloads = Array.from({ length: 20_000 }, (_, n) => ({ n }));
        await store.create(meta, payloads);
        expect(await store.getPayloads(meta.batchId, 0, 20_000)).toEqual(payloads);
        await store.recordOutcome(meta.batchId, 19_995, success());

        const tail = await store.page(meta.batchId, 19_990, 10);
        expect(tail.total).toBe(20_000);
        expect(tail.items.map((item) => item.index)).toEqual(
          Array.from({ length: 10 }, (_, n) => 19_990 + n),
        );
        expect(tail.items[5].outcome?.status).toBe('success');
        const pending = await store.page(meta.batchId, 19_990, 10, 'pending');
        expect(pending.total).toBe(19_999);
        expect(pending.items.map((item) => item.index)).toEqual([
          19_990, 19_991, 19_992, 19_993, 19_994, 19_996, 19_997, 19_998, 19_999,
        ]);
      });
    });

    describe('outcomes', () => {
      it('starts every item pending: the summary counts them all, nothing is recorded', async () => {
        const meta = batchMeta(4);
        await store.create(meta, emptyObjects(4));
        expect(await store.summary(meta.batchId)).toEqual({
          total: 4,
          successful: 0,
          failed: 0,
          degraded: 0,
          cancelled: 0,
          pending: 4,
        });
        expect(await store.recordedIn(meta.batchId, 0, 4)).toEqual([false, false, false, false]);
        expect(await store.recordedIn(meta.batchId, 2, 2)).toEqual([]);
        expect(await store.latency(meta.batchId)).toEqual({ p50: 0, p95: 0, max: 0 });
        const page = await store.page(meta.batchId, 0, 10);
        expect(page.items.every((item) => item.outcome === undefined)).toBe(true);
      });

      it("records an item's first outcome with its counters; a second outcome for it changes nothing", async () => {
        const meta = batchMeta(4);
        await store.create(meta, emptyObjects(4));
        await store.recordOutcome(meta.batchId, 0, success(12));
        await store.recordOutcome(meta.batchId, 0, failed);
        await store.recordOutcome(meta.batchId, 1, failed);
        await store.recordOutcome(meta.batchId, 3, degraded);
        await store.recordOutcome(meta.batchId, 3, success());

        expect(await store.summary(meta.batchId)).toEqual({
          total: 4,
          successful: 1,
          failed: 1,
          degraded: 1,
          cancelled: 0,
          pending: 1,
        });
        expect(await store.recordedIn(meta.batchId, 0, 4)).toEqual([true, true, false, true]);
        expect(await store.recordedIn(meta.batchId, 1, 3)).toEqual([true, false]);
        const page = await store.page(meta.batchId, 0, 10);
        expect(page.items.map((item) => item.outcome)).toEqual([
          success(12),
          failed,
          undefined,
          degraded,
        ]);
      });

      it('ignores an outcome for an index outside the batch, or for a batch it does not hold', async () => {
        const meta = batchMeta(2);
        await store.create(meta, emptyObjects(2));
        await store.recordOutcome(meta.batchId, 2, success());
        await store.recordOutcome(meta.batchId, -1, success());
        await store.recordOutcome('no-such-batch', 0, success());
        expect(await store.summary(meta.batchId)).toMatchObject({
          total: 2,
          successful: 0,
          pending: 2,
        });
        const page = await store.page(meta.batchId, 0, 10);
        expect(page.items.map((item) => item.index)).toEqual([0, 1]);
        expect((await store.page(meta.batchId, 0, 10, 'success')).total).toBe(0);
        expect(await store.getMeta('no-such-batch')).toBeUndefined();
      });

      it('summarises the latency of outcomes that made a call: p50 and p95 within 5 % above the true value, max exact', async () => {
        const meta = batchMeta(12);
        await store.create(meta, emptyObjects(12));
        // 10, 20, …, 100 ms from calls that were made (failed ones too); a cached result made none.
        for (let n = 1; n <= 10; n++) {
          const outcome = n % 4 === 0 ? { ...failed, latencyMs: n * 10 } : success(n * 10);
          await store.recordOutcome(meta.batchId, n - 1, outcome);
        }
        await store.recordOutcome(meta.batchId, 10, cachedSuccess);

        const latency = await store.latency(meta.batchId);
        expect(latency.max).toBe(100);
        expect(latency.p50).toBeGreaterThanOrEqual(50);
        expect(latency.p50).toBeLessThanOrEqual(52.5);
        expect(latency.p95).toBe(100);
      });
    });

    describe('page', () => {
      it('pages items in input order; an offset past the end gives no items and the total', async () => {
        const meta = batchMeta(7);
        await store.create(
          meta,
          Array.from({ length: 7 }, (_, n) => ({ id: `i${n}` })),
        );
        const middle = await store.page(meta.batchId, 2, 3);
        expect(middle).toEqual({
          total: 7,
          items: [
            { index: 2, id: 'i2', outcome: undefined },
            { index: 3, id: 'i3', outcome: undefined },
            { index: 4, id: 'i4', outcome: undefined },
          ],
        });
        expect((await store.page(meta.batchId, 5, 10)).items.map((item) => item.index)).toEqual([
          5, 6,
        ]);
        expect(await store.page(meta.batchId, 7, 10)).toEqual({ items: [], total: 7 });
        expect(await store.page(meta.batchId, 100, 10)).toEqual({ items: [], total: 7 });
      });

      it('filters a page by status in input order and counts the matches, pending included', async () => {
        const meta = batchMeta(10);
        await store.create(
          meta,
          Array.from({ length: 10 }, (_, n) => ({ id: n })),
        );
        for (const index of [1, 3, 5, 7]) await store.recordOutcome(meta.batchId, index, failed);
        await store.recordOutcome(meta.batchId, 8, success());

        const failures = await store.page(meta.batchId, 1, 2, 'failed');
        expect(failures.total).toBe(4);
        expect(failures.items).toEqual([
          { index: 3, id: 3, outcome: failed },
          { index: 5, id: 5, outcome: failed },
        ]);
        const pending = await store.page(meta.batchId, 0, 100, 'pending');
        expect(pending.total).toBe(5);
        expect(pending.items.map((item) => item.index)).toEqual([0, 2, 4, 6, 9]);
        expect(pending.items.every((item) => item.outcome === undefined)).toBe(true);
        expect(await store.page(meta.batchId, 0, 10, 'degraded')).toEqual({ items: [], total: 0 });
        expect(await store.page(meta.batchId, 4, 10, 'failed')).toEqual({ items: [], total: 4 });
        expect((await store.page(meta.batchId, 0, 10, 'success')).items).toEqual([
          { index: 8, id: 8, outcome: success() },
        ]);
      });
    });

    describe('lifecycle', () => {
      it('markRunning: queued → running, startedAt stamped once; false for a batch it does not hold', async () => {
        const meta = batchMeta(1);
        await store.create(meta, [{}]);
        expect(await store.markRunning(meta.batchId, '2026-01-01T00:00:00.000Z')).toBe(true);
        // A second run (after a crash, on another replica) keeps the first start.
        expect(await store.markRunning(meta.batchId, '2026-01-01T00:05:00.000Z')).toBe(true);
        expect(await store.getMeta(meta.batchId)).toMatchObject({
          status: 'running',
          startedAt: '2026-01-01T00:00:00.000Z',
          finishedAt: null,
        });
        expect(await store.markRunning('no-such-batch', now())).toBe(false);
      });

      it('markFinished: completed, finishedAt stamped once, no longer runnable; undefined for a batch it does not hold', async () => {
        const meta = batchMeta(1);
        await store.create(meta, [{}]);
        await store.markRunning(meta.batchId, now());
        await store.recordOutcome(meta.batchId, 0, success());
        const finished = await store.markFinished(meta.batchId, '2026-01-01T00:10:00.000Z');
        expect(finished).toMatchObject({
          batchId: meta.batchId,
          status: 'completed',
          finishedAt: '2026-01-01T00:10:00.000Z',
        });
        expect(await store.markFinished(meta.batchId, '2026-01-01T00:20:00.000Z')).toMatchObject({
          status: 'completed',
          finishedAt: '2026-01-01T00:10:00.000Z',
        });
        expect(await store.getMeta(meta.batchId)).toEqual(finished);
        expect(await store.markRunning(meta.batchId, now())).toBe(false);
        expect(await store.markFinished('no-such-batch', now())).toBeUndefined();
      });

      it('cancel of a running batch: pending items become cancelled, the batch is cancelled but not finished until markFinished', async () => {
        const meta = batchMeta(3);
        await store.create(meta, emptyObjects(3));
        await store.markRunning(meta.batchId, now());
        await store.recordOutcome(meta.batchId, 0, success());

        const cancelled = await store.cancel(meta.batchId, now());
        expect(cancelled).toMatchObject({
          batchId: meta.batchId,
          status: 'cancelled',
          finishedAt: null,
        });
        expect(await store.getMeta(meta.batchId)).toEqual(cancelled);
        expect(await store.summary(meta.batchId)).toEqual({
          total: 3,
          successful: 1,
          failed: 0,
          degraded: 0,
          cancelled: 2,
          pending: 0,
        });
        expect(await store.recordedIn(meta.batchId, 0, 3)).toEqual([true, true, true]);
        const page = await store.page(meta.batchId, 0, 10);
        expect(page.items.map((item) => item.outcome?.status)).toEqual([
          'success',
          'cancelled',
          'cancelled',
        ]);
        expect(page.items[1].outcome).toMatchObject({ errorCode: 'CANCELLED', attempts: 0 });
        const byStatus = await store.page(meta.batchId, 0, 10, 'cancelled');
        expect(byStatus.total).toBe(2);
        expect(byStatus.items.map((item) => [item.index, item.outcome?.errorCode])).toEqual([
          [1, 'CANCELLED'],
          [2, 'CANCELLED'],
        ]);
        expect(await store.page(meta.batchId, 0, 10, 'pending')).toEqual({ items: [], total: 0 });

        expect(await store.cancel(meta.batchId, now())).toBeUndefined();
        expect(await store.markRunning(meta.batchId, now())).toBe(false);
        const finished = await store.markFinished(meta.batchId, '2026-01-01T00:30:00.000Z');
        expect(finished).toMatchObject({
          status: 'cancelled',
          finishedAt: '2026-01-01T00:30:00.000Z',
        });
      });

      it('lets a late real outcome replace cancelled (a call in flight at the cancel), but never a final one', async () => {
        const meta = batchMeta(3);
        await store.create(meta, emptyObjects(3));
        await store.markRunning(meta.batchId, now());
        await store.recordOutcome(meta.batchId, 0, success());
        await store.cancel(meta.batchId, now());

        await store.recordOutcome(meta.batchId, 1, failed);
        await store.recordOutcome(meta.batchId, 1, success());
        await store.recordOutcome(meta.batchId, 0, failed);
        expect(await store.summary(meta.batchId)).toEqual({
          total: 3,
          successful: 1,
          failed: 1,
          degraded: 0,
          cancelled: 1,
          pending: 0,
        });
        expect(
          (await store.page(meta.batchId, 0, 10, 'cancelled')).items.map((i) => i.index),
        ).toEqual([2]);
        expect((await store.page(meta.batchId, 0, 10, 'failed')).items).toEqual([
          { index: 1, id: '1', outcome: failed },
        ]);
        expect(await store.recordedIn(meta.batchId, 0, 3)).toEqual([true, true, true]);
      });

      it('cancel of a queued batch finishes it at once; a completed one, a cancelled one or an unknown one cannot be cancelled', async () => {
        const queued = batchMeta(2);
        await store.create(queued, emptyObjects(2));
        expect(await store.cancel(queued.batchId, '2026-01-01T00:00:00.000Z')).toMatchObject({
          status: 'cancelled',
          startedAt: null,
          finishedAt: '2026-01-01T00:00:00.000Z',
        });
        expect(await store.summary(queued.batchId)).toMatchObject({ cancelled: 2, pending: 0 });
        expect(await store.cancel(queued.batchId, now())).toBeUndefined();
        expect(await store.markRunning(queued.batchId, now())).toBe(false);

        const done = batchMeta(1);
        await store.create(done, [{}]);
        await store.markRunning(done.batchId, now());
        await store.recordOutcome(done.batchId, 0, success());
        await store.markFinished(done.batchId, now());
        expect(await store.cancel(done.batchId, now())).toBeUndefined();
        expect(await store.getMeta(done.batchId)).toMatchObject({ status: 'completed' });
        expect(await store.summary(done.batchId)).toMatchObject({ successful: 1, cancelled: 0 });

        expect(await store.cancel('no-such-batch', now())).toBeUndefined();
      });
    });

    describe('idempotency keys', () => {
      it('the first claim of a key wins; a later claim gets the earlier record while its batch exists', async () => {
        const first = batchMeta(1);
        // As the service does it: the key is claimed first, the batch created after.
        expect(
          await store.claimIdempotencyKey('order-42', { batchId: first.batchId, bodyHash: 'h1' }),
        ).toBeUndefined();
        await store.create(first, [{}]);
        expect(
          await store.claimIdempotencyKey('order-42', { batchId: 'another', bodyHash: 'h2' }),
        ).toEqual({ batchId: first.batchId, bodyHash: 'h1' });
        expect(
          await store.claimIdempotencyKey('order-43', { batchId: 'third', bodyHash: 'h1' }),
        ).toBeUndefined();
      });

      it('treats a claim whose batch was never created as free', async () => {
        expect(
          await store.claimIdempotencyKey('order-44', { batchId: 'never-created', bodyHash: 'h' }),
        ).toBeUndefined();
        const second = batchMeta(1);
        expect(
          await store.claimIdempotencyKey('order-44', { batchId: second.batchId, bodyHash: 'h2' }),
        ).toBeUndefined();
        await store.create(second, [{}]);
        expect(
          await store.claimIdempotencyKey('order-44', { batchId: 'later', bodyHash: 'h3' }),
        ).toEqual({ batchId: second.batchId, bodyHash: 'h2' });
      });
    });

    describe('list', () => {
      it('lists nothing when it holds nothing', async () => {
        expect(await store.list(10)).toEqual({ batches: [], nextCursor: null });
      });

      it('lists newest first in pages with a cursor: each batch once, ties in one millisecond included, no cursor after the last page', async () => {
        const base = Date.parse('2026-01-01T00:00:00.000Z');
        const batches = [0, 1, 1, 1, 2, 3].map((offset) =>
          batchMeta(1, { createdAt: new Date(base + offset).toISOString() }),
        );
        for (const batch of batches) await store.create(batch, [{}]);

        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.list(2, cursor);
          expect(page.batches.length).toBe(2);
          seen.push(...page.batches.map((entry) => entry.batchId));
          cursor = page.nextCursor ?? undefined;
          pages += 1;
        } while (cursor !== undefined && pages < 10);

        expect(pages).toBe(3);
        expect([...seen].sort()).toEqual(batches.map((b) => b.batchId).sort());
        const createdOf = (id: string): number =>
          Date.parse(batches.find((b) => b.batchId === id)!.createdAt);
        const times = seen.map(createdOf);
        expect(times).toEqual([...times].sort((a, b) => b - a));
        expect(seen[0]).toBe(batches[5].batchId);
        expect(seen[5]).toBe(batches[0].batchId);
        expect((await store.list(6)).nextCursor).toBeNull();
      });

      it('keeps a cursor stable: a batch created after the first page does not shift the next ones', async () => {
        const base = Date.now() - 60_000;
        const batches = [0, 1, 2, 3].map((offset) =>
          batchMeta(1, { createdAt: new Date(base + offset).toISOString() }),
        );
        for (const batch of batches) await store.create(batch, [{}]);
        const first = await store.list(2);
        expect(first.batches.map((b) => b.batchId)).toEqual([
          batches[3].batchId,
          batches[2].batchId,
        ]);
        const newer = batchMeta(1);
        await store.create(newer, [{}]);
        const second = await store.list(2, first.nextCursor!);
        expect(second.batches.map((b) => b.batchId)).toEqual([
          batches[1].batchId,
          batches[0].batchId,
        ]);
        expect(second.nextCursor).toBeNull();
        expect((await store.list(1)).batches[0].batchId).toBe(newer.batchId);
      });

      it('gives each entry its action, caller, status, creation time and current summary', async () => {
        const meta = batchMeta(3, {
          actionId: 'lookup',
          caller: 'billing',
          createdAt: '2026-01-01T00:00:00.000Z',
        });
        await store.create(meta, emptyObjects(3));
        expect((await store.list(1)).batches).toEqual([
          {
            batchId: meta.batchId,
            actionId: 'lookup',
            caller: 'billing',
            status: 'queued',
            createdAt: '2026-01-01T00:00:00.000Z',
            summary: { total: 3, successful: 0, failed: 0, degraded: 0, cancelled: 0, pending: 3 },
          },
        ]);
        await store.markRunning(meta.batchId, now());
        await store.recordOutcome(meta.batchId, 1, failed);
        await store.cancel(meta.batchId, now());
        expect((await store.list(1)).batches[0]).toMatchObject({
          status: 'cancelled',
          summary: { total: 3, successful: 0, failed: 1, degraded: 0, cancelled: 2, pending: 0 },
        });
      });

      it("lists one caller's batches, newest first, in pages with a cursor of their own", async () => {
        const alpha = [0, 1, 2].map((n) =>
          batchMeta(1, { caller: 'alpha', createdAt: new Date(Date.now() + n).toISOString() }),
        );
        const beta = batchMeta(1, { caller: 'beta' });
        for (const meta of [alpha[0], beta, alpha[1], alpha[2]]) await store.create(meta, [{}]);

        const first = await store.list(2, undefined, 'alpha');
        expect(first.batches.map((entry) => [entry.batchId, entry.caller])).toEqual([
          [alpha[2].batchId, 'alpha'],
          [alpha[1].batchId, 'alpha'],
        ]);
        const second = await store.list(2, first.nextCursor ?? undefined, 'alpha');
        expect(second.batches.map((entry) => entry.batchId)).toEqual([alpha[0].batchId]);
        expect(second.nextCursor).toBeNull();
        expect((await store.list(10, undefined, 'beta')).batches.map((e) => e.batchId)).toEqual([
          beta.batchId,
        ]);
        expect((await store.list(10, undefined, 'nobody')).batches).toEqual([]);
        expect((await store.list(10)).batches).toHaveLength(4);
      });

      it('refuses a cursor it did not issue: VALIDATION_FAILED naming cursor', async () => {
        await store.create(batchMeta(1), [{}]);
        for (const cursor of ['not-a-cursor', '', Buffer.from('../../x').toString('base64url')]) {
          const error = await store.list(2, cursor).catch((e: unknown) => e);
          expect(error).toMatchObject({
            code: 'VALIDATION_FAILED',
            details: { errors: [{ field: 'cursor' }] },
          });
        }
      });
    });

    describe('unfinished items per caller (CALLER_MAX_QUEUED_ITEMS)', () => {
      it("counts the items of a caller's unfinished batches apart from other callers', until each finishes", async () => {
        const first = batchMeta(3, { caller: 'alpha' });
        const second = batchMeta(2, { caller: 'alpha' });
        const other = batchMeta(4, { caller: 'beta' });
        for (const meta of [first, second, other]) {
          await store.create(meta, emptyObjects(meta.total));
        }
        expect(await store.unfinishedItemsOf('alpha')).toBe(5);
        expect(await store.unfinishedItemsOf('beta')).toBe(4);
        expect(await store.unfinishedItemsOf('nobody')).toBe(0);

        // Finished: completed (once, however often markFinished is called), or cancelled while
        // queued. A running batch cancelled is not finished until markFinished.
        await store.markRunning(first.batchId, now());
        await store.markFinished(first.batchId, now());
        await store.markFinished(first.batchId, now());
        await store.cancel(other.batchId, now());
        expect(await store.unfinishedItemsOf('alpha')).toBe(2);
        expect(await store.unfinishedItemsOf('beta')).toBe(0);

        await store.markRunning(second.batchId, now());
        await store.cancel(second.batchId, now());
        expect(await store.unfinishedItemsOf('alpha')).toBe(2);
        await store.markFinished(second.batchId, now());
        expect(await store.unfinishedItemsOf('alpha')).toBe(0);
      });
    });

    describe('a batch it does not hold', () => {
      it('refuses to read it: getPayloads, recordedIn, summary, latency and page (with or without a status) reject', async () => {
        const id = 'no-such-batch';
        await expect(store.getPayloads(id, 0, 1)).rejects.toThrow();
        await expect(store.recordedIn(id, 0, 1)).rejects.toThrow();
        await expect(store.summary(id)).rejects.toThrow();
        await expect(store.latency(id)).rejects.toThrow();
        await expect(store.page(id, 0, 10)).rejects.toThrow();
        await expect(store.page(id, 0, 10, 'failed')).rejects.toThrow();
      });
    });

    describe('retention', () => {
      it('forgets a finished batch once BATCH_RETENTION_SECONDS have passed (meta, list entry, idempotency key), keeps an unfinished one', async () => {
        const running = batchMeta(2);
        const done = batchMeta(2);
        const cancelledQueued = batchMeta(1);
        await store.claimIdempotencyKey('retained-key', { batchId: done.batchId, bodyHash: 'h' });
        await store.create(running, emptyObjects(2));
        await store.create(done, [{ id: 'a' }, {}]);
        await store.create(cancelledQueued, [{}]);
        await store.markRunning(running.batchId, now());
        await store.markRunning(done.batchId, now());
        await store.recordOutcome(done.batchId, 0, success());
        await store.recordOutcome(done.batchId, 1, failed);
        await store.markFinished(done.batchId, now());
        await store.cancel(cancelledQueued.batchId, now());

        await opened.passRetention();

        expect(await store.getMeta(done.batchId)).toBeUndefined();
        expect(await store.getMeta(cancelledQueued.batchId)).toBeUndefined();
        expect(await store.getMeta(running.batchId)).toMatchObject({ status: 'running' });
        expect((await store.list(10)).batches.map((entry) => entry.batchId)).toEqual([
          running.batchId,
        ]);
        expect(
          await store.claimIdempotencyKey('retained-key', { batchId: 'again', bodyHash: 'h' }),
        ).toBeUndefined();
      });
    });

    it('answers ping while it is reachable', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
    });
  });
}
