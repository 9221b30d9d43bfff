import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import {
  CLOSED_VIEW_MS,
  RedisCircuitStateStore,
} from '../src/circuit-breaker/redis/redis-circuit-state.store.js';
import { RedisConnection } from '../src/redis/redis.connection.js';
import { describeWithRedis, redisTestSpace, SHARED_REDIS_URL } from './helpers/redis.js';

// What only the Redis circuit state has: one breaker per action shared by replicas (two
// connections here: one circuit, one probe), the closed view each replica trusts for
// CLOSED_VIEW_MS, the state's TTL and index. The behaviour every CircuitStateStore shares is in
// test/contracts/circuit-state-store.contract.ts (run by test/circuit-state-store.contract.e2e-spec.ts).

const describeRedis = await describeWithRedis();

describeRedis('RedisCircuitStateStore (real Redis)', () => {
  const space = redisTestSpace('circuit');
  const { config } = space;
  const connections = [new RedisConnection(config), new RedisConnection(config)];
  const [one, two] = connections.map(
    (connection) => new RedisCircuitStateStore(connection, config),
  );

  let redis: Redis;

  beforeAll(async () => {
    Logger.overrideLogger(false);
    redis = new Redis(SHARED_REDIS_URL);
    await Promise.all(connections.map((connection) => connection.onModuleInit()));
  });
  afterAll(async () => {
    await space.deleteKeys();
    await Promise.all(connections.map((connection) => connection.onApplicationShutdown()));
    redis.disconnect();
  });

  it('opens for every replica at the threshold, then lets exactly one probe through', async () => {
    const now = 1_000_000;
    expect(await one.recordFailure('act', false, now, 3, 5000)).toBeNull();
    expect(await two.recordFailure('act', false, now, 3, 5000)).toBeNull();
    expect(await two.tryAcquire('act', now, 1000)).toBe('closed');
    expect(await one.recordFailure('act', false, now, 3, 5000)).toBe('closed');

    expect(await one.tryAcquire('act', now + 10, 1000)).toBe('open');
    expect(await two.tryAcquire('act', now + 4999, 1000)).toBe('open');
    expect(await two.state('act', now + 10)).toMatchObject({
      state: 'open',
      consecutiveFailures: 3,
      openUntil: now + 5000,
    });
    // A failure reported late by a normal call changes nothing while open.
    expect(await two.recordFailure('act', false, now + 20, 3, 5000)).toBeNull();

    const permits = await Promise.all([
      one.tryAcquire('act', now + 5000, 1000),
      two.tryAcquire('act', now + 5000, 1000),
    ]);
    expect(permits.sort()).toEqual(['open', 'probe']);
    expect(await one.state('act', now + 5001)).toMatchObject({
      state: 'half-open',
      probeInFlight: true,
    });
    // The probe's replica died: its lease expires and another replica may probe.
    expect(await two.tryAcquire('act', now + 6001, 1000)).toBe('probe');
    expect(await one.recordFailure('act', true, now + 6100, 3, 5000)).toBe('half-open');
    expect(await two.tryAcquire('act', now + 6200, 1000)).toBe('open');

    expect(await one.tryAcquire('act', now + 11_100, 1000)).toBe('probe');
    expect(await two.recordSuccess('act', false, now + 11_150)).toBeNull();
    expect(await one.recordSuccess('act', true, now + 11_150)).toBe('half-open');
    expect(await two.tryAcquire('act', now + 11_200, 1000)).toBe('closed');
    expect(await two.state('act', now + 11_200)).toMatchObject({
      state: 'closed',
      openUntil: null,
    });
  });

  it('trusts a closed answer for CLOSED_VIEW_MS: another replica’s opening shows after it, its own at once', async () => {
    const now = 2_000_000;
    expect(await two.tryAcquire('view', now, 1000)).toBe('closed');
    for (let i = 0; i < 3; i++) await one.recordFailure('view', false, now, 3, 5000);
    expect(await one.tryAcquire('view', now + 1, 1000)).toBe('open');
    // Replica two still trusts its view inside the window, and asks Redis after it.
    expect(await two.tryAcquire('view', now + CLOSED_VIEW_MS - 1, 1000)).toBe('closed');
    expect(await two.tryAcquire('view', now + CLOSED_VIEW_MS, 1000)).toBe('open');

    const later = now + 10_000;
    expect(await two.tryAcquire('own', later, 1000)).toBe('closed');
    for (let i = 0; i < 3; i++) await two.recordFailure('own', false, later, 3, 5000);
    expect(await two.tryAcquire('own', later + 1, 1000)).toBe('open');
  });

  it('writes no success while its view says no failures were counted; one counted meanwhile is reset after the view', async () => {
    const now = 4_000_000;
    expect(await two.tryAcquire('clean', now, 1000)).toBe('closed');
    await one.recordFailure('clean', false, now, 3, 5000);
    await one.recordFailure('clean', false, now, 3, 5000);
    // Inside replica two's view its success is not written: one's failures stay counted.
    expect(await two.recordSuccess('clean', false, now + 1)).toBeNull();
    expect(await one.state('clean', now + 1)).toMatchObject({ consecutiveFailures: 2 });
    // After the view two asks Redis again, sees the count, and its next success resets it.
    expect(await two.tryAcquire('clean', now + CLOSED_VIEW_MS, 1000)).toBe('closed');
    expect(await two.recordSuccess('clean', false, now + CLOSED_VIEW_MS + 1)).toBeNull();
    expect(await one.state('clean', now + CLOSED_VIEW_MS + 1)).toMatchObject({
      consecutiveFailures: 0,
    });

    // A replica's own failure ends its view at once: its next success is written.
    expect(await two.tryAcquire('own-clean', now, 1000)).toBe('closed');
    await two.recordFailure('own-clean', false, now, 3, 5000);
    expect(await one.state('own-clean', now)).toMatchObject({ consecutiveFailures: 1 });
    expect(await two.recordSuccess('own-clean', false, now + 1)).toBeNull();
    expect(await one.state('own-clean', now + 1)).toMatchObject({ consecutiveFailures: 0 });
  });

  it('frees the probe lease for every replica at once when the probe ends without a verdict', async () => {
    const now = 2_000_000;
    expect(await one.recordFailure('rel', false, now, 1, 100)).toBe('closed');
    expect(await one.tryAcquire('rel', now + 100, 10_000)).toBe('probe');
    expect(await two.tryAcquire('rel', now + 101, 10_000)).toBe('open');
    await one.releaseProbe('rel');
    expect(await two.tryAcquire('rel', now + 102, 10_000)).toBe('probe');
  });

  it("shows every replica's failing actions in each snapshot; a state expires a day after its last change and leaves the index", async () => {
    const now = 3_000_000;
    await one.recordFailure('snap-a', false, now, 5, 1000);
    await one.recordFailure('snap-b', false, now, 1, 1000);
    const seen = (await two.snapshot(now + 1))
      .map((s) => s.actionId)
      .filter((id) => id.startsWith('snap-'));
    expect(seen.sort()).toEqual(['snap-a', 'snap-b']);

    const stateKey = `${space.prefix}circuit:{snap-a}`;
    const ttl = await redis.pttl(stateKey);
    expect(ttl).toBeGreaterThan(86_400_000 - 60_000);
    expect(ttl).toBeLessThanOrEqual(86_400_000);
    // As if its TTL had run out: the snapshot drops the action from the `circuits` index.
    await redis.del(stateKey);
    expect((await two.snapshot(now + 2)).map((s) => s.actionId)).not.toContain('snap-a');
    expect(await redis.sismember(`${space.prefix}circuits`, 'snap-a')).toBe(0);
    expect(await redis.sismember(`${space.prefix}circuits`, 'snap-b')).toBe(1);
  });
});
