import type { NestExpressApplication } from '@nestjs/platform-express';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { apiFor, payloads, type Api } from './helpers/api.js';
import { startReceiver } from './helpers/callback-receiver.js';
import { freePort, waitFor } from './helpers/service-process.js';
import { startTestApp } from './helpers/test-app.js';

// Callbacks end to end in one process (the default sqlite store), over real HTTP: signatures a receiver
// verifies (the docs/callbacks.md receiver itself), retries under one webhook-id, failures
// and their last_error, and the addresses a callback may not reach.

const ROOT = resolve(import.meta.dirname, '..');
/** The default caller's own secret, in the Standard Webhooks form. */
const CALLER_SECRET = `whsec_${randomBytes(32).toString('base64')}`;
/** The fallback: it must not be what signs a caller that has its own. */
const FALLBACK_SECRET = `fallback-${randomBytes(12).toString('hex')}`;

let sim: SimulatorHandle;
/** Receivers on 127.0.0.1 are allowed (CALLBACK_ALLOWED_HOSTS). */
let allowing: { app: NestExpressApplication; url: string; api: Api };
/** Nothing allowed: the address rules apply to every host. */
let strict: { app: NestExpressApplication; url: string; api: Api };

beforeAll(async () => {
  sim = await startSimulator({ port: 0, seed: 11 });
  const common = {
    CXONE_API_URL: sim.url,
    CALLBACK_SECRET: FALLBACK_SECRET,
    CALLBACK_SECRETS: `default:${CALLER_SECRET},acme:acme-secret-0123456789`,
    CALLBACK_MAX_ATTEMPTS: '4',
    CALLBACK_RETRY_DELAY_MS: '50',
  };
  const a = await startTestApp({ ...common, CALLBACK_ALLOWED_HOSTS: '127.0.0.1' });
  allowing = { ...a, api: apiFor(a.url) };
  // Its metrics off: both apps would report into this process's one registry.
  const b = await startTestApp({ ...common, METRICS_ENABLED: 'false' });
  strict = { ...b, api: apiFor(b.url) };
});
afterAll(async () => {
  await allowing?.app.close();
  await strict?.app.close();
  await sim?.close();
});

async function submit(api: Api, body: Record<string, unknown>): Promise<string> {
  const response = await api.post('/batch/execute', {
    action_id: 'called-back',
    payloads: payloads(3),
    cache_ttl_seconds: 0,
    ...body,
  });
  expect(response.status).toBe(202);
  return response.body.batch_id as string;
}

/** Polls the status until its callback is no longer pending; returns the status body. */
async function callbackSettled(api: Api, batchId: string, timeoutMs = 20_000): Promise<any> {
  let body: any;
  await waitFor(
    async () => {
      body = (await api.get(`/batch/${batchId}/status`)).body;
      return body?.callback?.status !== undefined && body.callback.status !== 'pending';
    },
    timeoutMs,
    `callback of ${batchId}`,
  );
  return body;
}

