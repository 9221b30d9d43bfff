import { Logger } from '@nestjs/common';
import type { BatchRunner } from '../core/batch.runner.js';
import type { BatchMeta } from '../core/batch.types.js';
import { SqliteBatchQueue } from './sqlite-batch.queue.js';
import type { SqliteBatchStore } from './sqlite-batch.store.js';

// The queue's own rules, with a runner whose runs the test ends: the store is not reached.

beforeAll(() => Logger.overrideLogger(false));

function runnerOfHand(): { runner: BatchRunner; started: string[]; end: () => void } {
  const started: string[] = [];
  const pending: (() => void)[] = [];
  const runner = {
    run: (batchId: string) => {
      started.push(batchId);
      return new Promise<void>((resolve) => pending.push(resolve));
    },
  } as unknown as BatchRunner;
  return { runner, started, end: () => pending.shift()?.() };
}

const meta = { batchId: 'b-1' } as BatchMeta;

describe('SqliteBatchQueue', () => {
  it('runs a batch queued again while its last run is still ending (a redrive), not only once', async () => {
    const { runner, started, end } = runnerOfHand();
    const queue = new SqliteBatchQueue({} as SqliteBatchStore, runner);
    await queue.enqueue(meta);
    await queue.enqueue(meta);
    expect(started).toEqual(['b-1', 'b-1']);
    end();
    end();
    await queue.close(1000);
  });

  it('takes nothing once it is closing, and refuses new batches with 503', async () => {
    const { runner, started } = runnerOfHand();
    const queue = new SqliteBatchQueue({} as SqliteBatchStore, runner);
    await queue.close(0);
    await queue.enqueue(meta);
    expect(started).toEqual([]);
    expect(() => queue.assertAccepting()).toThrow(
      expect.objectContaining({ code: 'NOT_READY' }) as Error,
    );
  });
});
