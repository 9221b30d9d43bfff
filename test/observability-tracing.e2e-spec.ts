import type { NestExpressApplication } from '@nestjs/platform-express';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp } from '../src/app.factory.js';
import { loadConfig } from '../src/config/load-config.js';
import { type SimulatorHandle, startSimulator } from '../src/simulator/simulator.server.js';
import { apiFor, payloads } from './helpers/api.js';
import { deleteKeys, describeWithRedis, SHARED_REDIS_URL, uniquePrefix } from './helpers/redis.js';
import { TEST_API_KEY } from './helpers/test-app.js';
import { withDataDir } from './helpers/data-dir.js';

// One trace from the caller's request to every CXone attempt, checked with an in-memory
// exporter and against the traceparent headers the simulator received.

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

let sim: SimulatorHandle;
beforeAll(async () => {
  sim = await startSimulator({ port: 0 });
});
afterAll(async () => {
  await sim.close();
});

interface Traced {
  app: NestExpressApplication;
  url: string;
  exporter: InMemorySpanExporter;
}

async function startTraced(env: Record<string, string> = {}): Promise<Traced> {
  const exporter = new InMemorySpanExporter();
  const config = loadConfig(
    withDataDir({
      CXONE_SIMULATOR: 'true',
      CXONE_API_URL: sim.url,
      API_KEYS: TEST_API_KEY,
      LOG_LEVEL: 'silent',
      ...env,
    }),
  );
  const app = await createApp(config, {
    logger: false,
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}`, exporter };
}

/** Spans are ended just after the status turns final: wait for the run's span. */
async function spansOfTrace(exporter: InMemorySpanExporter, traceId: string) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId);
    if (spans.some((s) => s.name === 'batch.run')) return spans;
    if (Date.now() > deadline) throw new Error(`no batch.run span in trace ${traceId}`);
    await sleep(20);
  }
}

const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;
const idOf = (span: ReadableSpan): string => span.spanContext().spanId;

/**
 * Submits 6 items in 3 chunks to an action whose first attempt per item answers 503, and checks
 * the whole tree: request → batch.run → batch.chunk → cxone.attempt (2 per item).
 */
async function checkBatchTrace(traced: Traced, actionId: string): Promise<void> {
  sim.setProfile(actionId, { latency_ms: 2, fail_first: { attempts: 1, status: 503 } });
  const callerTrace = hex(16);
  const callerSpan = hex(8);
  const api = apiFor(traced.url);
  const accepted = await api.post(
    '/batch/execute',
    { action_id: actionId, payloads: payloads(6), chunk_size: 2, max_workers: 2 },
    { traceparent: `00-${callerTrace}-${callerSpan}-01`, tracestate: 'vendor=abc' },
  );
  expect(accepted.status).toBe(202);
  expect(accepted.body.trace_id).toBe(callerTrace);
  const final = await api.waitForEnd(accepted.body.batch_id);
  expect(final.summary.successful).toBe(6);

  const spans = await spansOfTrace(traced.exporter, callerTrace);
  const request = spans.find((s) => s.kind === SpanKind.SERVER);
  expect(request?.name).toBe('POST /batch/execute');
  expect(parentOf(request!)).toBe(callerSpan);
  expect(request!.attributes['http.response.status_code']).toBe(202);

  const runs = spans.filter((s) => s.name === 'batch.run');
  expect(runs).toHaveLength(1);
  expect(parentOf(runs[0])).toBe(idOf(request!));
  expect(runs[0].attributes['batch.id']).toBe(accepted.body.batch_id);

  const chunks = spans.filter((s) => s.name === 'batch.chunk');
  expect(chunks).toHaveLength(3);
  for (const chunk of chunks) expect(parentOf(chunk)).toBe(idOf(runs[0]));
  const chunkById = new Map(chunks.map((chunk) => [idOf(chunk), chunk]));

  const attempts = spans.filter((s) => s.name === 'cxone.attempt');
  expect(attempts).toHaveLength(12);
  for (const attempt of attempts) {
    expect(attempt.kind).toBe(SpanKind.CLIENT);
    const chunk = chunkById.get(parentOf(attempt)!);
    expect(chunk).toBeDefined();
    const index = attempt.attributes['batch.item_index'] as number;
    expect(index).toBeGreaterThanOrEqual(chunk!.attributes['batch.chunk.start'] as number);
    expect(index).toBeLessThan(chunk!.attributes['batch.chunk.end'] as number);
    expect(chunk!.attributes['cxone.action_id']).toBe(actionId);
    expect(attempt.attributes['cxone.circuit_state']).toBeUndefined(); // closed
    const first = attempt.attributes['cxone.attempt'] === 1;
    expect(attempt.attributes['http.response.status_code']).toBe(first ? 503 : 200);
    // Failures say how they failed; a success is its 2xx.
    expect(attempt.attributes['cxone.outcome']).toBe(first ? 'server_error' : undefined);
    expect(attempt.status.code).toBe(first ? SpanStatusCode.ERROR : SpanStatusCode.UNSET);
  }

  // CXone saw the caller's trace id, and each call's span id is that attempt's span.
  const calls = sim.recentCalls().filter((call) => call.action_id === actionId);
  expect(calls).toHaveLength(12);
  const received = calls.map((call) => {
    const [version, traceId, spanId, flags] = (call.traceparent ?? '').split('-');
    expect([version, traceId, flags]).toEqual(['00', callerTrace, '01']);
    expect(call.x_span_id).toBe(spanId);
    expect(call.tracestate).toBe('vendor=abc');
    return spanId;
  });
  expect(new Set(received)).toEqual(new Set(attempts.map(idOf)));
}

describe('tracing (in-memory mode)', () => {
  let traced: Traced;
  beforeAll(async () => {
    traced = await startTraced({ CXONE_MAX_RETRIES: '2' });
  });
  afterAll(async () => {
    await traced.app.close();
  });

  it('continues the caller trace from the request to every CXone attempt', async () => {
    await checkBatchTrace(traced, `trace-${hex(4)}`);
  });

  it('starts a new trace when the request has no traceparent, and its id is the batch trace_id', async () => {
    const actionId = `fresh-${hex(4)}`;
    sim.setProfile(actionId, { latency_ms: 1 });
    const api = apiFor(traced.url);
    const accepted = await api.post('/batch/execute', {
      action_id: actionId,
      payloads: payloads(2),
    });
    expect(accepted.status).toBe(202);
    const traceId = accepted.body.trace_id;
    await api.waitForEnd(accepted.body.batch_id);
    const spans = await spansOfTrace(traced.exporter, traceId);
    const request = spans.find((s) => s.kind === SpanKind.SERVER);
    expect(request).toBeDefined();
    expect(parentOf(request!)).toBeUndefined();
    const calls = sim.recentCalls().filter((call) => call.action_id === actionId);
    expect(calls.map((call) => call.traceparent?.split('-')[1])).toEqual([traceId, traceId]);
  });

  it('ignores an invalid traceparent (W3C) and starts a new trace', async () => {
    const actionId = `bad-parent-${hex(4)}`;
    sim.setProfile(actionId, { latency_ms: 1 });
    const api = apiFor(traced.url);
    const accepted = await api.post(
      '/batch/execute',
      { action_id: actionId, payloads: payloads(1) },
      { traceparent: `00-${'0'.repeat(32)}-${hex(8)}-01` },
    );
    expect(accepted.status).toBe(202);
    expect(accepted.body.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(accepted.body.trace_id).not.toBe('0'.repeat(32));
  });
});

describe('tracing turned off (OTEL_SDK_DISABLED=true)', () => {
  it('records no span but still propagates the caller trace id with a fresh span id per call', async () => {
    const traced = await startTraced({ OTEL_SDK_DISABLED: 'true' });
    try {
      const actionId = `untraced-${hex(4)}`;
      sim.setProfile(actionId, { latency_ms: 1 });
      const callerTrace = hex(16);
      const api = apiFor(traced.url);
      const accepted = await api.post(
        '/batch/execute',
        { action_id: actionId, payloads: payloads(3) },
        { traceparent: `00-${callerTrace}-${hex(8)}-01` },
      );
      expect(accepted.body.trace_id).toBe(callerTrace);
      await api.waitForEnd(accepted.body.batch_id);
      expect(traced.exporter.getFinishedSpans()).toHaveLength(0);
      const parents = sim
        .recentCalls()
        .filter((call) => call.action_id === actionId)
        .map((call) => call.traceparent?.split('-'));
      expect(parents.map((parts) => parts?.[1])).toEqual([callerTrace, callerTrace, callerTrace]);
      expect(new Set(parents.map((parts) => parts?.[2])).size).toBe(3);
    } finally {
      await traced.app.close();
    }
  });
});

const describeRedis = await describeWithRedis();

describeRedis('tracing (Redis mode: the run is a BullMQ job)', () => {
  const prefix = uniquePrefix('otel');
  let traced: Traced;
  beforeAll(async () => {
    traced = await startTraced({
      CXONE_MAX_RETRIES: '2',
      REDIS_URL: SHARED_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
    });
  });
  afterAll(async () => {
    await traced?.app.close();
    await deleteKeys(SHARED_REDIS_URL, prefix);
  });

  it('makes the run a child of the accepting request, rebuilt from the stored batch', async () => {
    await checkBatchTrace(traced, `redis-trace-${hex(4)}`);
  });
});
