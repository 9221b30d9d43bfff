import { Logger } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { createHmac } from 'node:crypto';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { apiFor, payloads, type Api } from './helpers/api.js';
import { startReceiver, type CallbackReceiver } from './helpers/callback-receiver.js';
import { deleteKeys, describeWithRedis, SHARED_REDIS_URL, uniquePrefix } from './helpers/redis.js';
import {
  serviceApi,
  startService,
  waitFor,
  type ServiceProcess,
} from './helpers/service-process.js';
import { startTestApp } from './helpers/test-app.js';

// Callbacks in Redis mode: the delivery outlives the replica that was making it, and a batch
// cancelled while still queued is called back. Real replicas (node dist/main.js), real Redis.

const CALLBACK_SECRET = 'redis-callback-secret-0123';
/**
 * An attempt's claim lasts CALLBACK_TIMEOUT_MS + 5 s: another replica takes over after that. Long enough
 * that an attempt on a busy machine (the whole suite running) still gets its answer.
 */
const CALLBACK_TIMEOUT_MS = 5000;

const describeRedis = await describeWithRedis();

let sim: SimulatorHandle;
beforeAll(async () => {
  Logger.overrideLogger(false);
  sim = await startSimulator({ port: 0, seed: 5 });
});
afterAll(async () => {
  await sim?.close();
});

async function callbackSettled(api: Api, batchId: string, timeoutMs: number): Promise<any> {
  let body: any;
  await waitFor(
    async () => {
      const response = await api.get(`/batch/${batchId}/status`);
      body = response.body;
      return response.status === 200 && ['delivered', 'failed'].includes(body.callback?.status);
    },
    timeoutMs,
    `callback of ${batchId}`,
  );
  return body;
}

