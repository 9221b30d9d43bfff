/** No wait between two attempts is longer than this, whatever the attempt or Retry-After. */
export const MAX_RETRY_DELAY_MS = 3_600_000;

/**
 * How long to wait after failed attempt number `attempt` (from 1): `firstDelayMs` doubling per
 * attempt, jittered to between half and one and a half times that (so that the callbacks of
 * batches that ended together, failing together, do not come back together), at least what the
 * receiver's Retry-After asked, at most an hour.
 */
export function retryDelayMs(
  attempt: number,
  firstDelayMs: number,
  retryAfterSeconds?: number,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(MAX_RETRY_DELAY_MS, firstDelayMs * 2 ** (attempt - 1));
  const jittered = Math.round(exponential * (0.5 + random()));
  const asked = retryAfterSeconds === undefined ? 0 : retryAfterSeconds * 1000;
  return Math.min(MAX_RETRY_DELAY_MS, Math.max(jittered, asked));
}

/** Statuses worth another attempt (docs/api.md): 408, 429 and every 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}
