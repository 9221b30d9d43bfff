import { setImmediate as nextCheckPhase } from 'node:timers/promises';
import { TurnBatch } from './turn-batch.js';

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // a continuation's CPU work
  }
}

describe('TurnBatch', () => {
  it('runs the tasks of a stretch of work together in the next check phase, in order', async () => {
    const batch = new TurnBatch(50);
    const ran: number[] = [];
    for (let i = 0; i < 3; i++) batch.run(() => ran.push(i));
    await Promise.resolve();
    expect(ran).toEqual([]);

    await nextCheckPhase();
    expect(ran).toEqual([0, 1, 2]);

    batch.run(() => ran.push(3));
    await nextCheckPhase();
    expect(ran).toEqual([0, 1, 2, 3]);
  });

  it('runs the batch at once when its oldest task has waited the longest delay', async () => {
    const batch = new TurnBatch(2);
    const ran: string[] = [];
    batch.run(() => ran.push('first'));
    busy(3);
    batch.run(() => ran.push('second'));
    expect(ran).toEqual(['first', 'second']);

    batch.run(() => ran.push('third'));
    expect(ran).toEqual(['first', 'second']);
    await nextCheckPhase();
    await nextCheckPhase();
    expect(ran).toEqual(['first', 'second', 'third']);
  });
});
