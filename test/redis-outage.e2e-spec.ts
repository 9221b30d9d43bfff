import { setTimeout as sleep } from 'node:timers/promises';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { describeWithRedis, redisServer, uniquePrefix, type RedisServer } from './helpers/redis.js';
import {
  serviceApi,
  startService,
  waitFor,
  type ServiceProcess,
} from './helpers/service-process.js';
import { payloads, type Api } from './helpers/api.js';

// Redis faults, on a redis-server of this test's own (append-only file, so a restart keeps the
// data, as a production Redis with persistence does): down at start, then lost mid-batch.

const describeRedis = await describeWithRedis();

describeRedis('distributed mode: Redis faults', () => {
  let redis: RedisServer;
  let sim: SimulatorHandle;
  let service: ServiceProcess | undefined;
  let api: Api;

  /** Submits `count` items of 20 ms calls, 10 at a time, and waits until `progress` succeeded. */
  async function runningBatch(action: string, count: number, progress: number): Promise<string> {
    sim.setProfile(action, { latency_ms: 20 });
    const submitted = await api.post('/batch/execute', {
      action_id: action,
      payloads: payloads(count),
      chunk_size: 50,
      max_workers: 10,
      cache_ttl_seconds: 0,
    });
    expect(submitted.status).toBe(202);
    const batchId: string = submitted.body.batch_id;
    await waitFor(
      async () => {
        const { body } = await api.get(`/batch/${batchId}/status?limit=1`);
        return body.summary.successful >= progress;
      },
      10000,
      'progress',
    );
    return batchId;
  }

  /** How many times the simulator saw each item of the batch (its X-Request-Id). */
  function attemptCounts(batchId: string, count: number): number[] {
    const attempts = sim.allAttempts();
    return Array.from({ length: count }, (_, index) => attempts[`${batchId}-${index}`] ?? 0);
  }

  /** A replica on this test's Redis under a prefix of its own; `api` talks to it. */
  async function startReplica(name: string, env: Record<string, string>): Promise<void> {
    service = await startService({
      CXONE_API_URL: sim.url,
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: uniquePrefix(name),
      ...env,
    });
    api = serviceApi(service.url);
  }

  const isReady = async (): Promise<boolean> => (await api.get('/health/ready')).status === 200;

  beforeAll(async () => {
    redis = await redisServer();
    sim = await startSimulator({ port: 0, seed: 3 });
  });
  afterAll(async () => {
    await service?.kill();
    await sim?.close();
    await redis?.destroy();
  });

  it('starts unready while Redis is down, answers 503, and becomes ready when Redis comes', async () => {
    await startReplica('outage', { QUEUE_LOCK_SECONDS: '10' });

    const ready = await api.get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.headers.get('content-type')).toContain('application/problem+json');
    expect(ready.body.detail).toMatch(/store: Redis is not connected/);
    const submit = await api.post('/batch/execute', { action_id: 'x', payloads: [{}] });
    expect(submit.status).toBe(503);
    expect(submit.headers.get('content-type')).toContain('application/problem+json');
    expect(submit.body).toMatchObject({ status: 503 });
    expect(JSON.stringify(submit.body)).not.toMatch(/ECONNREFUSED|stack|at /);

    await redis.start();
    await waitFor(isReady, 10000, 'ready');
  }, 25000);

  it('pauses a running batch while Redis is away and completes it after, nothing lost', async () => {
    const batchId = await runningBatch('steady', 600, 100);

    await redis.stop();
    const during = await api.post('/batch/execute', { action_id: 'steady', payloads: [{}] });
    expect(during.status).toBe(503);
    expect(during.headers.get('content-type')).toContain('application/problem+json');
    expect((await api.get(`/batch/${batchId}/status`)).status).toBe(503);
    expect((await api.get('/health/ready')).status).toBe(503);
    const callsAtStop = sim.stats().actions.steady.calls;
    await sleep(1500);
    // Work pauses: only the calls in flight when Redis went away were made meanwhile.
    expect(sim.stats().actions.steady.calls - callsAtStop).toBeLessThanOrEqual(10);
    await redis.start();

    const done = await api.waitForEnd(batchId, 30000);
    expect(done.summary).toEqual({
      total: 600,
      successful: 600,
      failed: 0,
      degraded: 0,
      cancelled: 0,
      pending: 0,
    });
    const counts = attemptCounts(batchId, 600);
    expect(counts.filter((count) => count === 0)).toEqual([]);
    expect(Math.max(...counts)).toBe(1);

    // The queue's worker survived the outage: a new batch is taken and run.
    const after = await api.post('/batch/execute', {
      action_id: 'steady',
      payloads: payloads(5),
    });
    expect(after.status).toBe(202);
    expect((await api.waitForEnd(after.body.batch_id, 15000)).summary.successful).toBe(5);
  }, 60000);

  it('answers 503 at once while a connected Redis does not answer, and completes the batch after', async () => {
    await service?.kill();
    await startReplica('frozen', { REDIS_COMMAND_TIMEOUT_MS: '1000' });
    await waitFor(isReady, 10000, 'ready');
    const batchId = await runningBatch('frozen', 300, 50);

    redis.freeze();
    const timed = async (request: () => Promise<{ status: number }>) => {
      const started = Date.now();
      const { status } = await request();
      return { status, ms: Date.now() - started };
    };
    // The first command to go unanswered waits REDIS_COMMAND_TIMEOUT_MS (the runner's outcome
    // writes usually meet it first); from then on store calls fail at once.
    const first = await timed(() => api.get(`/batch/${batchId}/status`));
    expect(first.status).toBe(503);
    expect(first.ms).toBeLessThan(3000);
    const poll = await timed(() => api.get(`/batch/${batchId}/status`));
    expect(poll).toEqual({ status: 503, ms: expect.any(Number) });
    expect(poll.ms).toBeLessThan(500);
    const submit = await timed(() =>
      api.post('/batch/execute', { action_id: 'x', payloads: [{}] }),
    );
    expect(submit.status).toBe(503);
    expect(submit.ms).toBeLessThan(500);
    const ready = await api.get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.detail).toMatch(/Redis does not answer/);

    redis.thaw();
    const done = await api.waitForEnd(batchId, 30000);
    expect(done.summary).toMatchObject({ total: 300, successful: 300, pending: 0 });
    expect(attemptCounts(batchId, 300).filter((count) => count !== 1)).toEqual([]);
  }, 60000);
});
