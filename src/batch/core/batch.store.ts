import type {
  BatchListEntry,
  BatchMeta,
  BatchSummary,
  FailureReason,
  ItemOutcome,
  ItemPage,
  ItemStatus,
  LatencySummary,
  RedrivableStatus,
} from './batch.types.js';

export interface IdempotencyRecord {
  batchId: string;
  bodyHash: string;
}

/**
 * What `redrive` did: the batch queued again with `redriven` items back to pending, or why not
 * (`unfinished`: the batch has not ended; `no-match`: no item has one of the statuses).
 */
export type RedriveResult =
  { redriven: number; meta: BatchMeta } | { refused: 'unknown' | 'unfinished' | 'no-match' };

/**
 * Where batches live: metadata, payloads, per-item outcomes and counters.
 * Bound to `InMemoryBatchStore` or `RedisBatchStore` by configuration.
 */
export abstract class BatchStore {
  /** Stores a new batch and its payloads (status `queued`). */
  abstract create(meta: BatchMeta, payloads: unknown[]): Promise<void>;

  /**
   * Claims an idempotency key for a batch; returns the earlier claim if the key was taken. The
   * service scopes keys by caller (`<caller>:<key>`), so two callers never share one.
   */
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
   * Ends a batch: `completed`, or stamps `finishedAt` on a cancelled (or failed) one. When this
   * ends it (it had no `finishedAt`) and it has a callback_url, its callback delivery
   * (`deliveryAtEnd`) goes into the callback outbox in the same atomic step: no batch ends
   * without its callback stored.
   */
  abstract markFinished(batchId: string, finishedAt: string): Promise<BatchMeta | undefined>;

  /**
   * Marks the batch cancelled and every pending item `cancelled`. Returns the new meta or undefined.
   * A batch still queued ends here (`finishedAt` set), its callback delivery written as in
   * `markFinished`.
   */
  abstract cancel(batchId: string, at: string): Promise<BatchMeta | undefined>;

  /**
   * Ends a running batch `failed` with `reason`: every pending item becomes `cancelled` and
   * `finishedAt` is stamped, the callback delivery written as in `markFinished`. Undefined if the
   * batch is unknown, cancelled or already ended.
   */
  abstract markFailed(
    batchId: string,
    reason: FailureReason,
    at: string,
  ): Promise<BatchMeta | undefined>;

  /** Sets `options.maxWorkers` of an unfinished batch. Undefined if the batch is unknown or ended. */
  abstract retune(batchId: string, maxWorkers: number): Promise<BatchMeta | undefined>;

  /**
   * Sends the items of a finished batch whose outcome is one of `statuses` back to `pending`
   * (their outcomes forgotten, counters moved), and the batch back to `queued`: no `startedAt`,
   * `finishedAt` or `failureReason`, `redriveCount` one more, unfinished again as for `create`.
   */
  abstract redrive(batchId: string, statuses: readonly RedrivableStatus[]): Promise<RedriveResult>;

  abstract summary(batchId: string): Promise<BatchSummary>;
  abstract latency(batchId: string): Promise<LatencySummary>;

  /** One page of items in input order, optionally only those in `status`; costs O(offset + limit) at most. */
  abstract page(
    batchId: string,
    offset: number,
    limit: number,
    status?: ItemStatus,
  ): Promise<ItemPage>;

  /** Recent batches, newest first: of one caller, or of every caller when `caller` is undefined. */
  abstract list(
    limit: number,
    cursor?: string,
    caller?: string,
  ): Promise<{ batches: BatchListEntry[]; nextCursor: string | null }>;

  /** Items of the caller's batches accepted and not finished (CALLER_MAX_QUEUED_ITEMS), over all replicas. */
  abstract unfinishedItemsOf(caller: string): Promise<number>;

  /** Throws if the store cannot be reached. */
  abstract ping(): Promise<void>;
}
