import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { CircuitBreaker } from '../src/circuit-breaker/circuit-breaker.service.js';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { apiFor, payloads, type Api } from './helpers/api.js';
import { API_KEYS, bearer, KEYS, rssOf, slowUpload } from './helpers/callers.js';
import { freePort, startService, waitFor, type ServiceProcess } from './helpers/service-process.js';
import { startTestApp } from './helpers/test-app.js';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

/** Sends raw bytes on a new connection and collects what comes back until the server closes. */
function rawExchange(port: number, text: string, halfClose: boolean): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.write(text);
    if (halfClose) socket.end();
  });
}

/** A problem body with the batch id taken out, to compare "another caller's" with "unknown". */
function withoutId(problem: Record<string, unknown>, batchId: string): Record<string, unknown> {
  return JSON.parse(JSON.stringify(problem).split(batchId).join('<id>')) as Record<string, unknown>;
}

/** The batch id of a simulator call (`X-Request-Id` is `<batch id>-<index>`). */
const batchOfRequest = (requestId: string | null): string => (requestId ?? '').slice(0, 36);

describe('callers (in-memory mode): ownership, idempotency, fair share, the circuit', () => {
  let sim: SimulatorHandle;
  let app: NestExpressApplication;
  let url: string;
  let alpha: Api;
  let beta: Api;
  let ops: Api;

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 3, recentCallsLimit: 20_000 });
    ({ app, url } = await startTestApp({
      CXONE_API_URL: sim.url,
      API_KEYS,
      ADMIN_CALLERS: 'ops',
      CXONE_MAX_CONCURRENCY: '4',
      CIRCUIT_FAILURE_THRESHOLD: '3',
    }));
    alpha = apiFor(url, { key: KEYS.alpha });
    beta = apiFor(url, { key: KEYS.beta });
    ops = apiFor(url, { key: KEYS.ops });
  });
  afterAll(async () => {
    await app.close();
    await sim.close();
  });

  it("answers another caller's batch with 404 exactly as an unknown id, on status, cancel and list", async () => {
    sim.setProfile('owned', { latency_ms: 300 });
    const submitted = await alpha.post('/batch/execute', {
      action_id: 'owned',
      payloads: payloads(4),
      max_workers: 1,
      cache_ttl_seconds: 0,
    });
    expect(submitted.status).toBe(202);
    const batchId: string = submitted.body.batch_id;

    const own = await alpha.get(`/batch/${batchId}/status`);
    expect(own.status).toBe(200);
    expect(own.body.caller).toBe('alpha');

    const unknownStatus = await beta.get(`/batch/${UNKNOWN_ID}/status`);
    const unknownCancel = await beta.post(`/batch/${UNKNOWN_ID}/cancel`, undefined);
    for (const [path, unknown] of [
      [`/batch/${batchId}/status`, unknownStatus],
      [`/batch/${batchId}/cancel`, unknownCancel],
    ] as const) {
      const foreign = path.endsWith('status')
        ? await beta.get(path)
        : await beta.post(path, undefined);
      expect(foreign.status).toBe(404);
      expect(foreign.headers.get('content-type')).toContain('application/problem+json');
      expect(withoutId(foreign.body, batchId)).toEqual(withoutId(unknown.body, UNKNOWN_ID));
      expect(JSON.stringify(foreign.body)).not.toContain('alpha');
    }

    // beta's cancel did nothing: alpha's batch runs to its end.
    const done = await alpha.waitForEnd(batchId);
    expect(done).toMatchObject({ status: 'completed', caller: 'alpha' });
    expect(done.summary.successful).toBe(4);

    const betaList = await beta.get('/batch?limit=100');
    expect(betaList.status).toBe(200);
    expect(betaList.body.batches.map((b: { batch_id: string }) => b.batch_id)).not.toContain(
      batchId,
    );
    const alphaList = await alpha.get('/batch?limit=100');
    expect(alphaList.body.batches[0]).toMatchObject({ batch_id: batchId, caller: 'alpha' });
    expect(alphaList.body.batches.every((b: { caller: string }) => b.caller === 'alpha')).toBe(
      true,
    );
  });

  it("answers another caller's batch with 404 on PATCH and redrive too, and keeps circuits to admins", async () => {
    const submitted = await alpha.post('/batch/execute', {
      action_id: 'owned-steer',
      payloads: payloads(2),
      cache_ttl_seconds: 0,
    });
    expect(submitted.status).toBe(202);
    const batchId: string = submitted.body.batch_id;
    await alpha.waitForEnd(batchId);

    const patched = await beta.patch(`/batch/${batchId}`, { max_workers: 2 });
    const unknownPatch = await beta.patch(`/batch/${UNKNOWN_ID}`, { max_workers: 2 });
    expect(patched.status).toBe(404);
    expect(withoutId(patched.body, batchId)).toEqual(withoutId(unknownPatch.body, UNKNOWN_ID));
    const redriven = await beta.post(`/batch/${batchId}/redrive`, { statuses: ['failed'] });
    expect(redriven.status).toBe(404);
    // The owner's redrive of a batch with no failed item is a 409, not a 404: ownership held.
    expect((await alpha.post(`/batch/${batchId}/redrive`, { statuses: ['failed'] })).status).toBe(
      409,
    );

    const forced = await beta.put('/circuits/owned-steer', { state: 'forced_open' });
    expect(forced.status).toBe(403);
    expect((await ops.put('/circuits/owned-steer', { state: 'forced_open' })).status).toBe(200);
    expect((await ops.put('/circuits/owned-steer', { state: 'auto' })).status).toBe(200);
  });

  it('lets ADMIN_CALLERS see, cancel and list every batch, and filter by caller; 403 for the filter otherwise', async () => {
    sim.setProfile('admin.view', { latency_ms: 200 });
    const byBeta = await beta.post('/batch/execute', {
      action_id: 'admin.view',
      payloads: payloads(20),
      max_workers: 1,
      cache_ttl_seconds: 0,
    });
    const batchId: string = byBeta.body.batch_id;
    expect((await ops.get(`/batch/${batchId}/status`)).body.caller).toBe('beta');

    const all = await ops.get('/batch?limit=100');
    const callers = new Set(all.body.batches.map((b: { caller: string }) => b.caller));
    expect(callers).toEqual(new Set(['alpha', 'beta']));
    const onlyBeta = await ops.get('/batch?limit=100&caller=beta');
    expect(onlyBeta.body.batches.length).toBeGreaterThan(0);
    expect(onlyBeta.body.batches.every((b: { caller: string }) => b.caller === 'beta')).toBe(true);

    const forbidden = await alpha.get('/batch?caller=beta');
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.code).toBe('FORBIDDEN');
    expect((await alpha.get('/batch?caller=alpha')).status).toBe(403);
    expect((await ops.get('/batch?caller=Not%20A%20Name')).status).toBe(400);

    const cancelled = await ops.post(`/batch/${batchId}/cancel`, undefined);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', caller: 'beta' });
  });

  it('keeps Idempotency-Keys per caller: one key, two callers, two batches', async () => {
    const body = { action_id: 'idem', payloads: payloads(2) };
    const key = { 'idempotency-key': 'same-key-for-everyone' };
    const first = await alpha.post('/batch/execute', body, key);
    const second = await beta.post('/batch/execute', body, key);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.body.batch_id).not.toBe(first.body.batch_id);

    const replay = await alpha.post('/batch/execute', body, key);
    expect(replay.status).toBe(200);
    expect(replay.body.batch_id).toBe(first.body.batch_id);
    const conflict = await beta.post('/batch/execute', { ...body, payloads: payloads(3) }, key);
    expect(conflict.status).toBe(422);
    expect((await beta.get(`/batch/${second.body.batch_id}/status`)).body.caller).toBe('beta');
  });

  it("gives caller B's one batch at least 40 % of the slots while caller A's five batches compete", async () => {
    sim.setProfile('fair', { latency_ms: 20 });
    sim.reset();
    const batch = (count: number, offset: number) => ({
      action_id: 'fair',
      payloads: payloads(count, offset),
      max_workers: 4,
      cache_ttl_seconds: 0,
    });
    const alphaBatches: string[] = [];
    for (let i = 0; i < 5; i++) {
      const accepted = await alpha.post('/batch/execute', batch(150, i * 1000));
      expect(accepted.status).toBe(202);
      alphaBatches.push(accepted.body.batch_id);
    }
    // B arrives once A's batches hold every slot.
    await waitFor(async () => sim.stats().calls >= 40, 10_000, "alpha's calls");
    const betaBatch: string = (await beta.post('/batch/execute', batch(100, 9000))).body.batch_id;
    await beta.waitForEnd(betaBatch, 30_000);

    const calls = sim.recentCalls(20_000).map((call) => batchOfRequest(call.request_id));
    const first = calls.indexOf(betaBatch);
    const last = calls.lastIndexOf(betaBatch);
    const window = calls.slice(first, last + 1);
    const ofBeta = window.filter((id) => id === betaBatch).length;
    const ofAlpha = window.filter((id) => alphaBatches.includes(id)).length;
    expect(ofBeta).toBe(100);
    expect(ofAlpha).toBeGreaterThan(0); // A was competing all along
    expect(ofBeta / (ofBeta + ofAlpha)).toBeGreaterThanOrEqual(0.4);
    for (const id of alphaBatches) await alpha.post(`/batch/${id}/cancel`, undefined);
  });

  it('lets a batch with a short timeout time out without opening the circuit for another caller', async () => {
    sim.setProfile('shared.action', { latency_ms: 400 });
    const short = await alpha.post('/batch/execute', {
      action_id: 'shared.action',
      payloads: payloads(8),
      max_workers: 4,
      timeout_ms: 100,
      cache_ttl_seconds: 0,
    });
    const shortDone = await alpha.waitForEnd(short.body.batch_id);
    expect(shortDone.summary.degraded).toBe(8); // every call timed out: timeout_no_cache
    expect((await app.get(CircuitBreaker).state('shared.action')).state).toBe('closed');

    const patient = await beta.post('/batch/execute', {
      action_id: 'shared.action',
      payloads: payloads(4, 100),
      cache_ttl_seconds: 0,
    });
    const patientDone = await beta.waitForEnd(patient.body.batch_id);
    expect(patientDone.summary.successful).toBe(4);
  });
});

