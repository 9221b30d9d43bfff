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

  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  /** Puts an item back in front. */
  unshift(item: T): void {
    if (this.head > 0) this.items[--this.head] = item;
    else this.items.unshift(item);
  }

  /** Takes an item out wherever it is; false if it is not here. */
  remove(item: T): boolean {
    const at = this.items.indexOf(item, this.head);
    if (at < 0) return false;
    this.items.splice(at, 1);
    return true;
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

  /**
   * The next waiter in turn, or undefined when none waits. With `accept`, the next in turn whose
   * batch's first waiter it accepts: the callers and batches passed over keep their place, so they
   * are served first once accepted (the concurrency gate passes over an action the tenant budget
   * holds back).
   */
  shift(accept?: (item: T) => boolean): T | undefined {
    for (const [caller, batches] of this.callers) {
      for (const [batch, waiting] of batches) {
        const first = waiting.peek() as T;
        if (accept !== undefined && !accept(first)) continue;
        waiting.shift();
        this.count -= 1;
        batches.delete(batch);
        if (waiting.length > 0) batches.set(batch, waiting);
        this.callers.delete(caller);
        if (batches.size > 0) this.callers.set(caller, batches);
        return first;
      }
    }
    return undefined;
  }

  /** Puts a waiter just taken back at the head, with its caller's and its batch's turn. */
  unshift(caller: string, batch: string, item: T): void {
    const batches = this.callers.get(caller) ?? new Map<string, Fifo<T>>();
    const waiting = batches.get(batch) ?? new Fifo<T>();
    waiting.unshift(item);
    this.count += 1;
    batches.delete(batch);
    const reordered = new Map([[batch, waiting], ...batches]);
    this.callers.delete(caller);
    const round = [...this.callers];
    this.callers.clear();
    this.callers.set(caller, reordered);
    for (const [other, theirs] of round) this.callers.set(other, theirs);
  }

  /** Takes a waiter out (its wait was given up); false if it is not waiting. */
  remove(caller: string, batch: string, item: T): boolean {
    const batches = this.callers.get(caller);
    const waiting = batches?.get(batch);
    if (waiting === undefined || !waiting.remove(item)) return false;
    this.count -= 1;
    if (waiting.length === 0) batches!.delete(batch);
    if (batches!.size === 0) this.callers.delete(caller);
    return true;
  }
}
