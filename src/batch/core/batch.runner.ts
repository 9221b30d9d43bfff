import { Injectable, Logger, Optional } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { CallbackDispatcher } from '../../callback/core/callback-dispatcher.js';
import {
  BatchTelemetry,
  type ChunkTelemetry,
  noopBatchTelemetry,
  type RunTelemetry,
} from './batch-telemetry.js';
import { ActionExecutor } from './action-executor.js';
import { BatchStore } from './batch.store.js';
import { toleranceExceeded, type BatchMeta, type ItemOutcome } from './batch.types.js';
import { ConcurrencyGate } from './concurrency-gate.js';
import { failureOutcome, successOutcome } from './item-outcome.js';
import { TenantBudget } from '../../tenant/tenant-budget.js';
import type { AttemptAdmission } from '../../cxone/cxone.types.js';
import { DomainError } from '../../lib/domain-error.js';

interface WorkItem {
  index: number;
  payload: unknown;
  chunk: ChunkTelemetry;
}

interface RunState {
  cancelled: boolean;
  /** Failures passed the batch's tolerance: scheduling stops and the batch ends `failed`. */
  failedOverTolerance: boolean;
  /** Items recorded `failed`: those of earlier runs (from the summary) and this run's. */
  failed: number;
  /** The batch's `max_workers` now (a PATCH changes it while the batch runs). */
  maxWorkers: number;
  /** Starts workers up to `maxWorkers` while items run; unset before and after. */
  onRetune?: () => void;
  /** Aborted when this replica hands the batch back to the queue (shutdown, lost job lock). */
  signal?: AbortSignal;
  /**
   * Aborted once the run stops scheduling (cancel, hand-back): attempts waiting for a turn or in
   * a retry's backoff give up (their items stay pending); calls in flight finish.
   */
  waits: AbortController;
}

/** The run stopped because its signal aborted: calls in flight finished, the batch is not finished. */
export class BatchRunInterrupted extends Error {
  constructor(batchId: string) {
    super(`run of batch ${batchId} interrupted`);
    this.name = 'BatchRunInterrupted';
  }
}

const STORE_RETRY_FIRST_MS = 100;
const STORE_RETRY_MAX_MS = 2000;
const STORE_RETRY_BUDGET_MS = 10 * 60_000;
/**
 * How often a running batch re-reads its stored meta: a `max_workers` PATCH or a cancel received
 * by another replica reaches the one running the batch within this (PATCH promises 1 s).
 */
export const STEERING_POLL_MS = 250;

/**
 * Runs one batch to its end: loads it chunk by chunk, keeps at most `max_workers` items in flight
 * (each through the process-wide concurrency gate, which shares its slots fairly between callers
 * and their batches), records every outcome, then finishes the batch (which stores its callback
 * in the outbox). Items already recorded (a run resumed on another replica) are skipped. Once more
 * items have failed than the batch tolerates, it stops scheduling and ends `failed`.
 */
@Injectable()
export class BatchRunner {
  private readonly logger = new Logger(BatchRunner.name);
  private readonly running = new Map<string, RunState>();
  private readonly runs = new Map<string, Promise<void>>();

  constructor(
    private readonly store: BatchStore,
    private readonly executor: ActionExecutor,
    private readonly gate: ConcurrencyGate,
    private readonly budget: TenantBudget,
    private readonly callbacks: CallbackDispatcher,
    @Optional() private readonly telemetry: BatchTelemetry = noopBatchTelemetry,
  ) {}

  /** Stops scheduling new items of a batch this process runs; calls in flight finish. */
  stop(batchId: string): void {
    const state = this.running.get(batchId);
    if (state) cancel(state);
  }

  isRunning(batchId: string): boolean {
    return this.running.has(batchId);
  }

  /** A batch this process runs gets a new `max_workers` now (others learn it from the store). */
  retune(batchId: string, maxWorkers: number): void {
    const state = this.running.get(batchId);
    if (state) applyMaxWorkers(state, maxWorkers);
  }

  /**
   * Runs the batch to its end. With a `signal`, aborting it stops scheduling; once the calls in
   * flight have finished the run rejects with `BatchRunInterrupted`, leaving the batch unfinished.
   */
  async run(batchId: string, signal?: AbortSignal): Promise<void> {
    // A queue may hand this process a batch it still runs (its job lock expired while Redis was
    // away): the new run starts only once the earlier one has ended, never beside it.
    for (let earlier = this.runs.get(batchId); earlier; earlier = this.runs.get(batchId)) {
      await earlier.catch(() => undefined);
    }
    const run = this.runOnce(batchId, signal);
    this.runs.set(batchId, run);
    try {
      await run;
    } finally {
      if (this.runs.get(batchId) === run) this.runs.delete(batchId);
    }
  }

