import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppConfig } from '../src/config/app-config.js';
import { loadConfig } from '../src/config/load-config.js';
import { RedisConnection } from '../src/redis/redis.connection.js';
import { InMemoryTenantBudget } from '../src/tenant/memory/in-memory-tenant-budget.js';
import { RedisTenantBudget } from '../src/tenant/redis/redis-tenant-budget.js';
import type { TenantBudget, TenantPermit } from '../src/tenant/tenant-budget.js';
import {
  deleteKeys,
  redisAnswers,
  redisTestConfig,
  SHARED_REDIS_URL,
  uniquePrefix,
} from './helpers/redis.js';
import { waitFor } from './helpers/service-process.js';

// The TenantBudget port, one suite run against each adapter (in memory; Redis with a real
// server), and what only the Redis one promises: one budget for several replicas.

const SUCCESS = { kind: 'success', latencyMs: 20 } as const;
const REFUSED = { kind: 'refused', latencyMs: 1 } as const;

interface Replica {
  budget: TenantBudget;
  /** Stops the replica as a kill would: nothing released, nothing renewed any more. */
  die(): Promise<void>;
}

type Start = (env: Record<string, string>) => Promise<Replica>;

const redisUp = await redisAnswers();
if (!redisUp)
  console.warn('Redis is not reachable at 127.0.0.1:6379: only the in-memory adapter is tested');

const prefixes: string[] = [];
const running: Replica[] = [];

const startInMemory: Start = async (env) => {
  const budget = new InMemoryTenantBudget(
    loadConfig({
      CXONE_SIMULATOR: 'true',
      CXONE_API_URL: 'http://127.0.0.1:9',
      AUTH_DISABLED: 'true',
      ...env,
    }),
  );
  const replica = { budget, die: async () => budget.onApplicationShutdown() };
  running.push(replica);
  return replica;
};

/** A replica's budget on the shared Redis; replicas of one test share `prefix`. */
function redisStarter(prefix: () => string): Start {
  return async (env) => {
    const config: AppConfig = redisTestConfig(prefix(), { QUEUE_LOCK_SECONDS: '1', ...env });
    const connection = new RedisConnection(config);
    await connection.onModuleInit();
    const budget = new RedisTenantBudget(connection, config);
    await budget.onModuleInit();
    // Subscribed before the test goes on, so no message of the test is missed.
    await sleep(50);
    let dead = false;
    const replica = {
      budget,
      die: async () => {
        if (dead) return;
        dead = true;
        await budget.onApplicationShutdown();
        await connection.onApplicationShutdown();
      },
    };
    running.push(replica);
    return replica;
  };
}

async function acquire(budget: TenantBudget, actionId: string): Promise<TenantPermit | undefined> {
  return budget.tryAcquire(actionId);
}

async function acquireAll(
  budget: TenantBudget,
  actionId: string,
  count: number,
): Promise<TenantPermit[]> {
  const permits: TenantPermit[] = [];
  for (let i = 0; i < count; i++) {
    const permit = await acquire(budget, actionId);
    if (permit === undefined) throw new Error(`permit ${i + 1} of ${count} refused`);
    permits.push(permit);
  }
  return permits;
}

beforeAll(() => Logger.overrideLogger(false));

afterEach(async () => {
  await Promise.all(running.splice(0).map((replica) => replica.die()));
});

afterAll(async () => {
  if (redisUp) await Promise.all(prefixes.map((prefix) => deleteKeys(SHARED_REDIS_URL, prefix)));
});

let currentPrefix = '';
const adapters: [string, Start][] = [['in memory', startInMemory]];
if (redisUp) adapters.push(['Redis', redisStarter(() => currentPrefix)]);

beforeEach(() => {
  currentPrefix = uniquePrefix('tenant-budget');
  prefixes.push(currentPrefix);
});

describe.each(adapters)('TenantBudget (%s)', (_name, start) => {
  it('lets every call through with no bound and no refusal seen', async () => {
    const { budget } = await start({});
    const permits = await acquireAll(budget, 'free', 300);
    expect(budget.mayTry('free')).toBe(true);
    for (const permit of permits) permit.release(SUCCESS);
  });

  it('holds CXONE_TENANT_MAX_CONCURRENCY and frees a slot on release', async () => {
    const { budget } = await start({ CXONE_TENANT_MAX_CONCURRENCY: '3' });
    const permits = [...(await acquireAll(budget, 'a', 2)), ...(await acquireAll(budget, 'b', 1))];
    expect(await acquire(budget, 'c')).toBeUndefined();
    permits[0].release(SUCCESS);
    await waitFor(async () => budget.mayTry('c'), 2000, 'the freed slot');
    expect(await acquire(budget, 'c')).toBeDefined();
  });

  it('pauses an action for a Retry-After, and only that action', async () => {
    const { budget } = await start({});
    const [refused] = await acquireAll(budget, 'paused', 1);
    const started = Date.now();
    refused.release({ kind: 'refused', retryAfterMs: 600, latencyMs: 1 });
    expect(budget.mayTry('paused')).toBe(false);
    expect(budget.mayTry('other')).toBe(true);
    await waitFor(async () => (await budget.limits('paused')).pausedUntil !== null, 2000, 'pause');
    await waitFor(async () => budget.mayTry('paused'), 2000, 'the end of the pause');
    expect(Date.now() - started).toBeGreaterThanOrEqual(590);
  });

  it('cuts the limit on a refusal and holds it', async () => {
    const { budget } = await start({});
    await budget.register('aimd', 'batch-1', 100);
    const permits = await acquireAll(budget, 'aimd', 21);
    permits[20].release(REFUSED);
    await waitFor(async () => (await budget.limits('aimd')).limit === 15, 2000, 'the cut');
    for (const permit of permits.slice(0, 20)) permit.release(SUCCESS);
    await waitFor(async () => budget.mayTry('aimd'), 2000, 'the limit known');
    const held = await acquireAll(budget, 'aimd', 15);
    expect(await acquire(budget, 'aimd')).toBeUndefined();
    for (const permit of held) permit.release(SUCCESS);
  });

  it('starts at most CXONE_RATE_LIMIT_PER_SECOND calls in a second', async () => {
    const { budget } = await start({ CXONE_RATE_LIMIT_PER_SECOND: '5' });
    const started = Date.now();
    for (const permit of await acquireAll(budget, 'rated', 5)) permit.release(SUCCESS);
    expect(await acquire(budget, 'rated')).toBeUndefined();
    const changed = new Promise<number>((resolve) => budget.onChange(() => resolve(Date.now())));
    expect(await changed).toBeGreaterThanOrEqual(started + 990);
    await waitFor(async () => (await acquire(budget, 'rated')) !== undefined, 1000, 'a start');
  });

  it('shows the asks of the running batches', async () => {
    const { budget } = await start({});
    const one = await budget.register('asked', 'batch-1', 10);
    await budget.register('asked', 'batch-2', 4);
    expect((await budget.limits('asked')).asks).toEqual(
      new Map([
        ['batch-1', 10],
        ['batch-2', 4],
      ]),
    );
    one.close();
    await waitFor(async () => (await budget.limits('asked')).asks.size === 1, 2000, 'close');
    expect((await budget.snapshot()).map((limits) => limits.actionId)).toContain('asked');
  });
});

