import { Logger } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { randomBytes } from 'node:crypto';
import { CircuitBreakerOptions } from '../src/circuit-breaker/circuit-breaker.options.js';
import { CircuitBreaker } from '../src/circuit-breaker/circuit-breaker.service.js';
import type { CircuitTransition } from '../src/circuit-breaker/circuit-state.store.js';
import { ConfigModule } from '../src/config/config.module.js';
import { loadConfig } from '../src/config/load-config.js';
import { CxoneCallError } from '../src/cxone/cxone-call.error.js';
import { CxoneClientOptions } from '../src/cxone/cxone-client.options.js';
import { CxoneClient } from '../src/cxone/cxone.client.js';
import { CxoneModule } from '../src/cxone/cxone.module.js';
import type {
  AttemptAdmission,
  AttemptRecord,
  AttemptResult,
  ExecuteOptions,
} from '../src/cxone/cxone.types.js';
import { type SimulatorHandle, startSimulator } from '../src/simulator/simulator.server.js';

const TRACE_ID = randomBytes(16).toString('hex');
let sim: SimulatorHandle;
const modules: TestingModule[] = [];
let clock = Date.now();

interface Built {
  client: CxoneClient;
  breaker: CircuitBreaker;
  attempts: AttemptRecord[];
}

async function build(env: Record<string, string> = {}): Promise<Built> {
  const config = loadConfig({
    CXONE_API_URL: sim.url,
    CXONE_SIMULATOR: 'true',
    AUTH_DISABLED: 'true',
    CXONE_MAX_RETRIES: '3',
    ...env,
  });
  const moduleRef = await Test.createTestingModule({
    imports: [ConfigModule.forRoot(config), CxoneModule],
  })
    .overrideProvider(CxoneClientOptions)
    .useValue(Object.assign(new CxoneClientOptions(), { retryBaseDelayMs: 5, retryMaxDelayMs: 50 }))
    .overrideProvider(CircuitBreakerOptions)
    .useValue(Object.assign(new CircuitBreakerOptions(), { now: () => clock }))
    .compile();
  await moduleRef.init();
  modules.push(moduleRef);
  const client = moduleRef.get(CxoneClient);
  const attempts: AttemptRecord[] = [];
  client.onAttempt((record) => attempts.push(record));
  return { client, breaker: moduleRef.get(CircuitBreaker), attempts };
}

let requestCounter = 0;
function options(overrides: Partial<ExecuteOptions> = {}): ExecuteOptions {
  return {
    traceContext: { traceId: TRACE_ID },
    requestId: `req-${++requestCounter}-${randomBytes(4).toString('hex')}`,
    timeoutMs: 2_000,
    cacheTtlSeconds: 0,
    ...overrides,
  };
}

async function failure(promise: Promise<unknown>): Promise<CxoneCallError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CxoneCallError) return error;
    throw error;
  }
  throw new Error('expected the call to fail');
}

function calls(actionId: string): number {
  return sim.stats().actions[actionId]?.calls ?? 0;
}

