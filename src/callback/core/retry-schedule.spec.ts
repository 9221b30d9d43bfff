import { isRetryableStatus, MAX_RETRY_DELAY_MS, retryDelayMs } from './retry-schedule.js';

describe('retryDelayMs', () => {
  it('doubles from the first delay, jittered between half and one and a half times', () => {
    expect(
      [1, 2, 3, 4].map((attempt) => retryDelayMs(attempt, 1000, undefined, () => 0.5)),
    ).toEqual([1000, 2000, 4000, 8000]);
    expect(retryDelayMs(3, 1000, undefined, () => 0)).toBe(2000);
    expect(retryDelayMs(3, 1000, undefined, () => 0.999999)).toBe(6000);
  });

  it('waits at least what Retry-After asks, and never more than an hour', () => {
    expect(retryDelayMs(1, 1000, 30, () => 0.5)).toBe(30_000);
    expect(retryDelayMs(1, 1000, 0, () => 0.5)).toBe(1000);
    expect(retryDelayMs(40, 1000, undefined, () => 0.999)).toBe(MAX_RETRY_DELAY_MS);
    expect(retryDelayMs(1, 1000, 86_400, () => 0.5)).toBe(MAX_RETRY_DELAY_MS);
  });
});

describe('isRetryableStatus', () => {
  it.each([
    [408, true],
    [429, true],
    [500, true],
    [503, true],
    [599, true],
    [400, false],
    [401, false],
    [404, false],
    [410, false],
    [301, false],
  ])('%i → %s', (status, retryable) => {
    expect(isRetryableStatus(status)).toBe(retryable);
  });
});
