import { DomainError } from '../../lib/domain-error.js';
import type { ExecuteResult } from './action-executor.js';
import type { ItemOutcome } from './batch.types.js';

/** Codes whose failure is served from the stale copy when there is one (outcome rules, docs/api.md). */
const FALLBACK_CODES = new Set(['TIMEOUT', 'CIRCUIT_OPEN', 'UPSTREAM_5XX']);

interface CallFailure {
  attempts?: number;
  latencyMs?: number;
  fallback?: { data: unknown };
}

export function successOutcome(result: ExecuteResult): ItemOutcome {
  return {
    status: 'success',
    data: result.data,
    cached: result.cached,
    attempts: result.attempts,
    latencyMs: result.latencyMs,
  };
}

/**
 * Merges a failed call into the item's outcome: degraded with the stale result where the contract
 * allows it, degraded `timeout_no_cache` for a timeout without one, failed otherwise.
 */
export function failureOutcome(error: unknown): ItemOutcome {
  if (!(error instanceof DomainError)) {
    return {
      status: 'failed',
      error: 'Internal error while running the item',
      errorCode: 'INTERNAL',
      attempts: 0,
      latencyMs: 0,
    };
  }
  const { attempts = 0, latencyMs = 0, fallback } = error as DomainError & CallFailure;
  if (fallback && FALLBACK_CODES.has(error.code)) {
    return {
      status: 'degraded',
      data: fallback.data,
      reason: `${error.code.toLowerCase()}_fallback`,
      attempts,
      latencyMs,
    };
  }
  if (error.code === 'TIMEOUT') {
    return {
      status: 'degraded',
      data: { error: 'timeout_no_cache' },
      reason: 'timeout_no_cache',
      attempts,
      latencyMs,
    };
  }
  return { status: 'failed', error: error.message, errorCode: error.code, attempts, latencyMs };
}
