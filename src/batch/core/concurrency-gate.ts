import { Injectable } from '@nestjs/common';
import pLimit, { type LimitFunction } from 'p-limit';
import { AppConfig } from '../../config/app-config.js';

/**
 * CXONE_MAX_CONCURRENCY for the whole process. Waiters are served first come, first served, and a
 * batch never queues more than its `max_workers` calls, so a small batch submitted after a large
 * one waits for at most that many calls, not for the large batch to finish.
 */
@Injectable()
export class ConcurrencyGate {
  private readonly limit: LimitFunction;

  constructor(config: AppConfig) {
    this.limit = pLimit(config.cxone.maxConcurrency);
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    return this.limit(task);
  }

  get inFlight(): number {
    return this.limit.activeCount;
  }

  get waiting(): number {
    return this.limit.pendingCount;
  }
}
