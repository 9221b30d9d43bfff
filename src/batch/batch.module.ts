import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { CxoneClient } from '../cxone/cxone.client.js';
import { CxoneModule } from '../cxone/cxone.module.js';
import { RedisModule } from '../redis/redis.module.js';
import { CallbackDispatcher } from '../callback/core/callback-dispatcher.js';
import { CallbackOutbox } from '../callback/core/callback-outbox.js';
import { CallbackSigner } from '../callback/core/callback-signer.js';
import { CallbackTransport } from '../callback/core/callback-transport.js';
import { PinnedHttpTransport } from '../callback/transport/pinned-http.transport.js';
import { ActionExecutor } from './core/action-executor.js';
import { BatchController } from './api/batch.controller.js';
import { BatchLifecycle } from './core/batch.lifecycle.js';
import { BatchQueue } from './core/batch.queue.js';
import { BatchRunner } from './core/batch.runner.js';
import { BatchService } from './core/batch.service.js';
import { BatchStore } from './core/batch.store.js';
import { ConcurrencyGate } from './core/concurrency-gate.js';
import { InMemoryBatchQueue } from './memory/in-memory-batch.queue.js';
import { InMemoryBatchStore } from './memory/in-memory-batch.store.js';
import { InMemoryCallbackOutbox } from './memory/in-memory-callback.outbox.js';
import { RedisBatchQueue } from './redis/redis-batch.queue.js';
import { RedisBatchStore } from './redis/redis-batch.store.js';
import { RedisCallbackOutbox } from './redis/redis-callback.outbox.js';

/**
 * Store, queue and callback outbox bindings by configuration: in memory by default, Redis and
 * BullMQ with REDIS_URL. The outbox is the store's: it is written in the step that ends a batch.
 */
function storageProviders(config: AppConfig): Provider[] {
  if (config.redis.url) {
    return [
      RedisBatchStore,
      { provide: BatchStore, useExisting: RedisBatchStore },
      { provide: BatchQueue, useClass: RedisBatchQueue },
      { provide: CallbackOutbox, useClass: RedisCallbackOutbox },
    ];
  }
  return [
    InMemoryCallbackOutbox,
    { provide: CallbackOutbox, useExisting: InMemoryCallbackOutbox },
    { provide: BatchStore, useClass: InMemoryBatchStore },
    { provide: BatchQueue, useClass: InMemoryBatchQueue },
  ];
}

@Module({})
export class BatchModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: BatchModule,
      // RedisModule is global: the circuit breaker and the cache find the connection too.
      imports: [...(config.redis.url ? [RedisModule] : []), CxoneModule],
      controllers: [BatchController],
      providers: [
        ...storageProviders(config),
        { provide: ActionExecutor, useExisting: CxoneClient },
        ConcurrencyGate,
        CallbackSigner,
        { provide: CallbackTransport, useClass: PinnedHttpTransport },
        CallbackDispatcher,
        BatchRunner,
        BatchService,
        BatchLifecycle,
      ],
      exports: [BatchService, BatchStore, CallbackOutbox],
    };
  }
}
