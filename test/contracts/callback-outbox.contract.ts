import type { BatchStore } from '../../src/batch/core/batch.store.js';
import type { BatchMeta } from '../../src/batch/core/batch.types.js';
import type { CallbackOutbox } from '../../src/callback/core/callback-outbox.js';
import { batchMeta } from './batch-store.contract.js';

/**
 * The callback outbox every batch store carries: the delivery is written by the step that ends a
 * batch (`markFinished`, `cancel` of a queued batch), then claimed one attempt at a time. Run
 * against each store with the outbox bound to it. Claims take the clock as an argument, so a
 * lapsing lease is a later `now`, not a wait.
 */

export interface OpenedOutboxStore {
  store: BatchStore;
  outbox: CallbackOutbox;
  close(): Promise<void>;
}

export type OpenOutboxStore = () => Promise<OpenedOutboxStore>;

const LEASE_MS = 10_000;
const MAX_ATTEMPTS = 3;
const URL = 'https://hooks.example.com/done';
const now = (): string => new Date().toISOString();

function withCallback(total: number, overrides: Partial<BatchMeta> = {}): BatchMeta {
  const meta = batchMeta(total, overrides);
  meta.options = { ...meta.options, callbackUrl: URL };
  return meta;
}

export function describeCallbackOutboxContract(
  name: string,
  open: OpenOutboxStore,
  describeFn: jest.Describe = describe,
): void {
  describeFn(`CallbackOutbox contract: ${name}`, () => {
    let opened: OpenedOutboxStore;
    let store: BatchStore;
    let outbox: CallbackOutbox;
    beforeEach(async () => {
      opened = await open();
      ({ store, outbox } = opened);
    });
    afterEach(async () => {
      await opened.close();
    });

    /** A batch of `total` items with a callback, run to its end: all but `failing` succeed. */
    async function ended(total: number, overrides: Partial<BatchMeta> = {}): Promise<BatchMeta> {
      const meta = withCallback(total, overrides);
      await store.create(
        meta,
        Array.from({ length: total }, () => ({})),
      );
      await store.markRunning(meta.batchId, now());
      for (let index = 0; index < total; index++) {
        await store.recordOutcome(meta.batchId, index, {
          status: index === 0 ? 'failed' : 'success',
          attempts: 1,
          latencyMs: 5,
          ...(index === 0 ? { error: 'CXone answered 404', errorCode: 'UPSTREAM_4XX' } : {}),
        });
      }
      await store.markFinished(meta.batchId, now());
      return meta;
    }

    it('writes the delivery with the batch’s end: pending, nothing attempted, the final status and counts', async () => {
      const before = Date.now();
      const meta = await ended(3);
      expect(await outbox.stateOf(meta.batchId)).toEqual({
        status: 'pending',
        attempts: 0,
        lastError: null,
        deliveredAt: null,
      });
      const summary = await outbox.pendingSummary();
      expect(summary.count).toBe(1);
      expect(summary.oldestSince).toBeGreaterThanOrEqual(before - 1000);
      const { claimed } = await outbox.claimDue(Date.now(), LEASE_MS, 10, MAX_ATTEMPTS);
      expect(claimed).toEqual([
        {
          id: expect.stringMatching(/^msg_[0-9a-f]{32}$/),
          batchId: meta.batchId,
          url: URL,
          caller: meta.caller,
          report: {
            batchId: meta.batchId,
            status: 'completed',
            summary: { total: 3, successful: 2, failed: 1, degraded: 0, cancelled: 0, pending: 0 },
            traceId: meta.traceId,
          },
          attempt: 1,
        },
      ]);
    });

    it('writes nothing for a batch without callback_url, or before the batch ends', async () => {
      const plain = batchMeta(1);
      await store.create(plain, [{}]);
      await store.markRunning(plain.batchId, now());
      await store.recordOutcome(plain.batchId, 0, { status: 'success', attempts: 1, latencyMs: 1 });
      await store.markFinished(plain.batchId, now());
      expect(await outbox.stateOf(plain.batchId)).toBeUndefined();

      const running = withCallback(2);
      await store.create(running, [{}, {}]);
      await store.markRunning(running.batchId, now());
      expect(await outbox.stateOf(running.batchId)).toBeUndefined();
      expect((await outbox.claimDue(Date.now(), LEASE_MS, 10, MAX_ATTEMPTS)).claimed).toEqual([]);
    });

    it('names the batch’s owner, whose secret signs', async () => {
      const meta = await ended(1, { caller: 'acme' });
      const { claimed } = await outbox.claimDue(Date.now(), LEASE_MS, 10, MAX_ATTEMPTS);
      expect(claimed.map((d) => [d.batchId, d.caller])).toEqual([[meta.batchId, 'acme']]);
    });

    it('writes it when a queued batch is cancelled (it ends there), with status cancelled', async () => {
      const meta = withCallback(4);
      await store.create(meta, [{}, {}, {}, {}]);
      await store.cancel(meta.batchId, now());
      const { claimed } = await outbox.claimDue(Date.now(), LEASE_MS, 10, MAX_ATTEMPTS);
      expect(claimed.map((d) => d.report)).toEqual([
        {
          batchId: meta.batchId,
          status: 'cancelled',
          summary: { total: 4, successful: 0, failed: 0, degraded: 0, cancelled: 4, pending: 0 },
          traceId: meta.traceId,
        },
      ]);
    });

    it('writes it for a running batch cancelled only when its run ends (calls in flight report first)', async () => {
      const meta = withCallback(2);
      await store.create(meta, [{}, {}]);
      await store.markRunning(meta.batchId, now());
      await store.cancel(meta.batchId, now());
      expect(await outbox.stateOf(meta.batchId)).toBeUndefined();
      await store.recordOutcome(meta.batchId, 0, { status: 'success', attempts: 1, latencyMs: 1 });
      await store.markFinished(meta.batchId, now());
      const { claimed } = await outbox.claimDue(Date.now(), LEASE_MS, 10, MAX_ATTEMPTS);
      expect(claimed.map((d) => [d.report.status, d.report.summary])).toEqual([
        [
          'cancelled',
          { total: 2, successful: 1, failed: 0, degraded: 0, cancelled: 1, pending: 0 },
        ],
      ]);
    });

    it('writes it when a batch ends failed (past its tolerated failures), with status failed', async () => {
      const meta = withCallback(3);
      await store.create(meta, [{}, {}, {}]);
      await store.markRunning(meta.batchId, now());
      await store.recordOutcome(meta.batchId, 0, {
        status: 'failed',
        error: 'CXone answered 500',
        errorCode: 'UPSTREAM_5XX',
        attempts: 1,
        latencyMs: 1,
      });
      await store.markFailed(meta.batchId, 'TOLERATED_FAILURE_EXCEEDED', now());
      const { claimed } = await outbox.claimDue(Date.now(), LEASE_MS, 10, MAX_ATTEMPTS);
      expect(claimed.map((d) => [d.report.status, d.report.summary])).toEqual([
        ['failed', { total: 3, successful: 0, failed: 1, degraded: 0, cancelled: 2, pending: 0 }],
      ]);
    });

    it('drops the earlier end’s delivery on redrive; the next end writes a new one, with a new id', async () => {
      const meta = await ended(2);
      const [first] = (await outbox.claimDue(Date.now(), LEASE_MS, 10, MAX_ATTEMPTS)).claimed;
      await outbox.settle(first, { kind: 'delivered', at: now() });
      await store.redrive(meta.batchId, ['failed']);
      expect(await outbox.stateOf(meta.batchId)).toBeUndefined();
      await store.markRunning(meta.batchId, now());
      await store.recordOutcome(meta.batchId, 0, { status: 'success', attempts: 1, latencyMs: 1 });
      await store.markFinished(meta.batchId, now());
      const [second] = (await outbox.claimDue(Date.now(), LEASE_MS, 10, MAX_ATTEMPTS)).claimed;
      expect(second.id).not.toBe(first.id);
      expect(second).toMatchObject({ attempt: 1, report: { status: 'completed' } });
      expect(second.report.summary).toMatchObject({ successful: 2, failed: 0 });
    });

    it('writes one delivery per end: finishing an ended batch again changes nothing', async () => {
      const meta = await ended(1);
      const [first] = (await outbox.claimDue(Date.now(), LEASE_MS, 10, MAX_ATTEMPTS)).claimed;
      await store.markFinished(meta.batchId, now());
      const later = Date.now() + LEASE_MS + 1;
      const [second] = (await outbox.claimDue(later, LEASE_MS, 10, MAX_ATTEMPTS)).claimed;
      expect(second).toMatchObject({ id: first.id, attempt: 2 });
    });

    it('leases a claimed delivery: nobody else claims it until the lease ends, then with the same id', async () => {
      const meta = await ended(1);
      const t0 = Date.now();
      const [first] = (await outbox.claimDue(t0, LEASE_MS, 10, MAX_ATTEMPTS)).claimed;
      expect(
        (await outbox.claimDue(t0 + LEASE_MS - 1, LEASE_MS, 10, MAX_ATTEMPTS)).claimed,
      ).toEqual([]);
      const [again] = (await outbox.claimDue(t0 + LEASE_MS, LEASE_MS, 10, MAX_ATTEMPTS)).claimed;
      expect(again).toMatchObject({ id: first.id, batchId: meta.batchId, attempt: 2 });
      expect(await outbox.stateOf(meta.batchId)).toMatchObject({ status: 'pending', attempts: 2 });
    });

    it('claims at most `limit`, and only what is due', async () => {
      await ended(1);
      await ended(1);
      await ended(1);
      const t0 = Date.now();
      expect((await outbox.claimDue(t0, LEASE_MS, 2, MAX_ATTEMPTS)).claimed).toHaveLength(2);
      expect((await outbox.claimDue(t0, LEASE_MS, 2, MAX_ATTEMPTS)).claimed).toHaveLength(1);
      expect((await outbox.claimDue(t0, LEASE_MS, 2, MAX_ATTEMPTS)).claimed).toHaveLength(0);
    });

    it('schedules a retry: due again at the time given, the error kept', async () => {
      const meta = await ended(1);
      const t0 = Date.now();
      const [claim] = (await outbox.claimDue(t0, LEASE_MS, 10, MAX_ATTEMPTS)).claimed;
      const retryAt = t0 + 500;
      expect(
        await outbox.settle(claim, {
          kind: 'retry',
          error: 'answered 503',
          nextAttemptAt: retryAt,
        }),
      ).toBe(true);
      expect(await outbox.stateOf(meta.batchId)).toEqual({
        status: 'pending',
        attempts: 1,
        lastError: 'answered 503',
        deliveredAt: null,
      });
      expect((await outbox.claimDue(retryAt - 1, LEASE_MS, 10, MAX_ATTEMPTS)).claimed).toEqual([]);
      const [next] = (await outbox.claimDue(retryAt, LEASE_MS, 10, MAX_ATTEMPTS)).claimed;
      expect(next).toMatchObject({ id: claim.id, attempt: 2 });
    });

    it('records delivered and failed as final: no longer pending, never claimed again', async () => {
      const delivered = await ended(1);
      const failed = await ended(1);
      const t0 = Date.now();
      const claims = (await outbox.claimDue(t0, LEASE_MS, 10, MAX_ATTEMPTS)).claimed;
      const at = new Date(t0).toISOString();
      const byBatch = new Map(claims.map((claim) => [claim.batchId, claim]));
      expect(await outbox.settle(byBatch.get(delivered.batchId)!, { kind: 'delivered', at })).toBe(
        true,
      );
      expect(
        await outbox.settle(byBatch.get(failed.batchId)!, {
          kind: 'failed',
          error: 'answered 404',
        }),
      ).toBe(true);
      expect(await outbox.stateOf(delivered.batchId)).toEqual({
        status: 'delivered',
        attempts: 1,
        lastError: null,
        deliveredAt: at,
      });
      expect(await outbox.stateOf(failed.batchId)).toEqual({
        status: 'failed',
        attempts: 1,
        lastError: 'answered 404',
        deliveredAt: null,
      });
      expect(await outbox.pendingSummary()).toEqual({ count: 0, oldestSince: undefined });
      expect(
        (await outbox.claimDue(t0 + 10 * LEASE_MS, LEASE_MS, 10, MAX_ATTEMPTS)).claimed,
      ).toEqual([]);
    });

    it('takes a retry or failure only from the latest attempt, a success from any', async () => {
      const meta = await ended(1);
      const t0 = Date.now();
      const [stale] = (await outbox.claimDue(t0, LEASE_MS, 10, MAX_ATTEMPTS)).claimed;
      const [latest] = (await outbox.claimDue(t0 + LEASE_MS, LEASE_MS, 10, MAX_ATTEMPTS)).claimed;
      expect(await outbox.settle(stale, { kind: 'failed', error: 'answered 404' })).toBe(false);
      expect(
        await outbox.settle(stale, { kind: 'retry', error: 'answered 503', nextAttemptAt: t0 }),
      ).toBe(false);
      expect(await outbox.stateOf(meta.batchId)).toMatchObject({
        status: 'pending',
        lastError: null,
      });
      expect(await outbox.settle(stale, { kind: 'delivered', at: now() })).toBe(true);
      expect(await outbox.settle(latest, { kind: 'failed', error: 'late' })).toBe(false);
      expect(await outbox.stateOf(meta.batchId)).toMatchObject({
        status: 'delivered',
        attempts: 2,
      });
    });

    it('ignores a verdict about an earlier delivery of the batch', async () => {
      const meta = await ended(1);
      const [claim] = (await outbox.claimDue(Date.now(), LEASE_MS, 10, MAX_ATTEMPTS)).claimed;
      expect(
        await outbox.settle({ ...claim, id: 'msg_other' }, { kind: 'delivered', at: now() }),
      ).toBe(false);
      expect(await outbox.stateOf(meta.batchId)).toMatchObject({ status: 'pending' });
    });

    it('fails, rather than attempts again, a delivery whose last allowed attempt never reported', async () => {
      const meta = await ended(1);
      let t = Date.now();
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++, t += LEASE_MS)
        expect((await outbox.claimDue(t, LEASE_MS, 10, MAX_ATTEMPTS)).claimed).toHaveLength(1);
      expect(await outbox.claimDue(t, LEASE_MS, 10, MAX_ATTEMPTS)).toEqual({
        claimed: [],
        exhausted: 1,
      });
      expect(await outbox.stateOf(meta.batchId)).toEqual({
        status: 'failed',
        attempts: MAX_ATTEMPTS,
        lastError: `attempt ${MAX_ATTEMPTS}, the last, was cut short (its process stopped) before it got an answer`,
        deliveredAt: null,
      });
    });
  });
}
