import { HttpService } from '@nestjs/axios';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { type AxiosInstance, isAxiosError } from 'axios';
import { setTimeout as sleep } from 'node:timers/promises';
import { CxoneEndpoints } from '../auth/cxone-endpoints.service.js';
import { TokenManager } from '../auth/token-manager.service.js';
import { ResultCache } from '../cache/result-cache.service.js';
import { CircuitBreaker } from '../circuit-breaker/circuit-breaker.service.js';
import type { CircuitPermit } from '../circuit-breaker/circuit-state.store.js';
import { ACTION_ID_PATTERN } from '../lib/action-id.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { DomainError } from '../lib/domain-error.js';
import { AppConfig } from '../config/app-config.js';
import { CxoneCall } from './cxone-call.context.js';
import { CxoneCallError } from './cxone-call.error.js';
import { CxoneClientOptions } from './cxone-client.options.js';
import {
  type ClassifiedFailure,
  InvalidUpstreamJsonError,
  classifyFailure,
} from './cxone-error.classifier.js';
import { installLatencyInterceptor, installTracingInterceptor } from './cxone.interceptors.js';
import { trimAxiosDefaults } from './cxone.http-config.js';
import {
  cxoneRetryPolicy,
  isRetryable,
  parseRetryAfter,
  retryDelayMs,
  type RetryPolicy,
} from './cxone.retry-policy.js';
import type { ClosableAdapter } from './transport/node-http.adapter.js';
import type {
  AttemptAdmission,
  AttemptListener,
  AttemptPermit,
  AttemptResult,
  ExecuteOptions,
  ExecuteResult,
  SpanIdSource,
} from './cxone.types.js';
import { isValidTraceId } from '../lib/trace-context.js';

/** Failures for which the stale result is attached as a fallback. */
const FALLBACK_CODES: ReadonlySet<string> = new Set(['TIMEOUT', 'CIRCUIT_OPEN', 'UPSTREAM_5XX']);
/** Failures that count against the action's circuit. */
const BREAKER_FAILURES: ReadonlySet<string> = new Set(['TIMEOUT', 'NETWORK', 'UPSTREAM_5XX']);

const NOT_CALLED = { attempts: 0, latencyMs: 0 };

/** CXone's parsed answer and the length of its text (which sizes its cache entry). */
interface Answer {
  data: unknown;
  bytes: number;
}
const MAX_TIMEOUT_MS = 600_000;

const FREE_SLOT: AttemptPermit = { release: () => undefined };
/** Without a scheduler every attempt goes at once. */
const FREE_ADMISSION: AttemptAdmission = { admit: () => Promise.resolve(FREE_SLOT) };
const NOT_SENT: AttemptResult = { kind: 'not_sent', latencyMs: 0 };

/**
 * The one way to call a CXone data action (docs/api.md): result cache, circuit breaker,
 * token, tracing headers, retries with backoff, one token refresh on 401, error classification
 * and the stale fallback. Each attempt waits for its turn from `options.admission` and gives it
 * back when it ends, so a retry's wait holds no concurrency slot (which is why the retries are a
 * loop here rather than axios-retry, whose wait happens inside the request).
 */
@Injectable()
export class CxoneClient implements OnApplicationShutdown {
  private readonly axios: AxiosInstance;
  private readonly listeners: AttemptListener[] = [];
  private spanIdSource: SpanIdSource;
  /** The execute URL split around `{actionId}`, once the API base URL is known. */
  private urlParts: string[] | undefined;
  private readonly pathParts: string[];
  private readonly secrets: string[];
  private readonly probeLeaseMsPerTimeoutMs: number;
  private readonly probeLeaseExtraMs: number;
  private readonly retryPolicy: RetryPolicy;
  private readonly circuitMinTimeoutMs: number;

