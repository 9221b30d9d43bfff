import { performance } from 'node:perf_hooks';

type Task = () => void;

/**
 * Runs the tasks queued during one stretch of work together, in the order they were queued: in
 * one callback of the event loop's next check phase, or at once when the oldest of them has
 * waited `maxDelayMs`.
 *
 * Used to send the CXone requests a turn's answers started back to back rather than one between
 * each answer's continuation: on loopback (the simulator, a sidecar proxy) a socket write runs the
 * receiver's network stack and wakes the receiver, and a receiver woken once per burst instead of
 * once per request costs the sender much less system time per call. `maxDelayMs` bounds
 * what a request waits for the rest of a busy turn.
 * A task must not throw (the adapter's sends do not): it would leave the rest of its batch unrun.
 */
export class TurnBatch {
  private tasks: Task[] = [];
  private firstQueuedAt = 0;

  constructor(private readonly maxDelayMs: number) {}

  /** Queues the task (a bound function: it can be handed around on its own). */
  readonly run = (task: Task): void => {
    if (this.tasks.push(task) === 1) {
      this.firstQueuedAt = performance.now();
      setImmediate(this.flush);
    } else if (performance.now() - this.firstQueuedAt >= this.maxDelayMs) {
      this.flush();
    }
  };

  private readonly flush = (): void => {
    const tasks = this.tasks;
    if (tasks.length === 0) return;
    this.tasks = [];
    for (const task of tasks) task();
  };
}

/**
 * The process's one batch of outgoing CXone requests. A quarter of a millisecond: short enough
 * that a latency-bound batch keeps the efficiency of sending at once, long enough to gather a
 * turn's requests; a longer bound, or a whole turn, measurably delays the calls (bench scenario a,
 * see bench/README.md).
 */
export const outgoing = new TurnBatch(0.25);
