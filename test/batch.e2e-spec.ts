import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { apiFor, payloads, type Api } from './helpers/api.js';
import { waitFor } from './helpers/service-process.js';
import { startTestApp } from './helpers/test-app.js';

const CALLBACK_SECRET = 'callback-secret-0123456789';

describe('batches end to end (in-memory mode, simulator over HTTP)', () => {
  let sim: SimulatorHandle;
  let app: NestExpressApplication;
  let url: string;
  let api: Api;

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 7 });
    ({ app, url } = await startTestApp({
      CXONE_API_URL: sim.url,
      MAX_BATCH_ITEMS: '500',
      MAX_BODY_BYTES: '65536',
      CALLBACK_SECRET,
      CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
      CIRCUIT_FAILURE_THRESHOLD: '1000',
    }));
    api = apiFor(url);
  });
  afterAll(async () => {
    await app.close();
    await sim.close();
  });

  it('accepts with 202 and Location, runs in the background, and polls to completion', async () => {
    sim.setProfile('lookup', { latency_ms: 5 });
    const submitted = await api.post('/batch/execute', {
      action_id: 'lookup',
      payloads: payloads(25),
      cache_ttl_seconds: 0,
    });
    expect(submitted.status).toBe(202);
    expect(submitted.body).toEqual({
      batch_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      status: 'queued',
      trace_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      status_url: `/batch/${submitted.body.batch_id}/status`,
    });
    expect(submitted.headers.get('location')).toBe(submitted.body.status_url);

    const running = await api.get(submitted.body.status_url);
    expect(running.status).toBe(200);
    if (running.body.finished_at === null) expect(running.headers.get('retry-after')).toBe('1');

    const done = await api.waitForEnd(submitted.body.batch_id);
    expect(done.status).toBe('completed');
    expect(done.summary).toEqual({
      total: 25,
      successful: 25,
      failed: 0,
      degraded: 0,
      cancelled: 0,
      pending: 0,
    });
    expect(done.progress).toBe(1);
    expect(done.started_at).not.toBeNull();
    expect(done.latency_ms.p50).toBeGreaterThanOrEqual(5);
    expect(done.latency_ms.max).toBeGreaterThanOrEqual(done.latency_ms.p95);

    const page = await api.get(`${submitted.body.status_url}?limit=3`);
    expect(page.headers.get('retry-after')).toBeNull();
    expect(page.body.items[0]).toEqual({
      id: 'item-0',
      index: 0,
      status: 'success',
      data: {
        action_id: 'lookup',
        request_id: `${submitted.body.batch_id}-0`,
        data: { id: 'item-0', n: 0 },
      },
      cached: false,
      attempts: 1,
      latency_ms: expect.any(Number),
    });
  });

  it('pages through items in input order', async () => {
    const submitted = await api.post('/batch/execute', {
      action_id: 'pages',
      payloads: payloads(25),
      max_workers: 8,
    });
    await api.waitForEnd(submitted.body.batch_id);
    const indexes: number[] = [];
    for (let offset = 0; offset < 25; offset += 10) {
      const { body } = await api.get(
        `/batch/${submitted.body.batch_id}/status?offset=${offset}&limit=10`,
      );
      expect(body.pagination).toEqual({ offset, limit: 10, total: 25 });
      indexes.push(...body.items.map((item: { index: number }) => item.index));
    }
    expect(indexes).toEqual(Array.from({ length: 25 }, (_, i) => i));
    // An empty filter, as in the route template `?status=`, is no filter.
    const all = await api.get(`/batch/${submitted.body.batch_id}/status?offset=0&limit=50&status=`);
    expect(all.status).toBe(200);
    expect(all.body.pagination.total).toBe(25);
  });

  it('uses the index as the item id when the payload id is not a string or a finite number', async () => {
    // JSON text, so that the last id can be 1e400 (Infinity once parsed).
    const submitted = await api.post(
      '/batch/execute',
      '{"action_id":"ids","payloads":[{"id":"a"},{"id":7},{"id":null},{"id":1e400}]}',
    );
    await api.waitForEnd(submitted.body.batch_id);
    const { body } = await api.get(`/batch/${submitted.body.batch_id}/status`);
    expect(body.items.map((item: { id: unknown }) => item.id)).toEqual(['a', 7, '2', '3']);
  });

  it('merges a fault profile of 429s, 500s and hangs into outcomes that add up, and filters by status', async () => {
    sim.setProfile('flaky', {
      rate_limit_rate: 0.15,
      retry_after_seconds: 0,
      error_rate: 0.15,
      error_status: 500,
      hang_rate: 0.1,
    });
    const submitted = await api.post('/batch/execute', {
      action_id: 'flaky',
      payloads: payloads(120),
      max_workers: 20,
      timeout_ms: 300,
      cache_ttl_seconds: 0,
    });
    const done = await api.waitForEnd(submitted.body.batch_id, 30000);
    const { summary } = done;
    expect(
      summary.successful + summary.failed + summary.degraded + summary.cancelled + summary.pending,
    ).toBe(120);
    expect(summary.successful).toBeGreaterThan(0);
    expect(summary.failed).toBeGreaterThan(0);
    expect(summary.degraded).toBeGreaterThan(0);

    const failed = await api.get(
      `/batch/${submitted.body.batch_id}/status?status=failed&limit=1000`,
    );
    expect(failed.body.pagination.total).toBe(summary.failed);
    expect(failed.body.items).toHaveLength(summary.failed);
    for (const item of failed.body.items) {
      expect(item.status).toBe('failed');
      expect(['UPSTREAM_5XX', 'RATE_LIMITED']).toContain(item.error_code);
    }
    const degraded = await api.get(
      `/batch/${submitted.body.batch_id}/status?status=degraded&limit=1000`,
    );
    expect(degraded.body.items).toHaveLength(summary.degraded);
    for (const item of degraded.body.items) {
      expect(item).toMatchObject({
        status: 'degraded',
        reason: 'timeout_no_cache',
        data: { error: 'timeout_no_cache' },
      });
    }
    const indexes = failed.body.items.map((item: { index: number }) => item.index);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
  });

  it('keeps at most max_workers calls of a batch in flight', async () => {
    sim.setProfile('bounded', { latency_ms: 30 });
    const submitted = await api.post('/batch/execute', {
      action_id: 'bounded',
      payloads: payloads(60),
      max_workers: 5,
      cache_ttl_seconds: 0,
    });
    await api.waitForEnd(submitted.body.batch_id);
    expect(sim.stats().actions.bounded.peak_in_flight).toBe(5);
  });

  it('serves a repeated payload from the result cache', async () => {
    sim.setProfile('cached', {});
    const body = { action_id: 'cached', payloads: [{ b: 2, a: 1 }], cache_ttl_seconds: 60 };
    await api.waitForEnd((await api.post('/batch/execute', body)).body.batch_id);
    const second = await api.post('/batch/execute', { ...body, payloads: [{ a: 1, b: 2 }] });
    const done = await api.waitForEnd(second.body.batch_id);
    expect(sim.stats().actions.cached.calls).toBe(1);
    const { body: status } = await api.get(`/batch/${second.body.batch_id}/status`);
    expect(done.summary.successful).toBe(1);
    expect(status.items[0]).toMatchObject({ status: 'success', cached: true, attempts: 0 });
  });

  it('cancel stops new calls; in-flight calls finish; pending items become cancelled', async () => {
    sim.setProfile('slow', { latency_ms: 150 });
    const submitted = await api.post('/batch/execute', {
      action_id: 'slow',
      payloads: payloads(40),
      max_workers: 2,
      cache_ttl_seconds: 0,
    });
    const id = submitted.body.batch_id;
    while ((sim.stats().actions.slow?.calls ?? 0) < 3) await sleep(10);
    const cancelled = await api.post(`/batch/${id}/cancel`, undefined);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    const callsAtCancel = sim.stats().actions.slow.calls;
    const done = await api.waitForEnd(id);
    await sleep(200);
    expect(sim.stats().actions.slow.calls).toBe(callsAtCancel);
    expect(done.status).toBe('cancelled');
    expect(done.summary.pending).toBe(0);
    expect(done.summary.cancelled).toBeGreaterThanOrEqual(40 - callsAtCancel);
    expect(done.summary.successful + done.summary.cancelled).toBe(40);
    const again = await api.post(`/batch/${id}/cancel`, undefined);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('BATCH_FINISHED');
  });

  it('honours Idempotency-Key both ways', async () => {
    const body = { action_id: 'idem', payloads: payloads(3) };
    const headers = { 'idempotency-key': 'order-42' };
    const first = await api.post('/batch/execute', body, headers);
    expect(first.status).toBe(202);
    const replay = await api.post(
      '/batch/execute',
      { payloads: payloads(3), action_id: 'idem' },
      headers,
    );
    expect(replay.status).toBe(200);
    expect(replay.body.batch_id).toBe(first.body.batch_id);
    const conflict = await api.post('/batch/execute', { ...body, payloads: payloads(4) }, headers);
    expect(conflict.status).toBe(422);
    expect(conflict.body.code).toBe('IDEMPOTENCY_CONFLICT');
  });

  it('joins the caller trace and sends it to CXone', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const submitted = await api.post(
      '/batch/execute',
      { action_id: 'traced', payloads: payloads(2), cache_ttl_seconds: 0 },
      { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: 'vendor=abc,other=1' },
    );
    expect(submitted.body.trace_id).toBe(traceId);
    await api.waitForEnd(submitted.body.batch_id);
    const calls = sim.recentCalls(1000).filter((call) => call.action_id === 'traced');
    expect(calls).toHaveLength(2);
    for (const call of calls) {
      expect(call.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      expect(call.x_trace_id).toBe(traceId);
      expect(call.tracestate).toBe('vendor=abc,other=1');
      expect(call.request_id).toMatch(new RegExp(`^${submitted.body.batch_id}-[01]$`));
    }
  });

  it('lists recent batches newest first with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(
        (await api.post('/batch/execute', { action_id: 'listed', payloads: payloads(1) })).body
          .batch_id,
      );
    const first = await api.get('/batch?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.batches.map((b: { batch_id: string }) => b.batch_id)).toEqual([
      ids[2],
      ids[1],
    ]);
    expect(first.body.batches[0]).toEqual({
      batch_id: ids[2],
      action_id: 'listed',
      caller: 'default',
      status: expect.any(String),
      created_at: expect.any(String),
      summary: expect.objectContaining({ total: 1 }),
    });
    const second = await api.get(`/batch?limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body.batches[0].batch_id).toBe(ids[0]);
  });

  it('POSTs a signed callback when the batch ends', async () => {
    const received: { body: string; signature: string | undefined }[] = [];
    const server: Server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push({
          body,
          signature: req.headers['x-orchestrator-signature'] as string | undefined,
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const submitted = await api.post('/batch/execute', {
        action_id: 'called-back',
        payloads: payloads(2),
        callback_url: `http://127.0.0.1:${port}/done`,
      });
      await api.waitForEnd(submitted.body.batch_id);
      for (let i = 0; i < 100 && received.length === 0; i++) await sleep(20);
      expect(received).toHaveLength(1);
      const payload = JSON.parse(received[0].body);
      expect(payload).toEqual({
        batch_id: submitted.body.batch_id,
        status: 'completed',
        summary: expect.objectContaining({ total: 2, successful: 2 }),
        trace_id: submitted.body.trace_id,
      });
      const expected = `sha256=${createHmac('sha256', CALLBACK_SECRET).update(received[0].body).digest('hex')}`;
      expect(received[0].signature).toBe(expected);
    } finally {
      server.close();
    }
  });

  it('answers an unknown batch with 404 and a malformed id with 400', async () => {
    const missing = await api.get('/batch/00000000-0000-4000-8000-000000000000/status');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('BATCH_NOT_FOUND');
    const malformed = await api.get('/batch/not-an-id/status');
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors).toEqual([{ field: 'batch_id', message: expect.any(String) }]);
  });

  describe('bad input', () => {
    const good = { action_id: 'lookup', payloads: [{ id: 1 }] };
    it.each([
      ['action_id missing', { payloads: [{}] }, 'action_id'],
      ['action_id with /', { ...good, action_id: 'a/b' }, 'action_id'],
      ['action_id with ..', { ...good, action_id: 'a..b' }, 'action_id'],
      ['action_id with a space', { ...good, action_id: 'a b' }, 'action_id'],
      ['action_id of 129 characters', { ...good, action_id: 'a'.repeat(129) }, 'action_id'],
      ['action_id not a string', { ...good, action_id: 42 }, 'action_id'],
      ['payloads missing', { action_id: 'x' }, 'payloads'],
      ['payloads empty', { ...good, payloads: [] }, 'payloads'],
      ['payloads not an array', { ...good, payloads: { a: 1 } }, 'payloads'],
      [
        'payloads over MAX_BATCH_ITEMS',
        { ...good, payloads: Array.from({ length: 501 }, () => ({})) },
        'payloads',
      ],
      ['an item that is not an object', { ...good, payloads: [{}, 'text', [1]] }, 'payloads[1]'],
      [
        'an item nested deeper than 100 levels',
        { ...good, payloads: [{}, { a: JSON.parse(`${'['.repeat(100)}${']'.repeat(100)}`) }] },
        'payloads[1]',
      ],
      ['chunk_size 0', { ...good, chunk_size: 0 }, 'chunk_size'],
      ['chunk_size 1001', { ...good, chunk_size: 1001 }, 'chunk_size'],
      ['chunk_size not an integer', { ...good, chunk_size: 'ten' }, 'chunk_size'],
      ['max_workers 0', { ...good, max_workers: 0 }, 'max_workers'],
      ['max_workers 257', { ...good, max_workers: 257 }, 'max_workers'],
      ['timeout_ms 99', { ...good, timeout_ms: 99 }, 'timeout_ms'],
      ['cache_ttl_seconds -1', { ...good, cache_ttl_seconds: -1 }, 'cache_ttl_seconds'],
      [
        'callback_url over http to a host not allowed',
        { ...good, callback_url: 'http://example.com/x' },
        'callback_url',
      ],
      ['callback_url not a URL', { ...good, callback_url: 'nope' }, 'callback_url'],
      ['an unknown field', { ...good, colour: 'red' }, 'colour'],
    ])('%s → 400 naming the field', async (_name, body, field) => {
      const response = await api.post('/batch/execute', body);
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect(response.body.errors).toEqual(
        expect.arrayContaining([expect.objectContaining({ field })]),
      );
    });

    it('takes an optional field sent as null as absent (its default applies)', async () => {
      const submitted = await api.post('/batch/execute', {
        ...good,
        chunk_size: null,
        max_workers: null,
        timeout_ms: null,
        cache_ttl_seconds: null,
        callback_url: null,
      });
      expect(submitted.status).toBe(202);
      const done = await api.waitForEnd(submitted.body.batch_id);
      expect(done.summary.pending).toBe(0);
    });

    it.each([
      ['limit 0', '?limit=0', 'limit'],
      ['limit 1001', '?limit=1001', 'limit'],
      ['offset -1', '?offset=-1', 'offset'],
      ['an unknown status', '?status=lost', 'status'],
    ])('status query with %s → 400 naming the field', async (_name, query, field) => {
      const submitted = await api.post('/batch/execute', good);
      const response = await api.get(`/batch/${submitted.body.batch_id}/status${query}`);
      expect(response.status).toBe(400);
      expect(response.body.errors).toEqual(
        expect.arrayContaining([expect.objectContaining({ field })]),
      );
    });

    it('refuses a payload nested 30,000 levels deep with 400, with or without an Idempotency-Key', async () => {
      // Within MAX_BODY_BYTES; serialising it for the idempotency hash or the call would overflow
      // the stack.
      const deep = `{"action_id":"deep","payloads":[{"a":${'['.repeat(30000)}${']'.repeat(30000)}}]}`;
      const withAndWithoutKey: Record<string, string>[] = [{}, { 'idempotency-key': 'deep-1' }];
      for (const headers of withAndWithoutKey) {
        const response = await api.post('/batch/execute', deep, headers);
        expect(response.status).toBe(400);
        expect(response.body.errors).toEqual([
          {
            field: 'payloads[0]',
            message: 'must not nest objects or arrays more than 100 levels deep',
          },
        ]);
      }
    });

    it('answers a body that is not JSON with 400, a body over MAX_BODY_BYTES with 413, other types with 415', async () => {
      const malformed = await api.post('/batch/execute', '{"action_id":');
      expect(malformed.status).toBe(400);
      expect(malformed.body.errors).toEqual([{ field: 'body', message: 'is not valid JSON' }]);
      expect((await api.post('/batch/execute', '[1,2]')).status).toBe(400);
      const big = await api.post('/batch/execute', {
        action_id: 'x',
        payloads: [{ blob: 'x'.repeat(70000) }],
      });
      expect(big.status).toBe(413);
      expect(big.body.code).toBe('PAYLOAD_TOO_LARGE');
      expect(big.body.errors).toEqual([{ field: 'body', message: 'exceeds MAX_BODY_BYTES' }]);
      const form = await api.post('/batch/execute', 'a=1', {
        'content-type': 'application/x-www-form-urlencoded',
      });
      expect(form.status).toBe(415);
      expect(form.body.errors).toEqual([
        { field: 'Content-Type', message: 'must be application/json' },
      ]);
      const latin = await api.post('/batch/execute', '{}', {
        'content-type': 'application/json; charset=latin1',
      });
      expect(latin.status).toBe(415);
      expect(latin.body.errors).toEqual([
        { field: 'Content-Type', message: 'names a charset that is not supported' },
      ]);
      const compressed = await api.post('/batch/execute', '{}', { 'content-encoding': 'compress' });
      expect(compressed.status).toBe(415);
      expect(compressed.body.errors).toEqual([
        { field: 'Content-Encoding', message: 'is not supported' },
      ]);
    });

    it('stays healthy after a storm of bad requests, and the next good batch completes', async () => {
      const storm = Array.from({ length: 200 }, (_, i) =>
        api.post('/batch/execute', i % 2 ? '{"broken' : { action_id: '../etc', payloads: [] }),
      );
      const statuses = (await Promise.all(storm)).map((response) => response.status);
      expect(new Set(statuses)).toEqual(new Set([400]));
      expect((await fetch(`${url}/health/ready`)).status).toBe(200);
      const submitted = await api.post('/batch/execute', good);
      expect((await api.waitForEnd(submitted.body.batch_id)).summary.successful).toBe(1);
    });
  });
});

