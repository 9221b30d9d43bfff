import { performance } from 'node:perf_hooks';

type Task = () => void;

/**
 * Runs tasks in the event loop's check phase, at most `budgetMs` of them per loop turn (the time
 * includes the promise continuations a task starts); the rest wait for the next turn, after the
 * loop has read its sockets again. Order is kept, and every turn runs at least one task.
 *
 * Used for the continuation of each CXone answer (axios, the client, the runner, the next call):
 * run where the answer is read, a saturated service worked through a hundred answers in one
 * turn before it even read a status poll that arrived meanwhile. Handed on here, the reading
 * turn only parses answers and serves requests, and a poll waits for one slice.
 */
export class TurnBudget {
  private markerQueued = false;
  private sliceStart = 0;

  constructor(private readonly budgetMs: number) {}

  /** Queues the task (a bound function: it can be handed around on its own). */
  readonly run = (task: Task): void => {
    this.queueMarker();
    setImmediate(this.step, task);
  };

  private readonly step = (task: Task): void => {
    if (performance.now() - this.sliceStart >= this.budgetMs) {
      // Immediates queued while the check phase runs belong to the next turn.
      this.queueMarker();
      setImmediate(this.step, task);
      return;
    }
    task();
  };

  /** The marker goes ahead of the turn's tasks and starts its slice. */
  private queueMarker(): void {
    if (this.markerQueued) return;
    this.markerQueued = true;
    setImmediate(this.startSlice);
  }

  private readonly startSlice = (): void => {
    this.markerQueued = false;
    this.sliceStart = performance.now();
  };
}

/**
 * The process's one budget (one event loop, one slice per turn): CXone answers and, in Redis
 * mode, the replies to outcome writes, after which a worker starts its next call.
 */
export const continuations = new TurnBudget(4);

/** Resolves in a `continuations` slice. */
export function nextSlice(): Promise<void> {
  return new Promise((resolve) => continuations.run(resolve));
}
