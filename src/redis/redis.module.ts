import { Global, Module } from '@nestjs/common';
import { RedisConnection } from './redis.connection.js';

/**
 * The replica's Redis connection, for every Redis-backed adapter (batch store and queue, circuit
 * state). Imported only when REDIS_URL is set, so in-memory mode opens no connection; adapters
 * that may run either way inject `RedisConnection` as optional.
 */
@Global()
@Module({
  providers: [RedisConnection],
  exports: [RedisConnection],
})
export class RedisModule {}