  private async runOnce(batchId: string, signal?: AbortSignal): Promise<void> {
    const meta = await this.withStoreRetry(() => this.store.getMeta(batchId));
    if (!meta || meta.finishedAt !== null) return;
    const state: RunState = {
      cancelled: meta.status === 'cancelled',
      failedOverTolerance: false,
      failed: 0,
      maxWorkers: meta.options.maxWorkers,
      signal,
      waits: new AbortController(),
    };
    const handBack = (): void => state.waits.abort();
    signal?.addEventListener('abort', handBack, { once: true });
    this.running.set(batchId, state);
    const run = this.telemetry.openRun(meta);
    try {
      if (!state.cancelled) {
        const runnable = await this.withStoreRetry(() =>
          this.store.markRunning(batchId, new Date().toISOString()),
        );
        state.cancelled = !runnable;
        if (runnable) run.started();
      }
      if (!state.cancelled) {
        // A batch resumed after its failures passed the tolerance runs nothing more.
        const summary = await this.withStoreRetry(() => this.store.summary(batchId));
        state.failed = summary.failed;
        state.failedOverTolerance = toleranceExceeded(summary.failed, meta.total, meta.options);
        if (!state.failedOverTolerance) await this.runItems(meta, state, run);
      }
      if (signal?.aborted) throw new BatchRunInterrupted(batchId);
      if (state.failedOverTolerance && !state.cancelled) await this.fail(meta, state, run);
      else await this.finish(batchId, run);
    } finally {
      signal?.removeEventListener('abort', handBack);
      run.close();
      this.running.delete(batchId);
    }
  }

  private async runItems(meta: BatchMeta, state: RunState, run: RunTelemetry): Promise<void> {
    const { batchId, total } = meta;
    const { chunkSize } = meta.options;
    const queue: WorkItem[] = [];
    let head = 0;
    let nextChunk = 0;
    let loading: Promise<void> | undefined;
    const stopped = (): boolean =>
      state.cancelled || state.failedOverTolerance || state.signal?.aborted === true;

    const loadNextChunk = async (): Promise<void> => {
      const start = nextChunk;
      const end = Math.min(start + chunkSize, total);
      const [payloads, recorded, current] = await this.withStoreRetry(() =>
        Promise.all([
          this.store.getPayloads(batchId, start, end),
          this.store.recordedIn(batchId, start, end),
          this.store.getMeta(batchId),
        ]),
      );
      if (!current || current.status === 'cancelled') cancel(state);
      const chunk = run.chunk(start, end);
      if (head > 0) {
        queue.splice(0, head);
        head = 0;
      }
      const queued = queue.length;
      for (let offset = 0; offset < payloads.length; offset++) {
        if (!recorded[offset])
          queue.push({ index: start + offset, payload: payloads[offset], chunk });
      }
      chunk.expect(queue.length - queued);
      nextChunk = end;
    };

    // The next chunk loads while the last `max_workers` items of this one run, so no worker
    // waits for a store round trip between chunks.
    let loadFailure: { error: unknown } | undefined;
    const prefetch = (): void => {
      if (loading || loadFailure || stopped() || nextChunk >= total) return;
      loading = loadNextChunk()
        .catch((error: unknown) => void (loadFailure = { error }))
        .finally(() => (loading = undefined));
    };

    const take = async (): Promise<WorkItem | undefined> => {
      for (;;) {
        if (head < queue.length) {
          const item = queue[head++];
          if (queue.length - head < state.maxWorkers) prefetch();
          return item;
        }
        if (loadFailure) throw loadFailure.error;
        if (stopped() || (nextChunk >= total && !loading)) return undefined;
        prefetch();
        await loading;
      }
    };

    // One worker per item in flight: a worker beyond `max_workers` (lowered by a PATCH) leaves
    // after its call, and a raised `max_workers` starts more workers at once.
    const admission = this.gate.admission(
      { caller: meta.caller, batchId, actionId: meta.actionId },
      state.waits.signal,
    );
    let workers = 0;
    const working = new Set<Promise<void>>();
    const worker = async (): Promise<void> => {
      try {
        for (;;) {
          if (workers > state.maxWorkers) return;
          const item = await take();
          if (!item || stopped()) return;
          await this.runItem(meta, item, state, admission, stopped);
        }
      } finally {
        workers -= 1;
      }
    };
    const startWorkers = (): void => {
      while (workers < Math.min(state.maxWorkers, total) && !stopped()) {
        workers += 1;
        const running: Promise<void> = worker().finally(() => working.delete(running));
        // Awaited below; also handled here for a worker started while an earlier one's error ends the run.
        running.catch(() => undefined);
        working.add(running);
      }
    };

    // What the batch asks of its action, for the action's adaptive limit and fair shares.
    const demand = await this.budget.register(meta.actionId, batchId, state.maxWorkers);
    const steering = setInterval(() => void this.followSteering(batchId, state), STEERING_POLL_MS);
    steering.unref();
    state.onRetune = () => {
      demand.update(state.maxWorkers);
      startWorkers();
    };
    try {
      startWorkers();
      while (working.size > 0) await Promise.all(working);
    } finally {
      state.onRetune = undefined;
      clearInterval(steering);
      demand.close();
    }
  }

