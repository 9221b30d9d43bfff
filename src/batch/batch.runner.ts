import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { ActionExecutor } from './action-executor.js';
import { BatchStore } from './batch.store.js';
import type { BatchMeta, ItemOutcome } from './batch.types.js';
import { CallbackService } from './callback.service.js';
import { ConcurrencyGate } from './concurrency-gate.js';
import { failureOutcome, successOutcome } from './item-outcome.js';

interface WorkItem {
  index: number;
  payload: unknown;
}

interface RunState {
  cancelled: boolean;
  /** Aborted when this replica hands the batch back to the queue (shutdown, lost job lock). */
  signal?: AbortSignal;
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
 * Runs one batch to its end: loads it chunk by chunk, keeps at most `max_workers` items in flight
 * (each through the process-wide concurrency gate), records every outcome, then finishes the batch
 * and sends the callback. Items already recorded (a run resumed on another replica) are skipped.
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
    private readonly callbacks: CallbackService,
  ) {}

  /** Stops scheduling new items of a batch this process runs; calls in flight finish. */
  stop(batchId: string): void {
    const state = this.running.get(batchId);
    if (state) state.cancelled = true;
  }

  isRunning(batchId: string): boolean {
    return this.running.has(batchId);
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
    const state: RunState = { cancelled: meta.status === 'cancelled', signal };
    this.running.set(batchId, state);
    try {
      if (!state.cancelled) {
        const runnable = await this.withStoreRetry(() =>
          this.store.markRunning(batchId, new Date().toISOString()),
        );
        state.cancelled = !runnable;
      }
      if (!state.cancelled) await this.runItems(meta, state);
      if (signal?.aborted) throw new BatchRunInterrupted(batchId);
      await this.finish(batchId);
    } finally {
      this.running.delete(batchId);
    }
  }

  private async runItems(meta: BatchMeta, state: RunState): Promise<void> {
    const { batchId, total } = meta;
    const { chunkSize, maxWorkers } = meta.options;
    const queue: WorkItem[] = [];
    let head = 0;
    let nextChunk = 0;
    let loading: Promise<void> | undefined;
    const stopped = (): boolean => state.cancelled || state.signal?.aborted === true;

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
      if (!current || current.status === 'cancelled') state.cancelled = true;
      for (let offset = 0; offset < payloads.length; offset++) {
        if (!recorded[offset]) queue.push({ index: start + offset, payload: payloads[offset] });
      }
      nextChunk = end;
    };

    const take = async (): Promise<WorkItem | undefined> => {
      while (head >= queue.length) {
        if (stopped() || nextChunk >= total) return undefined;
        if (head > 0) {
          queue.length = 0;
          head = 0;
        }
        loading ??= loadNextChunk().finally(() => (loading = undefined));
        await loading;
      }
      return queue[head++];
    };

    const worker = async (): Promise<void> => {
      for (;;) {
        const item = await take();
        if (!item || stopped()) return;
        await this.gate.run(() => (stopped() ? Promise.resolve() : this.runItem(meta, item)));
      }
    };

    await Promise.all(Array.from({ length: Math.min(maxWorkers, total) }, worker));
  }

  private async runItem(meta: BatchMeta, item: WorkItem): Promise<void> {
    let outcome: ItemOutcome;
    try {
      const result = await this.executor.execute(meta.actionId, item.payload, {
        traceContext: {
          traceId: meta.traceId,
          parentSpanId: meta.parentSpanId,
          traceFlags: meta.traceFlags ?? '01',
        },
        requestId: `${meta.batchId}-${item.index}`,
        timeoutMs: meta.options.timeoutMs,
        cacheTtlSeconds: meta.options.cacheTtlSeconds,
      });
      outcome = successOutcome(result);
    } catch (error) {
      outcome = failureOutcome(error);
      if (outcome.errorCode === 'INTERNAL') {
        this.logger.error(
          { err: error, batch_id: meta.batchId, index: item.index },
          'Item failed unexpectedly',
        );
      }
    }
    await this.withStoreRetry(() => this.store.recordOutcome(meta.batchId, item.index, outcome));
  }

  private async finish(batchId: string): Promise<void> {
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
    if (finished) this.callbacks.notify(finished, summary);
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
