import type { NestExpressApplication } from '@nestjs/platform-express';
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import {
  startSimulator,
  type RecordedCall,
  type SimulatorHandle,
} from '../src/simulator/simulator.server.js';
import { apiFor, payloads, type Api } from './helpers/api.js';
import { deleteKeys, describeWithRedis, SHARED_REDIS_URL, uniquePrefix } from './helpers/redis.js';
import { serviceApi, startService, type ServiceProcess } from './helpers/service-process.js';
import { startTestApp } from './helpers/test-app.js';

// Tenant protection end to end (docs/tenant-protection.md), against the simulator with a
// capacity: the pause after a 429 with Retry-After, the cluster-wide budget, and the adaptive
// concurrency, in one process and across two replicas on Redis.

const RECENT_CALLS = 20_000;
/**
 * A call the service sent before it had the 429 in hand (another worker's, at the same
 * instant) still reaches the simulator just after it: those few milliseconds are not the pause's.
 */
const IN_TRANSIT_MS = 100;

function at(call: RecordedCall): number {
  return Date.parse(call.received_at);
}

/** Calls of the action received in [from, to). */
function callsBetween(calls: RecordedCall[], from: number, to: number): RecordedCall[] {
  return calls.filter((call) => at(call) >= from && at(call) < to);
}

function share429(calls: RecordedCall[]): number {
  return calls.length === 0 ? 0 : calls.filter((c) => c.status === 429).length / calls.length;
}

/** The service's `cxone_concurrency_limit` for the action, from GET /metrics. */
async function concurrencyLimit(url: string, actionId: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const escaped = actionId.replace(/[.]/g, '\\.');
  const match = new RegExp(
    `^cxone_concurrency_limit\\{[^}]*action="${escaped}"[^}]*\\}\\s+(\\S+)`,
    'm',
  ).exec(text);
  return match ? Number(match[1]) : undefined;
}

async function submit(api: Api, body: Record<string, unknown>): Promise<string> {
  const accepted = await api.post('/batch/execute', { cache_ttl_seconds: 0, ...body });
  expect(accepted.status).toBe(202);
  return accepted.body.batch_id as string;
}

