import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../../config/app-config.js';
import { ReadinessService } from '../../health/readiness.service.js';
import { BatchQueue } from './batch.queue.js';
import { BatchStore } from './batch.store.js';
import { CallbackDispatcher } from '../../callback/core/callback-dispatcher.js';

/**
 * Registers the store's readiness check; on shutdown, turns unready and lets running work finish
 * (per mode: see each BatchQueue's close), then the callbacks under way, all within
 * SHUTDOWN_GRACE_SECONDS.
 */
@Injectable()
export class BatchLifecycle implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(BatchLifecycle.name);

  constructor(
    private readonly config: AppConfig,
    private readonly readiness: ReadinessService,
    private readonly store: BatchStore,
    private readonly queue: BatchQueue,
    private readonly callbacks: CallbackDispatcher,
  ) {}

  onModuleInit(): void {
    this.readiness.register('store', () => this.store.ping());
  }

  /**
   * The first shutdown hook (Nest destroys this module before the ones it imports, so the CXone
   * client is still open while calls finish): readiness turns 503 at once, while the HTTP server
   * still answers status polls.
   */
  async onModuleDestroy(): Promise<void> {
    const graceMs = this.config.shutdownGraceSeconds * 1000;
    const deadline = Date.now() + graceMs;
    this.readiness.startDraining();
    this.logger.log(`Shutting down: draining for up to ${this.config.shutdownGraceSeconds} s`);
    await this.queue.close(graceMs);
    // Callbacks of batches that ended while draining, and those under way; the rest stay in the
    // outbox for another replica or the next start.
    await this.callbacks.drain(Math.max(0, deadline - Date.now()));
  }
}
