import {
  SimulatorInputError,
  describe,
  isPlainObject,
  optionalNumber,
  rejectUnknownFields,
} from './simulator.validation.js';

export type RetryAfterFormat = 'seconds' | 'http-date';

/** Wire shape (snake_case), as accepted by setProfile, PUT /__sim/profiles/{id} and SIM_PROFILES. */
export interface FaultProfileInput {
  latency_ms?: number;
  jitter_ms?: number;
  error_rate?: number;
  error_status?: number;
  rate_limit_rate?: number;
  retry_after_seconds?: number;
  retry_after_format?: RetryAfterFormat;
  hang_rate?: number;
  fail_first?: { attempts: number; status?: number } | null;
  non_json_rate?: number;
  non_json_status?: number;
  max_in_flight?: number | null;
  max_per_second?: number | null;
}

/** A normalised profile as shown by GET /__sim/profiles: every field present. */
export interface FaultProfileView {
  latency_ms: number;
  jitter_ms: number;
  error_rate: number;
  error_status: number;
  rate_limit_rate: number;
  retry_after_seconds: number;
  retry_after_format: RetryAfterFormat;
  hang_rate: number;
  fail_first: { attempts: number; status: number } | null;
  non_json_rate: number;
  non_json_status: number;
  max_in_flight: number | null;
  max_per_second: number | null;
}

export interface FaultProfile {
  readonly latencyMs: number;
  readonly jitterMs: number;
  readonly errorRate: number;
  readonly errorStatus: number;
  readonly rateLimitRate: number;
  readonly retryAfterSeconds: number;
  readonly retryAfterFormat: RetryAfterFormat;
  readonly hangRate: number;
  readonly failFirst: { readonly attempts: number; readonly status: number } | null;
  readonly nonJsonRate: number;
  readonly nonJsonStatus: number;
  /**
   * The action's concurrency capacity: a call arriving while this many are in flight is answered
   * 429 without Retry-After, as a concurrency limit answers. null: none.
   */
  readonly maxInFlight: number | null;
  /**
   * The action's rate capacity: a call beyond this many in the last second is answered 429 with
   * the profile's Retry-After. null: none.
   */
  readonly maxPerSecond: number | null;
}

export const ZERO_FAULT_PROFILE: FaultProfile = Object.freeze({
  latencyMs: 0,
  jitterMs: 0,
  errorRate: 0,
  errorStatus: 500,
  rateLimitRate: 0,
  retryAfterSeconds: 1,
  retryAfterFormat: 'seconds',
  hangRate: 0,
  failFirst: null,
  nonJsonRate: 0,
  nonJsonStatus: 200,
  maxInFlight: null,
  maxPerSecond: null,
});

const MAX_LATENCY_MS = 600_000;
const RATE = { min: 0, max: 1 };
const ERROR_STATUS = { min: 400, max: 599, integer: true };
const CAPACITY = { min: 1, max: 1_000_000, integer: true };

const PROFILE_FIELDS: ReadonlySet<string> = new Set([
  'latency_ms',
  'jitter_ms',
  'error_rate',
  'error_status',
  'rate_limit_rate',
  'retry_after_seconds',
  'retry_after_format',
  'hang_rate',
  'fail_first',
  'non_json_rate',
  'non_json_status',
  'max_in_flight',
  'max_per_second',
]);
const FAIL_FIRST_FIELDS: ReadonlySet<string> = new Set(['attempts', 'status']);

/**
 * Validates a wire profile strictly (unknown field, wrong type or range throws a
 * SimulatorInputError naming the field) and fills the defaults of the zero-fault profile.
 */
export function parseFaultProfile(input: unknown): FaultProfile {
  if (!isPlainObject(input)) {
    throw new SimulatorInputError('profile', `must be a JSON object (got ${describe(input)})`);
  }
  rejectUnknownFields(input, PROFILE_FIELDS);
  const d = ZERO_FAULT_PROFILE;
  const latency = { min: 0, max: MAX_LATENCY_MS };
  return Object.freeze({
    latencyMs: optionalNumber(input, 'latency_ms', latency) ?? d.latencyMs,
    jitterMs: optionalNumber(input, 'jitter_ms', latency) ?? d.jitterMs,
    errorRate: optionalNumber(input, 'error_rate', RATE) ?? d.errorRate,
    errorStatus: optionalNumber(input, 'error_status', ERROR_STATUS) ?? d.errorStatus,
    rateLimitRate: optionalNumber(input, 'rate_limit_rate', RATE) ?? d.rateLimitRate,
    retryAfterSeconds:
      optionalNumber(input, 'retry_after_seconds', { min: 0, max: 86_400, integer: true }) ??
      d.retryAfterSeconds,
    retryAfterFormat: parseRetryAfterFormat(input.retry_after_format) ?? d.retryAfterFormat,
    hangRate: optionalNumber(input, 'hang_rate', RATE) ?? d.hangRate,
    failFirst: parseFailFirst(input.fail_first),
    nonJsonRate: optionalNumber(input, 'non_json_rate', RATE) ?? d.nonJsonRate,
    nonJsonStatus:
      optionalNumber(input, 'non_json_status', { min: 200, max: 599, integer: true }) ??
      d.nonJsonStatus,
    maxInFlight: optionalCapacity(input, 'max_in_flight'),
    maxPerSecond: optionalCapacity(input, 'max_per_second'),
  });
}

export function faultProfileView(profile: FaultProfile): FaultProfileView {
  return {
    latency_ms: profile.latencyMs,
    jitter_ms: profile.jitterMs,
    error_rate: profile.errorRate,
    error_status: profile.errorStatus,
    rate_limit_rate: profile.rateLimitRate,
    retry_after_seconds: profile.retryAfterSeconds,
    retry_after_format: profile.retryAfterFormat,
    hang_rate: profile.hangRate,
    fail_first: profile.failFirst && { ...profile.failFirst },
    non_json_rate: profile.nonJsonRate,
    non_json_status: profile.nonJsonStatus,
    max_in_flight: profile.maxInFlight,
    max_per_second: profile.maxPerSecond,
  };
}

/** A capacity: a positive integer, or null (or absent) for none. */
function optionalCapacity(input: Record<string, unknown>, key: string): number | null {
  if (input[key] === null) return null;
  return optionalNumber(input, key, CAPACITY) ?? null;
}

function parseRetryAfterFormat(value: unknown): RetryAfterFormat | undefined {
  if (value === undefined || value === 'seconds' || value === 'http-date') return value;
  throw new SimulatorInputError(
    'retry_after_format',
    `must be "seconds" or "http-date" (got ${describe(value)})`,
  );
}

function parseFailFirst(value: unknown): FaultProfile['failFirst'] {
  if (value === undefined || value === null) return null;
  if (!isPlainObject(value)) {
    throw new SimulatorInputError(
      'fail_first',
      `must be null or an object {"attempts": K, "status": S} (got ${describe(value)})`,
    );
  }
  rejectUnknownFields(value, FAIL_FIRST_FIELDS, 'fail_first.');
  const attempts = optionalNumber(
    value,
    'attempts',
    { min: 0, max: 1_000_000, integer: true },
    'fail_first.',
  );
  if (attempts === undefined) {
    throw new SimulatorInputError('fail_first.attempts', 'is required');
  }
  const status = optionalNumber(value, 'status', ERROR_STATUS, 'fail_first.') ?? 503;
  return Object.freeze({ attempts, status });
}
