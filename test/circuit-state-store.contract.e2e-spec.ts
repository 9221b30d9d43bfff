import { Logger } from '@nestjs/common';
import { InMemoryCircuitStateStore } from '../src/circuit-breaker/memory/in-memory-circuit-state.store.js';
import { RedisCircuitStateStore } from '../src/circuit-breaker/redis/redis-circuit-state.store.js';
import { RedisConnection } from '../src/redis/redis.connection.js';
import {
  describeCircuitStateStoreContract,
  type OpenCircuitStateStore,
} from './contracts/circuit-state-store.contract.js';
import { describeWithRedis, redisTestSpace } from './helpers/redis.js';

// Every CircuitStateStore implementation against the one contract. A new store is one line below.

beforeAll(() => Logger.overrideLogger(false));

const openInMemory: OpenCircuitStateStore = async () => ({
  store: new InMemoryCircuitStateStore(),
  close: async () => {},
});

/** A key prefix of its own per store: its snapshot starts empty. */
const openRedis: OpenCircuitStateStore = async () => {
  const space = redisTestSpace('circuit-contract');
  const connection = new RedisConnection(space.config);
  await connection.onModuleInit();
  return {
    store: new RedisCircuitStateStore(connection, space.config),
    close: async () => {
      await space.deleteKeys();
      await connection.onApplicationShutdown();
    },
  };
};

const describeRedis = await describeWithRedis();

const implementations: { name: string; open: OpenCircuitStateStore; describe?: jest.Describe }[] = [
  { name: 'InMemoryCircuitStateStore', open: openInMemory },
  { name: 'RedisCircuitStateStore', open: openRedis, describe: describeRedis },
];

for (const { name, open, describe: describeFn } of implementations)
  describeCircuitStateStoreContract(name, open, describeFn);
