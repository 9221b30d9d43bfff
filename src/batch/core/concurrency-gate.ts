import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config.js';
import { FairQueue } from './fair-queue.js';

/** Whose call waits for a slot: slots are shared out by caller, then by batch. */
export interface SlotClaim {
  caller: string;
  batchId: string;
}

/**
 * CXONE_MAX_CONCURRENCY for the whole process, all batches and callers together (in Redis mode a
 * replica runs many batches, of many callers, through this one gate). While calls wait for a free
 * slot, slots go round-robin to the callers with calls waiting, then round-robin between that
 * caller's batches (`FairQueue`): a caller's one small batch gets as many slots as another
 * caller's many large ones. A batch never queues more than its `max_workers` calls.
 */
@Injectable()
export class ConcurrencyGate {
  private readonly limit: number;
  private active = 0;
  private readonly queue = new FairQueue<() => void>();

  constructor(config: AppConfig) {
    this.limit = config.cxone.maxConcurrency;
  }

  async run<T>(claim: SlotClaim, task: () => Promise<T>): Promise<T> {
    if (this.active < this.limit && this.queue.size === 0) {
      this.active += 1;
    } else {
      // The slot is handed over by the call that frees it (release), already counted.
      await new Promise<void>((resolve) => this.queue.push(claim.caller, claim.batchId, resolve));
    }
    try {
      return await task();
    } finally {
      this.release();
    }
  }

  get inFlight(): number {
    return this.active;
  }

  get waiting(): number {
    return this.queue.size;
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.active -= 1;
  }
}
