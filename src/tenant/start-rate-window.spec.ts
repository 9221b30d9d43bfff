import { StartRateWindow } from './start-rate-window.js';

describe('StartRateWindow', () => {
  it('lets `rate` calls start in any second, and says when the next may', () => {
    const window = new StartRateWindow(3);
    expect(window.take(1000)).toBe(true);
    expect(window.take(1100)).toBe(true);
    expect(window.take(1200)).toBe(true);
    expect(window.waitMs(1300)).toBe(700);
    expect(window.take(1300)).toBe(false);
    expect(window.take(1999)).toBe(false);
    expect(window.take(2000)).toBe(true);
    expect(window.waitMs(2000)).toBe(100);
    expect(window.take(2100)).toBe(true);
  });

  it('never starts more than the rate in a sliding second, however the calls come', () => {
    const rate = 7;
    const window = new StartRateWindow(rate);
    const starts: number[] = [];
    for (let now = 0; now < 10_000; now += 13) {
      if (window.take(now)) starts.push(now);
    }
    for (const [i, start] of starts.entries()) {
      const inSecond = starts.filter((t) => t >= start && t < start + 1000).length;
      expect({ at: i, inSecond }).toEqual({ at: i, inSecond: Math.min(inSecond, rate) });
    }
    // Still close to the rate overall: the window slides, it does not reset once a second.
    expect(starts.length).toBeGreaterThanOrEqual(rate * 9);
  });

  it('spreads a rate below one per second over a longer window', () => {
    const window = new StartRateWindow(0.5);
    expect(window.size).toBe(1);
    expect(window.windowMs).toBe(2000);
    expect(window.take(0)).toBe(true);
    expect(window.take(1999)).toBe(false);
    expect(window.take(2000)).toBe(true);
  });

  it('keeps a fractional rate: 2.5 per second is 3 per 1.2 s', () => {
    const window = new StartRateWindow(2.5);
    expect(window.size).toBe(3);
    expect(window.windowMs).toBeCloseTo(1200);
  });
});