async function until(condition: () => boolean, timeoutMs = 1_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

beforeAll(async () => {
  Logger.overrideLogger(false);
  sim = await startSimulator({ port: 0, seed: 1 });
});

afterEach(async () => {
  await Promise.all(modules.splice(0).map((m) => m.close()));
});

afterAll(async () => {
  await sim.close();
});

describe('CxoneClient: calls and headers', () => {
  it('calls the action and returns the parsed answer, with the headers of the contract', async () => {
    const { client, attempts } = await build();
    const opts = options();
    const result = await client.execute('echo.ok', { b: 1, a: { d: 2, c: 1 } }, opts);

    expect(result).toEqual({
      data: { action_id: 'echo.ok', request_id: opts.requestId, data: { a: { c: 1, d: 2 }, b: 1 } },
      cached: false,
      attempts: 1,
      latencyMs: expect.any(Number),
    });
    expect(result.latencyMs).toBeGreaterThan(0);
    const [call] = sim.recentCalls().filter((c) => c.request_id === opts.requestId);
    expect(call.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
    expect(call.x_trace_id).toBe(TRACE_ID);
    expect(call.x_span_id).toBe(call.traceparent?.split('-')[2]);
    expect(call.content_type).toBe('application/json');
    expect(call.accept).toBe('application/json');
    expect(attempts).toEqual([
      expect.objectContaining({
        actionId: 'echo.ok',
        requestId: opts.requestId,
        attempt: 1,
        status: 200,
        spanId: call.x_span_id,
      }),
    ]);
  });

  it("keeps the caller's trace flags and forwards its tracestate", async () => {
    const { client } = await build();
    const unsampled = options({ traceContext: { traceId: TRACE_ID, sampled: false } });
    await client.execute('echo.unsampled', {}, unsampled);
    const withFlags = options({
      traceContext: { traceId: TRACE_ID, traceFlags: '00', traceState: 'vendor=abc' },
    });
    await client.execute('echo.unsampled', {}, withFlags);
    const sent = (requestId: string) =>
      sim.recentCalls().filter((c) => c.request_id === requestId)[0];
    expect(sent(unsampled.requestId).traceparent).toMatch(/-00$/);
    expect(sent(unsampled.requestId).tracestate).toBeNull();
    expect(sent(withFlags.requestId).traceparent).toMatch(/-00$/);
    expect(sent(withFlags.requestId).tracestate).toBe('vendor=abc');
  });

  it('URL-encodes the action id into the execute path', async () => {
    const { client } = await build();
    const result = await client.execute('ns:act.v1', {}, options());
    expect((result.data as { action_id: string }).action_id).toBe('ns:act.v1');
    expect(calls('ns:act.v1')).toBe(1);
  });

  it('rejects an invalid action id before any call', async () => {
    const { client } = await build();
    const before = sim.stats().calls;
    for (const bad of ['', '../x', 'a b', 'a/b', '.hidden', 'x'.repeat(129)]) {
      const error = await failure(client.execute(bad, {}, options()));
      expect(error.code).toBe('VALIDATION_FAILED');
      expect(error.attempts).toBe(0);
    }
    const noTimeout = await failure(client.execute('echo.ok', {}, options({ timeoutMs: 0 })));
    expect(noTimeout.code).toBe('VALIDATION_FAILED');
    expect(sim.stats().calls).toBe(before);
  });
});

describe('CxoneClient: retries', () => {
  it('retries 503 with the same X-Request-Id, the same trace and a fresh span id per attempt', async () => {
    sim.setProfile('retry.503', { fail_first: { attempts: 2, status: 503 } });
    const { client, attempts } = await build();
    const opts = options();
    const result = await client.execute('retry.503', { x: 1 }, opts);

    expect(result.attempts).toBe(3);
    expect(sim.attempts(opts.requestId)).toBe(3);
    const seen = sim.recentCalls().filter((c) => c.request_id === opts.requestId);
    expect(seen).toHaveLength(3);
    const spans = seen.map((c) => c.traceparent?.split('-')[2]);
    expect(new Set(spans).size).toBe(3);
    for (const call of seen) {
      expect(call.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
      expect(call.x_trace_id).toBe(TRACE_ID);
    }
    expect(attempts.map((a) => [a.attempt, a.status])).toEqual([
      [1, 503],
      [2, 503],
      [3, 200],
    ]);
    expect(attempts.map((a) => a.spanId)).toEqual(spans);
  });

  it('stops after CXONE_MAX_RETRIES and reports UPSTREAM_5XX with the upstream message', async () => {
    sim.setProfile('retry.exhausted', { error_rate: 1, error_status: 502 });
    const { client } = await build({ CXONE_MAX_RETRIES: '2' });
    const opts = options();
    const error = await failure(client.execute('retry.exhausted', {}, opts));
    expect(error.code).toBe('UPSTREAM_5XX');
    expect(error.upstreamStatus).toBe(502);
    expect(error.attempts).toBe(3);
    expect(error.message).toBe('CXone answered 502: simulated 502');
    expect(sim.attempts(opts.requestId)).toBe(3);
  });

  it('does not retry a 500', async () => {
    sim.setProfile('no-retry.500', { error_rate: 1, error_status: 500 });
    const { client } = await build();
    const opts = options();
    const error = await failure(client.execute('no-retry.500', {}, opts));
    expect(error.code).toBe('UPSTREAM_5XX');
    expect(error.attempts).toBe(1);
    expect(sim.attempts(opts.requestId)).toBe(1);
  });

  it('does not retry other 4xx and puts the status in the message', async () => {
    sim.setProfile('no-retry.404', { error_rate: 1, error_status: 404 });
    const { client } = await build();
    const opts = options();
    const error = await failure(client.execute('no-retry.404', {}, opts));
    expect(error.code).toBe('UPSTREAM_4XX');
    expect(error.upstreamStatus).toBe(404);
    expect(error.message).toBe('CXone answered 404: simulated 404');
    expect(error.fallback).toBeUndefined();
    expect(sim.attempts(opts.requestId)).toBe(1);
  });

  it('honours Retry-After in seconds, then reports RATE_LIMITED', async () => {
    sim.setProfile('limited.seconds', {
      rate_limit_rate: 1,
      retry_after_seconds: 1,
      retry_after_format: 'seconds',
    });
    const { client, attempts } = await build({
      CXONE_MAX_RETRIES: '1',
      MAX_RETRY_AFTER_SECONDS: '5',
    });
    const started = Date.now();
    const error = await failure(client.execute('limited.seconds', {}, options()));
    const elapsed = Date.now() - started;

    expect(error.code).toBe('RATE_LIMITED');
    expect(error.attempts).toBe(2);
    expect(attempts.map((a) => a.status)).toEqual([429, 429]);
    // The backoff base is 5 ms: only the header explains a wait of a second.
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(1_800);
  });

  it('honours Retry-After as an HTTP date, capped at MAX_RETRY_AFTER_SECONDS', async () => {
    // The simulator's date is 1 to 2 s ahead; the cap makes the wait exactly 1 s.
    sim.setProfile('limited.date', {
      fail_first: null,
      rate_limit_rate: 1,
      retry_after_seconds: 1,
      retry_after_format: 'http-date',
    });
    const { client } = await build({ CXONE_MAX_RETRIES: '1', MAX_RETRY_AFTER_SECONDS: '1' });
    const started = Date.now();
    const error = await failure(client.execute('limited.date', {}, options()));
    const elapsed = Date.now() - started;
    expect(error.code).toBe('RATE_LIMITED');
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(1_500);
  });

  it('is cancelled by its signal, even while waiting to retry', async () => {
    sim.setProfile('limited.cancel', { rate_limit_rate: 1, retry_after_seconds: 5 });
    const { client } = await build({ MAX_RETRY_AFTER_SECONDS: '5' });
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);
    const error = await failure(
      client.execute('limited.cancel', {}, options({ signal: controller.signal })),
    );
    expect(error.code).toBe('CANCELLED');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

/** An admission that records when each attempt's turn was taken and given back, and how. */
function recordingAdmission(signal?: AbortSignal): {
  admission: AttemptAdmission;
  events: { at: number; event: 'admit' | 'release'; result?: AttemptResult }[];
  held: () => number;
} {
  const events: { at: number; event: 'admit' | 'release'; result?: AttemptResult }[] = [];
  let held = 0;
  const admission: AttemptAdmission = {
    waitSignal: signal,
    admit: async () => {
      held++;
      events.push({ at: Date.now(), event: 'admit' });
      return {
        release: (result) => {
          held--;
          events.push({ at: Date.now(), event: 'release', result });
        },
      };
    },
  };
  return { admission, events, held: () => held };
}

describe('CxoneClient: turns of attempts', () => {
  it("takes a turn per attempt and holds none while waiting out a 429's Retry-After", async () => {
    sim.setProfile('turns.retry-after', { max_per_second: 1, retry_after_seconds: 1 });
    const { client } = await build({ MAX_RETRY_AFTER_SECONDS: '5' });
    const first = recordingAdmission();
    await client.execute('turns.retry-after', { n: 1 }, options({ admission: first.admission }));
    const second = recordingAdmission();
    const opts = options({ admission: second.admission });
    const call = client.execute('turns.retry-after', { n: 2 }, opts);
    await until(() => second.events.length === 2);
    // Refused and handed back at once, with the wait CXone asked for; nothing held meanwhile.
    expect(second.events[1].result).toEqual({
      kind: 'refused',
      retryAfterMs: 1000,
      latencyMs: expect.any(Number),
    });
    expect(second.held()).toBe(0);
    await call;
    expect(second.events.map((e) => e.event)).toEqual(['admit', 'release', 'admit', 'release']);
    expect(second.events[2].at - second.events[1].at).toBeGreaterThanOrEqual(950);
    expect(second.events[3].result?.kind).toBe('success');
    expect(sim.attempts(opts.requestId)).toBe(2);
  });

  it('hands the turn back before the backoff of a refusal without Retry-After (503)', async () => {
    sim.setProfile('turns.backoff', { fail_first: { attempts: 2, status: 503 } });
    const { client } = await build();
    const turns = recordingAdmission();
    const opts = options({ admission: turns.admission });
    await client.execute('turns.backoff', {}, opts);
    expect(turns.events.map((e) => e.result?.kind ?? e.event)).toEqual([
      'admit',
      'refused',
      'admit',
      'refused',
      'admit',
      'success',
    ]);
    expect(turns.events[1].result?.retryAfterMs).toBeUndefined();
    expect(sim.attempts(opts.requestId)).toBe(3);
  });

  it('gives a turn back as not sent when the circuit is open', async () => {
    sim.setProfile('turns.open', { error_rate: 1, error_status: 502 });
    const { client } = await build({ CXONE_MAX_RETRIES: '0', CIRCUIT_FAILURE_THRESHOLD: '1' });
    await failure(client.execute('turns.open', {}, options()));
    const turns = recordingAdmission();
    const error = await failure(
      client.execute('turns.open', {}, options({ admission: turns.admission })),
    );
    expect(error.code).toBe('CIRCUIT_OPEN');
    expect(turns.events).toEqual([]);
  });

  it('stops waiting for its next turn once the wait signal aborts', async () => {
    sim.setProfile('turns.abort', { rate_limit_rate: 1, retry_after_seconds: 5 });
    const { client } = await build({ MAX_RETRY_AFTER_SECONDS: '5' });
    const stop = new AbortController();
    const turns = recordingAdmission(stop.signal);
    setTimeout(() => stop.abort(), 100);
    const started = Date.now();
    const error = await failure(
      client.execute('turns.abort', {}, options({ admission: turns.admission })),
    );
    expect(error.code).toBe('CANCELLED');
    expect(error.attempts).toBe(1);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(turns.held()).toBe(0);
  });
});

describe('CxoneClient: timeouts and bad answers', () => {
  it('ends a hung call at the timeout, does not retry it, and releases the socket', async () => {
    sim.setProfile('hang', { hang_rate: 1 });
    const { client, attempts } = await build();
    const opts = options({ timeoutMs: 150 });
    const started = Date.now();
    const error = await failure(client.execute('hang', {}, opts));

    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toBe('CXone did not answer within 150 ms');
    expect(error.attempts).toBe(1);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(attempts).toEqual([expect.objectContaining({ status: 0, errorCode: 'ETIMEDOUT' })]);
    expect(sim.attempts(opts.requestId)).toBe(1);
    expect(sim.stats().actions.hang.hangs).toBe(1);
    // The client destroyed the socket: the simulator sees the call end.
    await until(() => sim.stats().actions.hang.in_flight === 0);
  });

  it('classifies a 200 with a non-JSON body as UPSTREAM_5XX, without crashing', async () => {
    sim.setProfile('html.200', { non_json_rate: 1, non_json_status: 200 });
    const { client } = await build();
    const error = await failure(client.execute('html.200', {}, options()));
    expect(error.code).toBe('UPSTREAM_5XX');
    expect(error.upstreamStatus).toBe(200);
    expect(error.message).toBe('CXone answered 200 with a body that is not JSON');
    expect(error.attempts).toBe(1);
  });

  it('classifies non-JSON error answers by status', async () => {
    sim.setProfile('html.502', { non_json_rate: 1, non_json_status: 502 });
    sim.setProfile('html.400', { non_json_rate: 1, non_json_status: 400 });
    const { client } = await build({ CXONE_MAX_RETRIES: '1' });
    const e502 = await failure(client.execute('html.502', {}, options()));
    expect([e502.code, e502.attempts, e502.message]).toEqual([
      'UPSTREAM_5XX',
      2,
      'CXone answered 502 (non-JSON body)',
    ]);
    const e400 = await failure(client.execute('html.400', {}, options()));
    expect([e400.code, e400.upstreamStatus]).toEqual(['UPSTREAM_4XX', 400]);
  });

  it('reports NETWORK when CXone cannot be reached, after retrying the refusal', async () => {
    const { client, attempts } = await build({
      CXONE_API_URL: 'http://127.0.0.1:9',
      CXONE_TOKEN_URL: `${sim.url}/platform/oauth/token`,
      CXONE_MAX_RETRIES: '2',
    });
    const error = await failure(client.execute('unreachable', {}, options()));
    expect(error.code).toBe('NETWORK');
    expect(error.message).toBe('network error calling CXone (ECONNREFUSED)');
    expect(error.attempts).toBe(3);
    expect(attempts.map((a) => a.errorCode)).toEqual([
      'ECONNREFUSED',
      'ECONNREFUSED',
      'ECONNREFUSED',
    ]);
  });
});

describe('CxoneClient: circuit breaker', () => {
  it('opens after the threshold, sends nothing while open, probes once, closes on success', async () => {
    sim.setProfile('breaker.flaky', { error_rate: 1, error_status: 500 });
    const { client, breaker } = await build({
      CIRCUIT_FAILURE_THRESHOLD: '3',
      CIRCUIT_RECOVERY_SECONDS: '30',
    });
    const transitions: CircuitTransition[] = [];
    breaker.onTransition((t) => transitions.push(t));

    for (let i = 0; i < 3; i++) {
      expect((await failure(client.execute('breaker.flaky', { i }, options()))).code).toBe(
        'UPSTREAM_5XX',
      );
    }
    const open = await failure(client.execute('breaker.flaky', {}, options()));
    expect([open.code, open.attempts]).toEqual(['CIRCUIT_OPEN', 0]);
    expect(calls('breaker.flaky')).toBe(3);
    expect((await breaker.state('breaker.flaky')).state).toBe('open');

    // Another action is not affected.
    await expect(client.execute('breaker.other', {}, options())).resolves.toMatchObject({
      attempts: 1,
    });

    // Recovery time passes and CXone is healthy again (but slow, so the probe is still in flight).
    sim.setProfile('breaker.flaky', { latency_ms: 100 });
    clock += 30_000;
    const outcomes = await Promise.allSettled(
      [1, 2, 3, 4, 5].map((i) => client.execute('breaker.flaky', { i }, options())),
    );
    const fulfilled = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.filter(
      (o) => o.status === 'rejected' && (o.reason as CxoneCallError).code === 'CIRCUIT_OPEN',
    );
    expect([fulfilled.length, refused.length]).toEqual([1, 4]);
    expect(calls('breaker.flaky')).toBe(4);

    await client.execute('breaker.flaky', {}, options());
    expect(calls('breaker.flaky')).toBe(5);
    expect(transitions.map((t) => `${t.from}->${t.to}`)).toEqual([
      'closed->open',
      'open->half-open',
      'half-open->closed',
    ]);
  });

  it('re-opens when the probe fails', async () => {
    sim.setProfile('breaker.down', { hang_rate: 1 });
    const { client, breaker } = await build({
      CIRCUIT_FAILURE_THRESHOLD: '2',
      CIRCUIT_MIN_TIMEOUT_MS: '100',
    });
    for (let i = 0; i < 2; i++) {
      expect(
        (await failure(client.execute('breaker.down', {}, options({ timeoutMs: 100 })))).code,
      ).toBe('TIMEOUT');
    }
    clock += 30_000;
    const probe = await failure(client.execute('breaker.down', {}, options({ timeoutMs: 100 })));
    expect(probe.code).toBe('TIMEOUT');
    expect(calls('breaker.down')).toBe(3);
    expect((await failure(client.execute('breaker.down', {}, options()))).code).toBe(
      'CIRCUIT_OPEN',
    );
    expect((await breaker.state('breaker.down')).state).toBe('open');
  });

  it('does not count a timeout shorter than CIRCUIT_MIN_TIMEOUT_MS against the circuit', async () => {
    sim.setProfile('breaker.short', { hang_rate: 1 });
    const { client, breaker } = await build({
      CIRCUIT_FAILURE_THRESHOLD: '2',
      CIRCUIT_MIN_TIMEOUT_MS: '5000',
    });
    for (let i = 0; i < 4; i++) {
      const error = await failure(client.execute('breaker.short', {}, options({ timeoutMs: 100 })));
      expect(error.code).toBe('TIMEOUT');
    }
    expect(calls('breaker.short')).toBe(4);
    expect((await breaker.state('breaker.short')).state).toBe('closed');
    // The same action failing for real (5xx) still opens it.
    sim.setProfile('breaker.short', { error_rate: 1, error_status: 500 });
    for (let i = 0; i < 2; i++) await failure(client.execute('breaker.short', {}, options()));
    expect((await breaker.state('breaker.short')).state).toBe('open');
  });

  it('does not count 4xx answers as failures', async () => {
    sim.setProfile('breaker.404', { error_rate: 1, error_status: 404 });
    const { client } = await build({ CIRCUIT_FAILURE_THRESHOLD: '2' });
    for (let i = 0; i < 4; i++) {
      expect((await failure(client.execute('breaker.404', {}, options()))).code).toBe(
        'UPSTREAM_4XX',
      );
    }
    expect(calls('breaker.404')).toBe(4);
  });
});

describe('CxoneClient: result cache', () => {
  it('serves a cached success for the same payload with keys in another order, without a call', async () => {
    const { client } = await build();
    const first = await client.execute(
      'cache.hit',
      { a: 1, b: { c: 2, d: 3 } },
      options({ cacheTtlSeconds: 60 }),
    );
    expect(first.cached).toBe(false);
    const second = await client.execute(
      'cache.hit',
      { b: { d: 3, c: 2 }, a: 1 },
      options({ cacheTtlSeconds: 60 }),
    );
    expect(second).toEqual({ data: first.data, cached: true, attempts: 0, latencyMs: 0 });
    expect(calls('cache.hit')).toBe(1);
    // Another payload is another entry.
    await client.execute('cache.hit', { a: 2 }, options({ cacheTtlSeconds: 60 }));
    expect(calls('cache.hit')).toBe(2);
  });

  it('with cacheTtlSeconds 0 calls CXone every time', async () => {
    const { client } = await build();
    await client.execute('cache.off', { a: 1 }, options());
    const again = await client.execute('cache.off', { a: 1 }, options());
    expect(again.cached).toBe(false);
    expect(calls('cache.off')).toBe(2);
  });

  it('attaches the last good result to a timeout, an open circuit and a 5xx, not to a 4xx', async () => {
    const { client } = await build({
      CIRCUIT_FAILURE_THRESHOLD: '2',
      CIRCUIT_MIN_TIMEOUT_MS: '100',
    });
    const good = await client.execute('stale.fallback', { q: 1 }, options());

    sim.setProfile('stale.fallback', { hang_rate: 1 });
    const timeout = await failure(
      client.execute('stale.fallback', { q: 1 }, options({ timeoutMs: 100 })),
    );
    expect(timeout.code).toBe('TIMEOUT');
    expect(timeout.fallback).toEqual({ data: good.data });

    const unknown = await failure(
      client.execute('stale.fallback', { q: 2 }, options({ timeoutMs: 100 })),
    );
    expect(unknown.code).toBe('TIMEOUT');
    expect(unknown.fallback).toBeUndefined();

    const open = await failure(client.execute('stale.fallback', { q: 1 }, options()));
    expect(open.code).toBe('CIRCUIT_OPEN');
    expect(open.fallback).toEqual({ data: good.data });

    sim.setProfile('stale.5xx', {});
    const good5 = await client.execute('stale.5xx', { q: 1 }, options());
    sim.setProfile('stale.5xx', { error_rate: 1, error_status: 500 });
    const e5 = await failure(client.execute('stale.5xx', { q: 1 }, options()));
    expect(e5.fallback).toEqual({ data: good5.data });
    sim.setProfile('stale.5xx', { error_rate: 1, error_status: 409 });
    const e4 = await failure(client.execute('stale.5xx', { q: 1 }, options()));
    expect([e4.code, e4.fallback]).toEqual(['UPSTREAM_4XX', undefined]);
  });
});
