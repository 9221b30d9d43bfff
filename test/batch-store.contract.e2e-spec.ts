import { Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { InMemoryBatchStore } from '../src/batch/memory/in-memory-batch.store.js';
import { InMemoryCallbackOutbox } from '../src/batch/memory/in-memory-callback.outbox.js';
import { RedisBatchStore } from '../src/batch/redis/redis-batch.store.js';
import { SqliteBatchStore } from '../src/batch/sqlite/sqlite-batch.store.js';
import { SqliteCallbackOutbox } from '../src/batch/sqlite/sqlite-callback.outbox.js';
import { SqliteDatabase } from '../src/batch/sqlite/sqlite-database.js';
import { RedisCallbackOutbox } from '../src/batch/redis/redis-callback.outbox.js';
import { loadConfig } from '../src/config/load-config.js';
import { RedisConnection } from '../src/redis/redis.connection.js';
import {
  describeBatchStoreContract,
  type OpenedBatchStore,
} from './contracts/batch-store.contract.js';
import { temporaryDataDir } from './helpers/data-dir.js';
import {
  describeCallbackOutboxContract,
  type OpenedOutboxStore,
} from './contracts/callback-outbox.contract.js';
import {
  deleteKeys,
  describeWithRedis,
  redisTestConfig,
  SHARED_REDIS_URL,
  uniquePrefix,
} from './helpers/redis.js';

// Every BatchStore implementation against the one contract, and the callback outbox each one
// carries against its own. A new store is one line in each list below.

beforeAll(() => Logger.overrideLogger(false));

/** A store with nothing in it, and the callback outbox bound to it. */
type OpenStore = () => Promise<OpenedBatchStore & OpenedOutboxStore>;

const openInMemory: OpenStore = async () => {
  const config = loadConfig({
    CXONE_SIMULATOR: 'true',
    CXONE_API_URL: 'http://127.0.0.1:9',
    AUTH_DISABLED: 'true',
  });
  const outbox = new InMemoryCallbackOutbox();
  const store = new InMemoryBatchStore(config, outbox);
  return {
    store,
    outbox,
    passRetention: async () => {
      store.sweep(Date.now() + config.batch.retentionSeconds * 1000);
    },
    close: async () => store.onModuleDestroy(),
  };
};

/** A database file of its own per store, in a fresh temporary directory. */
const openSqlite: OpenStore = async () => {
  const config = loadConfig({
    CXONE_SIMULATOR: 'true',
    CXONE_API_URL: 'http://127.0.0.1:9',
    AUTH_DISABLED: 'true',
  });
  const database = SqliteDatabase.open(temporaryDataDir());
  const outbox = new SqliteCallbackOutbox(database);
  const store = new SqliteBatchStore(database, config, undefined, outbox);
  return {
    store,
    outbox,
    passRetention: () => store.sweep(Date.now() + config.batch.retentionSeconds * 1000),
    close: async () => {
      store.onModuleDestroy();
      store.onApplicationShutdown();
    },
  };
};

/** Retention of one second: keys expire in Redis itself, so the contract waits it out once. */
const REDIS_RETENTION_SECONDS = 1;

/** A key prefix of its own per store: its list, counters and idempotency keys start empty. */
const openRedis: OpenStore = async () => {
  const prefix = uniquePrefix('batch-contract');
  const config = redisTestConfig(prefix, {
    BATCH_RETENTION_SECONDS: String(REDIS_RETENTION_SECONDS),
  });
  const connection = new RedisConnection(config);
  await connection.onModuleInit();
  return {
    store: new RedisBatchStore(connection, config),
    outbox: new RedisCallbackOutbox(connection, config),
    passRetention: () => sleep(REDIS_RETENTION_SECONDS * 1000 + 100),
    close: async () => {
      await deleteKeys(SHARED_REDIS_URL, prefix);
      await connection.onApplicationShutdown();
    },
  };
};

const describeRedis = await describeWithRedis();

const implementations: { name: string; open: OpenStore; describe?: jest.Describe }[] = [
  { name: 'InMemoryBatchStore', open: openInMemory },
  { name: 'SqliteBatchStore', open: openSqlite },
  { name: 'RedisBatchStore', open: openRedis, describe: describeRedis },
];

for (const { name, open, describe: describeFn } of implementations) {
  describeBatchStoreContract(name, open, describeFn);
  describeCallbackOutboxContract(name, open, describeFn);
}
