import { Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { CircuitBreakerOptions } from './circuit-breaker.options.js';
import { CircuitBreaker } from './circuit-breaker.service.js';
import type { CircuitStateStore, CircuitTransition } from './circuit-state.store.js';
import { InMemoryCircuitStateStore } from './memory/in-memory-circuit-state.store.js';

const THRESHOLD = 3;
const RECOVERY_SECONDS = 30;
const LEASE_MS = 5_000;
const MIN_PROBE_LEASE_MS = new CircuitBreakerOptions().minProbeLeaseMs;

function setup(store: CircuitStateStore = new InMemoryCircuitStateStore()) {
  let now = 1_000_000;
  const options = Object.assign(new CircuitBreakerOptions(), { now: () => now });
  const config = {
    circuit: { failureThreshold: THRESHOLD, recoverySeconds: RECOVERY_SECONDS },
  } as AppConfig;
  const breaker = new CircuitBreaker(store, options, config);
  const transitions: CircuitTransition[] = [];
  breaker.onTransition((t) => transitions.push(t));
  return {
    breaker,
    transitions,
    advance: (ms: number) => {
      now += ms;
    },
    fail: async (actionId: string, times: number) => {
      for (let i = 0; i < times; i++) {
        const permit = await breaker.acquire(actionId, LEASE_MS);
        await breaker.recordFailure(actionId, permit);
      }
    },
  };
}

beforeAll(() => Logger.overrideLogger(false));

// What the breaker adds to its store: thresholds and times from the configuration, the permit
// mapped to probe or not, transitions reported, the lease floor, failing open. The store's own
// rules are in test/contracts/circuit-state-store.contract.ts, run against every store.

describe('CircuitBreaker', () => {
  it('opens after the threshold of consecutive failures, and refuses while open', async () => {
    const { breaker, fail, transitions } = setup();
    await fail('a', THRESHOLD - 1);
    expect(await breaker.acquire('a', LEASE_MS)).toBe('closed');
    await fail('a', 1);
    expect(await breaker.acquire('a', LEASE_MS)).toBe('open');
    expect((await breaker.state('a')).state).toBe('open');
    expect(transitions.map((t) => `${t.from}->${t.to}`)).toEqual(['closed->open']);
  });

  it('half-opens RECOVERY_SECONDS after opening, and reports the probe as open → half-open', async () => {
    const { breaker, fail, advance, transitions } = setup();
    await fail('a', THRESHOLD);
    advance(RECOVERY_SECONDS * 1000 - 1);
    expect(await breaker.acquire('a', LEASE_MS)).toBe('open');
    advance(1);
    expect((await breaker.state('a')).state).toBe('half-open');
    expect(await breaker.acquire('a', LEASE_MS)).toBe('probe');
    expect(await breaker.acquire('a', LEASE_MS)).toBe('open');
    expect(transitions.map((t) => `${t.from}->${t.to}`)).toEqual([
      'closed->open',
      'open->half-open',
    ]);
  });

  it('closes when the probe succeeds', async () => {
    const { breaker, fail, advance, transitions } = setup();
    await fail('a', THRESHOLD);
    advance(RECOVERY_SECONDS * 1000);
    const probe = await breaker.acquire('a', LEASE_MS);
    await breaker.recordSuccess('a', probe);
    expect(await breaker.acquire('a', LEASE_MS)).toBe('closed');
    expect((await breaker.state('a')).consecutiveFailures).toBe(0);
    expect(transitions.map((t) => `${t.from}->${t.to}`)).toEqual([
      'closed->open',
      'open->half-open',
      'half-open->closed',
    ]);
  });

  it('re-opens for a full recovery period when the probe fails', async () => {
    const { breaker, fail, advance } = setup();
    await fail('a', THRESHOLD);
    advance(RECOVERY_SECONDS * 1000);
    const probe = await breaker.acquire('a', LEASE_MS);
    expect(probe).toBe('probe');
    await breaker.recordFailure('a', probe);
    advance(RECOVERY_SECONDS * 1000 - 1);
    expect(await breaker.acquire('a', LEASE_MS)).toBe('open');
    advance(1);
    expect(await breaker.acquire('a', LEASE_MS)).toBe('probe');
  });

  it('ignores late results of calls that started before the circuit opened', async () => {
    const { breaker, fail } = setup();
    const early = await breaker.acquire('a', LEASE_MS);
    await fail('a', THRESHOLD);
    await breaker.recordSuccess('a', early);
    expect(await breaker.acquire('a', LEASE_MS)).toBe('open');
    const openUntil = (await breaker.state('a')).openUntil;
    await breaker.recordFailure('a', early);
    expect((await breaker.state('a')).openUntil).toBe(openUntil);
  });

  it('frees the probe lease only for the probe that ends without a verdict', async () => {
    const { breaker, fail, advance } = setup();
    await fail('a', THRESHOLD);
    advance(RECOVERY_SECONDS * 1000);
    const probe = await breaker.acquire('a', LEASE_MS);
    expect(probe).toBe('probe');
    const refused = await breaker.acquire('a', LEASE_MS);
    await breaker.release('a', refused);
    expect(await breaker.acquire('a', LEASE_MS)).toBe('open');
    await breaker.release('a', probe);
    expect(await breaker.acquire('a', LEASE_MS)).toBe('probe');
  });

  it('never leases the probe for less than minProbeLeaseMs, whatever the caller asks', async () => {
    const { breaker, fail, advance } = setup();
    await fail('a', THRESHOLD);
    advance(RECOVERY_SECONDS * 1000);
    expect(await breaker.acquire('a', 10)).toBe('probe');
    advance(MIN_PROBE_LEASE_MS - 1);
    expect(await breaker.acquire('a', 10)).toBe('open');
    advance(1);
    expect(await breaker.acquire('a', 10)).toBe('probe');
  });

  it('fails open when its store fails', async () => {
    const broken = new InMemoryCircuitStateStore();
    broken.tryAcquire = () => Promise.reject(new Error('redis down'));
    broken.recordFailure = () => Promise.reject(new Error('redis down'));
    const { breaker } = setup(broken);
    expect(await breaker.acquire('a', LEASE_MS)).toBe('closed');
    await expect(breaker.recordFailure('a', 'closed')).resolves.toBeUndefined();
  });
});
