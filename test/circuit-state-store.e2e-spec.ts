import { Logger } from '@nestjs/common';
import { type CircuitStateStore, SEEN_TTL_MS } from '../src/circuit-breaker/circuit-state.store.js';
import { InMemoryCircuitStateStore } from '../src/circuit-breaker/memory/in-memory-circuit-state.store.js';
import {
  CLOSED_VIEW_MS,
  RedisCircuitStateStore,
} from '../src/circuit-breaker/redis/redis-circuit-state.store.js';
import { RedisConnection } from '../src/redis/redis.connection.js';
import { describeWithRedis, redisTestSpace } from './helpers/redis.js';

// The forced state and the list of circuits, case for case on every CircuitStateStore: two
// "replicas" are two stores over the same state (one in-memory store twice; two Redis connections).

interface Replicas {
  one: CircuitStateStore;
  two: CircuitStateStore;
}

function forcedStateCases(replicas: () => Replicas): void {
  const now = 5_000_000;

  it('refuses every call while forced, ignores results, and gives the automatic state back', async () => {
    const { one, two } = replicas();
    expect(await one.tryAcquire('forced', now, 1000)).toBe('closed');
    expect(await one.recordFailure('forced', false, now, 3, 5000)).toBeNull();

    const forced = await one.setForced('forced', true, now);
    expect(forced).toMatchObject({
      actionId: 'forced',
      state: 'open',
      forced: true,
      consecutiveFailures: 1,
      openUntil: null,
    });
    // The other replica refuses once its closed view (Redis: at most CLOSED_VIEW_MS) has passed.
    expect(await two.tryAcquire('forced', now + CLOSED_VIEW_MS + 1, 1000)).toBe('open');
    expect(await one.tryAcquire('forced', now + 10 * 60_000, 1000)).toBe('open');
    // Results of calls that were in flight move nothing while forced.
    for (let i = 0; i < 5; i++) {
      expect(await two.recordFailure('forced', false, now + 200, 3, 5000)).toBeNull();
    }
    expect(await two.recordSuccess('forced', true, now + 200)).toBeNull();
    expect(await two.state('forced', now + 200)).toMatchObject({
      forced: true,
      consecutiveFailures: 1,
    });

    const auto = await two.setForced('forced', false, now + 300);
    expect(auto).toMatchObject({ state: 'closed', forced: false, consecutiveFailures: 1 });
    expect(await one.tryAcquire('forced', now + 400 + CLOSED_VIEW_MS, 1000)).toBe('closed');
  });

  it('forces a circuit that was open and finds it half-open once back to automatic', async () => {
    const { one, two } = replicas();
    await one.tryAcquire('was-open', now, 1000);
    for (let i = 0; i < 3; i++) await one.recordFailure('was-open', false, now, 3, 5000);
    await two.setForced('was-open', true, now + 10);
    expect(await one.tryAcquire('was-open', now + 6000, 1000)).toBe('open');
    expect(await one.state('was-open', now + 6000)).toMatchObject({
      state: 'open',
      forced: true,
    });
    await one.setForced('was-open', false, now + 7000);
    expect(await two.tryAcquire('was-open', now + 7000, 1000)).toBe('probe');
  });

  it('lists every action called, failing or forced, by action id, and forgets quiet ones', async () => {
    const { one, two } = replicas();
    const at = now + 1_000_000;
    await one.tryAcquire('list-clean', at, 1000);
    await two.tryAcquire('list-failing', at, 1000);
    await two.recordFailure('list-failing', false, at, 3, 5000);
    await one.setForced('list-forced', true, at);
    await one.setForced('list-never', false, at);

    const listed = (await two.list(at + 1)).filter((c) => c.actionId.startsWith('list-'));
    expect(listed).toEqual([
      expect.objectContaining({ actionId: 'list-clean', state: 'closed', forced: false }),
      expect.objectContaining({
        actionId: 'list-failing',
        state: 'closed',
        consecutiveFailures: 1,
      }),
      expect.objectContaining({ actionId: 'list-forced', state: 'open', forced: true }),
    ]);
    // A day later only the forced circuit (and any with state) is listed.
    const later = (await one.list(at + SEEN_TTL_MS + 1)).filter((c) =>
      c.actionId.startsWith('list-'),
    );
    expect(later.map((c) => c.actionId)).toEqual(['list-failing', 'list-forced']);
    await one.setForced('list-forced', false, at);
  });
}

beforeAll(() => Logger.overrideLogger(false));

describe('InMemoryCircuitStateStore: forced state and list', () => {
  let store: InMemoryCircuitStateStore;
  beforeEach(() => {
    store = new InMemoryCircuitStateStore();
  });
  forcedStateCases(() => ({ one: store, two: store }));
});

const describeRedis = await describeWithRedis();

describeRedis('RedisCircuitStateStore: forced state and list (real Redis)', () => {
  const space = redisTestSpace('circuit-forced');
  const { config } = space;
  const connections = [new RedisConnection(config), new RedisConnection(config)];
  const [one, two] = connections.map(
    (connection) => new RedisCircuitStateStore(connection, config),
  );

  beforeAll(async () => {
    await Promise.all(connections.map((connection) => connection.onModuleInit()));
  });
  afterAll(async () => {
    await space.deleteKeys();
    await Promise.all(connections.map((connection) => connection.onApplicationShutdown()));
  });

  forcedStateCases(() => ({ one, two }));
});
