import {
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { AppConfig } from '../../config/app-config.js';
import { ReadinessService } from '../../health/readiness.service.js';
import { BatchQueue } from './batch.queue.js';
import { BatchStore } from './batch.store.js';
import { CallbackDispatcher } from '../../callback/core/callback-dispatcher.js';

/**
 * Registers the store's readiness check; on shutdown, turns unready and lets running work finish,
 * then the callbacks under way, all within SHUTDOWN_GRACE_SECONDS.
 */
@Injectable()
export class BatchLifecycle implements OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger(BatchLifecycle.name);
  /** When the shutdown began (the Redis queue starts draining in its own onModuleDestroy). */
  private shutdownStartedAt: number | undefined;

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

  onModuleDestroy(): void {
    this.shutdownStartedAt ??= Date.now();
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.shutdownStartedAt ??= Date.now();
    const deadline = this.shutdownStartedAt + this.config.shutdownGraceSeconds * 1000;
    this.readiness.startDraining();
    if (signal)
      this.logger.log(
        `Received ${signal}: draining for up to ${this.config.shutdownGraceSeconds} s`,
      );
    await this.queue.close(Math.max(0, deadline - Date.now()));
    // Callbacks of batches that ended while draining, and those under way; the rest stay in the
    // outbox for another replica or the next start.
    await this.callbacks.drain(Math.max(0, deadline - Date.now()));
  }
}