  constructor(
    http: HttpService,
    private readonly tokens: TokenManager,
    private readonly endpoints: CxoneEndpoints,
    private readonly breaker: CircuitBreaker,
    private readonly cache: ResultCache,
    config: AppConfig,
    options: CxoneClientOptions,
  ) {
    const { cxone } = config;
    this.axios = http.axiosRef;
    trimAxiosDefaults(this.axios);
    this.spanIdSource = options.spanIdSource;
    this.pathParts = cxone.executePath.split('{actionId}');
    const known = endpoints.current();
    if (known !== undefined) this.urlParts = this.withBase(known.apiUrl);
    this.secrets = [cxone.clientSecret, cxone.accessKeySecret ?? ''].filter((s) => s.length >= 4);
    // The probe lease covers the probe's worst case: every attempt timing out, every backoff.
    this.probeLeaseMsPerTimeoutMs = cxone.maxRetries + 1;
    this.probeLeaseExtraMs = cxone.maxRetries * options.retryMaxDelayMs;
    this.circuitMinTimeoutMs = config.circuit.minTimeoutMs;

    this.retryPolicy = cxoneRetryPolicy(cxone, options);

    installLatencyInterceptor(this.axios, this.listeners);
    installTracingInterceptor(this.axios, () => this.spanIdSource);
  }

  /**
   * Calls the action with the payload. Resolves with CXone's parsed answer (or the cached
   * one); rejects with a `CxoneCallError` (never anything else).
   */
  async execute(
    actionId: string,
    payload: unknown,
    options: ExecuteOptions,
  ): Promise<ExecuteResult> {
    if (!ACTION_ID_PATTERN.test(actionId)) {
      throw new CxoneCallError('VALIDATION_FAILED', 'action id is not valid', NOT_CALLED);
    }
    if (!isValidTraceId(options.traceContext.traceId)) {
      throw new CxoneCallError(
        'VALIDATION_FAILED',
        'trace id must be 32 lowercase hex digits',
        NOT_CALLED,
      );
    }
    if (!(options.timeoutMs > 0 && options.timeoutMs <= MAX_TIMEOUT_MS)) {
      // axios reads 0 as "no timeout": a hung CXone would hold the call forever.
      throw new CxoneCallError('VALIDATION_FAILED', 'timeoutMs must be in 1..600000', NOT_CALLED);
    }
    if (options.signal?.aborted) {
      throw new CxoneCallError('CANCELLED', 'call cancelled', NOT_CALLED);
    }
    let body: string;
    try {
      body = canonicalJson(payload);
    } catch {
      throw new CxoneCallError('VALIDATION_FAILED', 'payload is not JSON-serialisable', NOT_CALLED);
    }

    const ttlSeconds = options.cacheTtlSeconds;
    const key =
      ttlSeconds > 0 || this.cache.keepsStale ? this.cache.keyFor(actionId, body) : undefined;
    if (ttlSeconds > 0) {
      const hit = await this.cache.getFresh(key!);
      if (hit !== undefined) return { data: hit.data, cached: true, attempts: 0, latencyMs: 0 };
    }

    const leaseMs = options.timeoutMs * this.probeLeaseMsPerTimeoutMs + this.probeLeaseExtraMs;
    const permit = await this.breaker.acquire(actionId, leaseMs);
    if (permit === 'open') {
      const open = {
        code: 'CIRCUIT_OPEN',
        message: `circuit open for action ${actionId}; CXone not called`,
      } as const;
      throw await this.failure(open, key, NOT_CALLED.attempts, NOT_CALLED.latencyMs);
    }

    const call = new CxoneCall(
      actionId,
      options.requestId,
      options.traceContext,
      permit === 'probe' ? 'half-open' : 'closed',
      options.itemIndex,
    );
    let data: unknown;
    let bytes: number;
    try {
      ({ data, bytes } = await this.send(actionId, body, options, call));
    } catch (error) {
      const failure = classifyFailure(error, call.attempts, this.redact);
      await this.recordOutcome(actionId, permit, failure, options.timeoutMs);
      throw await this.failure(failure, key, call.attempts, call.lastLatencyMs);
    }
    // Writes the caller need not wait for (a Redis round trip each in distributed mode): the
    // breaker's success and the stale copy. Neither ever rejects (a store failure is logged, the
    // call stays a success); commands to one connection keep their order. A fresh cache entry is
    // awaited, so the next identical call finds it.
    void this.breaker.recordSuccess(actionId, permit);
    if (key !== undefined) {
      const stored = this.cache.store(key, data, ttlSeconds, bytes);
      if (ttlSeconds > 0) await stored;
    }
    return { data, cached: false, attempts: call.attempts, latencyMs: call.lastLatencyMs };
  }