describe('caller authentication', () => {
  let app: NestExpressApplication;
  let url: string;
  beforeAll(async () => {
    ({ app, url } = await startTestApp());
  });
  afterAll(async () => {
    await app.close();
  });

  it('refuses a missing or wrong key with 401 problems and accepts the right key', async () => {
    const missing = await fetch(`${url}/batch`);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('content-type')).toContain('application/problem+json');
    const wrong = await fetch(`${url}/batch`, { headers: { authorization: 'Bearer not-the-key' } });
    expect(wrong.status).toBe(401);
    const body = await wrong.json();
    expect(body.code).toBe('UNAUTHORIZED');
    expect(JSON.stringify(body)).not.toContain('not-the-key');
    const right = await apiFor(url).get('/batch');
    expect(right.status).toBe(200);
  });

  it('leaves health, docs and metrics open', async () => {
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    expect((await fetch(`${url}/docs-json`)).status).toBe(200);
  });

  it('documents every batch route in the OpenAPI document', async () => {
    const document = await (await fetch(`${url}/docs-json`)).json();
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/batch/execute',
        '/batch/{batch_id}/status',
        '/batch/{batch_id}/cancel',
        '/batch',
      ]),
    );
    expect(document.paths['/batch/execute'].post.responses).toEqual(
      expect.objectContaining({
        '202': expect.anything(),
        '400': expect.anything(),
        '401': expect.anything(),
        '422': expect.anything(),
      }),
    );
  });
});