  /** Applies what the stored meta says now: a new `max_workers`, or a cancel. */
  private async followSteering(batchId: string, state: RunState): Promise<void> {
    let meta: BatchMeta | undefined;
    try {
      meta = await this.store.getMeta(batchId);
    } catch {
      return; // The store is away: the next poll, or the run's own store calls, will tell.
    }
    if (!meta || meta.status === 'cancelled') cancel(state);
    else applyMaxWorkers(state, meta.options.maxWorkers);
  }

  private async runItem(
    meta: BatchMeta,
    item: WorkItem,
    state: RunState,
    admission: AttemptAdmission,
    stopped: () => boolean,
  ): Promise<void> {
    let outcome: ItemOutcome;
    try {
      const result = await this.executor.execute(meta.actionId, item.payload, {
        traceContext: item.chunk.traceContext,
        itemIndex: item.index,
        requestId: `${meta.batchId}-${item.index}`,
        timeoutMs: meta.options.timeoutMs,
        cacheTtlSeconds: meta.options.cacheTtlSeconds,
        admission,
      });
      outcome = successOutcome(result);
    } catch (error) {
      // Stopped while waiting for a turn or a retry: no call is in flight, the item stays pending
      // (cancelled by the cancel, or run again where the batch resumes).
      if (stopped() && error instanceof DomainError && error.code === 'CANCELLED') return;
      outcome = failureOutcome(error);
      if (outcome.errorCode === 'INTERNAL') {
        this.logger.error(
          { err: error, batch_id: meta.batchId, caller: meta.caller, index: item.index },
          'Item failed unexpectedly',
        );
      }
    }
    await this.withStoreRetry(() => this.store.recordOutcome(meta.batchId, item.index, outcome));
    item.chunk.itemDone(item.index, outcome);
    if (outcome.status === 'failed') {
      state.failed += 1;
      if (toleranceExceeded(state.failed, meta.total, meta.options)) {
        state.failedOverTolerance = true;
        // Scheduling stops: attempts waiting for a turn or a retry end, their items cancelled.
        state.waits.abort();
      }
    }
  }

  /** Ends the batch `failed` (its calls in flight have finished): pending items become cancelled. */
  private async fail(meta: BatchMeta, state: RunState, run: RunTelemetry): Promise<void> {
    const { batchId } = meta;
    const failed = await this.withStoreRetry(() =>
      this.store.markFailed(batchId, 'TOLERATED_FAILURE_EXCEEDED', new Date().toISOString()),
    );
    // Cancelled meanwhile: it ends as a cancelled batch.
    if (!failed) return this.finish(batchId, run);
    this.logger.warn(
      { batch_id: batchId, failed: state.failed, total: meta.total },
      'Batch stopped: more items failed than it tolerates',
    );
    const summary = await this.withStoreRetry(() => this.store.summary(batchId));
    run.finished(failed, summary);
    // markFailed stored the callback with the batch's end; deliver it now, not at the next poll.
    if (failed.options.callbackUrl) this.callbacks.wake();
  }

  private async finish(batchId: string, run: RunTelemetry): Promise<void> {
    const summary = await this.withStoreRetry(() => this.store.summary(batchId));
    const meta = await this.withStoreRetry(() => this.store.getMeta(batchId));
    if (!meta) return;
    if (summary.pending > 0 && meta.status !== 'cancelled') {
      // Only possible when outcomes could not be written: let the queue run the batch again.
      throw new Error(`batch ${batchId} ended its run with ${summary.pending} items pending`);
    }
    const finished = await this.withStoreRetry(() =>
      this.store.markFinished(batchId, new Date().toISOString()),
    );
    if (finished) {
      run.finished(finished, summary);
      // markFinished stored the callback with the batch's end; deliver it now, not at the next poll.
      if (finished.options.callbackUrl) this.callbacks.wake();
    }
  }

  /** Store calls wait out a store outage (Redis restarting) instead of losing accepted work. */
  private async withStoreRetry<T>(operation: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + STORE_RETRY_BUDGET_MS;
    for (let delay = STORE_RETRY_FIRST_MS; ; delay = Math.min(delay * 2, STORE_RETRY_MAX_MS)) {
      try {
        return await operation();
      } catch (error) {
        if (Date.now() + delay > deadline) throw error;
        this.logger.warn({ err: error }, `Store unavailable, retrying in ${delay} ms`);
        await sleep(delay);
      }
    }
  }
}

/** Stops scheduling the run's items and ends their waits (for a turn, or a retry's backoff). */
function cancel(state: RunState): void {
  state.cancelled = true;
  state.waits.abort();
}

function applyMaxWorkers(state: RunState, maxWorkers: number): void {
  if (state.maxWorkers === maxWorkers) return;
  state.maxWorkers = maxWorkers;
  state.onRetune?.();
}