  /** Subscribes to every attempt (status, latency, span id). Returns the unsubscribe function. */
  onAttempt(listener: AttemptListener): () => void {
    this.listeners.push(listener);
    return () => {
      const at = this.listeners.indexOf(listener);
      if (at >= 0) this.listeners.splice(at, 1);
    };
  }

  /** Replaces where attempt span ids come from (e.g. an OpenTelemetry span per attempt). */
  useSpanIdSource(source: SpanIdSource): void {
    this.spanIdSource = source;
  }

  /** After the batch queue has drained (BatchModule's onModuleDestroy): calls in flight still need the pool. */
  async onApplicationShutdown(): Promise<void> {
    await (this.axios.defaults.adapter as Partial<ClosableAdapter> | undefined)?.close?.();
  }

  /**
   * The attempts of one call: each waits for its turn, is sent, and hands its turn back with what
   * CXone answered before any backoff. 429, 502, 503, 504 and connection resets are retried up to
   * CXONE_MAX_RETRIES times (a 429's Retry-After honoured); a 401 refreshes the token once and
   * tries again.
   */
  private async send(
    actionId: string,
    body: string,
    options: ExecuteOptions,
    call: CxoneCall,
  ): Promise<Answer> {
    const encodedId = encodeURIComponent(actionId);
    // The token first: with the access-key grant its answer may be what names the API base.
    if (this.urlParts === undefined && this.tokens.peek() === undefined)
      await this.tokens.getToken();
    const url = (this.urlParts ?? (await this.resolveUrlParts())).join(encodedId);
    const admission = options.admission ?? FREE_ADMISSION;
    const waitSignal = anySignal(options.signal, admission.waitSignal);
    let retries = 0;
    let refreshed = false;
    for (;;) {
      const slot = await admission.admit();
      let token: string;
      try {
        token = this.tokens.peek() ?? (await this.tokens.getToken());
      } catch (error) {
        slot.release(NOT_SENT);
        throw error;
      }
      let failure: unknown;
      try {
        const data = await this.post(url, body, token, options, call);
        slot.release({ kind: 'success', latencyMs: call.lastLatencyMs });
        return data;
      } catch (error) {
        slot.release(this.attemptResult(error, call));
        failure = error;
      }
      if (!isAxiosError(failure)) throw failure;
      if (failure.response?.status === 401 && !refreshed) {
        // One refresh and one more try; a second 401 (or a 403) is AUTH_FAILED.
        refreshed = true;
        this.tokens.invalidate(token);
        if ((await this.tokens.getToken()) === token) throw failure;
        continue;
      }
      if (!isRetryable(failure) || retries >= this.retryPolicy.maxRetries) throw failure;
      retries++;
      await this.backoff(retryDelayMs(retries, failure, this.retryPolicy), waitSignal);
    }
  }

