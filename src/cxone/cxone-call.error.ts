import { DomainError, type ErrorCode } from '../lib/domain-error.js';

export interface CxoneCallErrorDetails {
  /** Downstream calls made (0: CXone was not called). */
  attempts: number;
  /** Latency of the last downstream call, in milliseconds. */
  latencyMs: number;
  /** The HTTP status CXone answered last, when it answered. */
  upstreamStatus?: number;
  /**
   * The last good result for this action and payload (the stale cache entry), attached for
   * TIMEOUT, CIRCUIT_OPEN and UPSTREAM_5XX when one is known. The caller decides whether to
   * serve it as a degraded outcome.
   */
  fallback?: { data: unknown };
}

/**
 * A CXone call that did not succeed. `code` is one of TIMEOUT, CIRCUIT_OPEN, RATE_LIMITED,
 * UPSTREAM_4XX, UPSTREAM_5XX, AUTH_FAILED, NETWORK, CANCELLED (plus VALIDATION_FAILED for a
 * bad action id or payload, INTERNAL for a bug). The message is short and safe to show: it
 * never holds a token, a secret or a stack.
 */
export class CxoneCallError extends DomainError {
  readonly attempts: number;
  readonly latencyMs: number;
  readonly upstreamStatus: number | undefined;
  readonly fallback: { data: unknown } | undefined;

  constructor(code: ErrorCode, message: string, details: CxoneCallErrorDetails) {
    super(code, message);
    this.name = 'CxoneCallError';
    this.attempts = details.attempts;
    this.latencyMs = details.latencyMs;
    this.upstreamStatus = details.upstreamStatus;
    this.fallback = details.fallback;
  }
}
