import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { AsyncResource } from 'node:async_hooks';
import { DomainError } from '../../lib/domain-error.js';
import { settlesWithin } from '../../lib/settles-within.js';
import { BatchQueue } from '../core/batch.queue.js';
import { BatchRunInterrupted, BatchRunner } from '../core/batch.runner.js';
import type { BatchMeta } from '../core/batch.types.js';
import { SqliteBatchStore } from './sqlite-batch.store.js';

/** A run that failed (the disk stayed full longer than the runner waits) starts again after this… */
const RETRY_FIRST_MS = 5000;
/** … doubling up to this, for as long as the process lives. */
const RETRY_MAX_MS = 5 * 60_000;

/**
 * Single-process durable mode: a batch runs in this process from the moment it is accepted, and
 * every batch the database holds unfinished runs again at the next start (items already recorded
 * are skipped by the runner, so only the calls in flight at a crash are made twice, with the
 * same X-Request-Id). On shutdown, scheduling stops, the calls in flight finish within
 * SHUTDOWN_GRACE_SECONDS and the rest waits in the database for the next start.
 */
@Injectable()
export class SqliteBatchQueue extends BatchQueue implements OnApplicationBootstrap {
  private readonly logger = new Logger(SqliteBatchQueue.name);
  private readonly runs = new Map<string, Promise<void>>();
  private readonly retries = new Map<string, NodeJS.Timeout>();
  private readonly shutdown = new AbortController();
  private closing: Promise<void> | undefined;
  /**
   * Runs a batch in the context this queue was built in, not the accepting request's: the run
   * outlives the request, and must not keep it (or its request-bound logger) alive.
   */
  private readonly startRun: (batchId: string) => Promise<void>;

  constructor(
    private readonly store: SqliteBatchStore,
    private readonly runner: BatchRunner,
  ) {
    super();
    this.startRun = AsyncResource.bind((batchId: string) =>
      this.runner.run(batchId, this.shutdown.signal),
    );
  }

  /** Resumes what the last process left unfinished, once every module (the CXone client) is up. */
  onApplicationBootstrap(): void {
    const unfinished = this.store.unfinishedBatchIds();
    if (unfinished.length > 0) {
      this.logger.log(`Resuming ${unfinished.length} unfinished batch(es)`);
    }
    for (const batchId of unfinished) this.start(batchId, 0);
  }

  async enqueue(meta: BatchMeta): Promise<void> {
    this.start(meta.batchId, 0);
  }

  async queuedItems(): Promise<number> {
    return this.store.unfinishedItems();
  }

  /** The intake stops with the runs: a batch accepted now would wait for the next start. */
  override assertAccepting(): void {
    if (this.shutdown.signal.aborted) {
      throw new DomainError(
        'NOT_READY',
        'The process is shutting down; submit the batch again shortly.',
        { retryAfterSeconds: 2 },
      );
    }
  }

  close(graceMs: number): Promise<void> {
    this.closing ??= this.closeWithin(graceMs);
    return this.closing;
  }

  private async closeWithin(graceMs: number): Promise<void> {
    this.shutdown.abort();
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    const running = this.runs.size;
    if (running === 0) return;
    this.logger.log(
      `Stopping ${running} running batch(es): calls in flight finish, the rest resumes at the next start`,
    );
    const graceful = await settlesWithin(Promise.allSettled(this.runs.values()), graceMs);
    if (!graceful) {
      this.logger.warn(
        `Calls still in flight after ${graceMs} ms; their items run again at the next start`,
      );
    }
  }

  private start(batchId: string, failures: number): void {
    if (this.runs.has(batchId) || this.shutdown.signal.aborted) return;
    const run = this.startRun(batchId).then(
      () => undefined,
      (error: unknown) => {
        if (error instanceof BatchRunInterrupted) return;
        const delay = Math.min(RETRY_FIRST_MS * 2 ** failures, RETRY_MAX_MS);
        this.logger.error(
          { err: error, batch_id: batchId },
          `Batch run failed; it starts again in ${Math.round(delay / 1000)} s`,
        );
        this.retryLater(batchId, failures + 1, delay);
      },
    );
    this.runs.set(batchId, run);
    void run.finally(() => {
      if (this.runs.get(batchId) === run) this.runs.delete(batchId);
    });
  }

  private retryLater(batchId: string, failures: number, delayMs: number): void {
    if (this.shutdown.signal.aborted) return;
    const timer = setTimeout(() => {
      this.retries.delete(batchId);
      this.start(batchId, failures);
    }, delayMs);
    timer.unref();
    this.retries.set(batchId, timer);
  }
}