describeRedis('callbacks in Redis mode', () => {
  let prefix: string;
  let receiver: CallbackReceiver | undefined;
  const replicas: ServiceProcess[] = [];
  let app: NestExpressApplication | undefined;

  beforeEach(() => {
    prefix = uniquePrefix('callbacks');
  });
  afterEach(async () => {
    for (const replica of replicas.splice(0)) await replica.kill();
    await app?.close();
    app = undefined;
    await receiver?.close();
    receiver = undefined;
    await deleteKeys(SHARED_REDIS_URL, prefix);
  });

  it('delivers a callback whose replica was killed mid-attempt from another replica, with the same webhook-id', async () => {
    // The first attempt is held open (no answer) while its replica is killed; later ones succeed.
    receiver = await startReceiver((n) => (n === 0 ? 'hold' : 204));
    const env = {
      REDIS_URL: SHARED_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      CXONE_API_URL: sim.url,
      CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
      CALLBACK_SECRET,
      CALLBACK_TIMEOUT_MS: String(CALLBACK_TIMEOUT_MS),
      QUEUE_LOCK_SECONDS: '2',
    };
    const first = await startService(env);
    replicas.push(first);
    const submitted = await serviceApi(first.url).post('/batch/execute', {
      action_id: 'callback-kill',
      payloads: payloads(5),
      cache_ttl_seconds: 0,
      callback_url: receiver.url('/kill'),
    });
    expect(submitted.status).toBe(202);
    const batchId = submitted.body.batch_id as string;

    await receiver.waitFor(1, 20_000);
    await first.kill('SIGKILL');

    const second = await startService(env);
    replicas.push(second);
    const api = serviceApi(second.url);
    const status = await callbackSettled(api, batchId, 30_000);
    expect(status.callback).toEqual({
      status: 'delivered',
      // The attempt cut short, and the one that delivered (one more if it timed out on a busy machine).
      attempts: receiver.received.length,
      last_error: receiver.received.length === 2 ? null : expect.any(String),
      delivered_at: expect.any(String),
    });
    expect(receiver.received.length).toBeGreaterThanOrEqual(2);
    const [held, ...later] = receiver.received;
    for (const again of later) {
      expect(again.headers['webhook-id']).toBe(held.headers['webhook-id']);
      expect(again.body).toBe(held.body);
    }
    const delivered = later[later.length - 1];
    expect(delivered.headers['x-orchestrator-signature']).toBe(
      `sha256=${createHmac('sha256', CALLBACK_SECRET).update(delivered.body).digest('hex')}`,
    );
    expect(JSON.parse(delivered.body)).toMatchObject({
      batch_id: batchId,
      status: 'completed',
      summary: { total: 5, successful: 5 },
    });
  }, 90_000);

  it('on SIGTERM, hands an attempt still under way at the end of the grace back to the outbox, and another replica delivers it at once', async () => {
    receiver = await startReceiver((n) => (n === 0 ? 'hold' : 204));
    // A long attempt timeout, so its claim would last 25 s: the delivery must come back sooner.
    const env = {
      REDIS_URL: SHARED_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      CXONE_API_URL: sim.url,
      CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
      CALLBACK_TIMEOUT_MS: '20000',
      SHUTDOWN_GRACE_SECONDS: '1',
    };
    const first = await startService(env);
    replicas.push(first);
    const submitted = await serviceApi(first.url).post('/batch/execute', {
      action_id: 'callback-sigterm',
      payloads: payloads(2),
      callback_url: receiver.url('/sigterm'),
    });
    await receiver.waitFor(1, 20_000);
    const stopping = Date.now();
    await first.kill('SIGTERM');
    expect(Date.now() - stopping).toBeLessThan(10_000);

    const second = await startService(env);
    replicas.push(second);
    const status = await callbackSettled(serviceApi(second.url), submitted.body.batch_id, 15_000);
    expect(status.callback).toEqual({
      status: 'delivered',
      attempts: 2,
      last_error: 'interrupted: the service shut down during the attempt',
      delivered_at: expect.any(String),
    });
    const [held, delivered] = receiver.received;
    expect(delivered.headers['webhook-id']).toBe(held.headers['webhook-id']);
  }, 60_000);

  it('calls back a batch cancelled while still queued', async () => {
    receiver = await startReceiver();
    // One batch at a time on this replica: the second waits, queued, behind a slow first.
    sim.setProfile('callback-slow', { latency_ms: 1000 });
    ({ app } = await startTestApp({
      REDIS_URL: SHARED_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      CXONE_API_URL: sim.url,
      CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
      QUEUE_CONCURRENCY: '1',
    }));
    const address = app.getHttpServer().address() as { port: number };
    const api = apiFor(`http://127.0.0.1:${address.port}`);
    const blocker = await api.post('/batch/execute', {
      action_id: 'callback-slow',
      payloads: payloads(3),
      max_workers: 1,
      cache_ttl_seconds: 0,
    });
    await waitFor(
      async () =>
        (await api.get(`/batch/${blocker.body.batch_id}/status`)).body.status === 'running',
      10_000,
      'first batch running',
    );
    const queued = await api.post('/batch/execute', {
      action_id: 'callback-slow',
      payloads: payloads(3),
      callback_url: receiver.url('/cancelled'),
    });
    expect((await api.get(`/batch/${queued.body.batch_id}/status`)).body.status).toBe('queued');

    const cancelled = await api.post(`/batch/${queued.body.batch_id}/cancel`, undefined);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');

    const [callback] = await receiver.waitFor(1, 10_000);
    expect(JSON.parse(callback.body)).toEqual({
      batch_id: queued.body.batch_id,
      status: 'cancelled',
      summary: { total: 3, successful: 0, failed: 0, degraded: 0, cancelled: 3, pending: 0 },
      trace_id: queued.body.trace_id,
    });
    const status = await callbackSettled(api, queued.body.batch_id, 10_000);
    expect(status.callback).toMatchObject({ status: 'delivered', attempts: 1 });
    await api.post(`/batch/${blocker.body.batch_id}/cancel`, undefined);
  }, 60_000);
});