describe('intake saturation', () => {
  let sim: SimulatorHandle;
  let app: NestExpressApplication;
  let api: Api;
  beforeAll(async () => {
    sim = await startSimulator({ port: 0, profiles: { '*': { latency_ms: 100 } } });
    const started = await startTestApp({ CXONE_API_URL: sim.url, MAX_QUEUED_ITEMS: '10' });
    app = started.app;
    api = apiFor(started.url);
  });
  afterAll(async () => {
    await app.close();
    await sim.close();
  });

  it('answers 429 with Retry-After while more than MAX_QUEUED_ITEMS items wait, then accepts again', async () => {
    const first = await api.post('/batch/execute', {
      action_id: 'busy',
      payloads: payloads(8),
      max_workers: 1,
    });
    expect(first.status).toBe(202);
    const refused = await api.post('/batch/execute', { action_id: 'busy', payloads: payloads(3) });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(refused.body.code).toBe('INTAKE_SATURATED');
    await api.post(`/batch/${first.body.batch_id}/cancel`, undefined);
    await api.waitForEnd(first.body.batch_id);
    expect(
      (await api.post('/batch/execute', { action_id: 'busy', payloads: payloads(3) })).status,
    ).toBe(202);
  });
});

describe('shutdown (in-memory mode)', () => {
  it('refuses new batches with 503 while draining, since the process would lose them', async () => {
    const sim = await startSimulator({ port: 0, profiles: { '*': { latency_ms: 200 } } });
    const { app, url } = await startTestApp({
      CXONE_API_URL: sim.url,
      SHUTDOWN_GRACE_SECONDS: '1',
      STORE: 'memory',
    });
    const api = apiFor(url);
    try {
      const running = await api.post('/batch/execute', {
        action_id: 'long',
        payloads: payloads(20),
        max_workers: 1,
      });
      expect(running.status).toBe(202);
      const closing = app.close();
      // The HTTP server still answers while the queue drains (BatchModule's onModuleDestroy).
      await waitFor(
        async () => (await fetch(`${url}/health/ready`)).status === 503,
        2000,
        'readiness turning 503',
      );
      const refused = await api.post('/batch/execute', {
        action_id: 'late',
        payloads: payloads(1),
      });
      expect(refused.status).toBe(503);
      expect(refused.body.code).toBe('NOT_READY');
      expect(refused.headers.get('retry-after')).toBe('2');
      await closing;
      expect(sim.stats().actions.late).toBeUndefined();
    } finally {
      await sim.close();
    }
  });
});
