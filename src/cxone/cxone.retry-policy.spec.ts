import { AxiosError, AxiosHeaders, type AxiosResponse } from 'axios';
import {
  type RetryPolicy,
  isRetryable,
  parseRetryAfter,
  retryDelayMs,
} from './cxone.retry-policy.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');

function httpError(status: number, headers: Record<string, string> = {}): AxiosError {
  const config = { headers: new AxiosHeaders() };
  const response = {
    status,
    statusText: '',
    headers,
    config,
    data: '',
  } as unknown as AxiosResponse;
  return new AxiosError(`status ${status}`, 'ERR_BAD_RESPONSE', config, null, response);
}

function networkError(code: string): AxiosError {
  return new AxiosError(code, code, { headers: new AxiosHeaders() });
}

const policy: RetryPolicy = {
  maxRetries: 3,
  maxRetryAfterMs: 5_000,
  baseDelayMs: 100,
  maxDelayMs: 1_000,
  random: () => 0.5,
  now: () => NOW,
};

describe('parseRetryAfter', () => {
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('3', NOW)).toBe(3_000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
  });

  it('reads an HTTP date relative to now, never negative', () => {
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:00:02 GMT', NOW)).toBe(2_000);
    expect(parseRetryAfter('Mon, 31 Dec 2029 23:59:00 GMT', NOW)).toBe(0);
  });

  it('returns undefined for absent or unreadable values', () => {
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter('-5', NOW)).toBeUndefined();
  });
});

describe('isRetryable', () => {
  it.each([429, 502, 503, 504])('retries %i', (status) => {
    expect(isRetryable(httpError(status))).toBe(true);
  });

  it.each([400, 401, 403, 404, 409, 422, 500, 501])('does not retry %i', (status) => {
    expect(isRetryable(httpError(status))).toBe(false);
  });

  it.each(['ECONNRESET', 'EPIPE', 'ECONNREFUSED'])('retries the connection failure %s', (code) => {
    expect(isRetryable(networkError(code))).toBe(true);
  });

  it.each(['ETIMEDOUT', 'ECONNABORTED', 'ERR_CANCELED', 'ENOTFOUND'])(
    'does not retry %s',
    (code) => {
      expect(isRetryable(networkError(code))).toBe(false);
    },
  );
});

describe('retryDelayMs', () => {
  it('honours a 429 Retry-After in seconds and as a date', () => {
    expect(retryDelayMs(1, httpError(429, { 'retry-after': '2' }), policy)).toBe(2_000);
    expect(
      retryDelayMs(1, httpError(429, { 'retry-after': 'Tue, 01 Jan 2030 00:00:03 GMT' }), policy),
    ).toBe(3_000);
  });

  it('caps Retry-After at MAX_RETRY_AFTER_SECONDS', () => {
    expect(retryDelayMs(1, httpError(429, { 'retry-after': '120' }), policy)).toBe(5_000);
  });

  it('backs off exponentially with jitter when there is no Retry-After', () => {
    // equal jitter with random() = 0.5: 3/4 of the exponential step
    expect(retryDelayMs(1, httpError(503), policy)).toBe(75);
    expect(retryDelayMs(2, httpError(503), policy)).toBe(150);
    expect(retryDelayMs(3, httpError(429), policy)).toBe(300);
    expect(retryDelayMs(9, httpError(502), policy)).toBe(750); // capped at maxDelayMs
  });

  it('keeps the jitter within [half, full] of the step', () => {
    const low = retryDelayMs(2, httpError(503), { ...policy, random: () => 0 });
    const high = retryDelayMs(2, httpError(503), { ...policy, random: () => 0.999999 });
    expect(low).toBe(100);
    expect(high).toBeGreaterThan(199);
    expect(high).toBeLessThanOrEqual(200);
  });
});
