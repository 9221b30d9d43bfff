import type { NestExpressApplication } from '@nestjs/platform-express';
import { randomBytes } from 'node:crypto';
import { type SimulatorHandle, startSimulator } from '../src/simulator/simulator.server.js';
import { apiFor, payloads } from './helpers/api.js';
import { startTestApp } from './helpers/test-app.js';

// GET /metrics after real batches against the simulator: every figure is checked against what
// the batch summary and the simulator counted. The meter provider is process-wide, so each test
// uses action ids of its own.

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of one metric in a Prometheus text exposition. */
function samples(text: string, name: string): Sample[] {
  const found: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]] = pair[2];
    }
    found.push({ labels, value: Number(match[3]) });
  }
  return found;
}

function total(text: string, name: string, where: Record<string, string>): number {
  return samples(text, name)
    .filter((sample) => Object.entries(where).every(([key, value]) => sample.labels[key] === value))
    .reduce((sum, sample) => sum + sample.value, 0);
}

const unique = (name: string): string => `${name}-${randomBytes(4).toString('hex')}`;

let sim: SimulatorHandle;
beforeAll(async () => {
  sim = await startSimulator({ port: 0, seed: 42 });
});
afterAll(async () => {
  await sim.close();
});

async function scrape(url: string): Promise<string> {
  const response = await fetch(`${url}/metrics`); // public: no API key
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return response.text();
}

describe('GET /metrics', () => {
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    ({ app, url } = await startTestApp({
      CXONE_API_URL: sim.url,
      CXONE_MAX_RETRIES: '2',
      // The mixed profile must not open the circuit (that case has a test of its own).
      CIRCUIT_FAILURE_THRESHOLD: '100',
      // Nor cut the action's concurrency: its random 429s are not a capacity, and hangs held
      // by a cut limit would stretch the batch.
      ADAPTIVE_CONCURRENCY: 'false',
    }));
  });
  afterAll(async () => {
    await app.close();
  });

  it('counts items, calls, retries and outcomes exactly as the batch and CXone saw them', async () => {
    const action = unique('mixed');
    sim.setProfile(action, {
      latency_ms: 2,
      error_rate: 0.15,
      error_status: 500,
      rate_limit_rate: 0.2,
      retry_after_seconds: 0,
      hang_rate: 0.1,
    });
    const api = apiFor(url);
    const accepted = await api.post('/batch/execute', {
      action_id: action,
      payloads: payloads(120),
      chunk_size: 7,
      max_workers: 6,
      // Only the hangs may time out: a 2 ms answer held past the timeout by a busy machine
      // would count as a timeout here and as a 200 at the simulator.
      timeout_ms: 1000,
      cache_ttl_seconds: 0,
    });
    expect(accepted.status).toBe(202);
    const batchId: string = accepted.body.batch_id;
    const final = await api.waitForEnd(batchId);
    const { summary } = final;
    // The profile gives every kind of outcome; the checks below would pass vacuously otherwise.
    expect(summary.successful).toBeGreaterThan(0);
    expect(summary.failed + summary.degraded).toBeGreaterThan(0);

    const text = await scrape(url);
    const items = (outcome: string): number =>
      total(text, 'orchestrator_batch_items_total', { action, outcome });
    expect(items('success')).toBe(summary.successful);
    expect(items('failed')).toBe(summary.failed);
    expect(items('degraded')).toBe(summary.degraded);
    expect(items('cancelled')).toBe(0);
    expect(
      total(text, 'orchestrator_batch_items_total', { action, reason: 'timeout_no_cache' }),
    ).toBe(summary.degraded);

    const stats = sim.stats().actions[action];
    const calls = (outcome: string): number =>
      total(text, 'cxone_call_duration_seconds_count', { action, outcome });
    expect(total(text, 'cxone_call_duration_seconds_count', { action })).toBe(stats.calls);
    expect(calls('success')).toBe(stats.statuses['200'] ?? 0);
    expect(calls('rate_limited')).toBe(stats.statuses['429'] ?? 0);
    expect(calls('server_error')).toBe(stats.statuses['500'] ?? 0);
    expect(calls('timeout')).toBe(stats.hangs);
    expect(calls('rate_limited')).toBeGreaterThan(0);

    // Every call after an item's first is a retry.
    const attempts = Object.entries(sim.allAttempts()).filter(([id]) => id.startsWith(batchId));
    const retries = attempts.reduce((sum, [, count]) => sum + count - 1, 0);
    expect(retries).toBeGreaterThan(0);
    expect(total(text, 'cxone_call_retries_total', { action })).toBe(retries);
    expect(total(text, 'cxone_call_retries_total', { action, reason: 'rate_limited' })).toBe(
      retries,
    );

    expect(total(text, 'orchestrator_batches_total', { action, status: 'queued' })).toBe(1);
    expect(total(text, 'orchestrator_batches_total', { action, status: 'running' })).toBe(1);
    expect(total(text, 'orchestrator_batches_total', { action, status: 'completed' })).toBe(1);
    expect(
      total(text, 'orchestrator_batch_duration_seconds_count', { action, status: 'completed' }),
    ).toBe(1);
    expect(samples(text, 'cxone_circuit_state').some((s) => s.labels.action === action)).toBe(true);
    expect(samples(text, 'cxone_calls_in_flight')).toEqual([{ labels: {}, value: 0 }]);
    expect(samples(text, 'orchestrator_queued_items')).toEqual([{ labels: {}, value: 0 }]);
    expect(total(text, 'cxone_token_refreshes_total', { result: 'success' })).toBeGreaterThan(0);
    // No batch or item id ever becomes a label.
    expect(text).not.toContain(batchId);
  });

  it('times requests by route template and status, refused ones included', async () => {
    const api = apiFor(url);
    const before = await scrape(url);
    const count = (text: string, where: Record<string, string>): number =>
      total(text, 'http_server_request_duration_seconds_count', where);

    const missing = `/batch/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}/status`;
    expect((await api.get(missing)).status).toBe(404);
    expect((await api.get(missing, { authorization: 'Bearer wrong-key' })).status).toBe(401);
    expect((await api.get('/no/such/route')).status).toBe(404);

    const after = await scrape(url);
    const status = { method: 'GET', route: '/batch/:batch_id/status' };
    for (const [where, added] of [
      [{ ...status, status_code: '404' }, 1],
      // Refused before routing (the key is checked before the body is read).
      [{ method: 'GET', route: 'unmatched', status_code: '401' }, 1],
      [{ method: 'GET', route: 'unmatched', status_code: '404' }, 1],
    ] as const) {
      expect(count(after, where) - count(before, where)).toBe(added);
    }
    expect(after).not.toContain('/no/such/route');
    expect(after).not.toContain('00000000-0000-4000-8000');
  });
});

