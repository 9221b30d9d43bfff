import { Logger } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createApp } from '../src/app.factory.js';
import { TokenManager } from '../src/auth/token-manager.service.js';
import { loadConfig } from '../src/config/load-config.js';
import { type SimulatorHandle, startSimulator } from '../src/simulator/simulator.server.js';
import { apiFor, payloads } from './helpers/api.js';
import { TEST_API_KEY } from './helpers/test-app.js';

// Every line the service writes during a run with auth failures (token endpoint refusing,
// CXone answering 401, callers with wrong keys), captured through LoggingModule's destination.

const CLIENT_SECRET = `client-secret-${randomBytes(6).toString('hex')}`;
const API_KEY = `api-key-${randomBytes(8).toString('hex')}`;
const CALLBACK_SECRET = `callback-secret-${randomBytes(8).toString('hex')}`;
const WRONG_KEY = `wrong-key-${randomBytes(8).toString('hex')}`;
const COLLECTOR_KEY = `collector-key-${randomBytes(8).toString('hex')}`;

let sim: SimulatorHandle;
let app: NestExpressApplication;
let url: string;
const lines: string[] = [];

beforeAll(async () => {
  sim = await startSimulator({ port: 0, clientSecret: CLIENT_SECRET });
  const config = loadConfig({
    CXONE_SIMULATOR: 'true',
    CXONE_API_URL: sim.url,
    CXONE_CLIENT_SECRET: CLIENT_SECRET,
    // The helpers poll with TEST_API_KEY; this test's own key is API_KEY.
    API_KEYS: `${TEST_API_KEY},${API_KEY}`,
    CALLBACK_SECRET,
    // Read by an OTLP exporter (none here): its values must never show in a line either.
    OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${COLLECTOR_KEY}`,
    LOG_LEVEL: 'debug',
  });
  app = await createApp(config, {
    bufferLogs: true,
    logDestination: { write: (line) => lines.push(line) },
  });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  url = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await app.close();
  await sim.close();
});

const parsed = (): Record<string, any>[] => lines.map((line) => JSON.parse(line));

async function waitForLine(predicate: (line: Record<string, any>) => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!parsed().some(predicate)) {
    if (Date.now() > deadline) throw new Error('expected log line not written');
    await sleep(20);
  }
}

describe('logs', () => {
  let token: string;

  it('writes one JSON line per request and per batch transition, with trace and batch ids', async () => {
    const api = apiFor(url);
    const action = `logged-${randomBytes(3).toString('hex')}`;
    sim.setProfile(action, { latency_ms: 1 });
    const accepted = await api.post(
      '/batch/execute',
      { action_id: action, payloads: payloads(4) },
      { authorization: `Bearer ${API_KEY}` },
    );
    const batchId: string = accepted.body.batch_id;
    const traceId: string = accepted.body.trace_id;
    await api.waitForEnd(batchId);
    await waitForLine((line) => line.event === 'batch.completed' && line.batch_id === batchId);
    token = app.get(TokenManager).peek() ?? '';
    expect(token.length).toBeGreaterThan(8);

    const all = parsed();
    const events = all.filter((line) => line.batch_id === batchId && line.event);
    expect(events.map((line) => line.event)).toEqual([
      'batch.accepted',
      'batch.started',
      'batch.completed',
    ]);
    for (const line of events) expect(line).toMatchObject({ trace_id: traceId, caller: 'default' });
    const completed = events[2];
    expect(completed.summary).toEqual({
      total: 4,
      successful: 4,
      failed: 0,
      degraded: 0,
      cancelled: 0,
    });
    expect(typeof completed.duration_ms).toBe('number');

    const submit = all.find((line) => line.req?.method === 'POST' && line.res?.statusCode === 202);
    expect(submit).toMatchObject({ trace_id: traceId, batch_id: batchId, caller: 'default' });
    const polls = all.filter((line) => line.req?.url?.startsWith(`/batch/${batchId}/status`));
    expect(polls.length).toBeGreaterThan(0);
    for (const poll of polls) {
      expect(poll.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(poll.batch_id).toBe(batchId);
    }
  });

  it('writes the line of a request refused by body parsing (415, unreadable JSON), once', async () => {
    const post = (body: string, contentType: string): Promise<Response> =>
      fetch(`${url}/batch/execute`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': contentType },
        body,
      });
    expect((await post('payloads', 'text/plain')).status).toBe(415);
    expect((await post('{"payloads": [', 'application/json')).status).toBe(400);
    await waitForLine((line) => line.res?.statusCode === 400 && line.req?.url === '/batch/execute');

    const refused = parsed().filter(
      (line) => line.req?.url === '/batch/execute' && [400, 415].includes(line.res?.statusCode),
    );
    expect(refused.map((line) => line.res.statusCode).sort()).toEqual([400, 415]);
    for (const line of refused) {
      expect(line).toMatchObject({ msg: 'request completed', req: { method: 'POST' } });
      expect(line.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(typeof line.responseTime).toBe('number');
    }
  });

  it('never writes a secret, token or API key, auth failures and careless log calls included', async () => {
    const api = apiFor(url);
    const auth = { authorization: `Bearer ${API_KEY}` };

    // Callers with a wrong key, and with none.
    expect((await api.get('/batch', { authorization: `Bearer ${WRONG_KEY}` })).status).toBe(401);
    expect((await api.get('/batch', { authorization: '' })).status).toBe(401);

    // The token endpoint refuses: items fail AUTH_FAILED.
    const failing = `token-down-${randomBytes(3).toString('hex')}`;
    sim.setProfile(failing, { latency_ms: 1 });
    app.get(TokenManager).invalidate(token);
    sim.setTokenBehaviour({ fail_next: 1000, fail_status: 401 });
    const refused = await api.post(
      '/batch/execute',
      { action_id: failing, payloads: payloads(2) },
      auth,
    );
    const refusedEnd = await api.waitForEnd(refused.body.batch_id);
    expect(refusedEnd.summary.failed).toBe(2);
    sim.setTokenBehaviour({});

    // CXone refuses the token itself (401, refreshed once, 401 again).
    const rejecting = `rejects-${randomBytes(3).toString('hex')}`;
    sim.setProfile(rejecting, { latency_ms: 1, error_rate: 1, error_status: 401 });
    const rejected = await api.post(
      '/batch/execute',
      { action_id: rejecting, payloads: payloads(2) },
      auth,
    );
    const rejectedEnd = await api.waitForEnd(rejected.body.batch_id, 10000);
    expect(rejectedEnd.summary.failed).toBe(2);
    const fresh = app.get(TokenManager).peek() ?? token;

    // Careless log calls: secrets in messages, structured fields and an HTTP client error. (The
    // service holds only digests of caller keys, so a key can reach a line only in a header or a
    // field redacted by name, both covered here, never as a known value in free text.)
    const logger = new Logger('Careless');
    const clientError = Object.assign(new Error(`request failed for ${CLIENT_SECRET}`), {
      config: {
        headers: { Authorization: `Bearer ${fresh}` },
        data: `client_secret=${CLIENT_SECRET}`,
      },
      response: { status: 401 },
    });
    logger.error({ err: clientError }, 'CXone call failed');
    logger.warn(`retrying with Authorization: Bearer ${token} and client_secret=${CLIENT_SECRET}`);
    logger.log({ settings: { clientSecret: CLIENT_SECRET, apiKeys: [API_KEY] } }, 'settings');
    logger.debug(`callback signed with ${CALLBACK_SECRET}; body {"access_token":"${fresh}"}`);
    logger.warn(`export to the collector failed (x-api-key: ${COLLECTOR_KEY})`);
    await waitForLine((line) => line.msg?.startsWith?.('callback signed'));

    const text = lines.join('');
    expect(text).toContain('CXone token request failed'); // the failures were logged…
    expect(text).toContain('[redacted]'); // …and so were the careless lines, scrubbed
    const secrets = [
      CLIENT_SECRET,
      API_KEY,
      CALLBACK_SECRET,
      WRONG_KEY,
      COLLECTOR_KEY,
      token,
      fresh,
    ];
    for (const secret of secrets) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toMatch(/Bearer (?!\[redacted\])/);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
  });
});
