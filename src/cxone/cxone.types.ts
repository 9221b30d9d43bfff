import type { TraceContext } from '../lib/trace-context.js';

/** The caller's W3C trace: CXone calls become child spans of it. */
export type { TraceContext };

export interface ExecuteOptions {
  traceContext: TraceContext;
  /** Sent as X-Request-Id, the same on every attempt of this call. */
  requestId: string;
  /** Timeout of each attempt (each downstream call), in milliseconds. */
  timeoutMs: number;
  /** How long a success is served from the cache; 0 neither reads nor writes the fresh entry. */
  cacheTtlSeconds: number;
  /** Aborts the call (and any retry wait): rejects with CANCELLED. */
  signal?: AbortSignal;
  /**
   * Who decides when each attempt may be sent (the batch layer's concurrency gate): the client
   * asks it before every attempt and hands the slot back, with what CXone answered, as soon as
   * the attempt ends, so that backoff and Retry-After waits hold no slot. Without it every
   * attempt goes at once.
   */
  admission?: AttemptAdmission;
  /** Position of the item in its batch; only read by telemetry (span attribute). */
  itemIndex?: number;
}

export interface ExecuteResult {
  /** CXone's response body, parsed. */
  data: unknown;
  /** Served from the result cache, without calling CXone. */
  cached: boolean;
  /** Downstream calls made (0 when cached). */
  attempts: number;
  /** Latency of the last downstream call, in milliseconds (0 when cached). */
  latencyMs: number;
}

/** What an attempt's span id source and the attempt listeners can read about the call. */
export interface AttemptInfo {
  readonly actionId: string;
  readonly requestId: string;
  readonly traceContext: TraceContext;
  /** 1 for the first attempt; counts every downstream call of this execute. */
  readonly attempts: number;
  readonly itemIndex: number | undefined;
  /** The action's circuit when the call was let through: closed, or half-open for the probe. */
  readonly circuitState: 'closed' | 'half-open';
  /** HTTP status of the previous attempt (0: none, or no response); tells why this one is a retry. */
  readonly lastStatus: number;
  /** Error code of the previous attempt when it got no response (ECONNRESET, …). */
  readonly lastErrorCode: string | undefined;
}

/**
 * Gives each attempt its span id (16 lowercase hex digits, not all zero). The default is
 * random; observability replaces it to start an OpenTelemetry span per attempt and use its id
 * (and ends that span from an attempt listener).
 */
export type SpanIdSource = (attempt: AttemptInfo) => string;

export interface AttemptRecord {
  actionId: string;
  requestId: string;
  traceId: string;
  spanId: string;
  /** 1-based. */
  attempt: number;
  /** HTTP status, or 0 when no response came (timeout, network error, cancel). */
  status: number;
  /** Error code when no response came (ETIMEDOUT, ECONNRESET, ERR_CANCELED, …). */
  errorCode?: string;
  latencyMs: number;
}

/** Called synchronously after every attempt; must be cheap and must not throw. */
export type AttemptListener = (record: AttemptRecord) => void;

/** What an attempt told about CXone's capacity, for the tenant protection. */
export interface AttemptResult {
  /**
   * `success`: 2xx. `refused`: 429 or 503, CXone's "too much". `other`: any other answer, or
   * none (timeout, network). `not_sent`: the slot was given back without a call.
   */
  kind: 'success' | 'refused' | 'other' | 'not_sent';
  /** A 429's Retry-After, in ms (capped at MAX_RETRY_AFTER_SECONDS). */
  retryAfterMs?: number;
  /** How long the attempt took, in ms. */
  latencyMs: number;
}

/** The turn of one attempt; `release` exactly once, when the attempt has ended. */
export interface AttemptPermit {
  release(result: AttemptResult): void;
}

export interface AttemptAdmission {
  /** Resolves when one attempt may be sent; rejects (CANCELLED) once `waitSignal` aborts. */
  admit(): Promise<AttemptPermit>;
  /**
   * Aborted when the call should stop waiting (its batch is cancelled or handed back): a
   * retry's backoff ends at once. Calls in flight are not aborted by it.
   */
  readonly waitSignal?: AbortSignal;
}
