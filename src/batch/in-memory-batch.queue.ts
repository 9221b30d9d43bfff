import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchQueue } from './batch.queue.js';
import { BatchRunner } from './batch.runner.js';
import type { BatchMeta } from './batch.types.js';

/** Single-process mode: a batch starts running in this process as soon as it is accepted. */
@Injectable()
export class InMemoryBatchQueue extends BatchQueue {
  private readonly logger = new Logger(InMemoryBatchQueue.name);
  private readonly runs = new Map<string, { items: number; done: Promise<void> }>();
  private items = 0;

  constructor(private readonly runner: BatchRunner) {
    super();
  }

  async enqueue(meta: BatchMeta): Promise<void> {
    this.items += meta.total;
    const done = this.runner
      .run(meta.batchId)
      .catch((error: unknown) =>
        this.logger.error({ err: error, batch_id: meta.batchId }, 'Batch run failed'),
      )
      .finally(() => {
        this.items -= meta.total;
        this.runs.delete(meta.batchId);
      });
    this.runs.set(meta.batchId, { items: meta.total, done });
  }

  async queuedItems(): Promise<number> {
    return this.items;
  }

  async close(graceMs: number): Promise<void> {
    const all = Promise.allSettled([...this.runs.values()].map((run) => run.done));
    await Promise.race([all, sleep(graceMs)]);
  }
}
