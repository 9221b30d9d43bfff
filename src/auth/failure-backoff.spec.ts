import { FailureBackoff } from './failure-backoff.js';

describe('FailureBackoff', () => {
  it('lets the first attempt go at once, then doubles the wait up to the cap', () => {
    const backoff = new FailureBackoff(250, 1_000);
    expect(backoff.delayMs(0)).toBe(0);
    backoff.failed(0);
    expect(backoff.delayMs(0)).toBe(250);
    expect(backoff.delayMs(100)).toBe(150);
    backoff.failed(250);
    expect(backoff.delayMs(250)).toBe(500);
    backoff.failed(750);
    backoff.failed(1_750);
    expect(backoff.delayMs(1_750)).toBe(1_000);
  });

  it('resets after a success', () => {
    const backoff = new FailureBackoff(250, 10_000);
    backoff.failed(0);
    backoff.failed(0);
    backoff.succeeded();
    expect(backoff.delayMs(0)).toBe(0);
    backoff.failed(0);
    expect(backoff.delayMs(0)).toBe(250);
  });
});