describe('callers (in-memory mode): limits per caller', () => {
  let sim: SimulatorHandle;
  let app: NestExpressApplication;
  let url: string;

  beforeAll(async () => {
    sim = await startSimulator({ port: 0 });
    ({ app, url } = await startTestApp({
      CXONE_API_URL: sim.url,
      API_KEYS,
      CALLER_RATE_LIMIT: '5',
      CALLER_MAX_QUEUED_ITEMS: '10',
    }));
  });
  afterAll(async () => {
    await app.close();
    await sim.close();
  });

  it('answers 429 with Retry-After past CALLER_RATE_LIMIT, while another caller is served', async () => {
    const get = (key: string) => fetch(`${url}/batch`, { headers: bearer(key) });
    const started = Date.now();
    const [ofAlpha, ofBeta] = await Promise.all([
      Promise.all(Array.from({ length: 25 }, () => get(KEYS.alpha))),
      Promise.all(Array.from({ length: 5 }, () => get(KEYS.beta))),
    ]);
    const windows = Math.ceil((Date.now() - started) / 2000);
    const refused = ofAlpha.filter((response) => response.status === 429);
    // 5 per second, bursts of 10: at most 10 in any 2 s (a busy machine may stretch the burst).
    const accepted = ofAlpha.filter((response) => response.status === 200).length;
    expect(accepted).toBeGreaterThanOrEqual(10);
    expect(accepted).toBeLessThanOrEqual(10 * windows);
    expect(refused).toHaveLength(25 - accepted);
    expect(ofBeta.map((response) => response.status)).toEqual([200, 200, 200, 200, 200]);
    const problem = await refused[0].json();
    expect(refused[0].headers.get('content-type')).toContain('application/problem+json');
    expect(problem).toMatchObject({ status: 429, code: 'CALLER_RATE_LIMITED' });
    expect(Number(refused[0].headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(refused[0].headers.get('retry-after'))).toBeLessThanOrEqual(2);
    // Health is not a /batch route: never limited.
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
  });

  it('answers 429 past CALLER_MAX_QUEUED_ITEMS for that caller only', async () => {
    sim.setProfile('queued.slow', { latency_ms: 2000 });
    const submit = (key: string, count: number) =>
      fetch(`${url}/batch/execute`, {
        method: 'POST',
        headers: { ...bearer(key), 'content-type': 'application/json' },
        body: JSON.stringify({
          action_id: 'queued.slow',
          payloads: payloads(count),
          max_workers: 1,
          cache_ttl_seconds: 0,
        }),
      });
    const first = await submit(KEYS.gamma, 8);
    expect(first.status).toBe(202);
    const { batch_id: firstId } = await first.json();
    const over = await submit(KEYS.gamma, 3);
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBeTruthy();
    expect(await over.json()).toMatchObject({ code: 'CALLER_QUEUE_FULL' });
    const other = await submit(KEYS.beta, 8);
    expect(other.status).toBe(202);
    const { batch_id: otherId } = await other.json();

    // Room again once the caller's batch has finished (cancelled).
    const cancel = (key: string, id: string) =>
      fetch(`${url}/batch/${id}/cancel`, { method: 'POST', headers: bearer(key) });
    expect((await cancel(KEYS.gamma, firstId)).status).toBe(200);
    let again: Response | undefined;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(300)) {
      again = await submit(KEYS.gamma, 3);
      if (again.status === 202) break;
    }
    expect(again?.status).toBe(202);
    await cancel(KEYS.gamma, ((await again!.json()) as { batch_id: string }).batch_id);
    await cancel(KEYS.beta, otherId);
  });
});