describe('circuit metrics', () => {
  it('reports an opened circuit as 2 and counts its transition', async () => {
    const { app, url } = await startTestApp({
      CXONE_API_URL: sim.url,
      CIRCUIT_FAILURE_THRESHOLD: '3',
      CIRCUIT_RECOVERY_SECONDS: '600',
    });
    try {
      const action = unique('down');
      sim.setProfile(action, { latency_ms: 1, error_rate: 1, error_status: 500 });
      const api = apiFor(url);
      const accepted = await api.post('/batch/execute', {
        action_id: action,
        payloads: payloads(8),
        max_workers: 1,
        cache_ttl_seconds: 0,
      });
      const final = await api.waitForEnd(accepted.body.batch_id);
      expect(final.summary.failed).toBe(8);

      const text = await scrape(url);
      expect(total(text, 'cxone_circuit_state', { action })).toBe(2);
      expect(
        total(text, 'cxone_circuit_transitions_total', { action, from: 'closed', to: 'open' }),
      ).toBe(1);
      // 3 calls opened the circuit; the other 5 items never reached CXone.
      expect(total(text, 'cxone_call_duration_seconds_count', { action })).toBe(3);
      expect(sim.stats().actions[action].calls).toBe(3);
      expect(
        total(text, 'orchestrator_batch_items_total', {
          action,
          outcome: 'failed',
          reason: 'CIRCUIT_OPEN',
        }),
      ).toBe(5);
    } finally {
      await app.close();
    }
  });
});

describe('METRICS_ENABLED=false', () => {
  it('serves no /metrics and still runs batches', async () => {
    const { app, url } = await startTestApp({ CXONE_API_URL: sim.url, METRICS_ENABLED: 'false' });
    try {
      expect((await fetch(`${url}/metrics`)).status).toBe(404);
      const action = unique('quiet');
      sim.setProfile(action, { latency_ms: 1 });
      const api = apiFor(url);
      const accepted = await api.post('/batch/execute', {
        action_id: action,
        payloads: payloads(3),
      });
      expect((await api.waitForEnd(accepted.body.batch_id)).summary.successful).toBe(3);
    } finally {
      await app.close();
    }
  });
});
