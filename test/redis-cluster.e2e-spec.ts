import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { startSimulator, type SimulatorHandle } from '../src/simulator/simulator.server.js';
import { deleteKeys, describeWithRedis, SHARED_REDIS_URL, uniquePrefix } from './helpers/redis.js';
import {
  blockEventLoop,
  serviceApi,
  startService,
  waitFor,
  type ServiceProcess,
} from './helpers/service-process.js';
import { payloads } from './helpers/api.js';

// Two replicas (`node dist/main.js`) on one Redis, the simulator in this process.

/** With the inspector on loopback, so that a test can block a replica's main thread. */
const INSPECTABLE = { nodeArgs: ['--inspect=127.0.0.1:0'] };

const describeRedis = await describeWithRedis();

describeRedis('distributed mode: two replicas on one Redis', () => {
  const prefix = uniquePrefix('cluster');
  let sim: SimulatorHandle;
  let redis: Redis;
  const replicas: ServiceProcess[] = [];
  let a: ServiceProcess;
  let b: ServiceProcess;
  let env: Record<string, string>;
  let replacing: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 11 });
    redis = new Redis(SHARED_REDIS_URL);
    env = {
      CXONE_API_URL: sim.url,
      REDIS_URL: SHARED_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      QUEUE_LOCK_SECONDS: '2',
      CXONE_MAX_RETRIES: '0',
      CIRCUIT_FAILURE_THRESHOLD: '3',
      CIRCUIT_RECOVERY_SECONDS: '120',
    };
    const started = await Promise.allSettled([
      startService(env, INSPECTABLE),
      startService(env, INSPECTABLE),
    ]);
    for (const result of started) if (result.status === 'fulfilled') replicas.push(result.value);
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
    [a, b] = replicas;
  }, 30000);

  afterAll(async () => {
    await replacing.catch(() => undefined);
    await Promise.all(replicas.map((replica) => replica.kill()));
    await sim?.close();
    redis?.disconnect();
    await deleteKeys(SHARED_REDIS_URL, prefix);
  });

  const metaKeyOf = (batchId: string): string => `${prefix}batch:{${batchId}}:meta`;

  /**
   * The replica running the batch (it records itself as the batch's `owner`), once that has
   * recorded `successes` outcomes, and the other replica.
   */
  const runningReplica = async (
    batchId: string,
    successes: number,
  ): Promise<{ owner: ServiceProcess; other: ServiceProcess }> => {
    let owner: ServiceProcess | undefined;
    for (const deadline = Date.now() + 10000; Date.now() < deadline; await sleep(20)) {
      const [ownerId, successful] = await redis.hmget(metaKeyOf(batchId), 'owner', 'successful');
      owner = replicas.find((replica) => ownerId?.endsWith(`:${replica.pid}`));
      if (owner && Number(successful) >= successes) break;
    }
    expect(owner).toBeDefined();
    return { owner: owner!, other: owner === a ? b : a };
  };

  it('accepts on one replica and answers identically on the other', async () => {
    sim.setProfile('lookup', { latency_ms: 5 });
    const apiA = serviceApi(a.url);
    const apiB = serviceApi(b.url);
    const body = { action_id: 'lookup', payloads: payloads(57), chunk_size: 7, max_workers: 5 };
    const submitted = await apiA.post('/batch/execute', body, { 'idempotency-key': `${prefix}k1` });
    expect(submitted.status).toBe(202);
    const { batch_id: batchId } = submitted.body;

    const done = await apiB.waitForEnd(batchId);
    expect(done.summary).toEqual({
      total: 57,
      successful: 57,
      failed: 0,
      degraded: 0,
      cancelled: 0,
      pending: 0,
    });
    for (const query of [
      '?limit=1000',
      '?offset=50&limit=5',
      '?status=success&offset=3&limit=4',
      '?status=pending',
    ]) {
      const [fromA, fromB] = await Promise.all([
        apiA.get(`/batch/${batchId}/status${query}`),
        apiB.get(`/batch/${batchId}/status${query}`),
      ]);
      expect(fromA.status).toBe(200);
      expect(fromB.body).toEqual(fromA.body);
    }
    const page = await apiB.get(`/batch/${batchId}/status?offset=50&limit=5`);
    expect(page.body.items.map((item: { id: string }) => item.id)).toEqual([
      'item-50',
      'item-51',
      'item-52',
      'item-53',
      'item-54',
    ]);

    const [listA, listB] = await Promise.all([
      apiA.get('/batch?limit=5'),
      apiB.get('/batch?limit=5'),
    ]);
    expect(listB.body).toEqual(listA.body);
    expect(listA.body.batches[0].batch_id).toBe(batchId);

    // The idempotency key is shared: the same request on the other replica returns the same batch.
    const replay = await apiB.post('/batch/execute', body, { 'idempotency-key': `${prefix}k1` });
    expect(replay.status).toBe(200);
    expect(replay.body.batch_id).toBe(batchId);
  });

  it('shares the circuit: opened by one replica, it stops the other replica’s calls', async () => {
    sim.setProfile('flaky', { error_rate: 1, error_status: 500 });
    const body = (count: number) => ({
      action_id: 'flaky',
      payloads: payloads(count),
      max_workers: 1,
      cache_ttl_seconds: 0,
    });
    const first = await serviceApi(a.url).post('/batch/execute', body(6));
    expect(first.status).toBe(202);
    const firstDone = await serviceApi(a.url).waitForEnd(first.body.batch_id);
    expect(firstDone.summary.failed).toBe(6);
    const callsWhenOpen = sim.stats().actions.flaky.calls;
    expect(callsWhenOpen).toBe(3);

    const second = await serviceApi(b.url).post('/batch/execute', body(5));
    const secondDone = await serviceApi(b.url).waitForEnd(second.body.batch_id);
    expect(sim.stats().actions.flaky.calls).toBe(callsWhenOpen);
    expect(
      secondDone.items.every((item: { error_code: string }) => item.error_code === 'CIRCUIT_OPEN'),
    ).toBe(true);
  });

  it('cancels on any replica: the replica running the batch stops scheduling at once', async () => {
    sim.setProfile('long', { latency_ms: 50 });
    const submitted = await serviceApi(a.url).post('/batch/execute', {
      action_id: 'long',
      payloads: payloads(400),
      chunk_size: 1000,
      max_workers: 4,
      cache_ttl_seconds: 0,
    });
    const batchId: string = submitted.body.batch_id;
    const { owner, other: elsewhere } = await runningReplica(batchId, 8);

    // One chunk holds the whole batch, so only the cancel message can stop it before its end.
    const cancelled = await serviceApi(elsewhere.url).post(`/batch/${batchId}/cancel`, {});
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    const callsAtCancel = sim.stats().actions.long.calls;

    const done = await serviceApi(owner.url).waitForEnd(batchId, 10000);
    expect(done.status).toBe('cancelled');
    expect(done.summary.cancelled).toBeGreaterThan(300);
    await sleep(300);
    expect(sim.stats().actions.long.calls - callsAtCancel).toBeLessThanOrEqual(4);
  });

  it('keeps a batch on its replica while that replica’s main thread is blocked for 3 × the lock', async () => {
    sim.setProfile('stall', { latency_ms: 20 });
    const submitted = await serviceApi(a.url).post('/batch/execute', {
      action_id: 'stall',
      payloads: payloads(1000),
      chunk_size: 50,
      max_workers: 10,
      cache_ttl_seconds: 0,
    });
    const batchId: string = submitted.body.batch_id;
    const { owner, other } = await runningReplica(batchId, 100);

    // QUEUE_LOCK_SECONDS is 2: a lock renewed by the blocked thread would expire, and the other
    // replica would take the batch and repeat its calls in flight.
    await blockEventLoop(owner, 6000);

    const done = await serviceApi(other.url).waitForEnd(batchId, 20000);
    expect(done.summary).toMatchObject({ total: 1000, successful: 1000, pending: 0 });
    expect(await redis.hget(metaKeyOf(batchId), 'owner')).toMatch(new RegExp(`:${owner.pid}$`));
    const attempts = sim.allAttempts();
    const counts = Array.from({ length: 1000 }, (_, index) => attempts[`${batchId}-${index}`] ?? 0);
    expect(Math.min(...counts)).toBe(1);
    expect(Math.max(...counts)).toBe(1);
  }, 40000);

  it('hands a running batch to another replica on SIGTERM: in-flight calls finish, none runs twice', async () => {
    sim.setProfile('handoff', { latency_ms: 20 });
    const submitted = await serviceApi(a.url).post('/batch/execute', {
      action_id: 'handoff',
      payloads: payloads(600),
      chunk_size: 50,
      max_workers: 10,
      cache_ttl_seconds: 0,
    });
    const batchId: string = submitted.body.batch_id;
    const metaKey = metaKeyOf(batchId);
    const { owner, other: survivor } = await runningReplica(batchId, 100);
    const stoppedAt = Date.now();
    await owner.kill('SIGTERM');
    const drainMs = Date.now() - stoppedAt;
    // Two replicas again for what follows, started now so that a failure here does not cascade.
    replacing = startService(env, INSPECTABLE).then((replacement) => {
      replicas.splice(replicas.indexOf(owner), 1, replacement);
      [a, b] = replicas;
    });
    // Drained well within the grace, the job handed back rather than left to its lock expiring.
    expect(drainMs).toBeLessThan(5000);

    const done = await serviceApi(survivor.url).waitForEnd(batchId, 20000);
    expect(done.summary).toMatchObject({ total: 600, successful: 600, pending: 0 });
    expect(await redis.hget(metaKey, 'owner')).toMatch(new RegExp(`:${survivor.pid}$`));
    const attempts = sim.allAttempts();
    const counts = Array.from({ length: 600 }, (_, index) => attempts[`${batchId}-${index}`] ?? 0);
    expect(Math.min(...counts)).toBe(1);
    expect(Math.max(...counts)).toBe(1);
  }, 40000);

  it('completes the batch of a replica killed mid-run; only calls in flight at the kill run twice', async () => {
    await replacing;
    sim.setProfile('slow', { latency_ms: 20 });
    const submitted = await serviceApi(a.url).post('/batch/execute', {
      action_id: 'slow',
      payloads: payloads(2000),
      chunk_size: 100,
      max_workers: 20,
      cache_ttl_seconds: 0,
    });
    expect(submitted.status).toBe(202);
    const batchId: string = submitted.body.batch_id;

    // Kill the replica running the batch mid-run.
    const metaKey = metaKeyOf(batchId);
    const { owner, other: survivor } = await runningReplica(batchId, 400);
    await owner.kill('SIGKILL');
    const atKill = Number(await redis.hget(metaKey, 'successful'));
    expect(atKill).toBeLessThan(1800);

    const done = await serviceApi(survivor.url).waitForEnd(batchId, 40000);
    expect(done.status).toBe('completed');
    expect(done.summary).toEqual({
      total: 2000,
      successful: 2000,
      failed: 0,
      degraded: 0,
      cancelled: 0,
      pending: 0,
    });
    expect(await redis.hget(metaKey, 'owner')).toMatch(new RegExp(`:${survivor.pid}$`));

    const attempts = sim.allAttempts();
    const counts = Array.from({ length: 2000 }, (_, index) => attempts[`${batchId}-${index}`] ?? 0);
    expect(counts.filter((count) => count === 0)).toEqual([]);
    expect(Math.max(...counts)).toBeLessThanOrEqual(2);
    expect(counts.filter((count) => count === 2).length).toBeLessThanOrEqual(20);
  }, 60000);
});

