import { loadConfig } from '../../config/load-config.js';
import { ConcurrencyGate } from './concurrency-gate.js';

function gateOf(slots: number): ConcurrencyGate {
  return new ConcurrencyGate(
    loadConfig({
      CXONE_SIMULATOR: 'true',
      CXONE_API_URL: 'http://127.0.0.1:9',
      AUTH_DISABLED: 'true',
      CXONE_MAX_CONCURRENCY: String(slots),
    }),
  );
}

/** Lets the pending promise callbacks run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('ConcurrencyGate', () => {
  it('never runs more than CXONE_MAX_CONCURRENCY tasks, and frees the slot of a task that throws', async () => {
    const gate = gateOf(2);
    let running = 0;
    let peak = 0;
    const task = async (fail: boolean) => {
      running += 1;
      peak = Math.max(peak, running);
      await settle();
      running -= 1;
      if (fail) throw new Error('boom');
    };
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        gate.run({ caller: 'a', batchId: 'b' }, () => task(i % 3 === 0)),
      ),
    );
    expect(peak).toBe(2);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(4);
    expect(gate.inFlight).toBe(0);
    expect(gate.waiting).toBe(0);
  });

  it('gives a caller with one batch as many slots as a caller with five, while both wait', async () => {
    const gate = gateOf(4);
    const served: string[] = [];
    // Each batch keeps max_workers = 4 calls going, as the runner does, until the gate has run 200.
    const worker = async (caller: string, batchId: string): Promise<void> => {
      while (served.length < 200) {
        await gate.run({ caller, batchId }, async () => {
          served.push(caller);
          await settle();
        });
      }
    };
    const workers: Promise<void>[] = [];
    for (let batch = 0; batch < 5; batch++) {
      for (let w = 0; w < 4; w++) workers.push(worker('alpha', `alpha-${batch}`));
    }
    for (let w = 0; w < 4; w++) workers.push(worker('beta', 'beta-0'));
    await Promise.all(workers);
    const beta = served.slice(0, 200).filter((caller) => caller === 'beta').length;
    expect(beta / 200).toBeGreaterThanOrEqual(0.45);
  });
});
