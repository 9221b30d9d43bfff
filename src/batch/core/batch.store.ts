import type {
  BatchListEntry,
  BatchMeta,
  BatchSummary,
  ItemOutcome,
  ItemPage,
  ItemStatus,
  LatencySummary,
} from './batch.types.js';

export interface IdempotencyRecord {
  batchId: string;
  bodyHash: string;
}

/**
 * Where batches live: metadata, payloads, per-item outcomes and counters.
 * Bound to `InMemoryBatchStore` or `RedisBatchStore` by configuration.
 */
export abstract class BatchStore {
  /** Stores a new batch and its payloads (status `queued`). */
  abstract create(meta: BatchMeta, payloads: unknown[]): Promise<void>;

  /** Claims an idempotency key for a batch; returns the earlier claim if the key was taken. */
  abstract claimIdempotencyKey(
    key: string,
    record: IdempotencyRecord,
  ): Promise<IdempotencyRecord | undefined>;

  abstract getMeta(batchId: string): Promise<BatchMeta | undefined>;

  /** Payloads `[start, end)` in input order. */
  abstract getPayloads(batchId: string, start: number, end: number): Promise<unknown[]>;

  /** For items `[start, end)`: true where an outcome (final or cancelled) is already recorded. */
  abstract recordedIn(batchId: string, start: number, end: number): Promise<boolean[]>;

  /**
   * Records an item's outcome if the item is pending or cancelled (a call that was in flight when
   * the batch was cancelled still reports what it did); counters move atomically with it.
   */
  abstract recordOutcome(batchId: string, index: number, outcome: ItemOutcome): Promise<void>;

  /** queued → running; returns false if the batch is no longer runnable (finished or cancelled). */
  abstract markRunning(batchId: string, startedAt: string): Promise<boolean>;

  /**
   * Ends a batch: `completed`, or stamps `finishedAt` on a cancelled one. When this ends it (it had
   * no `finishedAt`) and it has a callback_url, its callback delivery (`deliveryAtEnd`) goes into
   * the callback outbox in the same atomic step: no batch ends without its callback stored.
   */
  abstract markFinished(batchId: string, finishedAt: string): Promise<BatchMeta | undefined>;

  /**
   * Marks the batch cancelled and every pending item `cancelled`. Returns the new meta or undefined.
   * A batch still queued ends here (`finishedAt` set), its callback delivery written as in
   * `markFinished`.
   */
  abstract cancel(batchId: string, at: string): Promise<BatchMeta | undefined>;

  abstract summary(batchId: string): Promise<BatchSummary>;
  abstract latency(batchId: string): Promise<LatencySummary>;

  /** One page of items in input order, optionally only those in `status`; costs O(offset + limit) at most. */
  abstract page(
    batchId: string,
    offset: number,
    limit: number,
    status?: ItemStatus,
  ): Promise<ItemPage>;

  /** Recent batches, newest first. */
  abstract list(
    limit: number,
    cursor?: string,
  ): Promise<{ batches: BatchListEntry[]; nextCursor: string | null }>;

  /** Throws if the store cannot be reached. */
  abstract ping(): Promise<void>;
}