const describeRedis = redisUp ? describe : describe.skip;

describeRedis('TenantBudget on Redis: one budget for every replica', () => {
  const start = redisStarter(() => currentPrefix);

  it('holds CXONE_TENANT_MAX_CONCURRENCY across replicas', async () => {
    const env = { CXONE_TENANT_MAX_CONCURRENCY: '4' };
    const [a, b] = await Promise.all([start(env), start(env)]);
    const held = [...(await acquireAll(a.budget, 'x', 3)), ...(await acquireAll(b.budget, 'y', 1))];
    expect(await acquire(b.budget, 'z')).toBeUndefined();
    expect(await acquire(a.budget, 'x')).toBeUndefined();
    // A release on one replica reaches a replica waiting on the other.
    const heard = new Promise<void>((resolve) => b.budget.onChange(resolve));
    held[0].release(SUCCESS);
    await heard;
    expect(await acquire(b.budget, 'z')).toBeDefined();
  });

  it("lets a dead replica's leases lapse within QUEUE_LOCK_SECONDS, and renews a live one's", async () => {
    const env = { CXONE_TENANT_MAX_CONCURRENCY: '2' };
    const [a, b] = await Promise.all([start(env), start(env)]);
    await acquireAll(a.budget, 'x', 1);
    await acquireAll(b.budget, 'x', 1);
    await a.die();
    const died = Date.now();
    await waitFor(async () => (await acquire(b.budget, 'x')) !== undefined, 3000, 'the lapse');
    expect(Date.now() - died).toBeLessThan(1500);
    // b's first lease is 1.5 s old by now, past its first expiry: renewed, it still counts.
    await sleep(600);
    expect(await acquire(b.budget, 'x')).toBeUndefined();
  });

  it('pauses an action on every replica', async () => {
    const [a, b] = await Promise.all([start({}), start({})]);
    await b.budget.register('paused', 'batch-b', 5);
    const [refused] = await acquireAll(a.budget, 'paused', 1);
    refused.release({ kind: 'refused', retryAfterMs: 800, latencyMs: 1 });
    await waitFor(async () => !b.budget.mayTry('paused'), 500, 'the pause on the other replica');
    expect(b.budget.mayTry('other')).toBe(true);
    await waitFor(async () => b.budget.mayTry('paused'), 2000, 'the end of the pause');
  });

  it('converges the replicas on one adaptive limit, held across them', async () => {
    const [a, b] = await Promise.all([start({}), start({})]);
    await a.budget.register('shared', 'batch-a', 50);
    await b.budget.register('shared', 'batch-b', 50);
    const first = await acquireAll(a.budget, 'shared', 12);
    first[11].release(REFUSED);
    for (const permit of first.slice(0, 11)) permit.release(SUCCESS);
    // Both replicas see 9 (3/4 of 12) and share it.
    await waitFor(
      async () => (await b.budget.limits('shared')).limit === 9,
      2000,
      'the limit on b',
    );
    await sleep(100);
    const held: TenantPermit[] = [];
    for (let i = 0; i < 20; i++) {
      const replica = i % 2 === 0 ? a : b;
      const permit = await acquire(replica.budget, 'shared');
      if (permit) held.push(permit);
    }
    expect(held.length).toBeLessThanOrEqual(9);
    expect(held.length).toBeGreaterThanOrEqual(8);
    for (const permit of held) permit.release(SUCCESS);
  });

  it('starts at most CXONE_RATE_LIMIT_PER_SECOND calls a second across replicas', async () => {
    const env = { CXONE_RATE_LIMIT_PER_SECOND: '6' };
    const [a, b] = await Promise.all([start(env), start(env)]);
    let granted = 0;
    for (let i = 0; i < 20; i++) {
      const permit = await acquire((i % 2 === 0 ? a : b).budget, 'rated');
      if (permit) {
        granted++;
        permit.release(SUCCESS);
      }
    }
    expect(granted).toBe(6);
  });
});
