import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { CxoneClient } from '../cxone/cxone.client.js';
import { CxoneModule } from '../cxone/cxone.module.js';
import { RedisDurabilityCheck } from '../redis/redis-durability.check.js';
import { RedisModule } from '../redis/redis.module.js';
import { TenantModule } from '../tenant/tenant.module.js';
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
import { SqliteBatchQueue } from './sqlite/sqlite-batch.queue.js';
import { SqliteBatchStore } from './sqlite/sqlite-batch.store.js';
import { SqliteCallbackOutbox } from './sqlite/sqlite-callback.outbox.js';
import { SqliteDatabase } from './sqlite/sqlite-database.js';

/**
 * Store, queue and callback outbox bindings by STORE: SQLite in DATA_DIR by default, Redis and
 * BullMQ with REDIS_URL, or memory. The outbox is the store's: it is written in the step that
 * ends a batch.
 */
function storageProviders(config: AppConfig): Provider[] {
  switch (config.store) {
    case 'redis':
      return [
        RedisBatchStore,
        { provide: BatchStore, useExisting: RedisBatchStore },
        { provide: BatchQueue, useClass: RedisBatchQueue },
        { provide: CallbackOutbox, useClass: RedisCallbackOutbox },
        RedisDurabilityCheck,
      ];
    case 'sqlite':
      return [
        // Opened here, while the module tree is built and before Nest starts: a directory that
        // cannot be used stops the start with one line (StartupError), not a logged stack.
        { provide: SqliteDatabase, useValue: SqliteDatabase.open(config.dataDir) },
        SqliteCallbackOutbox,
        { provide: CallbackOutbox, useExisting: SqliteCallbackOutbox },
        SqliteBatchStore,
        { provide: BatchStore, useExisting: SqliteBatchStore },
        { provide: BatchQueue, useClass: SqliteBatchQueue },
      ];
    case 'memory':
      return [
        InMemoryCallbackOutbox,
        { provide: CallbackOutbox, useExisting: InMemoryCallbackOutbox },
        { provide: BatchStore, useClass: InMemoryBatchStore },
        { provide: BatchQueue, useClass: InMemoryBatchQueue },
      ];
  }
}

@Module({})
export class BatchModule {
  static register(config: AppConfig): DynamicModule {
    return {
      module: BatchModule,
      // RedisModule is global: the circuit breaker and the cache find the connection too.
      imports: [...(config.redis.url ? [RedisModule] : []), CxoneModule, TenantModule],
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
