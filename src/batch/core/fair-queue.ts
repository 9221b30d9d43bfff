/** A first-in first-out queue that reads from a moving head (no O(n) `shift`). */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined as T;
    this.head += 1;
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/**
 * Waiters taken in turns: round-robin between the callers that have any waiting, then, within the
 * caller whose turn it is, round-robin between its batches, first come first served within one
 * batch. A caller with ten batches waiting is served as often as a caller with one, and a caller
 * that starts waiting joins the round at its end.
 *
 * Maps keep insertion order, and the next to serve is always the first entry: serving one moves
 * its batch to the end of its caller's map and the caller to the end of the round, O(1) each.
 */
export class FairQueue<T> {
  private readonly callers = new Map<string, Map<string, Fifo<T>>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(caller: string, batch: string, item: T): void {
    let batches = this.callers.get(caller);
    if (!batches) {
      batches = new Map();
      this.callers.set(caller, batches);
    }
    let waiting = batches.get(batch);
    if (!waiting) {
      waiting = new Fifo();
      batches.set(batch, waiting);
    }
    waiting.push(item);
    this.count += 1;
  }

  /** The next waiter in turn, or undefined when none waits. */
  shift(): T | undefined {
    const turn = this.callers.entries().next();
    if (turn.done) return undefined;
    const [caller, batches] = turn.value;
    const [batch, waiting] = batches.entries().next().value as [string, Fifo<T>];
    const item = waiting.shift() as T;
    this.count -= 1;
    batches.delete(batch);
    if (waiting.length > 0) batches.set(batch, waiting);
    this.callers.delete(caller);
    if (batches.size > 0) this.callers.set(caller, batches);
    return item;
  }
}