describe('operations: DOCS_ENABLED=false and METRICS_PORT', () => {
  let app: NestExpressApplication;
  let url: string;
  let metricsPort: number;

  beforeAll(async () => {
    metricsPort = await freePort();
    ({ app, url } = await startTestApp({
      HOST: '127.0.0.1',
      DOCS_ENABLED: 'false',
      METRICS_PORT: String(metricsPort),
    }));
  });
  afterAll(async () => {
    await app.close();
  });

  it('answers 404 for the docs, and serves metrics only on METRICS_PORT', async () => {
    for (const path of ['/docs', '/docs-json', '/metrics']) {
      const response = await fetch(`${url}${path}`);
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
    }
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    expect(await metrics.text()).toContain('http_server_request_duration_seconds');
    expect((await fetch(`http://127.0.0.1:${metricsPort}/batch`)).status).toBe(404);
  });
});

describe('authentication before the body (a service process)', () => {
  let service: ServiceProcess;

  beforeAll(async () => {
    service = await startService({
      AUTH_DISABLED: 'false',
      API_KEYS,
      CXONE_API_URL: 'http://127.0.0.1:9',
      HOST: '127.0.0.1',
    });
  }, 60_000);
  afterAll(async () => {
    await service.kill('SIGTERM');
  });

  it('answers an unauthenticated 50 MB upload with 401 at once, without reading it', async () => {
    const before = rssOf(service.pid);
    const declared = 50 * 1024 * 1024;
    for (const headers of <Record<string, string>[]>[
      { 'content-type': 'application/json' },
      { 'content-type': 'application/json', authorization: 'Bearer not-a-key' },
      { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    ]) {
      const started = Date.now();
      const outcome = await slowUpload(`${service.url}/batch/execute`, declared, headers);
      expect(outcome.status).toBe(401);
      expect(JSON.parse(outcome.body)).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
      // Answered before a tenth of the upload was sent.
      expect(outcome.sentWhenAnswered).toBeLessThan(declared / 10);
      expect(Date.now() - started).toBeLessThan(5000);
    }
    expect(rssOf(service.pid) - before).toBeLessThan(30 * 1024 * 1024);
    expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
  });

  it('answers a body that lies about its Content-Length with a 400 problem', async () => {
    const body = '{"action_id":"a","payloads":[{}]}';
    const head = (length: number) =>
      `POST /batch/execute HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEYS.alpha}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
    const port = Number(new URL(service.url).port);
    // Shorter than announced, then the client stops sending; longer than announced.
    for (const [text, halfClose] of [
      [head(body.length + 50) + body, true],
      [head(5) + body, false],
    ] as const) {
      const answer = await rawExchange(port, text, halfClose);
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).toContain('Content-Type: application/problem+json');
      const problem = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
      expect(problem).toMatchObject({ status: 400, errors: [{ field: 'request' }] });
    }
    expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
  });

  it('bounds the inflated body by MAX_BODY_BYTES for a caller with a key (413)', async () => {
    // 60 MB of zeros gzip to about 60 KB.
    const bomb = gzipSync(Buffer.alloc(60 * 1024 * 1024, 0x20));
    const response = await fetch(`${service.url}/batch/execute`, {
      method: 'POST',
      headers: {
        ...bearer(KEYS.alpha),
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
      body: bomb,
    });
    expect(response.status).toBe(413);
    expect((await response.json()).code).toBe('PAYLOAD_TOO_LARGE');
    expect((await fetch(`${service.url}/health/ready`)).status).toBe(200);
  });
});
