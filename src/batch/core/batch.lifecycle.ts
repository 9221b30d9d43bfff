import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { AppConfig } from '../../config/app-config.js';
import { ReadinessService } from '../../health/readiness.service.js';
import { BatchQueue } from './batch.queue.js';
import { BatchStore } from './batch.store.js';
import { CallbackService } from './callback.service.js';

/**
 * Registers the store's readiness check; on shutdown, turns unready and lets running work finish
 * (per mode: see each BatchQueue's close).
 */
@Injectable()
export class BatchLifecycle implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(BatchLifecycle.name);

  constructor(
    private readonly config: AppConfig,
    private readonly readiness: ReadinessService,
    private readonly store: BatchStore,
    private readonly queue: BatchQueue,
    private readonly callbacks: CallbackService,
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
    this.readiness.startDraining();
    this.logger.log(`Shutting down: draining for up to ${this.config.shutdownGraceSeconds} s`);
    await this.queue.close(this.config.shutdownGraceSeconds * 1000);
    await this.callbacks.drain();
  }
}