  /** What the attempt says about CXone's capacity: 429 and 503 are refusals. */
  private attemptResult(error: unknown, call: CxoneCall): AttemptResult {
    const latencyMs = call.lastLatencyMs;
    const response = isAxiosError(error) ? error.response : undefined;
    if (response?.status === 429) {
      const asked = parseRetryAfter(response.headers['retry-after'], this.retryPolicy.now());
      return asked === undefined
        ? { kind: 'refused', latencyMs }
        : {
            kind: 'refused',
            retryAfterMs: Math.min(asked, this.retryPolicy.maxRetryAfterMs),
            latencyMs,
          };
    }
    if (response?.status === 503) return { kind: 'refused', latencyMs };
    return { kind: 'other', latencyMs };
  }

  private async backoff(delayMs: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      await sleep(delayMs, undefined, signal ? { signal } : undefined);
    } catch {
      throw new DomainError('CANCELLED', 'call cancelled');
    }
  }

  private async post(
    url: string,
    body: string,
    token: string,
    options: ExecuteOptions,
    call: CxoneCall,
  ): Promise<Answer> {
    // request() rather than post(): post() merges its config once more before request() does.
    const headers: Record<string, string> = {
      Authorization: `Bearer ${token}`,
      'X-Request-Id': call.requestId,
      'X-Trace-Id': call.traceContext.traceId,
    };
    const traceState = call.traceContext.traceState;
    if (traceState !== undefined && traceState !== '') headers.tracestate = traceState;
    const response = await this.axios.request<string>({
      method: 'post',
      url,
      data: body,
      headers,
      timeout: options.timeoutMs,
      signal: options.signal,
      cxoneCall: call,
    });
    const text = response.data;
    if (response.status === 204 && text === '') return { data: null, bytes: 0 };
    try {
      return { data: JSON.parse(text) as unknown, bytes: text.length };
    } catch {
      throw new InvalidUpstreamJsonError(response.status);
    }
  }

  private async resolveUrlParts(): Promise<string[]> {
    const { apiUrl } = await this.endpoints.resolve();
    this.urlParts ??= this.withBase(apiUrl);
    return this.urlParts;
  }

  private withBase(apiUrl: string): string[] {
    const parts = [...this.pathParts];
    parts[0] = apiUrl + parts[0];
    return parts;
  }

  private async recordOutcome(
    actionId: string,
    permit: CircuitPermit,
    failure: ClassifiedFailure,
    timeoutMs: number,
  ): Promise<void> {
    if (failure.code === 'TIMEOUT' && timeoutMs < this.circuitMinTimeoutMs) {
      // A timeout shorter than CIRCUIT_MIN_TIMEOUT_MS was the caller's choice: its running out
      // says nothing about CXone, and must not open the circuit for every other caller.
      await this.breaker.release(actionId, permit);
    } else if (BREAKER_FAILURES.has(failure.code)) {
      await this.breaker.recordFailure(actionId, permit);
    } else if (failure.upstreamStatus !== undefined) {
      // CXone answered (4xx, 429, 401/403): it is up, whatever it thought of this call.
      await this.breaker.recordSuccess(actionId, permit);
    } else {
      await this.breaker.release(actionId, permit);
    }
  }

  private async failure(
    failure: ClassifiedFailure,
    key: string | undefined,
    attempts: number,
    latencyMs: number,
  ): Promise<CxoneCallError> {
    const fallback =
      key !== undefined && FALLBACK_CODES.has(failure.code)
        ? await this.cache.getStale(key)
        : undefined;
    return new CxoneCallError(failure.code, failure.message, {
      attempts,
      latencyMs,
      upstreamStatus: failure.upstreamStatus,
      fallback,
    });
  }

  private readonly redact = (text: string): string => {
    let safe = text;
    for (const secret of this.secrets) safe = safe.split(secret).join('[redacted]');
    const token = this.tokens.peek();
    if (token !== undefined) safe = safe.split(token).join('[redacted]');
    return safe.replace(/Bearer\s+\S+/gi, 'Bearer [redacted]');
  };
}

function anySignal(
  a: AbortSignal | undefined,
  b: AbortSignal | undefined,
): AbortSignal | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return AbortSignal.any([a, b]);
}
