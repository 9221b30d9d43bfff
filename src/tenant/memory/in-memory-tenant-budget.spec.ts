import { jest } from '@jest/globals';
import { loadConfig } from '../../config/load-config.js';
import type { TenantPermit } from '../tenant-budget.js';
import { InMemoryTenantBudget } from './in-memory-tenant-budget.js';

function budgetWith(env: Record<string, string> = {}): InMemoryTenantBudget {
  return new InMemoryTenantBudget(
    loadConfig({
      CXONE_SIMULATOR: 'true',
      CXONE_API_URL: 'http://127.0.0.1:9',
      AUTH_DISABLED: 'true',
      ...env,
    }),
  );
}

const SUCCESS = { kind: 'success', latencyMs: 50 } as const;
const REFUSED = { kind: 'refused', latencyMs: 1 } as const;

function take(budget: InMemoryTenantBudget, actionId: string, count: number): TenantPermit[] {
  return Array.from({ length: count }, () => {
    const permit = budget.tryAcquire(actionId);
    if (permit === undefined) throw new Error(`no permit for ${actionId}`);
    return permit;
  });
}

describe('InMemoryTenantBudget', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00Z') });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('lets everything through with no bound configured and no refusal seen', () => {
    const budget = budgetWith();
    take(budget, 'a', 500);
    expect(budget.mayTry('a')).toBe(true);
  });

  it('holds CXONE_TENANT_MAX_CONCURRENCY across every action', () => {
    const budget = budgetWith({ CXONE_TENANT_MAX_CONCURRENCY: '3', ADAPTIVE_CONCURRENCY: 'false' });
    const [first] = [...take(budget, 'a', 2), ...take(budget, 'b', 1)];
    expect(budget.mayTry('a')).toBe(false);
    expect(budget.tryAcquire('c')).toBeUndefined();
    first.release(SUCCESS);
    expect(budget.tryAcquire('c')).toBeDefined();
    expect(budget.tryAcquire('a')).toBeUndefined();
  });

  it('starts at most CXONE_RATE_LIMIT_PER_SECOND calls a second and says when more may start', () => {
    const budget = budgetWith({ CXONE_RATE_LIMIT_PER_SECOND: '4' });
    const changes: number[] = [];
    budget.onChange(() => changes.push(Date.now()));
    const start = Date.now();
    for (const permit of take(budget, 'a', 4)) permit.release(SUCCESS);
    expect(budget.mayTry('a')).toBe(false);
    expect(budget.tryAcquire('b')).toBeUndefined();
    jest.advanceTimersByTime(999);
    expect(changes).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(changes).toEqual([start + 1000]);
    expect(budget.tryAcquire('a')).toBeDefined();
  });

  it("pauses an action until a 429's Retry-After has passed, and only that action", async () => {
    const budget = budgetWith();
    const changes: number[] = [];
    budget.onChange(() => changes.push(Date.now()));
    const [refused, inFlight] = take(budget, 'a', 2);
    const start = Date.now();
    refused.release({ kind: 'refused', retryAfterMs: 2000, latencyMs: 3 });
    expect(budget.mayTry('a')).toBe(false);
    expect(budget.mayTry('b')).toBe(true);
    // A call already in flight finishes as usual.
    inFlight.release(SUCCESS);
    expect((await budget.limits('a')).pausedUntil).toBe(start + 2000);
    jest.advanceTimersByTime(1999);
    expect(budget.mayTry('a')).toBe(false);
    jest.advanceTimersByTime(1);
    expect(changes).toEqual([start + 2000]);
    expect(budget.mayTry('a')).toBe(true);
    expect((await budget.limits('a')).pausedUntil).toBeNull();
  });

  it('learns the action limit from refusals and holds it', async () => {
    const budget = budgetWith();
    const registration = await budget.register('a', 'batch-1', 100);
    const permits = take(budget, 'a', 21);
    // The 21st call is refused: 20 is what CXone takes, 3/4 of the 21 in flight is the new limit.
    permits[20].release(REFUSED);
    expect((await budget.limits('a')).limit).toBe(15);
    for (const permit of permits.slice(0, 20)) permit.release(SUCCESS);
    take(budget, 'a', 15);
    expect(budget.mayTry('a')).toBe(false);
    expect(budget.tryAcquire('a')).toBeUndefined();
    expect(budget.mayTry('b')).toBe(true);
    registration.close();
  });

  it('raises the limit after a round trip of successes at it, up to what the batches ask', async () => {
    const budget = budgetWith();
    await budget.register('a', 'batch-1', 4);
    const first = take(budget, 'a', 4);
    first[3].release(REFUSED);
    for (const permit of first.slice(0, 3)) permit.release(SUCCESS);
    expect((await budget.limits('a')).limit).toBe(3);
    // Saturated, as behind the gate: each call is sent as one ends, so with the limit all in use.
    const held = take(budget, 'a', 3);
    const turn = (): void => {
      held.shift()!.release(SUCCESS);
      const next = budget.tryAcquire('a');
      if (next !== undefined) held.push(next);
    };
    // The first three were sent as a burst (only the third with the limit in use): one round
    // trip to fill the limit, one of successes at it.
    for (let i = 0; i < 4; i++) turn();
    expect((await budget.limits('a')).limit).toBe(3);
    turn();
    expect((await budget.limits('a')).limit).toBe(4);
    held.push(...take(budget, 'a', 1));
    for (let i = 0; i < 40; i++) turn();
    expect((await budget.limits('a')).limit).toBe(4);
  });

  it('learns nothing with ADAPTIVE_CONCURRENCY=false, but still pauses', async () => {
    const budget = budgetWith({ ADAPTIVE_CONCURRENCY: 'false' });
    const permits = take(budget, 'a', 30);
    for (const permit of permits) permit.release(REFUSED);
    expect((await budget.limits('a')).limit).toBeNull();
    take(budget, 'a', 1)[0].release({ kind: 'refused', retryAfterMs: 1000, latencyMs: 1 });
    expect(budget.mayTry('a')).toBe(false);
  });

  it('shows what the running batches ask', async () => {
    const budget = budgetWith();
    const one = await budget.register('a', 'batch-1', 10);
    const two = await budget.register('a', 'batch-2', 5);
    two.update(7);
    expect((await budget.limits('a')).asks).toEqual(
      new Map([
        ['batch-1', 10],
        ['batch-2', 7],
      ]),
    );
    one.close();
    expect([...(await budget.snapshot())].map((l) => [l.actionId, [...l.asks.keys()]])).toEqual([
      ['a', ['batch-2']],
    ]);
  });
});
