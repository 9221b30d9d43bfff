import { FairQueue } from './fair-queue.js';

describe('FairQueue', () => {
  it('takes turns between callers, then between a caller’s batches, FIFO within a batch', () => {
    const queue = new FairQueue<string>();
    for (let batch = 1; batch <= 3; batch++) {
      for (let item = 1; item <= 2; item++) queue.push('a', `a${batch}`, `a${batch}.${item}`);
    }
    queue.push('b', 'b1', 'b1.1');
    queue.push('b', 'b1', 'b1.2');
    expect(queue.size).toBe(8);

    const order: string[] = [];
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) order.push(item);
    expect(order).toEqual(['a1.1', 'b1.1', 'a2.1', 'b1.2', 'a3.1', 'a1.2', 'a2.2', 'a3.2']);
    expect(queue.size).toBe(0);
    expect(queue.shift()).toBeUndefined();
  });

  it('puts a caller that starts waiting at the end of the round', () => {
    const queue = new FairQueue<string>();
    queue.push('a', 'a1', 'a.1');
    queue.push('b', 'b1', 'b.1');
    expect(queue.shift()).toBe('a.1');
    queue.push('c', 'c1', 'c.1');
    queue.push('a', 'a1', 'a.2');
    expect([queue.shift(), queue.shift(), queue.shift()]).toEqual(['b.1', 'c.1', 'a.2']);
  });

  it('stays first in, first out over many items of one batch', () => {
    const queue = new FairQueue<number>();
    const taken: number[] = [];
    for (let i = 0; i < 1000; i++) {
      queue.push('a', 'a1', i);
      if (i % 3 === 0) taken.push(queue.shift() as number);
    }
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) taken.push(item);
    expect(taken).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('passes over the batches whose first waiter is not accepted, keeping their turn', () => {
    const queue = new FairQueue<string>();
    queue.push('a', 'a1', 'held.1');
    queue.push('b', 'b1', 'free.1');
    queue.push('b', 'b2', 'free.2');
    queue.push('c', 'c1', 'held.2');
    const free = (item: string): boolean => item.startsWith('free');
    expect([queue.shift(free), queue.shift(free), queue.shift(free)]).toEqual([
      'free.1',
      'free.2',
      undefined,
    ]);
    // Passed over, 'a' and then 'c' are still first in the round.
    expect([queue.shift(), queue.shift()]).toEqual(['held.1', 'held.2']);
  });

  it('puts a waiter back at the head with its turn, and takes a given-up waiter out', () => {
    const queue = new FairQueue<string>();
    queue.push('a', 'a1', 'a.1');
    queue.push('a', 'a1', 'a.2');
    queue.push('b', 'b1', 'b.1');
    const first = queue.shift()!;
    queue.unshift('a', 'a1', first);
    expect(queue.size).toBe(3);
    expect(queue.remove('b', 'b1', 'b.1')).toBe(true);
    expect(queue.remove('b', 'b1', 'b.1')).toBe(false);
    expect([queue.shift(), queue.shift(), queue.shift()]).toEqual(['a.1', 'a.2', undefined]);
    expect(queue.size).toBe(0);
  });
});
