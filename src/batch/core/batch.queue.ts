import type { BatchMeta } from './batch.types.js';

/**
 * Hands accepted batches to whoever runs them: this process (in-memory mode) or any replica
 * (BullMQ on Redis).
 */
export abstract class BatchQueue {
  abstract enqueue(meta: BatchMeta): Promise<void>;
  /** Items of batches accepted and not yet finished, as far as this replica can tell (intake limit). */
  abstract queuedItems(): Promise<number>;
  /** Stops taking new batches and waits up to `graceMs` for running ones (shutdown). */
  abstract close(graceMs: number): Promise<void>;
  /**
   * Throws a 503 problem when a batch accepted now could be lost (this process runs it and is
   * shutting down). By default it never does: a queue that persists batches lets another
   * replica run them.
   */
  assertAccepting(): void {}
}