/** The receiver of docs/callbacks.md, run as written, printing the batches it accepted. */
async function docsReceiver(secret: string): Promise<{
  url: string;
  accepted: any[];
  output: () => string;
  stop(): Promise<void>;
}> {
  const markdown = readFileSync(join(ROOT, 'docs', 'callbacks.md'), 'utf8');
  const section = markdown.slice(markdown.indexOf('## Verifying it'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (!code) throw new Error('docs/callbacks.md has no js block under "Verifying it"');
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '--eval', code], {
    cwd: ROOT, // where `standardwebhooks` resolves from
    env: { PATH: process.env.PATH ?? '', CALLBACK_SECRET: secret, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const accepted: any[] = [];
  let output = '';
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) accepted.push(JSON.parse(line));
  });
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}/hook`;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`docs receiver exited:\n${output}`);
      return fetch(url).then(
        () => true,
        () => false,
      );
    },
    10_000,
    'docs receiver start',
  );
  return {
    url,
    accepted,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((done) => child.once('exit', done));
      child.kill();
      await exited;
    },
  };
}

describe('callback signatures', () => {
  it('are verified by the docs/callbacks.md receiver (standardwebhooks and the body HMAC), with the caller’s own secret', async () => {
    const receiver = await docsReceiver(CALLER_SECRET);
    try {
      const batchId = await submit(allowing.api, { callback_url: receiver.url });
      const status = await callbackSettled(allowing.api, batchId);
      expect(status.callback).toEqual({
        status: 'delivered',
        attempts: 1,
        last_error: null,
        delivered_at: expect.any(String),
      });
      await waitFor(async () => receiver.accepted.length === 1, 5000, 'receiver output');
      expect(receiver.accepted[0]).toEqual({
        webhook_id: expect.stringMatching(/^msg_[0-9a-f]{32}$/),
        batch_id: batchId,
        status: 'completed',
        summary: { total: 3, successful: 3, failed: 0, degraded: 0, cancelled: 0, pending: 0 },
        trace_id: status.trace_id,
      });

      // The snippet does refuse: a body signed with another secret, and a replayed timestamp.
      const body = JSON.stringify({ batch_id: 'forged' });
      const forged = new Webhook(Buffer.from(FALLBACK_SECRET), { format: 'raw' });
      const now = new Date();
      const forgedHeaders = {
        'webhook-id': 'msg_forged',
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': forged.sign('msg_forged', now, body),
        'x-orchestrator-signature': `sha256=${createHmac('sha256', FALLBACK_SECRET).update(body).digest('hex')}`,
      };
      expect(
        (await fetch(receiver.url, { method: 'POST', headers: forgedHeaders, body })).status,
      ).toBe(401);
      const key = Buffer.from(CALLER_SECRET.slice('whsec_'.length), 'base64');
      const old = new Date(Date.now() - 10 * 60_000);
      const replayed = {
        'webhook-id': 'msg_old',
        'webhook-timestamp': String(Math.floor(old.getTime() / 1000)),
        'webhook-signature': new Webhook(key, { format: 'raw' }).sign('msg_old', old, body),
        'x-orchestrator-signature': `sha256=${createHmac('sha256', key).update(body).digest('hex')}`,
      };
      expect((await fetch(receiver.url, { method: 'POST', headers: replayed, body })).status).toBe(
        401,
      );
      expect(receiver.accepted).toHaveLength(1);
    } finally {
      await receiver.stop();
    }
  });

  it('carry both headers a plain receiver checks by hand: HMAC of the body, and of id.timestamp.body', async () => {
    const receiver = await startReceiver();
    try {
      const batchId = await submit(allowing.api, { callback_url: receiver.url('/plain') });
      const [callback] = await receiver.waitFor(1);
      const key = Buffer.from(CALLER_SECRET.slice('whsec_'.length), 'base64');
      const { headers, body } = callback;
      expect(headers['content-type']).toBe('application/json');
      expect(headers['x-orchestrator-signature']).toBe(
        `sha256=${createHmac('sha256', key).update(body).digest('hex')}`,
      );
      const signed = `${String(headers['webhook-id'])}.${String(headers['webhook-timestamp'])}.${body}`;
      expect(headers['webhook-signature']).toBe(
        `v1,${createHmac('sha256', key).update(signed).digest('base64')}`,
      );
      expect(Math.abs(Number(headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(60);
      expect(JSON.parse(body)).toMatchObject({ batch_id: batchId, status: 'completed' });
      expect(callback.path).toBe('/plain');
    } finally {
      await receiver.close();
    }
  });
});

describe('per-caller secrets', () => {
  const keys = {
    acme: `acme-key-${randomBytes(8).toString('hex')}`,
    globex: `globex-key-${randomBytes(8).toString('hex')}`,
    initech: `initech-key-${randomBytes(8).toString('hex')}`,
  };
  const acmeSecret = `whsec_${randomBytes(24).toString('base64')}`;
  const globexSecret = `globex-secret-${randomBytes(8).toString('hex')}`;
  let callers: { app: NestExpressApplication; url: string };

  beforeAll(async () => {
    callers = await startTestApp({
      CXONE_API_URL: sim.url,
      API_KEYS: Object.entries(keys)
        .map(([caller, key]) => `${caller}:${key}`)
        .join(','),
      CALLBACK_SECRET: FALLBACK_SECRET,
      CALLBACK_SECRETS: `acme:${acmeSecret},globex:${globexSecret}`,
      CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
      METRICS_ENABLED: 'false',
    });
  });
  afterAll(async () => {
    await callers?.app.close();
  });

  it('sign each batch with its caller’s own secret, CALLBACK_SECRET for a caller without one', async () => {
    const receiver = await startReceiver();
    const api = apiFor(callers.url, { auth: false });
    try {
      const owners = Object.keys(keys) as (keyof typeof keys)[];
      for (const caller of owners) {
        const response = await api.post(
          '/batch/execute',
          {
            action_id: 'per-caller',
            payloads: payloads(1),
            callback_url: receiver.url(`/${caller}`),
          },
          { authorization: `Bearer ${keys[caller]}` },
        );
        expect(response.status).toBe(202);
      }
      await receiver.waitFor(owners.length);
      const webhooks = {
        acme: new Webhook(acmeSecret),
        globex: new Webhook(Buffer.from(globexSecret), { format: 'raw' }),
        initech: new Webhook(Buffer.from(FALLBACK_SECRET), { format: 'raw' }),
      };
      for (const callback of receiver.received) {
        const owner = callback.path.slice(1) as keyof typeof keys;
        for (const caller of owners) {
          const verify = () =>
            webhooks[caller].verify(callback.body, callback.headers as Record<string, string>);
          if (caller === owner) expect(verify).not.toThrow();
          else expect(verify).toThrow();
        }
      }
    } finally {
      await receiver.close();
    }
  });
});

describe('delivery', () => {
  it('retries a receiver that fails the first attempts, under one webhook-id, and counts the attempts', async () => {
    const receiver = await startReceiver((n) => (n < 2 ? 503 : 204));
    try {
      const batchId = await submit(allowing.api, { callback_url: receiver.url() });
      const status = await callbackSettled(allowing.api, batchId);
      expect(status.callback).toEqual({
        status: 'delivered',
        attempts: 3,
        last_error: 'answered 503',
        delivered_at: expect.any(String),
      });
      expect(receiver.received).toHaveLength(3);
      const ids = new Set(receiver.received.map((r) => r.headers['webhook-id']));
      expect(ids.size).toBe(1);
      expect(new Set(receiver.received.map((r) => r.body)).size).toBe(1);
    } finally {
      await receiver.close();
    }
  });

  it('gives up after CALLBACK_MAX_ATTEMPTS on a receiver that keeps failing', async () => {
    const receiver = await startReceiver(() => 500);
    try {
      const batchId = await submit(allowing.api, { callback_url: receiver.url() });
      const status = await callbackSettled(allowing.api, batchId);
      expect(status.callback).toEqual({
        status: 'failed',
        attempts: 4,
        last_error: 'answered 500 (attempt 4, the last)',
        delivered_at: null,
      });
      expect(receiver.received).toHaveLength(4);
    } finally {
      await receiver.close();
    }
  });

  it('fails at once on a 4xx other than 408 and 429', async () => {
    const receiver = await startReceiver(() => 404);
    try {
      const batchId = await submit(allowing.api, { callback_url: receiver.url() });
      expect((await callbackSettled(allowing.api, batchId)).callback).toEqual({
        status: 'failed',
        attempts: 1,
        last_error: 'answered 404',
        delivered_at: null,
      });
    } finally {
      await receiver.close();
    }
  });

  it('does not follow a redirect', async () => {
    const target = await startReceiver();
    const redirecting: Server = createServer((_req, res) =>
      res.writeHead(307, { location: target.url('/moved') }).end(),
    );
    await new Promise<void>((done) => redirecting.listen(0, '127.0.0.1', done));
    const port = (redirecting.address() as { port: number }).port;
    try {
      const batchId = await submit(allowing.api, { callback_url: `http://127.0.0.1:${port}/x` });
      expect((await callbackSettled(allowing.api, batchId)).callback).toMatchObject({
        status: 'failed',
        attempts: 1,
        last_error: 'answered 307; redirects are not followed',
      });
      expect(target.connections).toBe(0);
    } finally {
      redirecting.close();
      await target.close();
    }
  });

  it('shows callback null without callback_url, and pending with no attempt while the batch runs', async () => {
    const plain = await submit(allowing.api, {});
    await allowing.api.waitForEnd(plain);
    expect((await allowing.api.get(`/batch/${plain}/status`)).body.callback).toBeNull();

    sim.setProfile('slow-callback', { latency_ms: 1500 });
    const receiver = await startReceiver();
    try {
      const slow = await submit(allowing.api, {
        action_id: 'slow-callback',
        payloads: payloads(1),
        callback_url: receiver.url(),
      });
      const running = await allowing.api.get(`/batch/${slow}/status`);
      expect(running.body.finished_at).toBeNull();
      expect(running.body.callback).toEqual({
        status: 'pending',
        attempts: 0,
        last_error: null,
        delivered_at: null,
      });
      expect((await callbackSettled(allowing.api, slow)).callback.status).toBe('delivered');
    } finally {
      await receiver.close();
    }
  });

  it('reports attempts, deliveries and the oldest pending callback as metrics', async () => {
    const text = await (await fetch(`${allowing.url}/metrics`)).text();
    expect(text).toMatch(
      /orchestrator_callback_deliveries_total\{outcome="delivered"[^}]*\} [1-9]/,
    );
    expect(text).toMatch(
      /orchestrator_callback_attempts_total\{outcome="server_error"[^}]*\} [1-9]/,
    );
    expect(text).toMatch(/orchestrator_callback_deliveries_total\{outcome="failed"[^}]*\} [1-9]/);
    expect(text).toMatch(/orchestrator_callback_attempts_total\{outcome="interrupted"[^}]*\} 0/);
    expect(text).toMatch(/orchestrator_callback_oldest_pending_seconds(\{[^}]*\})? 0/);
    expect(text).toMatch(/orchestrator_callback_pending_deliveries(\{[^}]*\})? 0/);
    expect(text).not.toContain(FALLBACK_SECRET);
  });
});

