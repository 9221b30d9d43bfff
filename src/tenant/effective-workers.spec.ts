import { effectiveWorkers, fairShare } from './effective-workers.js';
import type { ActionLimits } from './tenant-budget.js';

function limits(limit: number | null, asks: Record<string, number>): ActionLimits {
  return { actionId: 'a', limit, asks: new Map(Object.entries(asks)), pausedUntil: null };
}

describe('fairShare', () => {
  it('meets small asks in full and splits the rest evenly', () => {
    const asks = new Map([
      ['small', 3],
      ['big-1', 100],
      ['big-2', 100],
    ]);
    expect(fairShare(20, asks, 'small')).toBe(3);
    // 17 left for two: 9 and 8, the extra slot to the first in id order.
    expect(fairShare(20, asks, 'big-1')).toBe(9);
    expect(fairShare(20, asks, 'big-2')).toBe(8);
  });

  it('gives every batch what it asks when the limit covers them all', () => {
    const asks = new Map([
      ['x', 4],
      ['y', 5],
    ]);
    expect(fairShare(50, asks, 'x')).toBe(4);
    expect(fairShare(50, asks, 'y')).toBe(5);
  });

  it('adds up to the limit when it is short', () => {
    const asks = new Map([
      ['a', 10],
      ['b', 7],
      ['c', 100],
      ['d', 100],
    ]);
    const total = ['a', 'b', 'c', 'd'].reduce((sum, id) => sum + fairShare(25, asks, id), 0);
    expect(total).toBe(25);
  });
});

describe('effectiveWorkers', () => {
  it('is max_workers while the action has no adaptive limit and no tenant bound', () => {
    expect(effectiveWorkers('b1', 100, limits(null, { b1: 100, b2: 100 }), undefined)).toBe(100);
  });

  it('is the batch share of the adaptive limit', () => {
    expect(effectiveWorkers('b1', 100, limits(18, { b1: 100, b2: 100 }), undefined)).toBe(9);
  });

  it('counts the batch even when its run has not registered (queued, or another replica)', () => {
    expect(effectiveWorkers('b3', 100, limits(18, { b1: 100 }), undefined)).toBe(9);
  });

  it('stays within the tenant bound and is never below 1', () => {
    expect(effectiveWorkers('b1', 100, limits(null, {}), 20)).toBe(20);
    expect(effectiveWorkers('b1', 100, limits(1, { b1: 100, b2: 100, b3: 100 }), 20)).toBe(1);
  });
});
