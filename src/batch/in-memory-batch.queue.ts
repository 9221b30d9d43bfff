import { Injectable, Logger } from '@nestjs/common';
import { AsyncResource } from 'node:async_hooks';
import { settlesWithin } from '../common/settles-within.js';
import { BatchQueue } from './batch.queue.js';
import { BatchRunner } from './batch.runner.js';
import type { BatchMeta } from './batch.types.js';

/** Single-process mode: a batch starts running in this process as soon as it is accepted. */
@Injectable()
export class InMemoryBatchQueue extends BatchQueue {
  private readonly logger = new Logger(InMemoryBatchQueue.name);
  private readonly runs = new Map<string, Promise<void>>();
  private items = 0;
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
        this.logger.error({ err: error, batch_id: meta.batchId }, 'Batch run failed'),
      )
      .finally(() => {
        this.items -= meta.total;
        this.runs.delete(meta.batchId);
      });
    this.runs.set(meta.batchId, done);
  }

  async queuedItems(): Promise<number> {
    return this.items;
  }

  async close(graceMs: number): Promise<void> {
    await settlesWithin(Promise.allSettled(this.runs.values()), graceMs);
  }
}
