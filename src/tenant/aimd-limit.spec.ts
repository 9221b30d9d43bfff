import { jest } from '@jest/globals';
import { AimdLimit, cutLimit, DEFAULT_ROUND_TRIP_MS, RoundTrip } from './aimd-limit.js';

describe('cutLimit', () => {
  it('cuts to 3/4 of what was in flight when the refused call was sent, never below 1', () => {
    expect(cutLimit(null, 21)).toBe(15);
    expect(cutLimit(100, 21)).toBe(15);
    expect(cutLimit(20, 200)).toBe(15);
    expect(cutLimit(1, 1)).toBe(1);
    expect(cutLimit(null, 1)).toBe(1);
  });

  it('never leaves more than 3/4 of the limit', () => {
    for (let limit = 1; limit <= 300; limit++) {
      for (const inFlight of [1, limit, limit + 50]) {
        expect(cutLimit(limit, inFlight)).toBeLessThanOrEqual(Math.max(1, 0.75 * limit));
      }
    }
  });
});

describe('AimdLimit', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00Z') });
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  /** Sends `count` calls at the limit and lets them all succeed. */
  function succeedAtLimit(aimd: AimdLimit, count: number, asked = 0): void {
    for (let i = 0; i < count; i++) aimd.succeeded(aimd.sent(aimd.limit ?? 1), asked);
  }

  it('has no limit until CXone first refuses', () => {
    const aimd = new AimdLimit();
    expect(aimd.limit).toBeNull();
    const call = aimd.sent(150);
    expect(call.atLimit).toBe(false);
    expect(aimd.succeeded(call, 200)).toBe(false);
    expect(aimd.limit).toBeNull();
  });

  it('cuts on the first refusal to 3/4 of the flight that call was sent with', () => {
    const aimd = new AimdLimit();
    expect(aimd.refused(aimd.sent(21), 50)).toBe(true);
    expect(aimd.limit).toBe(15);
    expect(aimd.epoch).toBe(1);
  });

  it('ignores refusals of calls sent before the last cut', () => {
    const aimd = new AimdLimit();
    const before = aimd.sent(30);
    expect(aimd.refused(aimd.sent(21), 50)).toBe(true);
    jest.advanceTimersByTime(1000);
    expect(aimd.refused(before, 50)).toBe(false);
    expect(aimd.limit).toBe(15);
  });

  it('cuts at most once per round trip', () => {
    const aimd = new AimdLimit();
    aimd.refused(aimd.sent(40), 50);
    expect(aimd.limit).toBe(30);
    // Sent under the new limit, refused before a round trip has passed: the calls of the old
    // limit may still fill CXone, so this says nothing new.
    jest.advanceTimersByTime(49);
    expect(aimd.refused(aimd.sent(30), 50)).toBe(false);
    expect(aimd.limit).toBe(30);
    jest.advanceTimersByTime(1);
    expect(aimd.refused(aimd.sent(30), 50)).toBe(true);
    expect(aimd.limit).toBe(22);
  });

  it('never goes below 1', () => {
    const aimd = new AimdLimit();
    for (let i = 0; i < 20; i++) {
      aimd.refused(aimd.sent(aimd.limit ?? 8), 10);
      jest.advanceTimersByTime(10);
    }
    expect(aimd.limit).toBe(1);
  });

  it('raises the limit by 1 after a round trip of successes at the limit', () => {
    const aimd = new AimdLimit();
    aimd.refused(aimd.sent(20), 50);
    expect(aimd.limit).toBe(15);
    succeedAtLimit(aimd, 14);
    expect(aimd.limit).toBe(15);
    succeedAtLimit(aimd, 1);
    expect(aimd.limit).toBe(16);
    succeedAtLimit(aimd, 16);
    expect(aimd.limit).toBe(17);
  });

  it('does not raise on successes of calls sent below the limit, or before the last cut', () => {
    const aimd = new AimdLimit();
    aimd.refused(aimd.sent(20), 50);
    for (let i = 0; i < 100; i++) aimd.succeeded(aimd.sent(10), 0);
    expect(aimd.limit).toBe(15);
    const old = aimd.sent(15);
    jest.advanceTimersByTime(100);
    aimd.refused(aimd.sent(15), 50);
    expect(aimd.limit).toBe(11);
    for (let i = 0; i < 50; i++) aimd.succeeded(old, 0);
    expect(aimd.limit).toBe(11);
  });

  it('never raises above what the batches ask', () => {
    const aimd = new AimdLimit();
    aimd.refused(aimd.sent(8), 50);
    expect(aimd.limit).toBe(6);
    succeedAtLimit(aimd, 6, 7);
    expect(aimd.limit).toBe(7);
    succeedAtLimit(aimd, 50, 7);
    expect(aimd.limit).toBe(7);
  });

  it('settles around a fixed capacity: cuts when over it, climbs back while under', () => {
    const capacity = 20;
    const aimd = new AimdLimit();
    const limits: number[] = [];
    // Each round trip: every slot of the limit is used (the first round a burst of 200, later ones
    // sent as slots free, so at the limit); CXone refuses the calls over its capacity.
    let limit = 200;
    for (let round = 0; round < 60; round++) {
      const calls = Array.from({ length: limit }, (_, i) =>
        aimd.sent(aimd.limit === null ? i + 1 : limit),
      );
      for (const [i, call] of calls.entries()) {
        if (i < capacity) aimd.succeeded(call, 200);
        else aimd.refused(call, 50);
      }
      jest.advanceTimersByTime(50);
      limit = aimd.limit ?? 200;
      limits.push(limit);
    }
    const settled = limits.slice(-30);
    expect(Math.max(...settled)).toBeLessThanOrEqual(capacity + 1);
    expect(Math.min(...settled)).toBeGreaterThanOrEqual(Math.floor(capacity * 0.75) - 1);
  });
});

describe('RoundTrip', () => {
  it('starts at the default and smooths samples with gain 1/8', () => {
    const roundTrip = new RoundTrip();
    expect(roundTrip.ms).toBe(DEFAULT_ROUND_TRIP_MS);
    roundTrip.observe(40);
    expect(roundTrip.ms).toBe(40);
    roundTrip.observe(120);
    expect(roundTrip.ms).toBe(50);
    roundTrip.observe(Number.NaN);
    expect(roundTrip.ms).toBe(50);
  });
});