describe('tenant protection settings', () => {
  it.each([
    ['CXONE_TENANT_MAX_CONCURRENCY', '0', 'must not be less than 1 (got "0")'],
    ['CXONE_TENANT_MAX_CONCURRENCY', 'many', 'must be an integer'],
    ['CXONE_RATE_LIMIT_PER_SECOND', '-5', 'must not be less than 0.01'],
    ['ADAPTIVE_CONCURRENCY', 'perhaps', 'must be a boolean'],
  ])('stops the start on %s=%s with one line naming it', (variable, value, problem) => {
    const result = spawnSync(process.execPath, ['dist/main.js'], {
      env: {
        PATH: process.env.PATH,
        CXONE_SIMULATOR: 'true',
        CXONE_API_URL: 'http://127.0.0.1:9',
        AUTH_DISABLED: 'true',
        [variable]: value,
      },
      encoding: 'utf8',
      timeout: 15000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toMatch(
      new RegExp(`^Invalid configuration: ${variable} [^\\n]+$`),
    );
    expect(result.stderr).toContain(problem);
  });
});

describe('tenant protection in one process', () => {
  let sim: SimulatorHandle;
  let app: NestExpressApplication;
  let url: string;
  let api: Api;

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 19, recentCallsLimit: RECENT_CALLS });
    ({ app, url } = await startTestApp({
      CXONE_API_URL: sim.url,
      CXONE_MAX_RETRIES: '10',
      CIRCUIT_FAILURE_THRESHOLD: '1000',
    }));
    api = apiFor(url);
  });
  afterAll(async () => {
    await app.close();
    await sim.close();
  });

  it('starts no call of an action for the Retry-After of a 429, then finishes the batch', async () => {
    sim.setProfile('paused.one', { latency_ms: 100, max_per_second: 8, retry_after_seconds: 2 });
    const batchId = await submit(api, {
      action_id: 'paused.one',
      payloads: payloads(20),
      max_workers: 10,
    });
    const running = await api.waitForEnd(batchId, 20_000);
    expect(running.summary).toMatchObject({ total: 20, successful: 20 });

    const calls = sim.recentCalls().filter((call) => call.action_id === 'paused.one');
    const firstRefusal = calls.find((call) => call.status === 429);
    expect(firstRefusal).toBeDefined();
    const t0 = at(firstRefusal!);
    // Without the pause, the 8 calls taken would end after 100 ms and 8 more items would start.
    expect(callsBetween(calls, t0 + IN_TRANSIT_MS, t0 + 1950)).toEqual([]);
    expect(callsBetween(calls, t0 + 1950, t0 + 3000).length).toBeGreaterThan(0);
    // The refused items were retried under their own X-Request-Id.
    expect(sim.attempts(firstRefusal!.request_id!)).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it('shows the pause in the status body while it lasts', async () => {
    sim.setProfile('paused.status', { latency_ms: 5, max_per_second: 2, retry_after_seconds: 3 });
    const batchId = await submit(api, {
      action_id: 'paused.status',
      payloads: payloads(4),
      max_workers: 4,
    });
    let limits: { max_workers: number; effective_workers: number; paused_until: string | null };
    const deadline = Date.now() + 5000;
    for (;;) {
      limits = (await api.get(`/batch/${batchId}/status`)).body.limits;
      if (limits.paused_until !== null || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(limits.max_workers).toBe(4);
    // The refusal also cut the action's limit (to 3/4 of the calls in flight when it was sent).
    expect(limits.effective_workers).toBeGreaterThanOrEqual(1);
    expect(limits.effective_workers).toBeLessThan(4);
    const until = Date.parse(limits.paused_until!);
    expect(until).toBeGreaterThan(Date.now() + 1000);
    expect(until).toBeLessThanOrEqual(Date.now() + 3000);
    await api.waitForEnd(batchId, 15_000);
  }, 20_000);

  it('adapts to what the tenant takes: the 429 share falls and the limit settles near it', async () => {
    sim.setProfile('adaptive.one', { latency_ms: 30, max_in_flight: 6 });
    const batchId = await submit(api, {
      action_id: 'adaptive.one',
      payloads: payloads(900),
      max_workers: 40,
    });
    const done = await api.waitForEnd(batchId, 40_000);
    expect(done.summary).toMatchObject({ total: 900, successful: 900 });

    const calls = sim.recentCalls().filter((call) => call.action_id === 'adaptive.one');
    const third = Math.floor(calls.length / 3);
    const early = share429(calls.slice(0, third));
    const late = share429(calls.slice(-third));
    expect(late).toBeLessThan(early);
    expect(late).toBeLessThan(0.1);
    // AIMD saws between 3/4 of the capacity and just above it.
    const limit = await concurrencyLimit(url, 'adaptive.one');
    expect(limit).toBeGreaterThanOrEqual(3);
    expect(limit).toBeLessThanOrEqual(8);
    const status = await api.get(`/batch/${batchId}/status?limit=1`);
    expect(status.body.limits.max_workers).toBe(40);
    expect(status.body.limits.effective_workers).toBe(limit);
  }, 60_000);
});

const describeRedis = await describeWithRedis();

describeRedis('tenant protection across two replicas on Redis', () => {
  const prefix = uniquePrefix('tenant');
  let sim: SimulatorHandle;
  let redis: Redis;
  const replicas: ServiceProcess[] = [];

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 23, recentCallsLimit: RECENT_CALLS });
    redis = new Redis(SHARED_REDIS_URL);
  });

  afterEach(async () => {
    await Promise.all(replicas.splice(0).map((replica) => replica.kill()));
  });

  afterAll(async () => {
    await sim?.close();
    redis?.disconnect();
    await deleteKeys(SHARED_REDIS_URL, prefix);
  });

  /** Two replicas on the test's Redis prefix; each runs one batch at a time. */
  async function twoReplicas(
    env: Record<string, string>,
  ): Promise<[ServiceProcess, ServiceProcess]> {
    const started = await Promise.allSettled(
      [0, 1].map(() =>
        startService({
          CXONE_API_URL: sim.url,
          REDIS_URL: SHARED_REDIS_URL,
          REDIS_KEY_PREFIX: prefix,
          QUEUE_CONCURRENCY: '1',
          QUEUE_LOCK_SECONDS: '2',
          CXONE_MAX_RETRIES: '10',
          CIRCUIT_FAILURE_THRESHOLD: '1000',
          ...env,
        }),
      ),
    );
    for (const result of started) if (result.status === 'fulfilled') replicas.push(result.value);
    const failure = started.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
    return [replicas[0], replicas[1]];
  }

  /** Submits one batch per replica and waits until each replica runs one of them. */
  async function oneBatchEach(
    pair: [ServiceProcess, ServiceProcess],
    body: Record<string, unknown>,
  ): Promise<string[]> {
    const batchIds = await Promise.all(
      pair.map((replica) => submit(serviceApi(replica.url), body)),
    );
    const owners = async (): Promise<string[]> =>
      Promise.all(
        batchIds.map(
          async (id) => (await redis.hget(`${prefix}batch:{${id}}:meta`, 'owner')) ?? '',
        ),
      );
    const deadline = Date.now() + 10_000;
    let seen = await owners();
    while ((seen.includes('') || seen[0] === seen[1]) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      seen = await owners();
    }
    expect(new Set(seen).size).toBe(2);
    return batchIds;
  }

  it('pauses the action on both replicas after one 429 with Retry-After: 2', async () => {
    const pair = await twoReplicas({});
    sim.setProfile('paused.two', { latency_ms: 100, max_per_second: 8, retry_after_seconds: 2 });
    const batchIds = await oneBatchEach(pair, {
      action_id: 'paused.two',
      payloads: payloads(12),
      max_workers: 6,
    });
    for (const id of batchIds) {
      const done = await serviceApi(pair[0].url).waitForEnd(id, 30_000);
      expect(done.summary).toMatchObject({ total: 12, successful: 12 });
    }
    const calls = sim.recentCalls().filter((call) => call.action_id === 'paused.two');
    const firstRefusal = calls.find((call) => call.status === 429);
    expect(firstRefusal).toBeDefined();
    const t0 = at(firstRefusal!);
    for (const id of batchIds) {
      const ofBatch = calls.filter((call) => call.request_id?.startsWith(`${id}-`));
      expect(ofBatch.length).toBeGreaterThanOrEqual(12);
      expect(callsBetween(ofBatch, t0 + IN_TRANSIT_MS, t0 + 1950)).toEqual([]);
    }
  }, 60_000);

  it('holds CXONE_TENANT_MAX_CONCURRENCY across the replicas', async () => {
    const pair = await twoReplicas({
      CXONE_TENANT_MAX_CONCURRENCY: '5',
      ADAPTIVE_CONCURRENCY: 'false',
    });
    sim.setProfile('budget.two', { latency_ms: 40 });
    const batchIds = await oneBatchEach(pair, {
      action_id: 'budget.two',
      payloads: payloads(80),
      max_workers: 20,
    });
    for (const id of batchIds) {
      const done = await serviceApi(pair[1].url).waitForEnd(id, 30_000);
      expect(done.summary).toMatchObject({ total: 80, successful: 80 });
      expect(done.limits).toEqual({ max_workers: 20, effective_workers: 5, paused_until: null });
    }
    const stats = sim.stats().actions['budget.two'];
    expect(stats.peak_in_flight).toBeLessThanOrEqual(5);
    expect(stats.peak_in_flight).toBeGreaterThanOrEqual(4);
    // Both replicas called at the same time: the bound is the cluster's, not each one's.
    const calls = sim.recentCalls().filter((call) => call.action_id === 'budget.two');
    const spans = batchIds.map((id) => {
      const times = calls.filter((c) => c.request_id?.startsWith(`${id}-`)).map(at);
      return [Math.min(...times), Math.max(...times)];
    });
    expect(Math.max(spans[0][0], spans[1][0])).toBeLessThan(Math.min(spans[0][1], spans[1][1]));
  }, 60_000);

  it('converges both replicas on one adaptive limit near what the tenant takes', async () => {
    const pair = await twoReplicas({});
    sim.setProfile('adaptive.two', { latency_ms: 30, max_in_flight: 8 });
    const batchIds = await oneBatchEach(pair, {
      action_id: 'adaptive.two',
      payloads: payloads(600),
      max_workers: 30,
    });
    for (const id of batchIds) {
      const done = await serviceApi(pair[0].url).waitForEnd(id, 50_000);
      expect(done.summary).toMatchObject({ total: 600, successful: 600 });
    }
    const calls = sim.recentCalls().filter((call) => call.action_id === 'adaptive.two');
    const third = Math.floor(calls.length / 3);
    const late = share429(calls.slice(-third));
    expect(late).toBeLessThan(share429(calls.slice(0, third)));
    expect(late).toBeLessThan(0.1);
    const limits = await Promise.all(pair.map((r) => concurrencyLimit(r.url, 'adaptive.two')));
    expect(limits[0]).toBe(limits[1]);
    expect(limits[0]).toBeGreaterThanOrEqual(4);
    expect(limits[0]).toBeLessThanOrEqual(10);
  }, 90_000);
});
