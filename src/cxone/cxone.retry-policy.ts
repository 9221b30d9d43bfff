import type { AxiosError } from 'axios';
import type { AppConfig } from '../config/app-config.js';
import type { CxoneClientOptions } from './cxone-client.options.js';

/** Retried after backoff (429 honouring Retry-After); nothing else is (no 500, no other 4xx). */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/**
 * Connection resets (the request never got an answer on a reused or dropped connection) and
 * refusals (it never reached the server). Timeouts are not retried: the upstream may still be
 * working on the call.
 */
export const RETRYABLE_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'EPIPE',
  'ECONNREFUSED',
]);

export interface RetryPolicy {
  maxRetries: number;
  /** Cap of a Retry-After wait (MAX_RETRY_AFTER_SECONDS). */
  maxRetryAfterMs: number;
  /** First backoff; doubles on each retry. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** [0, 1); jitter source. */
  random: () => number;
  now: () => number;
}

/**
 * The policy of CXone calls: how many retries and the Retry-After cap from the configuration
 * (CXONE_MAX_RETRIES, MAX_RETRY_AFTER_SECONDS), backoff and jitter from the client's options.
 */
export function cxoneRetryPolicy(
  cxone: Pick<AppConfig['cxone'], 'maxRetries' | 'maxRetryAfterSeconds'>,
  options: Pick<CxoneClientOptions, 'retryBaseDelayMs' | 'retryMaxDelayMs' | 'random'>,
): RetryPolicy {
  return {
    maxRetries: cxone.maxRetries,
    maxRetryAfterMs: cxone.maxRetryAfterSeconds * 1000,
    baseDelayMs: options.retryBaseDelayMs,
    maxDelayMs: options.retryMaxDelayMs,
    random: options.random,
    now: Date.now,
  };
}

export function isRetryable(error: AxiosError): boolean {
  const status = error.response?.status;
  if (status !== undefined) return RETRYABLE_STATUSES.has(status);
  return error.code !== undefined && RETRYABLE_NETWORK_CODES.has(error.code);
}

/**
 * Milliseconds a Retry-After header asks to wait (delay-seconds or HTTP-date, RFC 9110
 * section 10.2.3), at least 0; undefined when absent or unreadable.
 */
export function parseRetryAfter(header: unknown, now: number): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (typeof value === 'number') return value >= 0 ? value * 1000 : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Every HTTP-date form starts with the day name; this keeps Date.parse's leniency out.
  if (!/^[A-Za-z]{3}/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Wait before retry number `retry` (1-based): a 429's Retry-After capped at
 * `maxRetryAfterMs`; otherwise exponential backoff `base × 2^(retry-1)` capped at
 * `maxDelayMs`, with "equal jitter" (half fixed, half random) so callers spread out.
 */
export function retryDelayMs(retry: number, error: AxiosError, policy: RetryPolicy): number {
  const response = error.response;
  if (response?.status === 429) {
    const asked = parseRetryAfter(response.headers['retry-after'], policy.now());
    if (asked !== undefined) return Math.min(asked, policy.maxRetryAfterMs);
  }
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return exponential / 2 + (policy.random() * exponential) / 2;
}
