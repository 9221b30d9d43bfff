import { Injectable, Logger } from '@nestjs/common';
import { AsyncResource } from 'node:async_hooks';
import { DomainError } from '../../lib/domain-error.js';
import { settlesWithin } from '../../lib/settles-within.js';
import { BatchQueue } from '../core/batch.queue.js';
import { BatchRunner } from '../core/batch.runner.js';
import type { BatchMeta } from '../core/batch.types.js';

/** Single-process mode: a batch starts running in this process as soon as it is accepted. */
@Injectable()
export class InMemoryBatchQueue extends BatchQueue {
  private readonly logger = new Logger(InMemoryBatchQueue.name);
  private readonly runs = new Map<string, Promise<void>>();
  private items = 0;
  private closing = false;
  /**
   * Runs a batch in the context this queue was built in, not the accepting request's: the run
   * outlives the request, and must not keep it (or its request-bound logger) alive.
   */
  private readonly startRun: (batchId: string) => Promise<void>;

  constructor(private readonly runner: BatchRunner) {
    super();
    this.startRun = AsyncResource.bind((batchId: string) => this.runner.run(batchId));
  }

  async enqueue(meta: BatchMeta): Promise<void> {
    this.items += meta.total;
    const done = this.startRun(meta.batchId)
      .catch((error: unknown) =>
        this.logger.error(
          { err: error, batch_id: meta.batchId, caller: meta.caller },
          'Batch run failed',
        ),
      )
      .finally(() => {
        this.items -= meta.total;
        // A redrive may have queued the batch again meanwhile: that run stays listed.
        if (this.runs.get(meta.batchId) === done) this.runs.delete(meta.batchId);
      });
    this.runs.set(meta.batchId, done);
  }

  async queuedItems(): Promise<number> {
    return this.items;
  }

  /** A batch accepted while this process shuts down would die with it: refused with 503 instead. */
  override assertAccepting(): void {
    if (this.closing) {
      throw new DomainError(
        'NOT_READY',
        'The process is shutting down and would lose a new batch; submit it again shortly.',
        { retryAfterSeconds: 2 },
      );
    }
  }

  async close(graceMs: number): Promise<void> {
    this.closing = true;
    // Until the grace is spent, also for a batch whose intake passed assertAccepting just before.
    const deadline = Date.now() + graceMs;
    while (this.runs.size > 0 && Date.now() < deadline) {
      await settlesWithin(Promise.allSettled(this.runs.values()), deadline - Date.now());
    }
  }
}
