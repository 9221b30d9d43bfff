import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { InMemoryBatchStore } from '../src/batch/memory/in-memory-batch.store.js';
import { RedisBatchStore } from '../src/batch/redis/redis-batch.store.js';
import { loadConfig } from '../src/config/load-config.js';
import { RedisConnection } from '../src/redis/redis.connection.js';
import {
  describeBatchStoreContract,
  type OpenBatchStore,
} from './contracts/batch-store.contract.js';
import {
  deleteKeys,
  describeWithRedis,
  redisTestConfig,
  SHARED_REDIS_URL,
  uniquePrefix,
} from './helpers/redis.js';

// Every BatchStore implementation against the one contract. A new store is one line below.

beforeAll(() => Logger.overrideLogger(false));

const openInMemory: OpenBatchStore = async () => {
  const config = loadConfig({
    CXONE_SIMULATOR: 'true',
    CXONE_API_URL: 'http://127.0.0.1:9',
    AUTH_DISABLED: 'true',
  });
  const store = new InMemoryBatchStore(config);
  return {
    store,
    passRetention: async () => {
      store.sweep(Date.now() + config.batch.retentionSeconds * 1000);
    },
    close: async () => store.onModuleDestroy(),
  };
};

/** Retention of one second: keys expire in Redis itself, so the contract waits it out once. */
const REDIS_RETENTION_SECONDS = 1;

/** A key prefix of its own per store: its list, counters and idempotency keys start empty. */
const openRedis: OpenBatchStore = async () => {
  const prefix = uniquePrefix('batch-contract');
  const config = redisTestConfig(prefix, {
    BATCH_RETENTION_SECONDS: String(REDIS_RETENTION_SECONDS),
  });
  const connection = new RedisConnection(config);
  await connection.onModuleInit();
  return {
    store: new RedisBatchStore(connection, config),
    passRetention: () => sleep(REDIS_RETENTION_SECONDS * 1000 + 100),
    close: async () => {
      await deleteKeys(SHARED_REDIS_URL, prefix);
      await connection.onApplicationShutdown();
    },
  };
};

const describeRedis = await describeWithRedis();

const implementations: { name: string; open: OpenBatchStore; describe?: jest.Describe }[] = [
  { name: 'InMemoryBatchStore', open: openInMemory },
  { name: 'RedisBatchStore', open: openRedis, describe: describeRedis },
];

for (const { name, open, describe: describeFn } of implementations)
  describeBatchStoreContract(name, open, describeFn);
