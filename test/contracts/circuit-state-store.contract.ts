import type {
  CircuitStateStore,
  CircuitStatus,
} from '../../src/circuit-breaker/circuit-state.store.js';

/**
 * The behaviour every `CircuitStateStore` shares, run against each implementation. The store
 * takes every time as an argument, so the suite drives one clock of its own and never waits.
 * What only one adapter has (Redis: state shared between replicas, the closed view) stays in that
 * adapter's own spec.
 */

/** A store with no state in it. */
export interface OpenedCircuitStateStore {
  store: CircuitStateStore;
  close(): Promise<void>;
}

export type OpenCircuitStateStore = () => Promise<OpenedCircuitStateStore>;

const THRESHOLD = 3;
const OPEN_MS = 30_000;
const LEASE_MS = 5_000;
const T0 = 1_000_000;

const closedClean = (actionId: string): CircuitStatus => ({
  actionId,
  state: 'closed',
  forced: false,
  consecutiveFailures: 0,
  openUntil: null,
  probeInFlight: false,
});

export function describeCircuitStateStoreContract(
  name: string,
  open: OpenCircuitStateStore,
  describeFn: jest.Describe = describe,
): void {
  describeFn(`CircuitStateStore contract: ${name}`, () => {
    let opened: OpenedCircuitStateStore;
    let store: CircuitStateStore;
    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(async () => {
      await opened.close();
    });

    /** `times` normal failures of `actionId` at `now`; the previous states they report. */
    async function fail(actionId: string, times: number, now = T0): Promise<(string | null)[]> {
      const reported: (string | null)[] = [];
      for (let i = 0; i < times; i++)
        reported.push(await store.recordFailure(actionId, false, now, THRESHOLD, OPEN_MS));
      return reported;
    }

    /** Opens `actionId` at T0 and lets its open time pass: half-open, no probe yet. */
    async function halfOpen(actionId: string): Promise<number> {
      await fail(actionId, THRESHOLD);
      return T0 + OPEN_MS;
    }

    it('holds nothing for an action never seen: closed, no failures, not in the snapshot', async () => {
      expect(await store.tryAcquire('new', T0, LEASE_MS)).toBe('closed');
      expect(await store.state('new', T0)).toEqual(closedClean('new'));
      expect(await store.snapshot(T0)).toEqual([]);
    });

    it('counts consecutive failures and opens at the threshold until now + openMs, reporting the change once', async () => {
      expect(await fail('a', THRESHOLD - 1)).toEqual([null, null]);
      expect(await store.tryAcquire('a', T0, LEASE_MS)).toBe('closed');
      expect(await store.state('a', T0)).toEqual({
        ...closedClean('a'),
        consecutiveFailures: THRESHOLD - 1,
      });
      expect(await fail('a', 1, T0 + 10)).toEqual(['closed']);
      expect(await store.state('a', T0 + 11)).toEqual({
        actionId: 'a',
        state: 'open',
        forced: false,
        consecutiveFailures: THRESHOLD,
        openUntil: T0 + 10 + OPEN_MS,
        probeInFlight: false,
      });
      expect(await store.tryAcquire('a', T0 + 11, LEASE_MS)).toBe('open');
      expect(await store.tryAcquire('a', T0 + 10 + OPEN_MS - 1, LEASE_MS)).toBe('open');
    });

    it('opens at the first failure with a threshold of 1', async () => {
      expect(await store.recordFailure('one', false, T0, 1, OPEN_MS)).toBe('closed');
      expect(await store.tryAcquire('one', T0 + 1, LEASE_MS)).toBe('open');
    });

    it('resets the count on a success while closed (failures must be consecutive) and forgets the action', async () => {
      await fail('a', THRESHOLD - 1);
      expect(await store.tryAcquire('a', T0, LEASE_MS)).toBe('closed');
      expect(await store.recordSuccess('a', false, T0 + 1)).toBeNull();
      expect(await store.state('a', T0 + 1)).toEqual(closedClean('a'));
      expect(await store.snapshot(T0 + 1)).toEqual([]);
      expect(await fail('a', THRESHOLD - 1, T0 + 2)).toEqual([null, null]);
      expect(await store.tryAcquire('a', T0 + 2, LEASE_MS)).toBe('closed');
    });

    it('reports no change for a success of an action it holds nothing for', async () => {
      expect(await store.recordSuccess('quiet', false, T0)).toBeNull();
      expect(await store.recordSuccess('quiet', true, T0)).toBeNull();
      expect(await store.snapshot(T0)).toEqual([]);
    });

    it('once the open time has passed: half-open, and exactly one of many concurrent callers gets the probe', async () => {
      const at = await halfOpen('a');
      expect(await store.state('a', at)).toMatchObject({
        state: 'half-open',
        forced: false,
        probeInFlight: false,
      });
      const permits = await Promise.all(
        Array.from({ length: 8 }, () => store.tryAcquire('a', at, LEASE_MS)),
      );
      expect(permits.filter((permit) => permit === 'probe')).toHaveLength(1);
      expect(permits.filter((permit) => permit === 'open')).toHaveLength(7);
      expect(await store.state('a', at + 1)).toEqual({
        actionId: 'a',
        state: 'half-open',
        forced: false,
        consecutiveFailures: THRESHOLD,
        openUntil: at,
        probeInFlight: true,
      });
    });

    it("lets another caller probe once the probe's lease has run out (its caller died)", async () => {
      const at = await halfOpen('a');
      expect(await store.tryAcquire('a', at, LEASE_MS)).toBe('probe');
      expect(await store.tryAcquire('a', at + LEASE_MS - 1, LEASE_MS)).toBe('open');
      expect(await store.state('a', at + LEASE_MS)).toMatchObject({ probeInFlight: false });
      expect(await store.tryAcquire('a', at + LEASE_MS, LEASE_MS)).toBe('probe');
      expect(await store.tryAcquire('a', at + LEASE_MS + 1, LEASE_MS)).toBe('open');
    });

    it('frees the lease at once when the probe ends without a verdict; releasing an action it holds nothing for does nothing', async () => {
      const at = await halfOpen('a');
      expect(await store.tryAcquire('a', at, 10 * LEASE_MS)).toBe('probe');
      await store.releaseProbe('a');
      expect(await store.state('a', at + 1)).toMatchObject({
        state: 'half-open',
        forced: false,
        probeInFlight: false,
      });
      expect(await store.tryAcquire('a', at + 1, LEASE_MS)).toBe('probe');
      await store.releaseProbe('never-seen');
      expect(await store.state('never-seen', at)).toEqual(closedClean('never-seen'));
      expect((await store.snapshot(at)).map((status) => status.actionId)).toEqual(['a']);
    });

    it('closes when the probe succeeds (reporting half-open), with no failures and no trace left', async () => {
      const at = await halfOpen('a');
      expect(await store.tryAcquire('a', at, LEASE_MS)).toBe('probe');
      expect(await store.recordSuccess('a', true, at + 100)).toBe('half-open');
      expect(await store.state('a', at + 100)).toEqual(closedClean('a'));
      expect(await store.tryAcquire('a', at + 101, LEASE_MS)).toBe('closed');
      expect(await store.snapshot(at + 101)).toEqual([]);
    });

    it('re-opens for openMs from the probe’s failure (reporting half-open), counting it and dropping the lease', async () => {
      const at = await halfOpen('a');
      expect(await store.tryAcquire('a', at, LEASE_MS)).toBe('probe');
      expect(await store.recordFailure('a', true, at + 100, THRESHOLD, OPEN_MS)).toBe('half-open');
      expect(await store.state('a', at + 101)).toEqual({
        actionId: 'a',
        state: 'open',
        forced: false,
        consecutiveFailures: THRESHOLD + 1,
        openUntil: at + 100 + OPEN_MS,
        probeInFlight: false,
      });
      expect(await store.tryAcquire('a', at + 100 + OPEN_MS - 1, LEASE_MS)).toBe('open');
      expect(await store.tryAcquire('a', at + 100 + OPEN_MS, LEASE_MS)).toBe('probe');
    });

    it('ignores results of normal calls while open or half-open: a call started before the opening neither closes nor extends it', async () => {
      await fail('a', THRESHOLD);
      const openUntil = T0 + OPEN_MS;
      expect(await store.recordSuccess('a', false, T0 + 1)).toBeNull();
      expect(await store.recordFailure('a', false, T0 + 2, THRESHOLD, OPEN_MS)).toBeNull();
      expect(await store.state('a', T0 + 3)).toMatchObject({
        state: 'open',
        forced: false,
        consecutiveFailures: THRESHOLD,
        openUntil,
      });

      expect(await store.tryAcquire('a', openUntil, LEASE_MS)).toBe('probe');
      expect(await store.recordSuccess('a', false, openUntil + 1)).toBeNull();
      expect(await store.recordFailure('a', false, openUntil + 2, THRESHOLD, OPEN_MS)).toBeNull();
      expect(await store.state('a', openUntil + 3)).toEqual({
        actionId: 'a',
        state: 'half-open',
        forced: false,
        consecutiveFailures: THRESHOLD,
        openUntil,
        probeInFlight: true,
      });
    });

    it("counts a probe's verdict that arrives after the circuit closed as a normal call's", async () => {
      const at = await halfOpen('a');
      expect(await store.tryAcquire('a', at, LEASE_MS)).toBe('probe');
      expect(await store.recordSuccess('a', true, at + 1)).toBe('half-open');
      // A second probe permit from before (its lease had run out elsewhere) reports late.
      expect(await store.recordSuccess('a', true, at + 2)).toBeNull();
      expect(await store.recordFailure('a', true, at + 3, THRESHOLD, OPEN_MS)).toBeNull();
      expect(await store.state('a', at + 4)).toEqual({
        ...closedClean('a'),
        consecutiveFailures: 1,
      });
    });

    it('keeps one state per action', async () => {
      await fail('a', THRESHOLD);
      await fail('b', 1);
      expect(await store.tryAcquire('a', T0 + 1, LEASE_MS)).toBe('open');
      expect(await store.tryAcquire('b', T0 + 1, LEASE_MS)).toBe('closed');
      expect(await store.tryAcquire('c', T0 + 1, LEASE_MS)).toBe('closed');
      expect(await store.state('b', T0 + 1)).toMatchObject({ consecutiveFailures: 1 });
      expect(await store.recordSuccess('b', false, T0 + 2)).toBeNull();
      expect(await store.state('a', T0 + 2)).toMatchObject({ state: 'open' });
    });

    it('lists every action with failures or not closed in its snapshot, as state() reports it', async () => {
      await fail('counting', 1);
      await fail('open', THRESHOLD);
      await fail('probing', THRESHOLD, T0 - OPEN_MS);
      expect(await store.tryAcquire('probing', T0, LEASE_MS)).toBe('probe');
      await fail('recovered', 2);
      await store.tryAcquire('recovered', T0, LEASE_MS);
      await store.recordSuccess('recovered', false, T0);

      const snapshot = await store.snapshot(T0 + 1);
      const byAction = [...snapshot].sort((x, y) => x.actionId.localeCompare(y.actionId));
      expect(byAction).toEqual([
        { ...closedClean('counting'), consecutiveFailures: 1 },
        {
          actionId: 'open',
          state: 'open',
          forced: false,
          consecutiveFailures: THRESHOLD,
          openUntil: T0 + OPEN_MS,
          probeInFlight: false,
        },
        {
          actionId: 'probing',
          state: 'half-open',
          forced: false,
          consecutiveFailures: THRESHOLD,
          openUntil: T0,
          probeInFlight: true,
        },
      ]);
      for (const status of byAction)
        expect(await store.state(status.actionId, T0 + 1)).toEqual(status);
    });
  });
}
