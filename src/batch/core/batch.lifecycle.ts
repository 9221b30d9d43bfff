import {
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { AppConfig } from '../../config/app-config.js';
import { ReadinessService } from '../../health/readiness.service.js';
import { BatchQueue } from './batch.queue.js';
import { BatchStore } from './batch.store.js';
import { CallbackService } from './callback.service.js';

/** Registers the store's readiness check; on shutdown, turns unready and lets running work finish. */
@Injectable()
export class BatchLifecycle implements OnModuleInit, BeforeApplicationShutdown {
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

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.readiness.startDraining();
    if (signal)
      this.logger.log(
        `Received ${signal}: draining for up to ${this.config.shutdownGraceSeconds} s`,
      );
    await this.queue.close(this.config.shutdownGraceSeconds * 1000);
    await this.callbacks.drain();
  }
}
