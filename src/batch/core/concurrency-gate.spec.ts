import { jest } from '@jest/globals';
import { loadConfig } from '../../config/load-config.js';
import type { AttemptPermit } from '../../cxone/cxone.types.js';
import { DomainError } from '../../lib/domain-error.js';
import { InMemoryTenantBudget } from '../../tenant/memory/in-memory-tenant-budget.js';
import { ConcurrencyGate } from './concurrency-gate.js';

function gateWith(env: Record<string, string>): ConcurrencyGate {
  const config = loadConfig({
    CXONE_SIMULATOR: 'true',
    CXONE_API_URL: 'http://127.0.0.1:9',
    AUTH_DISABLED: 'true',
    ...env,
  });
  return new ConcurrencyGate(config, new InMemoryTenantBudget(config));
}

const SUCCESS = { kind: 'success', latencyMs: 5 } as const;

/** One caller's batch of an action. */
const claim = (batchId: string, actionId: string, caller = 'caller') => ({
  caller,
  batchId,
  actionId,
});

/** Lets every settled promise run its continuation. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

describe('ConcurrencyGate', () => {
  it('keeps CXONE_MAX_CONCURRENCY attempts in flight and hands a freed turn on', async () => {
    const gate = gateWith({ CXONE_MAX_CONCURRENCY: '2' });
    const admission = gate.admission(claim('b1', 'act'));
    const granted: AttemptPermit[] = [];
    for (let i = 0; i < 5; i++) void admission.admit().then((permit) => granted.push(permit));
    await settle();
    expect(granted).toHaveLength(2);
    expect(gate.inFlight).toBe(2);
    expect(gate.waiting).toBe(3);
    granted[0].release(SUCCESS);
    granted[0].release(SUCCESS);
    await settle();
    expect(granted).toHaveLength(3);
    expect(gate.inFlight).toBe(2);
  });

  it('hands turns round-robin between batches, whatever each has waiting', async () => {
    const gate = gateWith({ CXONE_MAX_CONCURRENCY: '1' });
    const order: string[] = [];
    const permits: AttemptPermit[] = [];
    const wait = (batchId: string, count: number): void => {
      const admission = gate.admission(claim(batchId, 'act'));
      for (let i = 0; i < count; i++) {
        void admission.admit().then((permit) => {
          order.push(batchId);
          permits.push(permit);
        });
      }
    };
    wait('large', 10);
    wait('small', 2);
    await settle();
    for (let turn = 0; turn < 11; turn++) {
      permits[turn].release(SUCCESS);
      await settle();
    }
    // `large` asked first and had the first turn; from then on the two alternate.
    expect(order.slice(0, 6)).toEqual(['large', 'large', 'small', 'large', 'small', 'large']);
    expect(order).toHaveLength(12);
  });

  it('gives a caller with one batch as many turns as a caller with five, while both wait', async () => {
    const gate = gateWith({ CXONE_MAX_CONCURRENCY: '4' });
    const served: string[] = [];
    // Each batch keeps max_workers = 4 attempts going, as the runner does, until 200 were served.
    const worker = async (caller: string, batchId: string): Promise<void> => {
      const admission = gate.admission(claim(batchId, 'act', caller));
      while (served.length < 200) {
        const permit = await admission.admit();
        served.push(caller);
        await new Promise<void>((resolve) => setImmediate(resolve));
        permit.release(SUCCESS);
      }
    };
    const workers: Promise<void>[] = [];
    for (let batch = 0; batch < 5; batch++) {
      for (let w = 0; w < 4; w++) workers.push(worker('alpha', `alpha-${batch}`));
    }
    for (let w = 0; w < 4; w++) workers.push(worker('beta', 'beta-0'));
    await Promise.all(workers);
    const beta = served.slice(0, 200).filter((caller) => caller === 'beta').length;
    expect(beta / 200).toBeGreaterThanOrEqual(0.45);
  });

  it("passes over a paused action's attempts, holding no turn for them", async () => {
    jest.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00Z') });
    try {
      const gate = gateWith({ CXONE_MAX_CONCURRENCY: '1' });
      const paused = gate.admission(claim('b1', 'paused-action'));
      const other = gate.admission(claim('b2', 'other-action'));
      const first = await paused.admit();
      first.release({ kind: 'refused', retryAfterMs: 2000, latencyMs: 1 });

      const order: string[] = [];
      void paused.admit().then((permit) => {
        order.push('paused');
        permit.release(SUCCESS);
      });
      for (let i = 0; i < 3; i++) {
        void other.admit().then((permit) => {
          order.push('other');
          permit.release(SUCCESS);
        });
      }
      await settle();
      expect(order).toEqual(['other', 'other', 'other']);
      jest.advanceTimersByTime(1999);
      await settle();
      expect(order).toHaveLength(3);
      jest.advanceTimersByTime(1);
      await settle();
      expect(order).toEqual(['other', 'other', 'other', 'paused']);
    } finally {
      jest.useRealTimers();
    }
  });

  it('ends a wait when its signal aborts, and the turn goes to the next', async () => {
    const gate = gateWith({ CXONE_MAX_CONCURRENCY: '1' });
    const stop = new AbortController();
    const holder = await gate.admission(claim('b0', 'act')).admit();
    const waiting = gate.admission(claim('b1', 'act'), stop.signal).admit();
    const next = gate.admission(claim('b2', 'act')).admit();
    stop.abort();
    await expect(waiting).rejects.toEqual(expect.any(DomainError));
    await expect(waiting).rejects.toMatchObject({ code: 'CANCELLED' });
    holder.release(SUCCESS);
    await expect(next).resolves.toBeDefined();
    expect(gate.inFlight).toBe(1);
    await expect(gate.admission(claim('b3', 'act'), stop.signal).admit()).rejects.toMatchObject({
      code: 'CANCELLED',
    });
  });

  it('holds the tenant bound below the process bound', async () => {
    const gate = gateWith({ CXONE_MAX_CONCURRENCY: '10', CXONE_TENANT_MAX_CONCURRENCY: '3' });
    const granted: AttemptPermit[] = [];
    for (const batch of ['b1', 'b2']) {
      const admission = gate.admission(claim(batch, `${batch}-action`));
      for (let i = 0; i < 4; i++) void admission.admit().then((permit) => granted.push(permit));
    }
    await settle();
    expect(granted).toHaveLength(3);
    granted[0].release(SUCCESS);
    await settle();
    expect(granted).toHaveLength(4);
    expect(gate.inFlight).toBe(3);
  });
});