describe('addresses a callback may not reach', () => {
  it.each([
    ['https://127.0.0.1/hook', 'a loopback address'],
    ['https://10.0.0.1/hook', 'a private address'],
    ['https://169.254.169.254/latest/meta-data/', 'a link-local address'],
    ['https://[::1]/hook', 'a loopback address'],
    ['https://[fe80::1]/hook', 'a link-local address'],
    ['https://[::ffff:127.0.0.1]/hook', 'an IPv4-mapped loopback address'],
    ['https://100.64.0.1/hook', 'a shared address'],
    ['https://0.0.0.0/hook', 'an unspecified address'],
    ['https://224.0.0.1/hook', 'a multicast address'],
    ['https://[fc00::1]/hook', 'a private address'],
    ['https://2130706433/hook', 'a loopback address'],
  ])('refuses %s at intake with a 400 naming callback_url', async (callbackUrl, what) => {
    const response = await strict.api.post('/batch/execute', {
      action_id: 'refused',
      payloads: [{}],
      callback_url: callbackUrl,
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toContain('application/problem+json');
    expect(response.body.errors).toEqual([
      {
        field: 'callback_url',
        message: expect.stringMatching(
          new RegExp(
            `^must not point at .+, ${what} \\(only hosts in CALLBACK_ALLOWED_HOSTS may\\)$`,
          ),
        ),
      },
    ]);
  });

  it('fails the delivery of a name that resolves to loopback, saying why, without connecting', async () => {
    // localhost resolves to 127.0.0.1 (and maybe ::1): a receiver there records any connection.
    const receiver = await startReceiver();
    try {
      const batchId = await submit(strict.api, {
        callback_url: `https://localhost:${receiver.port}/hook`,
      });
      const status = await callbackSettled(strict.api, batchId);
      expect(status.callback).toEqual({
        status: 'failed',
        attempts: 1,
        last_error: expect.stringMatching(
          /^refused: localhost resolves to (127\.0\.0\.1, a loopback|::1, a loopback) address, which only hosts in CALLBACK_ALLOWED_HOSTS may receive; no connection was made$/,
        ),
        delivered_at: null,
      });
      expect(receiver.connections).toBe(0);
    } finally {
      await receiver.close();
    }
  });

  it('lets a host named in CALLBACK_ALLOWED_HOSTS through, over plain http', async () => {
    const receiver = await startReceiver();
    try {
      const batchId = await submit(allowing.api, { callback_url: receiver.url() });
      expect((await callbackSettled(allowing.api, batchId)).callback.status).toBe('delivered');
      expect(receiver.received).toHaveLength(1);
    } finally {
      await receiver.close();
    }
  });
});
