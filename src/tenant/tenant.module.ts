import { Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config.js';
import { RedisConnection } from '../redis/redis.connection.js';
import { InMemoryTenantBudget } from './memory/in-memory-tenant-budget.js';
import { RedisTenantBudget } from './redis/redis-tenant-budget.js';
import { TenantBudget } from './tenant-budget.js';

/**
 * What CXone lets the cluster do: kept in this process by default, shared by every replica in
 * Redis when REDIS_URL is set (the global RedisModule then provides the connection).
 */
@Module({
  providers: [
    {
      provide: TenantBudget,
      useFactory: (config: AppConfig, redis?: RedisConnection): TenantBudget =>
        redis ? new RedisTenantBudget(redis, config) : new InMemoryTenantBudget(config),
      inject: [AppConfig, { token: RedisConnection, optional: true }],
    },
  ],
  exports: [TenantBudget],
})
export class TenantModule {}
