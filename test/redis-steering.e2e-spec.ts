import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { payloads, type Api } from './helpers/api.js';
import { deleteKeys, describeWithRedis, SHARED_REDIS_URL, uniquePrefix } from './helpers/redis.js';
import {
  serviceApi,
  startService,
  waitFor,
  type ServiceProcess,
} from './helpers/service-process.js';

// Steering in distributed mode: two replicas (`node dist/main.js`) on one Redis, the simulator in
// this process. Whichever replica takes the request, the one running the batch acts on it.

const describeRedis = await describeWithRedis();
/** Generous: the machine running the suite may be busy (timing goals live in the assertions). */
const TEST_TIMEOUT_MS = 30_000;

describeRedis('distributed mode: steering batches and circuits across two replicas', () => {
  const prefix = uniquePrefix('steer');
  let sim: SimulatorHandle;
  let redis: Redis;
  const replicas: ServiceProcess[] = [];
  let apis: [Api, Api];

  const simStats = async (): Promise<any> => (await fetch(`${sim.url}/__sim/stats`)).json();
  const inFlight = async (action: string): Promise<number> =>
    (await simStats()).actions[action]?.in_flight ?? 0;
  const callsOf = async (action: string): Promise<number> =>
    (await simStats()).actions[action]?.calls ?? 0;
  const attemptsOf = async (requestId: string): Promise<number> => {
    const response = await fetch(`${sim.url}/__sim/attempts/${encodeURIComponent(requestId)}`);
    return ((await response.json()) as { attempts: number }).attempts;
  };
  /** Index (0 or 1) of the replica that recorded itself as the batch's runner. */
  const ownerOf = async (batchId: string): Promise<number> => {
    let owner = -1;
    await waitFor(
      async () => {
        const id = await redis.hget(`${prefix}batch:{${batchId}}:meta`, 'owner');
        owner = replicas.findIndex((replica) => id?.endsWith(`:${replica.pid}`) === true);
        return owner >= 0;
      },
      10000,
      `an owner for batch ${batchId}`,
    );
    return owner;
  };
  const msUntil = async (check: () => Promise<boolean>, timeoutMs: number, what: string) => {
    const started = Date.now();
    for (;;) {
      if (await check()) return Date.now() - started;
      if (Date.now() - started > timeoutMs) throw new Error(`${what} not within ${timeoutMs} ms`);
      await sleep(10);
    }
  };

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 23 });
    redis = new Redis(SHARED_REDIS_URL);
    const env = {
      CXONE_API_URL: sim.url,
      REDIS_URL: SHARED_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      QUEUE_LOCK_SECONDS: '5',
      CIRCUIT_FAILURE_THRESHOLD: '1000',
      ADMIN_CALLERS: 'anonymous',
    };
    const started = await Promise.allSettled([startService(env), startService(env)]);
    for (const result of started) if (result.status === 'fulfilled') replicas.push(result.value);
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
    apis = [serviceApi(replicas[0].url), serviceApi(replicas[1].url)];
  }, 30000);

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.kill()));
    await sim?.close();
    redis?.disconnect();
    await deleteKeys(SHARED_REDIS_URL, prefix);
  });

  it(
    'forces a circuit open on one replica and isolates the action on both',
    async () => {
      sim.setProfile('shared-isolated', { latency_ms: 2 });
      const forced = await apis[0].put('/circuits/shared-isolated', { state: 'forced_open' });
      expect(forced.status).toBe(200);
      expect(forced.body.state).toBe('forced_open');
      const seenByOther = await apis[1].get('/circuits');
      expect(seenByOther.body.circuits).toContainEqual({
        action_id: 'shared-isolated',
        state: 'forced_open',
        consecutive_failures: 0,
        open_until: null,
      });

      // Batches of the action until each replica has run at least one (BullMQ hands jobs to
      // whichever replica waits): every item fails CIRCUIT_OPEN, none reaches the simulator.
      const ranOn = new Set<number>();
      for (let i = 0; i < 20 && ranOn.size < 2; i++) {
        const submitted = await apis[i % 2].post('/batch/execute', {
          action_id: 'shared-isolated',
          payloads: payloads(4, i * 4),
          cache_ttl_seconds: 0,
        });
        expect(submitted.status).toBe(202);
        const done = await apis[(i + 1) % 2].waitForEnd(submitted.body.batch_id);
        expect(done.summary).toMatchObject({ failed: 4, successful: 0 });
        expect(done.items.every((item: any) => item.error_code === 'CIRCUIT_OPEN')).toBe(true);
        ranOn.add(await ownerOf(submitted.body.batch_id));
      }
      expect([...ranOn].sort()).toEqual([0, 1]);
      expect(await callsOf('shared-isolated')).toBe(0);

      const auto = await apis[1].put('/circuits/shared-isolated', { state: 'auto' });
      expect(auto.body.state).toBe('closed');
      const resumed = await apis[0].post('/batch/execute', {
        action_id: 'shared-isolated',
        payloads: payloads(4),
        cache_ttl_seconds: 0,
      });
      const done = await apis[0].waitForEnd(resumed.body.batch_id);
      expect(done.summary.successful).toBe(4);
      expect(await callsOf('shared-isolated')).toBe(4);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'applies a PATCH sent to the replica that does not run the batch within 1 s',
    async () => {
      sim.setProfile('shared-patch', { latency_ms: 200 });
      const submitted = await apis[0].post('/batch/execute', {
        action_id: 'shared-patch',
        payloads: payloads(1000),
        max_workers: 2,
        cache_ttl_seconds: 0,
      });
      const { batch_id: batchId } = submitted.body;
      await waitFor(async () => (await inFlight('shared-patch')) === 2, 10000, 'two in flight');
      const other = apis[1 - (await ownerOf(batchId))];

      const raised = await other.patch(`/batch/${batchId}`, { max_workers: 20 });
      expect(raised.status).toBe(200);
      expect(raised.body.limits.max_workers).toBe(20);
      const up = await msUntil(async () => (await inFlight('shared-patch')) === 20, 3000, 'raise');
      expect(up).toBeLessThan(1000);

      await other.patch(`/batch/${batchId}`, { max_workers: 1 });
      const down = await msUntil(async () => (await inFlight('shared-patch')) <= 1, 3000, 'lower');
      expect(down).toBeLessThan(1000);

      expect((await other.post(`/batch/${batchId}/cancel`, undefined)).status).toBe(200);
      await other.waitForEnd(batchId);
      expect((await apis[0].patch(`/batch/${batchId}`, { max_workers: 3 })).status).toBe(409);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'redrives a failed batch through either replica, twice, under the same request ids',
    async () => {
      sim.setProfile('shared-redrive', { error_rate: 1, error_status: 400 });
      const submitted = await apis[0].post('/batch/execute', {
        action_id: 'shared-redrive',
        payloads: payloads(10),
        max_workers: 1,
        cache_ttl_seconds: 0,
        tolerated_failure_count: 1,
      });
      const batchId = submitted.body.batch_id;
      const first = await apis[1].waitForEnd(batchId);
      expect(first).toMatchObject({
        status: 'failed',
        failure_reason: 'TOLERATED_FAILURE_EXCEEDED',
        summary: { failed: 2, cancelled: 8 },
      });

      sim.setProfile('shared-redrive', { latency_ms: 2 });
      const redriven = await apis[1].post(`/batch/${batchId}/redrive`, { statuses: ['cancelled'] });
      expect(redriven.status).toBe(202);
      // The two failed items still count against the tolerance of 1: the batch stops again at once.
      const second = await apis[0].waitForEnd(batchId);
      expect(second).toMatchObject({
        status: 'failed',
        redrive_count: 1,
        summary: { failed: 2, cancelled: 8 },
      });

      const all = await apis[0].post(`/batch/${batchId}/redrive`, undefined);
      expect(all.status).toBe(202);
      const third = await apis[1].waitForEnd(batchId);
      expect(third).toMatchObject({
        status: 'completed',
        failure_reason: null,
        redrive_count: 2,
        summary: { successful: 10 },
      });
      const attempts = await Promise.all(
        Array.from({ length: 10 }, (_, index) => attemptsOf(`${batchId}-${index}`)),
      );
      expect(attempts).toEqual([2, 2, 1, 1, 1, 1, 1, 1, 1, 1]);
    },
    TEST_TIMEOUT_MS,
  );
});