describeRedis('distributed mode: fail-over with QUEUE_LOCK_SECONDS at its default', () => {
  // Each replica calls a simulator of its own, so the survivor's first call of the batch is told
  // apart from the killed replica's last ones.
  const prefix = uniquePrefix('failover');
  const sims: SimulatorHandle[] = [];
  const replicas: ServiceProcess[] = [];
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(SHARED_REDIS_URL);
    sims.push(
      await startSimulator({ port: 0, seed: 21 }),
      await startSimulator({ port: 0, seed: 22 }),
    );
    const started = await Promise.allSettled(
      sims.map((sim) =>
        startService({
          CXONE_API_URL: sim.url,
          REDIS_URL: SHARED_REDIS_URL,
          REDIS_KEY_PREFIX: prefix,
          CXONE_MAX_RETRIES: '0',
        }),
      ),
    );
    for (const result of started) if (result.status === 'fulfilled') replicas.push(result.value);
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
  }, 30000);

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.kill()));
    await Promise.all(sims.map((sim) => sim.close()));
    redis?.disconnect();
    await deleteKeys(SHARED_REDIS_URL, prefix);
  });

  const callsOf = (sim: SimulatorHandle): number => sim.stats().actions.failover?.calls ?? 0;

  it('runs the batch of a replica killed with SIGKILL again on the other within 20 s', async () => {
    for (const sim of sims) sim.setProfile('failover', { latency_ms: 20 });
    const submitted = await serviceApi(replicas[0].url).post('/batch/execute', {
      action_id: 'failover',
      payloads: payloads(2000),
      chunk_size: 100,
      max_workers: 10,
      cache_ttl_seconds: 0,
    });
    expect(submitted.status).toBe(202);
    const batchId: string = submitted.body.batch_id;
    const metaKey = `${prefix}batch:{${batchId}}:meta`;
    let ownerIndex = -1;
    await waitFor(
      async () => {
        const [ownerId, successful] = await redis.hmget(metaKey, 'owner', 'successful');
        ownerIndex = replicas.findIndex((replica) => ownerId?.endsWith(`:${replica.pid}`));
        return ownerIndex >= 0 && Number(successful) >= 200;
      },
      10000,
      'the batch running on a replica',
    );
    const survivorIndex = 1 - ownerIndex;
    expect(callsOf(sims[survivorIndex])).toBe(0);

    const killedAt = Date.now();
    await replicas[ownerIndex].kill('SIGKILL');
    await waitFor(
      async () => callsOf(sims[survivorIndex]) > 0,
      30000,
      'the first call of the batch on the surviving replica',
    );
    const resumedAfterMs = Date.now() - killedAt;
    expect(resumedAfterMs).toBeLessThan(20000);

    const done = await serviceApi(replicas[survivorIndex].url).waitForEnd(batchId, 30000);
    expect(done.summary).toMatchObject({ total: 2000, successful: 2000, pending: 0 });
    const before = sims[ownerIndex].allAttempts();
    const after = sims[survivorIndex].allAttempts();
    const counts = Array.from({ length: 2000 }, (_, index) => {
      const id = `${batchId}-${index}`;
      return (before[id] ?? 0) + (after[id] ?? 0);
    });
    expect(Math.min(...counts)).toBe(1);
    // Only the calls in flight at the kill (at most max_workers) are made again.
    expect(counts.filter((count) => count === 2).length).toBeLessThanOrEqual(10);
    expect(Math.max(...counts)).toBe(2);
  }, 60000);
});
