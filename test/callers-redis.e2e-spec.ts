import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { apiFor, payloads, type Api } from './helpers/api.js';
import { API_KEYS, bearer, KEYS } from './helpers/callers.js';
import { deleteKeys, describeWithRedis, SHARED_REDIS_URL, uniquePrefix } from './helpers/redis.js';
import { startService, waitFor, type ServiceProcess } from './helpers/service-process.js';

// Callers in distributed mode: two replicas (`node dist/main.js`) on one Redis, the simulator in
// this process. Whatever one replica accepted, the other enforces: owner, idempotency, limits.

const describeRedis = await describeWithRedis();

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
/** The batch id of a simulator call (`X-Request-Id` is `<batch id>-<index>`). */
const batchOfRequest = (requestId: string | null): string => (requestId ?? '').slice(0, 36);

describeRedis('callers in distributed mode: two replicas on one Redis', () => {
  const prefix = uniquePrefix('callers');
  let sim: SimulatorHandle;
  let dir: string;
  let keysFile: string;
  const replicas: ServiceProcess[] = [];
  let a: ServiceProcess;
  let b: ServiceProcess;
  /** A caller's client of a replica; polls slowly (CALLER_RATE_LIMIT is low here). */
  const as = (replica: ServiceProcess, key: string): Api =>
    apiFor(replica.url, { key, pollMs: 250 });

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 5, recentCallsLimit: 20_000 });
    dir = mkdtempSync(join(tmpdir(), 'cxo-keys-'));
    keysFile = join(dir, 'api-keys');
    writeFileSync(keysFile, 'delta:delta-old-key-0123456789\n');
    const env = {
      AUTH_DISABLED: 'false',
      API_KEYS,
      API_KEYS_FILE: keysFile,
      ADMIN_CALLERS: 'ops',
      CXONE_API_URL: sim.url,
      REDIS_URL: SHARED_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      HOST: '127.0.0.1',
      CXONE_MAX_CONCURRENCY: '4',
      CIRCUIT_FAILURE_THRESHOLD: '3',
      CALLER_RATE_LIMIT: '20',
      CALLER_MAX_QUEUED_ITEMS: '1000',
    };
    const started = await Promise.allSettled([startService(env), startService(env)]);
    for (const result of started) if (result.status === 'fulfilled') replicas.push(result.value);
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
    [a, b] = replicas;
  }, 60_000);

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.kill()));
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
    await deleteKeys(SHARED_REDIS_URL, prefix);
  });

  it("answers another caller's batch with 404 on either replica, and lists only the caller's own", async () => {
    sim.setProfile('owned', { latency_ms: 200 });
    const submitted = await as(a, KEYS.alpha).post('/batch/execute', {
      action_id: 'owned',
      payloads: payloads(4),
      max_workers: 1,
      cache_ttl_seconds: 0,
    });
    expect(submitted.status).toBe(202);
    const batchId: string = submitted.body.batch_id;

    const betaOnB = as(b, KEYS.beta);
    const unknown = await betaOnB.get(`/batch/${UNKNOWN_ID}/status`);
    const foreign = await betaOnB.get(`/batch/${batchId}/status`);
    expect(foreign.status).toBe(404);
    expect(foreign.body.detail.replace(batchId, '<id>')).toBe(
      unknown.body.detail.replace(UNKNOWN_ID, '<id>'),
    );
    expect((await betaOnB.post(`/batch/${batchId}/cancel`, undefined)).status).toBe(404);
    const betaList = await betaOnB.get('/batch?limit=100');
    expect(
      betaList.body.batches.map((entry: { batch_id: string }) => entry.batch_id),
    ).not.toContain(batchId);

    const alphaOnB = as(b, KEYS.alpha);
    expect((await alphaOnB.get(`/batch/${batchId}/status`)).body.caller).toBe('alpha');
    expect((await alphaOnB.get('/batch?limit=100')).body.batches[0]).toMatchObject({
      batch_id: batchId,
      caller: 'alpha',
    });
    const opsOnB = as(b, KEYS.ops);
    const filtered = await opsOnB.get('/batch?caller=alpha');
    expect(filtered.body.batches.map((entry: { batch_id: string }) => entry.batch_id)).toContain(
      batchId,
    );
    expect((await as(b, KEYS.beta).get('/batch?caller=alpha')).status).toBe(403);

    const done = await alphaOnB.waitForEnd(batchId);
    expect(done).toMatchObject({ status: 'completed', caller: 'alpha' });
  });

  it('keeps Idempotency-Keys per caller across replicas', async () => {
    const body = { action_id: 'idem', payloads: payloads(2) };
    const key = { 'idempotency-key': `${prefix}shared-key` };
    const byAlpha = await as(a, KEYS.alpha).post('/batch/execute', body, key);
    const byBeta = await as(b, KEYS.beta).post('/batch/execute', body, key);
    expect([byAlpha.status, byBeta.status]).toEqual([202, 202]);
    expect(byBeta.body.batch_id).not.toBe(byAlpha.body.batch_id);
    const replay = await as(b, KEYS.alpha).post('/batch/execute', body, key);
    expect(replay.status).toBe(200);
    expect(replay.body.batch_id).toBe(byAlpha.body.batch_id);
  });

  it('lets a short-timeout batch time out without opening the shared circuit for another caller', async () => {
    sim.setProfile('shared.action', { latency_ms: 400 });
    const short = await as(a, KEYS.alpha).post('/batch/execute', {
      action_id: 'shared.action',
      payloads: payloads(8),
      max_workers: 4,
      timeout_ms: 100,
      cache_ttl_seconds: 0,
    });
    expect((await as(a, KEYS.alpha).waitForEnd(short.body.batch_id)).summary.degraded).toBe(8);
    const patient = await as(b, KEYS.beta).post('/batch/execute', {
      action_id: 'shared.action',
      payloads: payloads(4, 100),
      cache_ttl_seconds: 0,
    });
    const done = await as(b, KEYS.beta).waitForEnd(patient.body.batch_id);
    expect(done.summary.successful).toBe(4);
  });

  it('holds CALLER_MAX_QUEUED_ITEMS across replicas, for that caller only', async () => {
    sim.setProfile('queued.slow', { latency_ms: 2000 });
    const body = (count: number) => ({
      action_id: 'queued.slow',
      payloads: payloads(count),
      max_workers: 1,
      cache_ttl_seconds: 0,
    });
    const first = await as(a, KEYS.ops).post('/batch/execute', body(600));
    expect(first.status).toBe(202);
    const over = await as(b, KEYS.ops).post('/batch/execute', body(500));
    expect(over.status).toBe(429);
    expect(over.body.code).toBe('CALLER_QUEUE_FULL');
    expect(over.headers.get('retry-after')).toBeTruthy();
    const other = await as(b, KEYS.beta).post('/batch/execute', body(500));
    expect(other.status).toBe(202);
    await as(b, KEYS.ops).post(`/batch/${first.body.batch_id}/cancel`, undefined);
    await as(a, KEYS.beta).post(`/batch/${other.body.batch_id}/cancel`, undefined);
  });

  it('holds CALLER_RATE_LIMIT across replicas while another caller is served', async () => {
    const get = (replica: ServiceProcess, key: string) =>
      fetch(`${replica.url}/batch?limit=1`, { headers: bearer(key) });
    const started = Date.now();
    const [ofGamma, ofBeta] = await Promise.all([
      Promise.all(Array.from({ length: 60 }, (_, i) => get(i % 2 === 0 ? a : b, KEYS.gamma))),
      Promise.all(Array.from({ length: 6 }, (_, i) => get(i % 2 === 0 ? a : b, KEYS.beta))),
    ]);
    // 20 per second, bursts of 40, counted once for both replicas: at most 40 in any 2 s.
    const windows = Math.ceil((Date.now() - started) / 2000);
    const accepted = ofGamma.filter((response) => response.status === 200).length;
    expect(accepted).toBeGreaterThanOrEqual(40);
    expect(accepted).toBeLessThanOrEqual(40 * windows);
    expect(accepted).toBeLessThan(60);
    const refused = ofGamma.filter((response) => response.status === 429);
    expect(refused).toHaveLength(60 - accepted);
    expect(Number(refused[0].headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await refused[0].json()).code).toBe('CALLER_RATE_LIMITED');
    expect(ofBeta.every((response) => response.status === 200)).toBe(true);
  });

  it('rotates the keys of API_KEYS_FILE on every replica without a restart', async () => {
    const status = (replica: ServiceProcess, key: string) =>
      fetch(`${replica.url}/batch?limit=1`, { headers: bearer(key) }).then((r) => r.status);
    expect(await status(a, 'delta-old-key-0123456789')).toBe(200);
    writeFileSync(keysFile, 'delta:delta-new-key-0123456789\n');
    for (const replica of [a, b]) {
      await waitFor(
        async () => (await status(replica, 'delta-new-key-0123456789')) === 200,
        10_000,
        'the new key',
      );
      expect(await status(replica, 'delta-old-key-0123456789')).toBe(401);
    }
  }, 30_000);

  it("gives caller B's one batch at least 40 % of a replica's slots while caller A's five batches compete", async () => {
    // One replica runs every batch, as a replica does when it holds many.
    await b.kill('SIGTERM');
    sim.setProfile('fair', { latency_ms: 20 });
    sim.reset();
    const batch = (count: number, offset: number) => ({
      action_id: 'fair',
      payloads: payloads(count, offset),
      max_workers: 4,
      cache_ttl_seconds: 0,
    });
    const alpha = as(a, KEYS.alpha);
    const alphaBatches: string[] = [];
    for (let i = 0; i < 5; i++) {
      const accepted = await alpha.post('/batch/execute', batch(150, i * 1000));
      expect(accepted.status).toBe(202);
      alphaBatches.push(accepted.body.batch_id);
    }
    await waitFor(async () => sim.stats().calls >= 40, 10_000, "alpha's calls");
    const beta = as(a, KEYS.beta);
    const betaBatch: string = (await beta.post('/batch/execute', batch(100, 9000))).body.batch_id;
    await beta.waitForEnd(betaBatch, 30_000);

    const calls = sim.recentCalls(20_000).map((call) => batchOfRequest(call.request_id));
    const window = calls.slice(calls.indexOf(betaBatch), calls.lastIndexOf(betaBatch) + 1);
    const ofBeta = window.filter((id) => id === betaBatch).length;
    const ofAlpha = window.filter((id) => alphaBatches.includes(id)).length;
    expect(ofBeta).toBe(100);
    expect(ofAlpha).toBeGreaterThan(0);
    expect(ofBeta / (ofBeta + ofAlpha)).toBeGreaterThanOrEqual(0.4);
    for (const id of alphaBatches) await alpha.post(`/batch/${id}/cancel`, undefined);
  }, 60_000);
});
